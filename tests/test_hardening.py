"""Nothing lost, nothing escapes (issue 13): every attack is built here, and each promise asserted.

- exports stay inside their folder whatever the names hold, and give different sources different names;
- nothing is dropped silently (ambiguous pairs refused, images that cannot be placed stop the export);
- detached data files (NRRD ``data file:``, NIfTI ``.hdr/.img``) must lie in their header's folder;
- saves are atomic and concurrent-safe (a failing writer, a killed writer, threads, processes);
- any file name, UTF-8 or not, is saved and restored, and errors name the file;
- listed paths resolve as the clients resolve them, from any current directory;
- reads are bounded: a header claiming more than the limit or than the file holds, or a gzip bomb,
  is refused before anything is allocated (imgindex/voxels/limits.py);
- the command line shows no traceback, exits 130 on Ctrl-C and goes on past a failing sample;
- arguments and input forms are checked with errors that say what was found and what to do.
"""

from __future__ import annotations

import gzip
import json
import os
import shutil
import signal
import struct
import subprocess
import sys
import textwrap
import threading
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import SimpleITK as sitk

import imgindex
from imgindex import cli
from imgindex.errors import ExportError, ImgIndexError, InputError, InputTypeError, NotFoundError
from imgindex.examples import write_example_dataset
from imgindex.export.names import inside, safe_name, unique_names

HOSTILE = ["..", "../../escape", "/etc", "a\x00b", "line\nbreak", "x" * 300, "Müller", "Mäller", "CON", "王", "李", "."]


def _files_under(folder: Path) -> set[Path]:
    return {p for p in folder.rglob("*") if p.is_file()}


@pytest.fixture(scope="module")
def ct(tmp_path_factory):
    """A CT NIfTI dataset of as many samples as there are hostile names, and its index."""
    root = tmp_path_factory.mktemp("hardening") / "data"
    write_example_dataset(root, n_samples=len(HOSTILE), modalities=("CT",), formats=("nifti",), extras=False)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return root, imgindex.build_index(root, mask=root)


def _renamed(index: imgindex.Index, names: list[str]) -> imgindex.Index:
    """The index with its samples renamed to ``names`` (images and masks alike), its tables copied."""
    objects = index.objects.copy()
    old = sorted(objects["sample_name"].dropna().unique())
    mapping = dict(zip(old, names, strict=True))
    objects["sample_name"] = objects["sample_name"].map(mapping).astype(objects["sample_name"].dtype)
    return imgindex.Index(index.files.copy(), objects, index.pairs.copy(), index.options, index.requests)


# --- 1. exports stay inside their folder --------------------------------------------------------


@pytest.mark.parametrize("text", HOSTILE + ["", None, "com1.txt", "-rf", " spaced out ", "a/../../b", "\\\\server\\x"])
def test_safe_names_are_plain_bounded_and_never_special(text):
    name = safe_name(text)
    assert name and len(name) <= 64 and name.isascii()
    assert set(name) <= set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._-")
    assert name not in (".", "..") and not name.startswith((".", "-"))
    assert name.split(".")[0].upper() not in {"CON", "PRN", "AUX", "NUL", "COM1", "LPT1"}


def test_unique_names_never_merge_two_sources_ignoring_case():
    texts = [*HOSTILE, "STS_001", "sts_001", "GTV 1", "GTV/1", "GTV_1", None, ""]
    names = unique_names(texts)
    assert len({n.lower() for n in names.values()}) == len(set(texts))
    assert names["Müller"] == "Muller" and names["Mäller"] == "Maller"  # readable where they can be
    assert unique_names(reversed(texts)) == names  # a name does not depend on the order of the others


