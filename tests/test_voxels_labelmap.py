"""Label maps (NIfTI, NRRD, numpy, arrays), resampling onto another grid, the whole-image placeholder."""

import warnings

import numpy as np
import pytest
import SimpleITK as sitk

import imgindex
from imgindex import ImageFile, MaskFile
from imgindex.errors import InputError, NotFoundError
from imgindex.voxels import Grid


@pytest.fixture(scope="module")
def example(tmp_path_factory):
    root = tmp_path_factory.mktemp("labelmaps")
    imgindex.examples.write_example_dataset(
        root, n_samples=1, formats=["dicom", "nifti", "nrrd", "numpy", "numpy_slice"], extras=False
    )
    return root


@pytest.mark.parametrize("fmt", ["nifti", "nrrd", "numpy", "numpy_slice"])
def test_label_map_regions_on_the_image_grid(example, fmt):
    folder = example / "STS_001" / "CT" / fmt
    image = imgindex.import_image_and_mask(str(folder / "image"), mask=str(folder / "mask"))[0]
    label = sitk.GetArrayFromImage(sitk.ReadImage(str(example / "STS_001" / "CT" / "nifti" / "mask" / "mask.nii.gz")))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        own = image.associated_masks[0].read()
        on_image = image.associated_masks[0].read(reference=image)
    reference = image.read()
    for masks in (own, on_image):
        assert list(masks) == ["region_1", "region_2"]
        for value, region in enumerate(masks.values(), 1):
            assert region.GetPixelIDTypeAsString() == "8-bit unsigned integer"
            assert region.GetSize() == reference.GetSize() and region.GetSpacing() == reference.GetSpacing()
            assert np.array_equal(sitk.GetArrayFromImage(region), (label == value).astype(np.uint8))


def test_roi_name_selects_and_renames_regions(example):
    folder = example / "STS_001" / "CT" / "nifti"
    image = imgindex.import_image_and_mask(str(folder / "image"), mask=str(folder / "mask"), roi_name="2")[0]
    assert list(image.associated_masks[0].read(reference=image)) == ["2"]
    renamed = MaskFile(file_path=str(folder / "mask" / "mask.nii.gz"), roi_name={"1": "tumour", "region_2": "node"})
    assert list(renamed.read()) == ["tumour", "node"]
    with pytest.raises(NotFoundError, match="None of the requested ROIs"):
        MaskFile(file_path=str(folder / "mask" / "mask.nii.gz"), roi_name="7").read()


def test_in_memory_arrays():
    images, masks = imgindex.examples.example_arrays(1)
    image = imgindex.import_image_and_mask(images, mask=masks)[0]
    got = image.associated_masks[0].to_numpy(reference=image)
    assert list(got) == ["region_1", "region_2"]
    assert np.array_equal(got["region_2"], masks[0] == 2)
    floats = MaskFile(image_data=np.array([[0.0, 1.0], [2.0, 0.5]], np.float32)).read()
    assert list(floats) == ["region_0.5", "region_1", "region_2"]
    assert list(MaskFile(image_data=np.array([[True, False]])).read()) == ["region_1"]


def test_other_grid_is_resampled_with_a_warning(example):
    ct_mask = example / "STS_001" / "CT" / "nifti" / "mask" / "mask.nii.gz"
    pet = imgindex.import_image(str(example / "STS_001" / "PET" / "dicom" / "image"))[0]
    with pytest.warns(UserWarning, match="another grid than the reference.*nearest neighbour"):
        masks = MaskFile(file_path=str(ct_mask)).read(reference=pet)
    expected = sitk.Resample(
        sitk.ReadImage(str(ct_mask)), pet.read(), sitk.Transform(), sitk.sitkNearestNeighbor, 0, sitk.sitkUInt8
    )
    assert masks["region_1"].GetSize() == pet.read().GetSize()
    assert np.array_equal(sitk.GetArrayFromImage(masks["region_1"]), sitk.GetArrayFromImage(expected) == 1)


def test_no_overlap_is_an_error_naming_both_grids():
    far = Grid((4, 4, 2), (1.0, 1.0, 1.0), (500.0, 0.0, 0.0), (1, 0, 0, 0, 1, 0, 0, 0, 1))
    mask = MaskFile(image_data=np.ones((2, 4, 4), np.uint8))
    with pytest.raises(InputError, match=r"does not overlap.*origin \(0, 0, 0\).*origin \(500, 0, 0\)"):
        mask.read(reference=far.image())


def test_whole_image_placeholder():
    image = imgindex.import_image(imgindex.examples.example_arrays(1)[0])[0]
    placeholder = MaskFile.full_image(image)
    masks = placeholder.read(reference=image)
    assert list(masks) == ["full_image_mask"] and sitk.GetArrayFromImage(masks["full_image_mask"]).all()
    with pytest.raises(InputError, match="whole-image placeholder"):
        placeholder.read()


def test_multi_component_label_map_is_an_error(tmp_path):
    path = tmp_path / "rgb.nii.gz"
    sitk.WriteImage(sitk.Image([4, 4, 2], sitk.sitkVectorUInt8, 3), str(path))
    with pytest.raises(InputError, match="values per voxel"):
        MaskFile(file_path=str(path)).read()


def test_image_file_as_label_map_reference(example):
    nrrd = example / "STS_001" / "MR_T1" / "nrrd"
    image = ImageFile(file_path=str(nrrd / "image" / "image.nrrd"), file_type="nrrd")
    masks = MaskFile(file_path=str(nrrd / "mask" / "mask.nrrd"), file_type="nrrd").read(reference=image)
    assert masks["region_1"].GetSize() == image.read().GetSize()


def test_real_patient_nifti_mask_on_the_dicom_grid(real_data):
    for folder in ("CT", "PET", "MR_T1"):
        base = real_data / "STS_001" / folder
        image = imgindex.import_image_and_mask(str(base / "dicom" / "image"), mask=str(base / "dicom" / "mask"))[0]
        nifti = MaskFile(file_path=str(base / "nifti" / "mask" / "mask.nii.gz"))
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # the same grid: no resampling
            from_nifti = nifti.read(reference=image)["region_1"]
        from_rtstruct = next(iter(image.associated_masks[0].read(reference=image).values()))
        assert np.array_equal(sitk.GetArrayFromImage(from_nifti), sitk.GetArrayFromImage(from_rtstruct))
