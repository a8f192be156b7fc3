"""Images as voxels: ImageFile.read() / to_numpy() against SimpleITK's (GDCM's) series reader."""

import glob
import os
import warnings

import numpy as np
import pydicom
import pytest
import SimpleITK as sitk

import imgindex
from imgindex import ImageFile
from imgindex.errors import InputError, InputTypeError, NotFoundError
from imgindex.examples import write_shapes_dataset
from imgindex.voxels import Grid, as_grid, read_grid
from imgindex.voxels.dicom import read_dicom


def gdcm(paths):
    reader = sitk.ImageSeriesReader()
    reader.SetFileNames(list(paths))
    return reader.Execute()


def assert_same_image(ours: sitk.Image, theirs: sitk.Image, *, rtol=1e-6):
    assert ours.GetSize() == theirs.GetSize()
    np.testing.assert_allclose(ours.GetSpacing(), theirs.GetSpacing(), rtol=1e-9, atol=1e-9)
    np.testing.assert_allclose(ours.GetOrigin(), theirs.GetOrigin(), atol=1e-6)
    np.testing.assert_allclose(ours.GetDirection(), theirs.GetDirection(), atol=1e-9)
    a, b = sitk.GetArrayFromImage(ours), sitk.GetArrayFromImage(theirs)
    if np.issubdtype(a.dtype, np.integer):
        assert np.array_equal(a, b)
    else:
        np.testing.assert_allclose(a, b, rtol=rtol, atol=0)


@pytest.fixture(scope="module")
def example(tmp_path_factory):
    root = tmp_path_factory.mktemp("voxels_images")
    imgindex.examples.write_example_dataset(
        root, n_samples=1, formats=["dicom", "nifti", "numpy", "numpy_slice"], extras=False
    )
    return root, imgindex.import_image(root)


@pytest.fixture(scope="module")
def shapes(tmp_path_factory):
    return {
        oblique: write_shapes_dataset(
            tmp_path_factory.mktemp(f"shapes_img_{oblique}"), oblique=oblique, slope=0.5, seg=False
        )
        for oblique in (False, True)
    }


def test_dicom_series_equal_gdcm(example):
    _, images = example
    dicom = [i for i in images if i.file_type == "dicom"]
    assert sorted(i.modality for i in dicom) == ["ct", "mr", "pt"]
    for image in dicom:
        ours = image.read()
        assert_same_image(ours, gdcm(image.file_paths))
        assert np.array_equal(image.to_numpy(), sitk.GetArrayFromImage(ours))
    types = {i.modality: i.read().GetPixelIDTypeAsString() for i in dicom}
    assert types == {"ct": "32-bit signed integer", "mr": "16-bit unsigned integer", "pt": "32-bit float"}


def test_every_format_gives_the_same_voxels(example):
    _, images = example
    for folder in ("CT", "PET", "MR_T1"):
        group = [i for i in images if f"{os.sep}{folder}{os.sep}" in i.dir_path + os.sep]
        assert len(group) == 4
        dicom = next(i for i in group if i.file_type == "dicom").to_numpy()
        for image in group:
            array = image.to_numpy()
            assert array.shape == dicom.shape, image.file_type
            np.testing.assert_allclose(array, dicom, rtol=1e-6)
        nifti = next(i for i in group if i.file_type == "nifti").read()
        dicom_image = next(i for i in group if i.file_type == "dicom").read()
        np.testing.assert_allclose(nifti.GetOrigin(), dicom_image.GetOrigin(), atol=1e-4)
        np.testing.assert_allclose(nifti.GetSpacing(), dicom_image.GetSpacing(), atol=1e-6)


def test_numpy_has_unit_geometry_unless_given():
    array = np.arange(24, dtype=np.int16).reshape(2, 3, 4)
    image = ImageFile(image_data=array).read()
    assert (image.GetSize(), image.GetSpacing(), image.GetOrigin()) == ((4, 3, 2), (1.0, 1.0, 1.0), (0.0, 0.0, 0.0))
    given = ImageFile(image_data=array, image_spacing=(3.0, 0.5, 0.7), image_origin=(-5.0, 1.0, 2.0)).read()
    assert given.GetSpacing() == (0.7, 0.5, 3.0) and given.GetOrigin() == (2.0, 1.0, -5.0)
    assert np.array_equal(sitk.GetArrayFromImage(given), array)
    flat = ImageFile(image_data=np.ones((3, 4), np.float32)).read()
    assert flat.GetSize() == (4, 3, 1)


