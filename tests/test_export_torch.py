"""TorchIO and MONAI hand-off (issue 16, item 6): voxels and world coordinates read by imgindex.

References: SimpleITK's ``TransformIndexToPhysicalPoint`` and ``GetPixel`` (geometry and voxels),
ITK's NIfTI writer (the RAS+ sform it stores), and, where they are installed, TorchIO's and
MONAI's own readers of the NIfTI export (skipped when ``torchio`` / ``monai`` are absent).
"""

from __future__ import annotations

import re
import struct
import warnings
from pathlib import Path

import numpy as np
import pytest
import SimpleITK as sitk

import imgindex
from imgindex.errors import InputError, InputTypeError
from imgindex.examples import write_example_dataset
from imgindex.export.torch import affine_of, array_of, monai_item, read_item, torchio_subject


def _oblique_image() -> sitk.Image:
    rng = np.random.default_rng(7)
    image = sitk.GetImageFromArray(rng.integers(-1000, 2000, size=(5, 6, 7)).astype(np.int16))  # z, y, x
    image.SetSpacing((0.8, 1.1, 2.5))
    image.SetOrigin((-120.5, 33.25, 410.0))
    angle = np.deg2rad(17)
    rotation = np.array([[np.cos(angle), -np.sin(angle), 0], [np.sin(angle), np.cos(angle), 0], [0, 0, 1]])
    tilt = np.array([[1, 0, 0], [0, np.cos(0.3), -np.sin(0.3)], [0, np.sin(0.3), np.cos(0.3)]])
    image.SetDirection(tuple((rotation @ tilt).ravel()))
    return image


def _ras(image: sitk.Image, index: tuple[int, int, int]) -> np.ndarray:
    x, y, z = image.TransformIndexToPhysicalPoint(index)
    return np.array([-x, -y, z])


VOXELS = [(0, 0, 0), (6, 5, 4), (3, 1, 2), (1, 4, 3)]


def test_the_affine_gives_simpleitks_world_coordinates_in_ras():
    image = _oblique_image()
    affine = affine_of(image)
    for voxel in VOXELS:
        np.testing.assert_allclose((affine @ [*voxel, 1])[:3], _ras(image, voxel), atol=1e-9)
    np.testing.assert_array_equal(affine[3], [0, 0, 0, 1])


def test_the_affine_is_the_sform_itk_writes_to_nifti(tmp_path):
    image = _oblique_image()
    path = tmp_path / "image.nii"
    sitk.WriteImage(image, str(path))
    header = path.read_bytes()[:348]
    assert struct.unpack("<i", header[:4]) == (348,)
    sform_code = struct.unpack("<h", header[254:256])[0]
    srow = np.array(struct.unpack("<12f", header[280:328])).reshape(3, 4)
    assert sform_code > 0
    np.testing.assert_allclose(affine_of(image)[:3], srow, atol=1e-4)  # float32 in the header


def test_array_of_is_indexed_x_y_z_channel_first():
    image = _oblique_image()
    data = array_of(image)
    assert data.shape == (1, 7, 6, 5) and data.dtype == np.int16 and data.flags["C_CONTIGUOUS"]
    for voxel in VOXELS:
        assert data[(0, *voxel)] == image.GetPixel(voxel)
    colour = sitk.Compose([sitk.Cast(image, sitk.sitkFloat32), sitk.Cast(image * 2, sitk.sitkFloat32)])
    both = array_of(colour)
    assert both.shape == (2, 7, 6, 5)
    assert both[(1, 6, 5, 4)] == colour.GetPixel((6, 5, 4))[1]
    unsigned = array_of(sitk.Cast(image + 1000, sitk.sitkUInt16))
    assert unsigned.dtype == np.int32 and unsigned[(0, 3, 1, 2)] == image.GetPixel((3, 1, 2)) + 1000


def test_array_of_refuses_what_is_not_a_3d_image():
    with pytest.raises(InputTypeError, match="SimpleITK image"):
        array_of(np.zeros((2, 2, 2)))  # type: ignore[arg-type]
    with pytest.raises(InputError, match="3D image"):
        array_of(sitk.Image(4, 3, sitk.sitkUInt8))


@pytest.fixture(scope="module")
def sts(tmp_path_factory):
    root = tmp_path_factory.mktemp("torch") / "data"
    write_example_dataset(root, n_samples=1, extras=False)
    return root


def _rtstruct_image(sts, **kwargs):
    [image] = imgindex.import_image_and_mask(
        str(sts), image_sub_folder="CT/dicom/image", mask_sub_folder="CT/dicom/mask", mask_modality="rtstruct", **kwargs
    )
    return image


