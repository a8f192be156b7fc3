"""Atomic saves and export writes where the system does not help: no ``renameat2``, failing writers.

The promises of issue 13 (a save replaces the old index whole or not at all; an export removes what
a failing sample wrote) must hold on systems without Linux's atomic swap too, and a write that fails
half-way must leave neither a temporary file nor a half-written target.
"""

from __future__ import annotations

import ctypes
import errno
import os
import warnings
from pathlib import Path

import numpy as np
import pytest
import SimpleITK as sitk

import imgindex
from imgindex import atomic, schema
from imgindex.errors import InputError, NotFoundError
from imgindex.export import write


def _index(folder: Path, mark: str) -> None:
    """Save a one-table index whose only row says ``mark``."""
    frame = schema.empty("pairs")
    atomic.write_folder(folder, {"pairs": (frame, {"mark": mark})})


def _mark(folder: Path) -> str:
    import json

    import pyarrow.parquet as pq

    from imgindex.persist import METADATA_KEY

    return json.loads(pq.read_schema(folder / "pairs.parquet").metadata[METADATA_KEY])["mark"]


def test_without_an_atomic_swap_the_old_index_is_replaced_whole(tmp_path, monkeypatch):
    folder = tmp_path / "index"
    _index(folder, "old")
    monkeypatch.setattr(atomic, "_exchange", lambda a, b: False)  # e.g. macOS, or a file system without it
    _index(folder, "new")
    assert _mark(folder) == "new"
    assert sorted(os.listdir(tmp_path)) == ["index"]  # neither the old index nor a temporary is left


def test_a_system_without_renameat2_falls_back_to_moving_aside(tmp_path, monkeypatch):
    class NoRenameat2:
        def __init__(self, *args, **kwargs):
            pass

        def __getattr__(self, name):
            raise AttributeError(name)

    monkeypatch.setattr(ctypes, "CDLL", NoRenameat2)
    assert atomic._exchange(str(tmp_path / "a"), str(tmp_path / "b")) is False
    folder = tmp_path / "index"
    _index(folder, "old")
    _index(folder, "new")
    assert _mark(folder) == "new"