def test_imported_arrays_read(example):
    images, _ = imgindex.examples.example_arrays(2)
    imported = imgindex.import_image(images)
    for image, array in zip(imported, images, strict=True):
        assert np.array_equal(image.to_numpy(), array)
        assert image.read().GetSpacing() == (1.0, 1.0, 1.0)


def test_rescale_to_float32_and_oblique_geometry(shapes):
    for oblique, data in shapes.items():
        image = imgindex.import_image(str(data.image_dir))[0]
        ours = image.read()
        assert ours.GetPixelIDTypeAsString() == "32-bit float"
        assert_same_image(ours, gdcm(image.file_paths))
        assert np.array_equal(sitk.GetArrayFromImage(ours), data.values)
        np.testing.assert_allclose(ours.GetDirection(), data.direction, atol=1e-9)
        np.testing.assert_allclose(ours.GetOrigin(), data.origin, atol=1e-6)
        assert image.geometry_warning is None
        assert imgindex.build_index(str(data.image_dir)).images["oblique"].tolist() == [oblique]


def test_read_grid_reads_headers_only(example, monkeypatch):
    _, images = example
    image = next(i for i in images if i.file_type == "dicom")
    expected = Grid.of(image.read())
    monkeypatch.setattr(pydicom.Dataset, "pixel_array", property(lambda self: 1 / 0))
    assert read_grid(image) == expected
    assert as_grid(image) == expected


def test_undecodable_pixels_fall_back_to_gdcm(example, monkeypatch):
    _, images = example
    for image in (i for i in images if i.file_type == "dicom"):
        expected = image.to_numpy()
        with monkeypatch.context() as patch:
            patch.setattr(pydicom.Dataset, "pixel_array", property(lambda self: 1 / 0))
            np.testing.assert_allclose(image.to_numpy(), expected, rtol=1e-6)


def _legacy(kind, paths, **changes):
    import highdicom as hd

    datasets = [pydicom.dcmread(p) for p in paths]
    for ds in datasets:
        for key, value in changes.items():
            setattr(ds, key, value)
    cls = {
        "CT": hd.legacy.LegacyConvertedEnhancedCTImage,
        "MR": hd.legacy.LegacyConvertedEnhancedMRImage,
        "PT": hd.legacy.LegacyConvertedEnhancedPETImage,
    }[kind]
    return cls(datasets[::-1], hd.UID(), 9, hd.UID(), 1)  # frames in reverse order on purpose


@pytest.mark.filterwarnings("ignore:The string")
@pytest.mark.parametrize("modality", ["ct", "pt", "mr"])
def test_multiframe_equals_the_single_frame_series(example, tmp_path, modality):
    pytest.importorskip("highdicom")
    _, images = example
    series = next(i for i in images if i.file_type == "dicom" and i.modality == modality)
    enhanced = _legacy(modality.upper(), series.file_paths)
    path = tmp_path / "enhanced.dcm"
    enhanced.save_as(path)
    index = imgindex.build_index(str(path))
    assert index.images["n_files"].tolist() == [1]
    image = imgindex.import_image(str(path))[0]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        ours = image.read()
    assert_same_image(ours, series.read())
    # an enhanced (not legacy) CT: the same per-frame functional groups
    enhanced.SOPClassUID = "1.2.840.10008.5.1.4.1.1.2.1"
    enhanced.save_as(path)
    assert_same_image(ImageFile(file_path=str(path), file_type="dicom").read(), series.read())


