"""A DICOMDIR path, or a folder holding one, indexes the files of the file set (issue 12, items 4 and 6).

pydicom's bundled ``dicomdirtests`` folder is the test case: a DICOMDIR of 3 patients (CR, CT and
MR, 31 instances) and ``TINY_ALPHA``, a file set of 50 header-only CT files (no pixel data).
"""

from __future__ import annotations

import os
import shutil
import warnings
from pathlib import Path

import pydicom
import pytest
from _pydicom_files import TEST_FILES
from pydicom.fileset import FileSet

import imgindex

SOURCE = TEST_FILES / "dicomdirtests"


@pytest.fixture
def file_set(tmp_path) -> Path:
    root = tmp_path / "cd"
    shutil.copytree(SOURCE, root)
    return root


def listed(dicomdir: Path) -> list[str]:
    """The files pydicom's FileSet lists, as absolute paths under the DICOMDIR's folder."""
    file_set = FileSet(dicomdir)
    paths = [os.path.join(dicomdir.parent, *instance.ReferencedFileID) for instance in file_set]
    file_set._stage["t"].cleanup()  # FileSet's staging folder, made even to read
    return paths


def test_a_dicomdir_path_indexes_the_files_it_lists(file_set):
    dicomdir = file_set / "DICOMDIR"
    files = imgindex.scan(dicomdir)
    expected = listed(dicomdir)
    assert len(expected) == 31
    assert set(files["file_path"]) == {str(dicomdir), *expected}
    assert files["error"].isna().all()
    assert sorted(files["dicom_modality"].dropna().unique()) == ["CR", "CT", "MR"]


def test_the_import_of_a_dicomdir_finds_its_images(file_set):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        index = imgindex.build_index(str(file_set / "DICOMDIR"))
    assert sorted(index.images["modality"].unique()) == ["cr", "ct", "mr"]
    assert index.images["n_files"].sum() == 31
    row = index.files[index.files["file_name"] == "DICOMDIR"].iloc[0]
    assert row.role is pd_na() and "DICOMDIR" in row.role_reason and "neither image nor mask" in row.role_reason
    cr = index.images[index.images["modality"] == "cr"]
    assert (cr["spacing_x"] == 0.1).all() and (cr["spacing_y"] == 0.1).all()  # ImagerPixelSpacing


def pd_na():
    import pandas as pd

    return pd.NA


def test_a_missing_file_is_an_error_row_naming_the_dicomdir(file_set):
    gone = file_set / "77654033" / "CR2" / "6247"
    gone.unlink()
    dicomdir = file_set / "DICOMDIR"
    for source in (dicomdir, file_set):  # the DICOMDIR itself, or the folder that holds it
        files = imgindex.scan(source)
        errors = files[files["error"].notna()]
        assert errors["file_path"].tolist() == [str(gone)]
        message = errors["error"].item()
        assert str(gone) in message and f"DICOMDIR {dicomdir}" in message and "missing" in message
        assert files.attrs["scan"]["n_errors"] == 1
    assert len(imgindex.scan(dicomdir)) == 32  # the 30 files there, the DICOMDIR, the missing one


def test_a_folder_with_a_dicomdir_is_walked_once(file_set):
    files = imgindex.scan(file_set)
    assert files["file_path"].is_unique
    walked = {str(p) for p in file_set.rglob("*") if p.is_file()}
    assert set(files["file_path"]) <= walked
    assert set(listed(file_set / "DICOMDIR")) <= set(files["file_path"])


def test_header_only_files_are_neither_images_nor_masks(file_set):
    tiny = file_set / "TINY_ALPHA"
    index_files = imgindex.scan(tiny / "DICOMDIR")
    assert len(index_files) == 51 and index_files["Rows"].isna().all()
    with pytest.raises(imgindex.errors.NotFoundError, match="No images were found"), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        imgindex.build_index(str(tiny / "DICOMDIR"))
    from imgindex.roles import assign_roles

    roles = assign_roles(index_files)
    header_only = roles[roles["file_name"] != "DICOMDIR"]
    assert header_only["role"].isna().all()
    assert header_only["role_reason"].str.contains("without pixel data").all()
    assert all(pydicom.dcmread(p).get("PixelData") is None for p in header_only["file_path"][:3])


def test_an_unreadable_dicomdir_walks_its_folder(tmp_path):
    folder = tmp_path / "cd"
    shutil.copytree(SOURCE / "98892003", folder / "98892003")
    (folder / "DICOMDIR").write_bytes(b"\0" * 128 + b"DICM" + b"garbage")
    with pytest.warns(UserWarning, match="could not be read"):
        files = imgindex.scan(folder / "DICOMDIR")
    assert (files["dicom_modality"] == "MR").sum() == 17
