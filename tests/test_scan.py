"""scan(): every input form, every layout and awkward extra, re-use of a previous index."""

import os
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from _pydicom_files import bundled_files
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import imgindex
from imgindex import schema
from imgindex.errors import ImgIndexError, InputTypeError, NotFoundError


def _imaging(manifest):
    return manifest[manifest["expected"].isin(["imaging", "error"])]


def test_one_row_per_imaging_file_and_nothing_else(scanned):
    _root, manifest, files = scanned
    assert set(files["file_path"]) == set(_imaging(manifest)["file_path"])
    assert files["file_path"].is_unique
    report = files.attrs["scan"]
    not_imaging = manifest[manifest["expected"] == "not_imaging"]
    assert report["n_not_imaging"] == len(not_imaging)
    assert set(report["not_imaging_examples"]) == set(not_imaging["file_path"])
    assert report["n_paths"] == len(files) + len(not_imaging)
    schema.validate(files, "files")


def test_file_types_and_errors_match_the_manifest(scanned):
    _root, manifest, files = scanned
    merged = files.merge(_imaging(manifest), on="file_path", suffixes=("", "_expected"))
    assert (merged["file_type"] == merged["file_type_expected"]).all()
    assert set(merged.loc[merged["error"].notna(), "file_path"]) == set(
        manifest.loc[manifest["expected"] == "error", "file_path"]
    )
    assert files.attrs["scan"]["n_errors"] == (manifest["expected"] == "error").sum()


def test_dicom_identity_columns_match_the_manifest(scanned):
    _root, manifest, files = scanned
    dicom = manifest[(manifest["file_type"] == "dicom") & (manifest["expected"] == "imaging")]
    merged = files.merge(dicom, on="file_path", suffixes=("", "_expected"))
    assert len(merged) == len(dicom) > 0
    assert (merged["SeriesInstanceUID"] == merged["series_instance_uid"]).all()
    assert (merged["SOPInstanceUID"] == merged["sop_instance_uid"]).all()
    assert (merged["FrameOfReferenceUID"] == merged["frame_of_reference_uid"]).all()
    assert (merged["dicom_modality"].str.lower() == merged["modality_expected"]).all()
    assert (merged["PatientID"] == merged["sample_name_expected"]).all()


def test_awkward_extras_are_found_by_content(scanned):
    _root, manifest, files = scanned
    by_path = files.set_index("file_path")
    for extra in ("no_suffix", "no_preamble", "upper_suffix"):
        paths = manifest.loc[manifest["extra"] == extra, "file_path"]
        assert len(paths) > 0
        rows = by_path.loc[list(paths)]
        assert rows["error"].isna().all(), extra
        assert (rows["file_type"] == manifest.set_index("file_path").loc[list(paths), "file_type"]).all()
    no_suffix = by_path.loc[list(manifest.loc[manifest["extra"] == "no_suffix", "file_path"])]
    assert (no_suffix["dicom_modality"] == "MR").all()
    assert not any(
        p.startswith(str(m))
        for m in manifest.loc[manifest["extra"] == "empty_dir", "file_path"]
        for p in files["file_path"]
    )


def test_geometry_columns_match_the_manifest(scanned):
    _root, manifest, files = scanned
    volumes = manifest[(manifest["expected"] == "imaging") & manifest["file_type"].isin(["nifti", "nrrd"])]
    merged = files.merge(volumes, on="file_path")
    assert len(merged) == len(volumes) > 0
    for _, row in merged.iterrows():
        assert (row.size_x, row.size_y, row.size_z) == tuple(row["size"])
        np.testing.assert_allclose((row.spacing_x, row.spacing_y, row.spacing_z), row["spacing"], rtol=1e-6)
        np.testing.assert_allclose((row.origin_x, row.origin_y, row.origin_z), row["origin"], atol=1e-4)


def test_single_file_as_str_and_path(scanned):
    _root, manifest, _files = scanned
    path = _imaging(manifest)["file_path"].iloc[0]
    as_str, as_path = imgindex.scan(str(path)), imgindex.scan(Path(path))
    assert list(as_str["file_path"]) == [str(path)]
    pd.testing.assert_frame_equal(as_str, as_path)


def test_list_of_mixed_paths_and_arrays(scanned):
    _root, manifest, _files = scanned
    paths = list(_imaging(manifest)["file_path"].iloc[:3])
    arrays = [np.zeros((4, 5, 6), dtype="int16"), np.ones((7, 8), dtype="float32")]
    files = imgindex.scan([paths[0], Path(paths[1]), arrays[0], [paths[2], arrays[1]]])
    assert list(files["file_path"].dropna()) == paths
    arr = files[files["array_index"].notna()].reset_index(drop=True)
    assert list(arr["array_index"]) == [0, 1]
    assert (arr.loc[0, "size_x"], arr.loc[0, "size_y"], arr.loc[0, "size_z"], arr.loc[0, "ndim"]) == (6, 5, 4, 3)
    assert (arr.loc[1, "size_x"], arr.loc[1, "size_y"], arr.loc[1, "size_z"], arr.loc[1, "ndim"]) == (8, 7, 1, 2)
    assert list(arr["pixel_type"]) == ["int16", "float32"]
    assert arr["file_path"].isna().all()