@pytest.mark.filterwarnings("ignore:The string")
def test_multiframe_with_irregular_frames_warns(example, tmp_path):
    pytest.importorskip("highdicom")
    _, images = example
    series = next(i for i in images if i.file_type == "dicom" and i.modality == "ct")
    paths = list(series.file_paths)
    enhanced = _legacy("CT", paths[:3] + paths[4:])
    path = tmp_path / "gap.dcm"
    enhanced.save_as(path)
    with pytest.warns(UserWarning, match="1 missing slice"):
        image = ImageFile(file_path=str(path), file_type="dicom").read()
    # issue 12: the gap stays a gap (an empty slice of the minimum), no slice after it is shifted
    full = series.read()
    assert image.GetSize() == full.GetSize() and image.GetOrigin() == pytest.approx(full.GetOrigin())
    ours, theirs = sitk.GetArrayFromImage(image), sitk.GetArrayFromImage(full)
    kept = [k for k in range(len(paths)) if k != 3]
    assert np.array_equal(ours[kept], theirs[kept])
    assert (ours[3] == ours.min()).all()
    raw = ImageFile(file_path=str(path), file_type="dicom")
    with pytest.warns(UserWarning, match="1 missing slice"):
        assert sitk.GetArrayFromImage(imgindex.voxels.read_image(raw, resample=False)).shape[0] == len(paths) - 1


def test_2d_dicom_and_2d_slices():
    image = ImageFile(image_data=np.zeros((5,), np.uint8)).read()
    assert image.GetSize() == (5, 1, 1)


def test_real_patient_equal_gdcm(real_data):
    for folder in ("CT", "PET", "MR_T1"):
        image = imgindex.import_image(str(real_data / "STS_001" / folder / "dicom" / "image"))[0]
        ours = image.read()
        theirs = gdcm(image.file_paths)
        assert ours.GetSize() == theirs.GetSize()
        # GDCM's z spacing is (last - first) / (n - 1); ours the median gap: equal to float noise
        np.testing.assert_allclose(ours.GetSpacing(), theirs.GetSpacing(), rtol=1e-9)
        np.testing.assert_allclose(ours.GetOrigin(), theirs.GetOrigin(), atol=1e-6)
        np.testing.assert_allclose(sitk.GetArrayFromImage(ours), sitk.GetArrayFromImage(theirs), rtol=1e-6)
        assert (ours.GetPixelIDTypeAsString() == "32-bit float") == (folder == "PET")


def test_real_patient_numpy_forms(real_data):
    pet = real_data / "STS_001" / "PET"
    volume = imgindex.import_image(str(pet / "numpy" / "image"))[0].to_numpy()
    slices = imgindex.import_image(str(pet / "numpy_slice" / "image"))[0].to_numpy()
    assert np.array_equal(volume, slices)


def test_errors(tmp_path, example):
    with pytest.raises(InputError, match="neither files nor an in-memory array"):
        ImageFile().read()
    with pytest.raises(InputError, match="4 dimensions"):
        ImageFile(image_data=np.zeros((2, 2, 2, 2))).read()
    with pytest.raises(NotFoundError, match="no longer exist"):
        ImageFile(file_path=str(tmp_path / "gone.dcm"), file_type="dicom").read()
    with pytest.raises(InputTypeError, match=r"ImageFile or a SimpleITK\.Image"):
        as_grid("not an image")
    _, images = example
    series = next(i for i in images if i.file_type == "dicom" and i.modality == "ct")
    tilted = tmp_path / "tilted.dcm"
    ds = pydicom.dcmread(series.file_paths[1])
    ds.ImageOrientationPatient = [1, 0, 0, 0, 0, -1]
    ds.save_as(tilted)
    with pytest.raises(InputError, match="differ in orientation"):
        read_dicom([series.file_paths[0], str(tilted)])
    junk = tmp_path / "junk.bin"
    junk.write_bytes(b"nothing")
    with pytest.raises(InputError, match="Cannot tell"):
        ImageFile(file_path=str(junk)).read()


def test_file_type_sniffed_when_unknown(example):
    root, _ = example
    path = glob.glob(os.path.join(root, "STS_001", "CT", "nifti", "image", "*.nii.gz"))[0]
    assert ImageFile(file_path=path).read().GetSize() == (32, 32, 8)