def test_inside_refuses_every_way_out(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (out / "link").symlink_to(tmp_path)
    for path in (tmp_path / "x", out / ".." / "x", out / "link" / "x", Path("/etc/passwd"), out):
        with pytest.raises(InputError, match="outside the output folder"):
            inside(str(out), str(path))
    assert inside(str(out), str(out / "a" / "b.nii.gz")) == str(out / "a" / "b.nii.gz")


@pytest.mark.parametrize("to", ["nifti", "pyradiomics", "nnunet", "monai"])
def test_hostile_sample_names_stay_inside_and_apart(ct, tmp_path, to):
    _root, index = ct
    hostile = _renamed(index, HOSTILE)
    out = tmp_path / "box" / "out"
    out.parent.mkdir()
    (tmp_path / "box" / "sentinel").write_text("untouched")
    before = _files_under(tmp_path)
    table = imgindex.export(hostile, to=to, out=out, workers=1)
    new = _files_under(tmp_path) - before
    assert new and all(out in p.parents for p in new), sorted(map(str, new - {p for p in new if out in p.parents}))
    assert {p.name for p in (tmp_path / "box").iterdir()} == {"out", "sentinel"}
    images = [p for p in new if p.name == "image.nii.gz" or "images" in p.parts or "imagesTr" in p.parts]
    assert len(images) == len(HOSTILE)  # one per sample: Müller and Mäller, 王 and 李 are all there
    for path in new:
        relative = path.relative_to(out)
        assert all(part.isascii() and part not in (".", "..") for part in relative.parts)
    originals = set(table["sample_name"])
    assert originals == set(HOSTILE)  # the original names are recorded
    listing = (
        (out / {"nifti": "manifest.csv", "pyradiomics": "pyradiomics.csv"}.get(to, "")).read_text(encoding="utf-8")
        if to in ("nifti", "pyradiomics")
        else None
    )
    if to == "nnunet":
        dataset = json.loads((out / "dataset.json").read_text())
        assert dataset["numTraining"] == len(HOSTILE) == len(list((out / "labelsTr").iterdir()))
        assert {c["sample_name"] for c in dataset["imgindex"]["cases"].values()} == set(HOSTILE)
    elif to == "monai":
        datalist = json.loads((out / "datalist.json").read_text())
        assert {item["sample_name"] for item in datalist["training"]} == set(HOSTILE)
    else:
        assert "Müller" in listing and "Mäller" in listing


def test_rois_that_sanitise_alike_get_files_of_their_own(ct, tmp_path):
    _root, index = ct
    table = imgindex.export(
        index, to="nifti", out=tmp_path, workers=1, roi_name={"region_1": "GTV 1", "region_2": "GTV/1"}
    )
    for _image_id, rows in table.groupby("image_id"):
        assert rows["roi_name"].tolist() == ["GTV 1", "GTV/1"]
        assert rows["mask_path"].nunique() == 2
        masks = [sitk.GetArrayFromImage(sitk.ReadImage(p)) for p in rows["mask_path"]]
        assert not np.array_equal(masks[0], masks[1])  # two regions, two different files


def test_overwrite_with_colliding_names_keeps_every_patient(ct, tmp_path):
    """Müller and Mäller (or 王 and 李) with overwrite=True: two cases, and dataset.json counts two."""
    _root, index = ct
    hostile = _renamed(index, HOSTILE)
    for _ in range(2):
        imgindex.export(hostile, to="nnunet", out=tmp_path, overwrite=True, workers=1)
    dataset = json.loads((tmp_path / "dataset.json").read_text())
    assert dataset["numTraining"] == len(list((tmp_path / "labelsTr").iterdir())) == len(HOSTILE)


# --- 2. nothing dropped silently --------------------------------------------------------------


@pytest.fixture(scope="module")
def two_ct(tmp_path_factory):
    """One patient with two CT images (DICOM and NIfTI of one scan) and a PT, each with its masks."""
    root = tmp_path_factory.mktemp("two_ct") / "data"
    write_example_dataset(root, n_samples=2, modalities=("CT", "PT"), formats=("dicom", "nifti"), extras=False)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return imgindex.build_index(root, mask=root, mask_modality="rtstruct", image_file_type="dicom"), (
            imgindex.build_index(root, mask=root, image_modality="ct")
        )


def test_two_images_of_one_modality_stop_a_multichannel_export_before_writing(two_ct, tmp_path):
    _dicom, ct_only = two_ct
    images = ct_only.materialise()
    pt = [i for i in _dicom.materialise() if i.modality == "pt"]
    out = tmp_path / "nnunet"
    with pytest.raises(InputError, match=r"sample STS_001 has \d CT images \(image_\d.*Nothing was written"):
        imgindex.export([*images, *pt], to="nnunet", out=out, workers=1)
    assert not out.exists()


def test_one_channel_exports_one_case_per_image(two_ct, tmp_path):
    _dicom, ct_only = two_ct
    n_images = len(ct_only.images)
    assert n_images > ct_only.images["sample_name"].nunique()  # some patient has two CTs
    table = imgindex.export(ct_only, to="nnunet", out=tmp_path, workers=1)
    assert len(table) == n_images == len(list((tmp_path / "imagesTr").iterdir()))
    assert json.loads((tmp_path / "dataset.json").read_text())["numTraining"] == n_images
    assert sorted(i for ids in table["image_ids"] for i in ids) == sorted(ct_only.images["object_id"])


def test_ambiguous_pairs_are_refused_unless_allowed(ct, tmp_path):
    _root, index = ct
    pairs = index.pairs.copy()
    pairs.loc[pairs.index[0], "status"] = "ambiguous"
    shaky = imgindex.Index(index.files, index.objects, pairs, index.options, index.requests)
    image_id = pairs.iloc[0]["image_id"]
    with pytest.raises(
        InputError,
        match=rf"1 images have ambiguous masks .*: \S+ {image_id}\. Nothing was written.*allow_ambiguous=True",
    ):
        imgindex.export(shaky, to="nifti", out=tmp_path / "refused", workers=1)
    assert not (tmp_path / "refused").exists()
    table = imgindex.export(shaky, to="nifti", out=tmp_path / "allowed", workers=1, allow_ambiguous=True)
    assert set(table.loc[table["image_id"] == image_id, "status"]) == {"ambiguous"}


def test_images_without_masks_are_exported_where_the_format_allows_and_reported(ct, tmp_path):
    _root, index = ct
    pairs = index.pairs.copy()
    lonely = pairs.iloc[0]["image_id"]
    pairs.loc[pairs.index[0], ["mask_id", "strategy"]] = None
    pairs.loc[pairs.index[0], "status"] = "missing"
    partial = imgindex.Index(index.files, index.objects, pairs, index.options, index.requests)
    nifti = imgindex.export(partial, to="nifti", out=tmp_path / "nifti", workers=1)
    assert nifti.loc[nifti["image_id"] == lonely, "mask_path"].isna().all()
    nnunet = imgindex.export(partial, to="nnunet", out=tmp_path / "nnunet", workers=1)
    assert len(list((tmp_path / "nnunet" / "imagesTs").iterdir())) == 1
    assert len(nnunet) == len(index.images) and nnunet.attrs["no_mask"]
    with pytest.warns(imgindex.ImgIndexWarning, match="have no mask and are not in pyradiomics.csv"):
        radiomics = imgindex.export(partial, to="pyradiomics", out=tmp_path / "radiomics", workers=1)
    assert lonely in " ".join(radiomics.attrs["no_mask"]) and lonely not in set(radiomics["image_id"])


def test_masks_of_the_other_channels_are_reported_or_united(two_ct, tmp_path):
    dicom, _ct_only = two_ct
    with pytest.warns(imgindex.ImgIndexWarning, match="masks of the channels after the first are not in the label"):
        imgindex.export(dicom, to="nnunet", out=tmp_path / "first", workers=1)
    left_out = json.loads((tmp_path / "first" / "dataset.json").read_text())["imgindex"]["masks_left_out"]
    assert len(left_out) == len(dicom.masks[dicom.masks["sample_name"].notna()]) // 2
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        imgindex.export(dicom, to="nnunet", out=tmp_path / "all", workers=1, labels_from="all")
    assert not [w for w in caught if "not in the label maps" in str(w.message)]
    assert not json.loads((tmp_path / "all" / "dataset.json").read_text())["imgindex"]["masks_left_out"]


def test_a_failing_sample_does_not_stop_the_others(tmp_path):
    data = tmp_path / "data"
    write_example_dataset(data, n_samples=3, modalities=("CT",), formats=("nifti",), extras=False)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        moved = imgindex.build_index(data, mask=data)
    victim = moved.images.iloc[0]
    Path(victim["file_path"]).write_bytes(b"\x1f\x8b not a nifti any more")
    with pytest.raises(ExportError, match=r"1 of 3 samples could not be exported") as caught:
        imgindex.export(moved, to="nifti", out=tmp_path / "out", workers=2)
    assert [f["sample_name"] for f in caught.value.failures] == [victim["sample_name"]]
    manifest = pd.read_csv(tmp_path / "out" / "manifest.csv")
    assert set(manifest["sample_name"]) == set(moved.images["sample_name"]) - {victim["sample_name"]}
    assert not (tmp_path / "out" / victim["sample_name"]).exists()  # what it had written is gone
    with pytest.warns(imgindex.ImgIndexWarning, match="could not be exported"):
        table = imgindex.export(moved, to="nifti", out=tmp_path / "warned", workers=1, errors="warn")
    assert len(table.attrs["failures"]) == 1


# --- 3. detached data files ------------------------------------------------------------------


def _nhdr(path: Path, data_file: str, *, size: int = 4) -> Path:
    path.write_text(
        f"NRRD0004\ntype: float\nendian: little\ndimension: 3\nsizes: {size} {size} 1\nspacings: 1 1 1\n"
        "encoding: raw\n"
        f"data file: {data_file}\n\n"
    )
    return path


@pytest.fixture()
def detached(tmp_path):
    """A dataset of detached headers: good ones, and ones whose data lie outside their folder."""
    root = tmp_path / "data"
    (root / "good").mkdir(parents=True)
    secret = tmp_path / "secret.raw"
    secret.write_bytes(bytes(range(16)))
    (root / "good" / "voxels.raw").write_bytes((np.arange(16, dtype="<f4") - 5.5).tobytes())
    _nhdr(root / "good" / "beside.nhdr", "voxels.raw")
    (root / "good" / "sub").mkdir()
    (root / "good" / "sub" / "below.raw").write_bytes(np.full(16, -1.5, dtype="<f4").tobytes())
    _nhdr(root / "good" / "below.nhdr", "sub/below.raw")
    bad = root / "bad"
    bad.mkdir()
    _nhdr(bad / "absolute.nhdr", str(secret))
    _nhdr(bad / "climbs.nhdr", "../../secret.raw")
    (bad / "link.raw").symlink_to(secret)
    _nhdr(bad / "link.nhdr", "link.raw")
    _nhdr(bad / "missing.nhdr", "nowhere.raw")
    (bad / "list.nhdr").write_text(
        "NRRD0004\ntype: uint8\ndimension: 3\nsizes: 4 4 1\nencoding: raw\ndata file: LIST\n../../secret.raw\n"
    )
    (bad / "pattern.nhdr").write_text(
        "NRRD0004\ntype: uint8\ndimension: 3\nsizes: 4 4 1\nencoding: raw\ndatafile: ../../secret%d.raw 1 1 1\n\n"
    )
    image = sitk.GetImageFromArray((np.arange(16, dtype=np.float32) * -100).reshape(1, 4, 4))
    sitk.WriteImage(image, str(root / "good" / "analyze.hdr"))  # a NIfTI pair: analyze.hdr + analyze.img
    sitk.WriteImage(image, str(bad / "pair.hdr"))
    (bad / "pair.img").unlink()
    (bad / "pair.img").symlink_to(secret)
    sitk.WriteImage(image, str(bad / "lonely.hdr"))
    (bad / "lonely.img").unlink()
    return root, secret


def test_detached_data_outside_the_header_folder_is_an_error_row(detached):
    root, secret = detached
    files = imgindex.scan(root, workers=1).set_index("file_name")
    good = files[files["dir_path"].str.endswith("good")]
    assert set(good.index) == {"beside.nhdr", "below.nhdr", "analyze.hdr"} and good["error"].isna().all()
    bad = files[files["dir_path"].str.endswith("bad")]
    assert set(bad.index) == {
        "absolute.nhdr",
        "climbs.nhdr",
        "link.nhdr",
        "missing.nhdr",
        "list.nhdr",
        "pattern.nhdr",
        "pair.hdr",
        "lonely.hdr",
    }
    for name, row in bad.iterrows():
        expected = "does not exist" if name in ("missing.nhdr", "lonely.hdr") else "outside its folder"
        assert expected in row["error"] and name in row["error"], (name, row["error"])
    assert str(secret) not in " ".join(files.loc[files["error"].isna(), "file_path"])


def test_detached_data_outside_never_reach_the_voxels(detached, tmp_path):
    root, _secret = detached
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pytest.raises(NotFoundError):  # every file of the folder is an error row: no image to read
            imgindex.import_image(str(root / "bad"))
    images = imgindex.import_image(str(root / "good"))
    arrays = {os.path.basename(i.file_path or ""): sitk.GetArrayFromImage(i.read()) for i in images}
    np.testing.assert_array_equal(arrays["analyze.hdr"].ravel(), np.arange(16) * -100)
    np.testing.assert_array_equal(arrays["beside.nhdr"].ravel(), np.arange(16) - 5.5)
    np.testing.assert_array_equal(arrays["below.nhdr"].ravel(), np.full(16, -1.5))


# --- 4. atomic, concurrent-safe persistence ---------------------------------------------------


def _marked(index: imgindex.Index, mark: str) -> imgindex.Index:
    """A copy of the index whose files table has an extra column saying which save it is."""
    return imgindex.Index(
        index.files.assign(mark=mark),
        index.objects.assign(mark=mark),
        index.pairs.assign(mark=mark),
        index.options,
        index.requests,
    )


def _marks(path: Path) -> set[str]:
    again = imgindex.read_index(path)
    return {*again.files["mark"], *again.objects["mark"], *again.pairs["mark"]}


def test_a_failing_writer_leaves_the_old_index(ct, tmp_path, monkeypatch):
    _root, index = ct
    path = tmp_path / "index"
    _marked(index, "old").save(path)
    from imgindex import atomic

    real = atomic.to_arrow

    def fail_on_objects(df, table, **kwargs):
        if table == "objects":
            raise OSError(28, "No space left on device")
        return real(df, table, **kwargs)

    monkeypatch.setattr(atomic, "to_arrow", fail_on_objects)
    with pytest.raises(OSError, match="No space left"):
        _marked(index, "new").save(path)
    monkeypatch.undo()
    assert _marks(path) == {"old"}
    assert sorted(os.listdir(tmp_path)) == ["index"]  # no temporary left behind


def test_a_failing_single_file_save_leaves_the_old_file(ct, tmp_path, monkeypatch):
    _root, index = ct
    path = tmp_path / "files.parquet"
    imgindex.write_files(index.files.assign(mark="old"), path)
    import pyarrow.parquet as pq

    def half_write(table, where, **kwargs):
        Path(where).write_bytes(b"PAR1 half a file")
        raise OSError(5, "Input/output error")

    monkeypatch.setattr(pq, "write_table", half_write)
    with pytest.raises(OSError):
        imgindex.write_files(index.files.assign(mark="new"), path)
    monkeypatch.undo()
    assert set(imgindex.read_files(path)["mark"]) == {"old"}
    assert sorted(os.listdir(tmp_path)) == ["files.parquet"]


@pytest.mark.slow
def test_a_killed_writer_leaves_the_old_index_and_its_temporary_is_never_scanned(ct, tmp_path):
    root, index = ct
    path = tmp_path / "index"
    _marked(index, "old").save(path)
    script = textwrap.dedent(
        f"""
        import os, imgindex, pyarrow.parquet as pq
        from imgindex import atomic
        real, count = pq.write_table, []
        def dies(table, where, **kw):
            real(table, where, **kw)
            count.append(where)
            if len(count) == 2:
                os._exit(9)  # killed between two tables
        atomic.pq.write_table = dies
        index = imgindex.read_index({str(path)!r})
        index.files["mark"] = "new"
        index.save({str(path)!r})
        """
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300)
    assert result.returncode == 9, result.stderr
    assert _marks(path) == {"old"}
    leftovers = [n for n in os.listdir(tmp_path) if n != "index"]
    assert leftovers and all(n.startswith(".imgindex-tmp-") for n in leftovers)
    shutil.copy(next(root.rglob("image.nii.gz")), tmp_path / ".imgindex-tmp-1-abc-image.nii.gz")
    files = imgindex.scan(tmp_path, workers=1)
    assert not files["file_path"].str.contains(".imgindex-tmp-", regex=False).any()


def test_threads_saving_and_reading_at_once_never_see_a_mix(ct, tmp_path):
    _root, index = ct
    path = tmp_path / "index"
    versions = [_marked(index, m) for m in ("a", "b", "c")]
    versions[0].save(path)
    errors: list[BaseException] = []
    seen: list[set[str]] = []
    stop = threading.Event()

    def write(version: imgindex.Index) -> None:
        try:
            for _ in range(6):
                version.save(path)
        except BaseException as exc:
            errors.append(exc)

    def read() -> None:
        while not stop.is_set():
            try:
                seen.append(_marks(path))
            except BaseException as exc:
                errors.append(exc)

    readers = [threading.Thread(target=read) for _ in range(2)]
    writers = [threading.Thread(target=write, args=(v,)) for v in versions]
    for t in readers + writers:
        t.start()
    for t in writers:
        t.join()
    stop.set()
    for t in readers:
        t.join()
    assert not errors, errors[:3]
    assert seen and all(len(marks) == 1 for marks in seen)  # one save's tables, never a mix
    assert len(_marks(path)) == 1 and sorted(os.listdir(tmp_path)) == ["index"]
    assert sorted(os.listdir(path)) == ["files.parquet", "objects.parquet", "pairs.parquet"]


@pytest.mark.slow
def test_processes_saving_at_once_leave_one_readable_index(ct, tmp_path):
    _root, index = ct
    path = tmp_path / "index"
    _marked(index, "start").save(path)
    script = textwrap.dedent(
        f"""
        import sys, imgindex
        index = imgindex.read_index({str(path)!r})
        for _ in range(8):
            for table in (index.files, index.objects, index.pairs):
                table["mark"] = sys.argv[1]
            index.save({str(path)!r})
        """
    )
    runs = [subprocess.Popen([sys.executable, "-c", script, m], stderr=subprocess.PIPE, text=True) for m in "xyz"]
    outputs = [(r.wait(timeout=300), r.stderr.read()) for r in runs]
    for r in runs:
        r.stderr.close()
    assert all(code == 0 for code, _ in outputs), outputs
    assert len(_marks(path)) == 1 and _marks(path) <= {"x", "y", "z"}
    assert sorted(os.listdir(tmp_path)) == ["index"]


def test_a_torn_index_is_refused_and_a_folder_of_other_files_is_never_replaced(ct, tmp_path):
    _root, index = ct
    for name in ("one", "two"):
        index.save(tmp_path / name)
    shutil.copy(tmp_path / "two" / "pairs.parquet", tmp_path / "one" / "pairs.parquet")  # an in-place save, torn
    with pytest.raises(InputError, match="come from different saves"):
        imgindex.read_index(tmp_path / "one")
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "thesis.docx").write_text("years of work")
    with pytest.raises(InputError, match=r"holds files that are not part of an imgindex index \(thesis.docx\)"):
        index.save(mine)
    assert (mine / "thesis.docx").read_text() == "years of work"