def test_read_item_reads_an_rtstruct_onto_the_image_as_imgindex_does(sts):
    image = _rtstruct_image(sts)
    item = read_item(image)
    volume = image.read()
    assert item["sample_name"] == "STS_001" and item["image_id"] == image.object_id and item["modality"] == "ct"
    np.testing.assert_array_equal(item["affine"], affine_of(volume))
    assert item["rois"] == ["GTV_Mass", "GTV_2"]
    for roi, region in image.associated_masks[0].read(reference=volume).items():
        expected = sitk.GetArrayFromImage(region)  # z, y, x
        assert item[roi].shape == (1, *volume.GetSize()) and item[roi].dtype == np.uint8
        np.testing.assert_array_equal(item[roi][0], expected.transpose(2, 1, 0))
        assert expected.any()
    for voxel in [(16, 16, 4), (0, 0, 0), (31, 20, 7)]:
        assert item["image"][(0, *voxel)] == volume.GetPixel(voxel)


def test_a_roi_in_two_masks_is_one_region_and_reserved_names_are_refused(sts):
    [image] = imgindex.import_image_and_mask(
        str(sts), image_sub_folder="CT/dicom/image", mask_sub_folder="CT/dicom/mask"
    )  # the RTSTRUCT and the SEG, both with GTV_Mass and GTV_2
    assert sorted(m.modality for m in image.associated_masks) == ["rtstruct", "seg"]
    item = read_item(image)
    volume = image.read()
    assert item["rois"] == ["GTV_Mass", "GTV_2"]
    for roi in item["rois"]:
        each = [
            sitk.GetArrayFromImage(m.read(reference=volume)[roi]).transpose(2, 1, 0) for m in image.associated_masks
        ]
        np.testing.assert_array_equal(item[roi][0], np.maximum(*each))
    renamed = read_item(image, roi_name={"GTV_Mass": "tumour"})
    assert renamed["rois"] == ["tumour"]  # a dict selects, as roi_name does everywhere
    np.testing.assert_array_equal(renamed["tumour"], item["GTV_Mass"])
    with pytest.raises(InputError, match=r"'image'.*roi_name=\{'image': 'image_roi'\}"):
        read_item(image, roi_name={"GTV_Mass": "image"})
    with pytest.raises(InputTypeError, match="expects an ImageFile"):
        read_item(str(sts))  # type: ignore[arg-type]


def test_an_image_without_masks_has_no_regions(sts):
    [image] = imgindex.import_image(str(sts), image_sub_folder="PET/dicom/image")
    item = read_item(image)
    assert item["rois"] == [] and item["modality"] == "pt"
    assert item["image"].shape == (1, *image.read().GetSize())
    index = imgindex.build_index(sts, image_sub_folder="PET/dicom/image")  # no masks asked for
    [placeholder] = index.materialise()[0].associated_masks  # MIRP's whole-image mask: not a region
    assert placeholder.file_type is None and read_item(index.materialise()[0])["rois"] == []


