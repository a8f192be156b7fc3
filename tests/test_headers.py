"""Header values equal what pydicom, SimpleITK and numpy report for the same files."""

import numpy as np
import pandas as pd
import pydicom
import pytest
import SimpleITK as sitk
from _pydicom_files import bundled_files

import imgindex
from imgindex import schema
from imgindex.headers import read_file


def _dicom_rows(files):
    return files[(files["file_type"] == "dicom") & files["error"].isna()]


def _same(ours, theirs):
    if theirs is None or theirs == "":
        return ours is None or ours is pd.NA or (isinstance(ours, float) and np.isnan(ours))
    if isinstance(theirs, (list, tuple, pydicom.multival.MultiValue)):
        return (
            ours is not None
            and len(ours) == len(theirs)
            and all(_same(a, b) for a, b in zip(ours, theirs, strict=True))
        )
    if isinstance(theirs, (int, float)):
        return float(ours) == float(theirs)
    return str(ours) == str(theirs).strip()


KEYWORDS = (
    "PatientID",
    "PatientName",
    "StudyInstanceUID",
    "SeriesInstanceUID",
    "SOPInstanceUID",
    "SOPClassUID",
    "FrameOfReferenceUID",
    "Modality",
    "SeriesDescription",
    "InstanceNumber",
    "ImagePositionPatient",
    "ImageOrientationPatient",
    "PixelSpacing",
    "SliceThickness",
    "Rows",
    "Columns",
    "RescaleSlope",
    "RescaleIntercept",
)


_GROUPS = {
    "ImagePositionPatient": ("PlanePositionSequence", "per-frame"),
    "ImageOrientationPatient": ("PlaneOrientationSequence", "shared"),
    "PixelSpacing": ("PixelMeasuresSequence", "shared"),
    "SliceThickness": ("PixelMeasuresSequence", "shared"),
}


def _pydicom_value(ds, keyword):
    """The value of ``keyword``; for enhanced multi-frame files from the functional groups."""
    value = ds.get(keyword)
    if value is None and keyword in _GROUPS and "PerFrameFunctionalGroupsSequence" in ds:
        sequence, where = _GROUPS[keyword]
        groups = [ds.SharedFunctionalGroupsSequence[0], ds.PerFrameFunctionalGroupsSequence[0]]
        if where == "per-frame":
            groups = groups[::-1]
        for group in groups:
            if sequence in group:
                value = group[sequence][0].get(keyword)
                if value is not None:
                    break
    return value


#: The files-table column of a DICOM keyword, where the two differ (``Modality``: ``dicom_modality``).
_COLUMN = {c.key: c.name for c in schema.columns("files")}


def _check_against_pydicom(rows):
    for _, row in rows.iterrows():
        ds = pydicom.dcmread(row.file_path, force=True, stop_before_pixels=True)
        for keyword in KEYWORDS:
            theirs = _pydicom_value(ds, keyword)
            if theirs is not None and keyword == "PatientName":
                theirs = str(theirs)
            ours = row[_COLUMN.get(keyword, keyword)]
            assert _same(ours, theirs), (row.file_path, keyword, ours, theirs)


def test_dicom_values_equal_pydicom_on_example_data(scanned):
    _root, _manifest, files = scanned
    rows = _dicom_rows(files)
    assert len(rows) > 0
    _check_against_pydicom(rows)


def test_dicom_values_equal_pydicom_on_pydicom_test_files():
    files = imgindex.scan(bundled_files("*.dcm"))
    rows = _dicom_rows(files)
    # files whose values pydicom itself cannot convert are compared where they can be
    readable = []
    for _, row in rows.iterrows():
        try:
            ds = pydicom.dcmread(row.file_path, force=True, stop_before_pixels=True)
            [ds.get(k) for k in KEYWORDS]
            readable.append(row.name)
        except Exception:
            continue
    _check_against_pydicom(rows.loc[readable])