# --- 5. any file name is saved and restored --------------------------------------------------


def _not_utf8(path: Path, name: bytes) -> Path:
    return Path(os.fsdecode(os.path.join(os.fsencode(path), name)))


def test_file_names_that_are_not_utf8_are_scanned_saved_and_restored(tmp_path):
    root = tmp_path / "data"
    write_example_dataset(root, n_samples=1, modalities=("CT",), formats=("nifti", "dicom", "nrrd"), extras=False)
    sample = next(root.iterdir())
    renamed = _not_utf8(root, b"Caf\xe9-\xff" + sample.name.encode())
    os.rename(sample, renamed)
    files = imgindex.scan(root, workers=1)
    assert files["error"].isna().all() and files["file_path"].str.contains("\udce9").all()
    path = tmp_path / "files.parquet"
    imgindex.write_files(files, path)
    back = imgindex.read_files(path)
    pd.testing.assert_frame_equal(back, files)
    assert all(os.path.exists(p) for p in back["file_path"])


def test_an_index_with_such_names_round_trips(ct, tmp_path):
    _root, index = ct
    odd = "/data/\udcff\udcfe/50%/caf\udce9.nii.gz"
    files = index.files.copy()
    files.loc[files.index[0], "file_path"] = odd
    objects = index.objects.copy()
    objects.loc[objects.index[0], "dir_path"] = os.path.dirname(odd)
    changed = imgindex.Index(files, objects, index.pairs, index.options, index.requests)
    changed.save(tmp_path / "index")
    again = imgindex.read_index(tmp_path / "index")
    assert again.files["file_path"].iloc[0] == odd and again.objects["dir_path"].iloc[0] == os.path.dirname(odd)
    pd.testing.assert_frame_equal(again.files, changed.files)
    pd.testing.assert_frame_equal(again.objects, changed.objects)