def test_a_swap_that_fails_for_a_real_reason_raises_naming_the_index(tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    a.mkdir()
    with pytest.raises(OSError) as caught:  # nothing at b: the kernel says ENOENT, a real failure
        atomic._exchange(str(a), str(b))
    assert caught.value.errno == errno.ENOENT
    assert str(b) in str(caught.value)


def test_a_competing_writer_between_the_moves_is_retried(tmp_path, monkeypatch):
    folder = tmp_path / "index"
    _index(folder, "old")
    monkeypatch.setattr(atomic, "_exchange", lambda a, b: False)
    real_rename = os.rename
    calls = {"n": 0}

    def rename(src, dst):
        calls["n"] += 1
        if calls["n"] == 2:  # the old index was just moved aside: another writer takes it first
            raise FileNotFoundError(errno.ENOENT, "gone", src)
        return real_rename(src, dst)

    monkeypatch.setattr(atomic.os, "rename", rename)
    _index(folder, "new")
    assert _mark(folder) == "new"
    assert sorted(os.listdir(tmp_path)) == ["index"]


def test_a_file_where_the_index_goes_is_refused_and_kept(tmp_path):
    target = tmp_path / "index"
    target.write_text("my notes")
    with pytest.raises(InputError, match="exists and is not a folder"):
        _index(target, "new")
    assert target.read_text() == "my notes"


def test_a_folder_missing_a_table_is_not_an_index(tmp_path):
    folder = tmp_path / "index"
    _index(folder, "only pairs")
    with pytest.raises(NotFoundError, match=r"is not a saved imgindex index: files.parquet missing"):
        atomic.read_folder(folder)


# --- export writes -------------------------------------------------------------------------------


def test_an_image_is_not_overwritten_unless_asked(tmp_path):
    path = str(tmp_path / "a.nii.gz")
    write.write_image(sitk.Image(2, 2, 2, sitk.sitkUInt8), path)
    with pytest.raises(InputError, match="exists already"):
        write.write_image(sitk.Image(3, 3, 3, sitk.sitkUInt8), path)
    assert sitk.ReadImage(path).GetSize() == (2, 2, 2)
    write.write_image(sitk.Image(3, 3, 3, sitk.sitkUInt8), path, overwrite=True)
    assert sitk.ReadImage(path).GetSize() == (3, 3, 3)


def test_a_writer_failing_half_way_leaves_no_temporary_and_no_target(tmp_path, monkeypatch):
    def half_write(image, where, useCompression=True):
        Path(where).write_bytes(b"half a file")
        raise RuntimeError("disk full")

    monkeypatch.setattr(write.sitk, "WriteImage", half_write)
    with pytest.raises(RuntimeError, match="disk full"):
        write.write_image(sitk.Image(2, 2, 2, sitk.sitkUInt8), str(tmp_path / "a.nii.gz"))
    real_open = open

    def failing_open(path, *args, **kwargs):
        handle = real_open(path, *args, **kwargs)
        handle.close()
        raise OSError(28, "No space left on device")

    monkeypatch.setattr("builtins.open", failing_open)
    with pytest.raises(OSError, match="No space left"):
        write.write_text("a,b\n", str(tmp_path / "manifest.csv"), overwrite=False)
    monkeypatch.undo()
    assert os.listdir(tmp_path) == []


def test_undo_removes_what_a_sample_wrote_and_its_empty_folders_but_not_the_output(tmp_path):
    out = tmp_path / "out"
    (out / "kept").mkdir(parents=True)
    (out / "kept" / "other.txt").write_text("another sample's")
    written = write.Written(str(out), overwrite=False)
    first = written.image(sitk.Image(2, 2, 2, sitk.sitkUInt8), str(out / "patient" / "ct" / "image.nii.gz"))
    written.image(sitk.Image(2, 2, 2, sitk.sitkUInt8), str(out / "kept" / "mask.nii.gz"))
    written.image(sitk.Image(2, 2, 2, sitk.sitkUInt8), str(out / "patient" / "mask.nii.gz"))
    os.remove(first)  # already gone: undo goes on with the others
    written.undo()
    assert sorted(str(p.relative_to(out)) for p in out.rglob("*")) == ["kept", "kept/other.txt"]
    assert written.paths == []


def test_an_image_off_the_first_channel_grid_is_resampled_onto_it_and_says_so():
    """The export warns once for all resampled cases (test_export_channels); on_grid says which were."""
    reference = sitk.Image(4, 4, 4, sitk.sitkFloat32)
    reference.SetSpacing((2.0, 2.0, 2.0))
    moving = sitk.GetImageFromArray(np.full((8, 8, 8), 7.0, dtype=np.float32))
    same, resampled = write.on_grid(reference, reference)
    assert same is reference and not resampled
    out, resampled = write.on_grid(moving, reference)
    assert resampled
    assert out.GetSize() == reference.GetSize() and out.GetSpacing() == reference.GetSpacing()
    assert np.allclose(sitk.GetArrayFromImage(out)[:3, :3, :3], 7.0)  # inside the moving image: its value


def test_label_maps_give_overlaps_to_the_later_label():
    reference = sitk.Image(3, 1, 1, sitk.sitkUInt8)

    def region(values):
        image = sitk.GetImageFromArray(np.array(values, dtype=np.uint8).reshape(1, 1, 3))
        image.CopyInformation(reference)
        return image

    found = [("m", "gtv", region([1, 1, 0])), ("m", "ctv", region([0, 1, 1]))]
    out = write.label_map(found, {"gtv": 1, "ctv": 2}, reference)
    assert sitk.GetArrayFromImage(out).ravel().tolist() == [1, 2, 2]
    with pytest.raises(InputError, match="Region 'other' of m has no label value"):  # never left out silently
        write.label_map([*found, ("m", "other", region([1, 1, 1]))], {"gtv": 1, "ctv": 2}, reference)


def test_an_export_of_a_missing_folder_index_says_so(tmp_path):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pytest.raises((NotFoundError, InputError)):
            imgindex.export(str(tmp_path / "nowhere"), to="nifti", out=tmp_path / "out")
    assert not (tmp_path / "out").exists()