def _rtdose(path, *, scaling, summation="PLAN", sop="1.2.3.4"):
    from pydicom.dataset import FileMetaDataset
    from pydicom.uid import ExplicitVRLittleEndian, RTDoseStorage

    ds = pydicom.Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.MediaStorageSOPClassUID, ds.file_meta.MediaStorageSOPInstanceUID = RTDoseStorage, sop
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.SOPClassUID, ds.SOPInstanceUID, ds.Modality = RTDoseStorage, sop, "RTDOSE"
    ds.PatientID, ds.StudyInstanceUID, ds.SeriesInstanceUID, ds.FrameOfReferenceUID = "P", "1.2.3", "1.2.3.1", "1.2.9"
    ds.DoseSummationType, ds.DoseUnits, ds.DoseType, ds.DoseGridScaling = summation, "GY", "PHYSICAL", scaling
    ds.ImagePositionPatient, ds.ImageOrientationPatient = [-10.0, -20.0, 30.0], [1, 0, 0, 0, 1, 0]
    ds.PixelSpacing, ds.NumberOfFrames, ds.GridFrameOffsetVector = [2.0, 3.0], 4, [0.0, 2.5, 5.0, 7.5]
    ds.FrameIncrementPointer = 0x3004000C
    ds.Rows, ds.Columns, ds.SamplesPerPixel, ds.PhotometricInterpretation = 5, 6, 1, "MONOCHROME2"
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 32, 32, 31, 0
    stored = np.arange(4 * 5 * 6, dtype=np.uint32).reshape(4, 5, 6)
    ds.PixelData = stored.tobytes()
    ds.save_as(path, enforce_file_format=True)
    return stored


def test_rtdose_grid_and_beam_sum(tmp_path):
    stored = _rtdose(tmp_path / "plan.dcm", scaling=0.001)
    image = ImageFile(file_path=str(tmp_path / "plan.dcm"), file_type="dicom").read()
    assert image.GetSize() == (6, 5, 4) and image.GetSpacing() == (3.0, 2.0, 2.5)
    assert image.GetOrigin() == (-10.0, -20.0, 30.0)
    np.testing.assert_allclose(sitk.GetArrayFromImage(image), stored * 0.001, rtol=1e-6)
    beams = tmp_path / "beams"
    beams.mkdir()
    for k, scaling in enumerate((0.001, 0.002)):
        _rtdose(beams / f"beam{k}.dcm", scaling=scaling, summation="BEAM", sop=f"1.2.3.5.{k}")
    index = imgindex.build_index(str(beams))
    assert index.images["n_files"].tolist() == [2]
    total = imgindex.import_image(str(beams))[0].to_numpy()
    np.testing.assert_allclose(total, stored * 0.003, rtol=1e-6)


def test_nifti_2d_slices_stacked(tmp_path):
    volume = np.arange(3 * 4 * 5, dtype=np.int16).reshape(3, 4, 5)
    for k in range(3):
        image = sitk.GetImageFromArray(volume[k])
        image.SetSpacing((0.5, 0.7))
        sitk.WriteImage(image, str(tmp_path / f"slice_{k}.nii.gz"))
    image = imgindex.import_image(str(tmp_path), stack_images="yes")[0]
    assert np.array_equal(image.to_numpy(), volume)
    np.testing.assert_allclose(image.read().GetSpacing()[:2], (0.5, 0.7), rtol=1e-6)


def test_files_without_preamble_or_file_meta(tmp_path):
    imgindex.examples.write_example_dataset(
        tmp_path, n_samples=1, modalities=["CT"], formats=["dicom"], extras=["no_preamble"]
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        images = imgindex.import_image(str(tmp_path))
    series = next(i for i in images if len(i.file_paths) == 8)
    middle = series.to_numpy()[4]
    extras = [i for i in images if len(i.file_paths) == 1]
    assert len(extras) == 2
    for image in extras:
        array = image.to_numpy()
        assert array.shape == (1, 32, 32) and array.dtype == middle.dtype
        assert np.array_equal(array[0], middle)