def test_a_value_that_cannot_be_saved_names_its_file(ct, tmp_path):
    _root, index = ct
    files = index.files.assign(note=[1] + [object()] * (len(index.files) - 1))
    with pytest.raises(InputError, match=rf"The note value of row 1 \(file '{files['file_path'].iloc[1]}'\)"):
        imgindex.write_files(files, tmp_path / "files.parquet")
    assert not list(tmp_path.iterdir())


# --- 6. clients find the files ---------------------------------------------------------------


@pytest.mark.parametrize("to", ["nifti", "pyradiomics", "monai"])
def test_listed_paths_resolve_against_the_listing_from_any_directory(ct, tmp_path, monkeypatch, to):
    _root, index = ct
    (tmp_path / "elsewhere").mkdir()
    monkeypatch.chdir(tmp_path)
    table = imgindex.export(index, to=to, out="relative/out", workers=1)  # a relative output folder
    monkeypatch.chdir(tmp_path / "elsewhere")
    out = tmp_path / "relative" / "out"
    if to == "monai":
        datalist = json.loads((out / "datalist.json").read_text())
        listed = [p for item in datalist["training"] for p in (item["image"], item["label"])]
        expected = [p for _, r in table.iterrows() for p in (r["images"][0], r["label"])]
    else:
        listing = pd.read_csv(out / ("manifest.csv" if to == "nifti" else "pyradiomics.csv"))
        columns = ["image_path", "mask_path"] if to == "nifti" else ["Image", "Mask"]
        listed = [p for c in columns for p in listing[c]]
        expected = [p for c in columns for p in table[c]]
    assert all(not os.path.isabs(p) for p in listed)  # relocatable: relative to the listing file
    resolved = [os.path.normpath(os.path.join(out, p)) for p in listed]
    assert resolved == expected and all(os.path.isabs(p) and os.path.isfile(p) for p in resolved)


