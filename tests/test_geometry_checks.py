"""Geometry checks in the objects table, from headers only, and reading broken series anyway."""

import shutil
import warnings

import numpy as np
import pandas as pd
import pydicom
import pytest
import SimpleITK as sitk

import imgindex
from imgindex import schema
from imgindex.examples import write_shapes_dataset
from imgindex.geometry import GEOMETRY_COLUMNS

COLUMNS = [*GEOMETRY_COLUMNS, "oblique", "geometry_warning"]


@pytest.fixture(scope="module")
def series(tmp_path_factory):
    root = tmp_path_factory.mktemp("geometry_checks")
    imgindex.examples.write_example_dataset(
        root, n_samples=1, modalities=["CT"], formats=["dicom"], seg=False, extras=False
    )
    return sorted((root / "STS_001" / "CT" / "dicom" / "image").glob("*.dcm"))


def copy(paths, folder):
    folder.mkdir(parents=True)
    for p in paths:
        shutil.copy(p, folder / p.name)
    return sorted(folder.glob("*.dcm"))


def objects(folder):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        index = imgindex.build_index(str(folder))
    return index.images, [str(w.message) for w in caught if "DICOM series" in str(w.message)]


def test_columns_are_declared():
    names = schema.names("objects")
    assert all(c in names for c in COLUMNS)
    empty = schema.empty("objects")
    assert str(empty["slice_spacing_uniform"].dtype) == "boolean" and str(empty["missing_slices"].dtype) == "Int64"


def test_clean_series(series, tmp_path):
    rows, messages = objects(copy(series, tmp_path / "clean")[0].parent)
    row = rows.iloc[0]
    assert (
        row.n_slices,
        row.slice_spacing,
        row.slice_spacing_uniform,
        row.missing_slices,
        row.duplicate_positions,
        row.oblique,
        row.geometry_warning,
    ) == (8, 3.0, True, 0, 0, False, "")
    assert row.geometry_warning == "" and messages == []


def test_missing_slice_warns_once_and_reads(series, tmp_path):
    paths = copy(series[:3] + series[4:], tmp_path / "missing")
    rows, messages = objects(paths[0].parent)
    row = rows.iloc[0]
    assert (row.n_slices, row.slice_spacing, row.slice_spacing_uniform, row.missing_slices) == (7, 3.0, False, 1)
    assert "1 missing slice(s)" in row.geometry_warning and "stack_warning" not in row.index
    assert len(messages) == 1
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        image = imgindex.import_image(str(paths[0].parent))[0]
    assert sum("missing slice" in str(w.message) for w in caught) == 1
    assert "missing slice" in image.geometry_warning
    volume = image.read()  # issue 12: the missing slice is an empty one, the slices after it do not move
    assert volume.GetSize() == (32, 32, 8) and volume.GetSpacing()[2] == 3.0
    assert (sitk.GetArrayFromImage(volume)[3] == sitk.GetArrayFromImage(volume).min()).all()
    assert image.read(resample=False).GetSize() == (32, 32, 7)  # the slices as stored, on request


def test_duplicate_positions(series, tmp_path):
    paths = copy(series, tmp_path / "duplicate")
    ds = pydicom.dcmread(paths[2])
    ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID + ".1"
    ds.save_as(paths[2].parent / "extra.dcm")
    rows, messages = objects(paths[0].parent)
    row = rows.iloc[0]
    assert (row.n_slices, row.duplicate_positions, row.missing_slices) == (9, 1, 0)
    assert "1 duplicated slice position(s)" in row.geometry_warning and len(messages) == 1


def test_split_by_orientation_and_size(series, tmp_path):
    paths = copy(series, tmp_path / "split")
    for p in paths[:2]:
        ds = pydicom.dcmread(p)
        ds.ImageOrientationPatient = [1, 0, 0, 0, 0, -1]
        ds.save_as(p)
    ds = pydicom.dcmread(paths[-1])
    ds.Rows, ds.PixelData = 16, ds.PixelData[: 16 * 32 * 2]
    ds.save_as(paths[-1])
    rows, messages = objects(paths[0].parent)
    assert sorted(rows["n_slices"]) == [1, 2, 5]
    assert rows["geometry_warning"].str.contains("split: 2 orientations").sum() >= 2
    assert rows["geometry_warning"].str.contains(r"split: 2 image sizes").any()
    assert len(messages) == 1  # one warning per original series
    with pytest.warns(UserWarning, match="split"):
        images = imgindex.import_image(str(paths[0].parent))
    for image in images:
        assert image.read().GetSize()[2] == image.image_dimension[0]


def test_oblique_series(tmp_path):
    data = write_shapes_dataset(tmp_path / "oblique", oblique=True, seg=False)
    rows, messages = objects(data.image_dir)
    assert rows["oblique"].tolist() == [True] and rows["geometry_warning"].tolist() == [""] and not messages
    assert rows.iloc[0].slice_spacing == pytest.approx(data.spacing[2])


def test_non_series_objects_get_defaults(tmp_path):
    imgindex.examples.write_example_dataset(
        tmp_path, n_samples=1, modalities=["PT"], formats=["nifti", "numpy"], extras=False
    )
    index = imgindex.build_index(str(tmp_path), mask=str(tmp_path))
    table = index.objects
    assert (table["n_slices"] == table["size_z"]).all()
    assert np.allclose(table["slice_spacing"], table["spacing_z"])
    assert table["slice_spacing_uniform"].all() and (table["missing_slices"] == 0).all()
    assert (table["geometry_warning"] == "").all() and not table["oblique"].any()


def test_rtstruct_rows_have_no_grid(tmp_path):
    data = write_shapes_dataset(tmp_path / "rt", seg=False)
    index = imgindex.build_index(str(data.image_dir), mask=str(data.rtstruct))
    mask = index.masks.iloc[0]
    assert pd.isna(mask.n_slices) and pd.isna(mask.oblique) and mask.geometry_warning == ""


def test_saved_index_round_trip(series, tmp_path):
    paths = copy(series[:3] + series[4:], tmp_path / "saved")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        index = imgindex.build_index(str(paths[0].parent))
    index.save(tmp_path / "index")
    loaded = imgindex.read_index(tmp_path / "index")
    pd.testing.assert_frame_equal(loaded.objects[COLUMNS], index.objects[COLUMNS])