def test_object_array_is_an_error_row_not_a_crash():
    files = imgindex.scan(np.array([object(), 1], dtype=object))
    assert len(files) == 1 and "numeric arrays only" in files.loc[0, "error"]


def test_duplicate_paths_give_one_row(scanned):
    _root, manifest, _files = scanned
    path = _imaging(manifest)["file_path"].iloc[0]
    assert len(imgindex.scan([path, path, Path(path)])) == 1


def test_missing_path_and_bad_types():
    with pytest.raises(NotFoundError, match="does not point to a file or a directory"):
        imgindex.scan("/no/such/place")
    with pytest.raises(ValueError):  # MIRP-style callers catch ValueError
        imgindex.scan("/no/such/place")
    for bad in (42, {"a": 1}, None):
        with pytest.raises(InputTypeError, match="Unsupported input type") as info:
            imgindex.scan(bad)
        assert isinstance(info.value, TypeError) and isinstance(info.value, ImgIndexError)


def test_empty_directory_gives_an_empty_table(tmp_path):
    (tmp_path / "sub").mkdir()
    files = imgindex.scan(tmp_path)
    assert files.empty and list(files.columns) == schema.names("files")
    assert files.attrs["scan"]["n_paths"] == 0


def test_parallel_scan_equals_serial_scan(scanned):
    root, _manifest, files = scanned
    calls = []
    parallel = imgindex.scan(root, workers=2, chunk_size=16, progress=lambda d, t: calls.append((d, t)))
    pd.testing.assert_frame_equal(parallel, files)
    total = files.attrs["scan"]["n_paths"]
    assert calls[-1] == (total, total)
    assert len(calls) > 1


def test_progress_bar_goes_to_stderr(scanned, capsys):
    root, _manifest, files = scanned
    again = imgindex.scan(root, progress=True)
    out, _err = capsys.readouterr()
    assert out == ""
    assert len(again) == len(files)


def test_reuse_of_a_previous_index(scanned, tmp_path):
    root, _manifest, files = scanned
    again = imgindex.scan(root, previous=files)
    pd.testing.assert_frame_equal(again, files)
    assert again.attrs["scan"]["n_reused"] == len(files)
    assert again.attrs["scan"]["n_read"] == files.attrs["scan"]["n_not_imaging"]

    saved = tmp_path / "files.parquet"
    imgindex.write_files(files, saved)
    assert imgindex.scan(root, previous=saved).attrs["scan"]["n_reused"] == len(files)


def test_reuse_rereads_changed_files_only(dataset, tmp_path):
    src_root, _manifest = dataset
    import shutil

    root = tmp_path / "copy"
    shutil.copytree(src_root, root)
    files = imgindex.scan(root)
    ok = files[files["error"].isna() & (files["file_type"] == "numpy")]["file_path"]
    changed, removed = ok.iloc[0], ok.iloc[1]
    np.save(changed, np.zeros((2, 3, 4), dtype="uint8"))
    os.utime(changed, ns=(time.time_ns(), time.time_ns() + 10**9))
    os.remove(removed)
    new = root / "new.npy"
    np.save(new, np.zeros((9, 9), dtype="float64"))
    again = imgindex.scan(root, previous=files)
    report = again.attrs["scan"]
    assert report["n_reused"] == len(files) - 2
    assert removed not in set(again["file_path"])
    row = again.set_index("file_path").loc[changed]
    assert (row.size_x, row.size_y, row.size_z, row.pixel_type) == (4, 3, 2, "uint8")
    assert again.set_index("file_path").loc[str(new), "pixel_type"] == "float64"


def test_pydicom_test_files_every_one_a_row_never_raises():
    dcm = bundled_files("*.dcm")
    files = imgindex.scan(dcm)
    assert len(files) == len(dcm)
    read = files["error"].isna()
    assert read.sum() > 0.9 * len(files)
    assert files.loc[read, "SOPClassUID"].notna().mean() > 0.9
    assert files.loc[~read, "error"].str.len().gt(20).all()


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_every_file_in_is_one_row_out(scanned, data):
    _root, manifest, _files = scanned
    candidates = list(manifest.loc[manifest["expected"] != "empty_dir", "file_path"])
    chosen = data.draw(st.lists(st.sampled_from(candidates), max_size=12))
    files = imgindex.scan(chosen)
    imaging = manifest["expected"].isin(["imaging", "error"])
    expected = set(manifest.loc[manifest["file_path"].isin(chosen) & imaging, "file_path"])
    assert set(files["file_path"]) == expected
    assert len(files) == len(expected)


def test_summary_counts_rows(scanned):
    _root, _manifest, files = scanned
    table = imgindex.summary(files)
    assert table["files"].sum() == len(files)
    assert table["errors"].sum() == files["error"].notna().sum()