def test_rtstruct_and_seg_references(scanned):
    _root, manifest, files = scanned
    by_path = files.set_index("file_path")
    masks = manifest[manifest["modality"].isin(["rtstruct", "seg"]) & (manifest["expected"] == "imaging")]
    assert len(masks) > 0
    for _, mask in masks.iterrows():
        row = by_path.loc[mask.file_path]
        names = row.ROIName if mask.modality == "rtstruct" else row.SegmentLabel
        assert tuple(names) == tuple(mask.roi_names)
        image_key = mask.object_key.rsplit("/", 1)[0] + "/image"
        image = manifest[manifest["object_key"] == image_key]
        image_series = set(image["series_instance_uid"])
        assert set(row.ReferencedSeriesInstanceUID) == image_series
        image_for = set(image["frame_of_reference_uid"])
        if mask.modality == "rtstruct":
            assert set(row.ReferencedSOPInstanceUID) == set(image["sop_instance_uid"])
            assert set(row.ReferencedFrameOfReferenceUID) == image_for
        else:
            assert row.FrameOfReferenceUID in image_for
            assert set(row.ReferencedSOPInstanceUID) <= set(image["sop_instance_uid"])
            assert bool(row.multiframe) and row.NumberOfFrames >= 1
            assert row.SegmentationType == "BINARY" and row.pixel_type == "bool"


def test_itk_headers_equal_simpleitk_full_read(scanned):
    _root, _manifest, files = scanned
    rows = files[files["file_type"].isin(["nifti", "nrrd"]) & files["error"].isna()]
    assert len(rows) > 0
    for _, row in rows.iterrows():
        image = sitk.ReadImage(row.file_path)
        assert (row.size_x, row.size_y, row.size_z) == image.GetSize()
        np.testing.assert_allclose((row.spacing_x, row.spacing_y, row.spacing_z), image.GetSpacing())
        np.testing.assert_allclose((row.origin_x, row.origin_y, row.origin_z), image.GetOrigin())
        np.testing.assert_allclose(row.direction, image.GetDirection())
        assert row.pixel_type == sitk.GetArrayViewFromImage(image).dtype.name


def test_numpy_headers_equal_numpy(scanned):
    _root, _manifest, files = scanned
    rows = files[(files["file_type"] == "numpy") & files["error"].isna()]
    assert len(rows) > 0
    for _, row in rows.iterrows():
        array = np.load(row.file_path, mmap_mode="r")
        assert row["ndim"] == array.ndim
        assert (row.size_x, row.size_y, row.size_z) == tuple(reversed((1, 1, *array.shape)[-3:]))
        assert row.pixel_type == array.dtype.name


def test_numpy_object_array_is_never_unpickled(tmp_path):
    path = tmp_path / "objects.npy"
    np.save(path, np.array([{"a": 1}], dtype=object), allow_pickle=True)
    row = read_file(str(path))
    assert row["file_type"] == "numpy" and "unpickling" in row["error"]


def test_2d_and_4d_itk_images(tmp_path):
    two = tmp_path / "two.nii.gz"
    sitk.WriteImage(sitk.Image(5, 4, sitk.sitkUInt8), str(two))
    row = read_file(str(two))
    assert (row["ndim"], row["size_x"], row["size_y"], row["size_z"]) == (2, 5, 4, 1)
    assert row["direction"] == (1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0)
    four = tmp_path / "four.nrrd"
    sitk.WriteImage(sitk.Image([3, 4, 5, 2], sitk.sitkFloat32), str(four))
    row = read_file(str(four))
    assert (row["ndim"], row["size_x"], row["size_z"], row["pixel_type"]) == (4, 3, 5, "float32")


@pytest.mark.parametrize("content", [b"", b"\x93NUMPY\x01\x00garbage"])
def test_broken_numpy_is_an_error_row(tmp_path, content):
    path = tmp_path / "broken.npy"
    path.write_bytes(content)
    row = read_file(str(path))
    assert row["file_type"] == "numpy" and row["error"]


def test_file_that_cannot_be_opened_is_an_error_row(tmp_path):
    path = tmp_path / "folder.dcm"  # opening a directory fails like an unreadable file
    path.mkdir()
    row = read_file(str(path))
    assert row["file_type"] == "dicom" and "could not be opened" in row["error"]