def _nifti_export(sts, tmp_path):
    index = imgindex.build_index(
        sts, image_sub_folder="CT/dicom/image", mask_sub_folder="CT/dicom/mask", mask_modality="rtstruct"
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        table = imgindex.export(index, to="nifti", out=tmp_path / "nifti", workers=1)
    [image] = index.materialise()
    return image, table


def test_torchio_subjects_match_simpleitk_and_torchios_reading_of_the_export(sts, tmp_path):
    tio = pytest.importorskip("torchio")
    image, table = _nifti_export(sts, tmp_path)
    subject = torchio_subject(image)
    volume = image.read()
    assert isinstance(subject["image"], tio.ScalarImage) and isinstance(subject["GTV_Mass"], tio.LabelMap)
    assert subject["sample_name"] == "STS_001" and subject["rois"] == ["GTV_Mass", "GTV_2"]
    affine = subject["image"].affine
    for voxel in [(0, 0, 0), (31, 0, 7), (5, 17, 3)]:
        np.testing.assert_allclose((affine @ [*voxel, 1])[:3], _ras(volume, voxel), atol=1e-6)
        assert float(subject["image"].data[(0, *voxel)]) == volume.GetPixel(voxel)
    # TorchIO's own reader of the NIfTI export: same voxels, same world coordinates
    from_file = tio.ScalarImage(table["image_path"].iloc[0])
    np.testing.assert_allclose(from_file.affine, affine, atol=1e-4)
    np.testing.assert_array_equal(from_file.data.numpy(), subject["image"].data.numpy())
    for roi in ("GTV_Mass", "GTV_2"):
        path = table.loc[table["roi_name"] == roi, "mask_path"].iloc[0]
        np.testing.assert_array_equal(tio.LabelMap(path).data.numpy() > 0, subject[roi].data.numpy() > 0)
    # a TorchIO transform keeps images and label maps together
    canonical = tio.ToCanonical()(subject)
    assert canonical["image"].orientation == ("R", "A", "S")
    centre = np.argwhere(canonical["GTV_Mass"].data.numpy()[0]).mean(axis=0)
    before = np.argwhere(subject["GTV_Mass"].data.numpy()[0]).mean(axis=0)
    np.testing.assert_allclose(canonical["GTV_Mass"].affine @ [*centre, 1], subject["GTV_Mass"].affine @ [*before, 1])
    loader = tio.SubjectsLoader(tio.SubjectsDataset([subject]), batch_size=1)
    batch = next(iter(loader))
    assert tuple(batch["image"]["data"].shape) == (1, 1, *volume.GetSize())


def test_monai_items_match_monais_reading_of_the_export(sts, tmp_path):
    data = pytest.importorskip("monai.data")
    transforms = pytest.importorskip("monai.transforms")
    image, table = _nifti_export(sts, tmp_path)
    dataset = data.Dataset([image], transform=monai_item)
    item = dataset[0]
    assert isinstance(item["image"], data.MetaTensor) and item["rois"] == ["GTV_Mass", "GTV_2"]
    loaded = transforms.LoadImage(image_only=True, ensure_channel_first=True)(table["image_path"].iloc[0])
    np.testing.assert_allclose(np.asarray(loaded.affine), np.asarray(item["image"].affine), atol=1e-4)
    np.testing.assert_array_equal(np.asarray(loaded), np.asarray(item["image"]))
    path = table.loc[table["roi_name"] == "GTV_2", "mask_path"].iloc[0]
    label = transforms.LoadImage(image_only=True, ensure_channel_first=True)(path)
    np.testing.assert_array_equal(np.asarray(label) > 0, np.asarray(item["GTV_2"]) > 0)
    oriented = transforms.Orientationd(keys=["image", "GTV_2"], axcodes="RAS")(item)
    assert oriented["image"].shape == item["image"].shape


def test_without_torchio_or_monai_the_error_says_what_to_install(sts, monkeypatch):
    import builtins

    real = builtins.__import__

    def blocked(name, *args, **kwargs):
        if name.split(".")[0] in ("torchio", "monai"):
            raise ImportError(f"No module named {name!r}")
        return real(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", blocked)
    monkeypatch.setattr("importlib.import_module", lambda name: blocked(name))
    image = _rtstruct_image(sts)
    with pytest.raises(ImportError, match="pip install torchio"):
        torchio_subject(image)
    with pytest.raises(ImportError, match="pip install monai"):
        monai_item(image)


def _recipe(word: str) -> str:
    text = (Path(__file__).parent.parent / "README.md").read_text(encoding="utf-8")
    blocks = re.findall(r"```python\n(.*?)```", text, flags=re.S)
    [block] = [b for b in blocks if word in b]
    return block


def test_the_readme_recipes_run(sts, tmp_path, monkeypatch):
    pytest.importorskip("torchio")
    pytest.importorskip("monai")
    monkeypatch.chdir(tmp_path)
    namespace: dict = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        exec(_recipe("torchio_subject").replace("/data/sts", str(sts)), namespace)
        exec(_recipe("monai_item"), namespace)
    batch, item, index = namespace["batch"], namespace["item"], namespace["index"]
    [image] = index.materialise()
    assert image.file_type == "dicom" and image.modality == "ct"
    shape = batch["tumour"]["data"].shape
    assert shape[:2] == (1, 1) and batch["image"]["data"].shape == shape
    expected = float(read_item(image)["GTV_Mass"].sum() * np.prod(image.read().GetSpacing()))
    assert abs(float(batch["tumour"]["data"].sum()) - expected) < 0.15 * expected  # TorchIO at 1 mm, the same tumour
    spacing = np.linalg.norm(np.asarray(item["GTV_Mass"].affine)[:3, :3], axis=0)
    np.testing.assert_allclose(spacing, 1.0, atol=1e-6)  # resampled to 1 mm
    assert np.all(np.diag(np.asarray(item["image"].affine))[:3] > 0)  # RAS: axes point right, anterior, up
    volume_mm3 = float(np.asarray(item["GTV_Mass"]).sum())  # 1 mm voxels
    assert abs(volume_mm3 - expected) < 0.15 * expected  # the same tumour after resampling