# --- 7. bounded reads (imgindex/voxels/limits.py) ----------------------------------------------


def _nifti_header(shape: tuple[int, int, int], datatype: int = 4, bitpix: int = 16) -> bytes:
    header = bytearray(348)
    struct.pack_into("<i", header, 0, 348)
    struct.pack_into("<8h", header, 40, 3, *shape, 1, 1, 1, 1)
    struct.pack_into("<hh", header, 70, datatype, bitpix)
    struct.pack_into("<8f", header, 76, 1, 1, 1, 1, 1, 1, 1, 1)
    struct.pack_into("<f", header, 108, 352)  # vox_offset
    header[344:348] = b"n+1\x00"
    return bytes(header) + b"\x00" * 4


def test_a_lying_header_raises_an_imgindex_error_naming_the_file(tmp_path):
    path = tmp_path / "liar.nii.gz"
    path.write_bytes(gzip.compress(_nifti_header((32767, 32767, 32767))))  # 70 TB claimed, a few bytes there
    with pytest.raises(ImgIndexError, match=r"liar\.nii\.gz"):
        imgindex.ImageFile(file_path=str(path), file_type="nifti").read()
    short = tmp_path / "short.nii"
    short.write_bytes(_nifti_header((64, 64, 64)) + b"\x00" * 100)  # 512 KiB claimed, 100 bytes there
    with pytest.raises(ImgIndexError, match=r"short\.nii"):
        imgindex.ImageFile(file_path=str(short), file_type="nifti").read()


@pytest.mark.slow
def test_a_gzip_bomb_is_refused_under_a_memory_limit(tmp_path):
    """64 GiB of zeros in 64 MiB of gzip, read in a process that may not allocate more than 3 GiB."""
    bomb = tmp_path / "bomb.nii.gz"
    member = gzip.compress(b"\x00" * (64 << 20), compresslevel=9)
    with open(bomb, "wb") as handle:
        handle.write(gzip.compress(_nifti_header((4096, 4096, 4096), datatype=2, bitpix=8)))
        for _ in range(1024):
            handle.write(member)
    script = textwrap.dedent(
        f"""
        import resource, sys
        resource.setrlimit(resource.RLIMIT_DATA, (3 << 30, 3 << 30))
        import imgindex
        try:
            imgindex.ImageFile(file_path={str(bomb)!r}, file_type="nifti").read()
        except imgindex.ImgIndexError as exc:
            print("refused:", exc)
            sys.exit(0)
        sys.exit(3)
        """
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0 and "bomb.nii.gz" in result.stdout, result.stderr[-2000:]


# --- 8. the command line -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("error", "shown"),
    [
        (RuntimeError("Exception thrown in SimpleITK ImageFileReader_Execute:\n/src/x.cxx:91: boom"), "RuntimeError"),
        (AttributeError("'NoneType' object has no attribute 'GetSize'"), "AttributeError"),
        (InputError("The thing\n is wrong."), "The thing is wrong."),
    ],
)
def test_any_failure_is_one_line_and_exit_1(monkeypatch, capsys, tmp_path, error, shown):
    def fail(path, args):
        raise error

    monkeypatch.setattr(cli, "_load", fail)
    assert cli.main(["show", str(tmp_path)]) == 1
    stderr = capsys.readouterr().err
    assert len(stderr.strip().splitlines()) == 1 and stderr.startswith("imgindex: error:")
    assert shown in stderr and "Traceback" not in stderr


def test_ctrl_c_is_one_line_and_exit_130(monkeypatch, capsys, tmp_path):
    def interrupted(path, args):
        raise KeyboardInterrupt

    monkeypatch.setattr(cli, "_load", interrupted)
    assert cli.main(["show", str(tmp_path)]) == 130
    assert capsys.readouterr().err == "imgindex: interrupted\n"


@pytest.mark.slow
def test_a_real_ctrl_c_during_a_scan(ct, tmp_path):
    root, _index = ct
    script = textwrap.dedent(
        """
        import sys, time, imgindex.api
        real = imgindex.api.build_index
        def slow(*args, **kwargs):
            print("ready", flush=True)
            time.sleep(60)
        imgindex.api.build_index = slow
        from imgindex.cli import main
        sys.exit(main(sys.argv[1:]))
        """
    )
    child = subprocess.Popen(
        [sys.executable, "-c", script, "scan", str(root)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    assert child.stdout.readline().strip() == "ready"
    child.send_signal(signal.SIGINT)
    _out, err = child.communicate(timeout=60)
    assert child.returncode == 130 and err.strip() == "imgindex: interrupted", err


@pytest.mark.slow
def test_cli_export_goes_on_past_a_failing_sample(ct, tmp_path):
    root, _index = ct
    data = tmp_path / "data"
    shutil.copytree(root, data)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        imgindex.build_index(data, mask=data).save(tmp_path / "index")
    victim = sorted(data.rglob("image.nii.gz"))[0]
    victim.write_bytes(b"garbage")
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "imgindex",
            "export",
            str(tmp_path / "index"),
            "--to",
            "nifti",
            str(tmp_path / "out"),
            "--workers",
            "1",
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 1 and "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert lines[0].startswith("imgindex: error: sample ") and victim.parts[-5] in lines[0]
    assert lines[-1].startswith("imgindex: error: 1 sample failed; exported the others")
    manifest = pd.read_csv(tmp_path / "out" / "manifest.csv")
    assert manifest["sample_name"].nunique() == len(HOSTILE) - 1


def test_cli_checks_workers(capsys, tmp_path):
    assert cli.main(["scan", str(tmp_path), "--workers", "-1"]) == 1
    assert "workers argument is expected to be at least 1. Found: -1" in capsys.readouterr().err


# --- 9. arguments and input forms ------------------------------------------------------------


@pytest.mark.parametrize(
    ("arguments", "error", "phrase"),
    [
        ({"workers": -1}, InputError, "workers argument is expected to be at least 1. Found: -1"),
        ({"workers": 1.5}, InputTypeError, "whole number of processes"),
        ({"workers": True}, InputTypeError, "whole number of processes"),
        ({"previous": 5}, InputTypeError, "previous argument is expected to be an earlier index"),
        ({"previous": ""}, InputError, "previous argument is an empty path"),
        ({"image": ""}, InputError, "The image path is empty"),
        ({"image": "   "}, InputError, "The image path is empty"),
        ({"mask": ""}, InputError, "The mask path is empty"),
    ],
)
def test_arguments_are_checked_before_anything_is_read(ct, arguments, error, phrase):
    root, _index = ct
    call = {"image": str(root), **arguments}
    with pytest.raises(error, match=phrase):
        imgindex.build_index(**call)


def test_export_checks_its_arguments(ct, tmp_path):
    _root, index = ct
    for kwargs, phrase in (
        ({"workers": 0}, "at least 1"),
        ({"errors": "ignore"}, "'raise' or 'warn'"),
        ({"labels_from": "some"}, "'first' or 'all'"),
        ({"to": "dicom"}, "Unknown export format"),
    ):
        with pytest.raises(ImgIndexError, match=phrase):
            imgindex.export(index, **{"to": "nifti", "out": tmp_path, **kwargs})
    with pytest.raises(InputError, match="not UTF-8"):  # SimpleITK would abort the process
        imgindex.export(index, to="nifti", out=os.fsdecode(os.fsencode(str(tmp_path)) + b"/\xff"))
    assert not list(tmp_path.iterdir())


@pytest.mark.parametrize(
    ("content", "phrase"),
    [
        (b"", "is empty. It needs a header row"),
        (b"image,mask\n", "holds the columns image, mask but no rows"),
        (b"image\n\xff\xfe/data\n", "is not UTF-8 text"),
        (b"folder,notes\n/data,x\n", "has no 'image' column \\(found: folder, notes; in "),
        (b'image\n"/data\n', "could not be parsed"),
        (b"image,mask\n,\n ,\n", "has an empty image \\(and mask\\) cell"),
    ],
)
def test_bad_csv_inputs_say_what_was_found(tmp_path, content, phrase):
    path = tmp_path / "cohort.csv"
    path.write_bytes(content)
    with pytest.raises(InputError, match=phrase) as caught:
        imgindex.build_index(str(path))
    assert "cohort.csv" in str(caught.value)


@pytest.mark.parametrize(
    ("frame", "phrase"),
    [
        (pd.DataFrame(), "The DataFrame holds nothing"),
        (pd.DataFrame(columns=["image", "mask"]), "The DataFrame holds the columns image, mask but no rows"),
        (pd.DataFrame({"path": ["/data"]}), "has no 'image' column \\(found: path; in the DataFrame\\)"),
    ],
)
def test_bad_dataframe_inputs_say_what_was_found(frame, phrase):
    with pytest.raises(InputError, match=phrase):
        imgindex.build_index(frame)


@pytest.mark.parametrize(
    ("text", "phrase"),
    [
        ("<root><config>", "is not valid XML"),
        ("<root></root>", "has no <config> element"),
        ("<root><config><paths><image>/d</image></paths></config></root>", "has no <data> element"),
        ("<root><config><data/></config></root>", "has no <paths> element"),
    ],
)
def test_bad_data_xml_says_what_was_found(tmp_path, text, phrase):
    path = tmp_path / "settings.xml"
    path.write_text(text)
    with pytest.raises(InputError, match=phrase) as caught:
        imgindex.build_index(str(path))
    assert "settings.xml" in str(caught.value)
