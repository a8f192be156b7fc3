"""Issue 16, items 1 and 3: one saved-index format read everywhere, and command-line output a person reads.

Every function and command that takes an input accepts a saved index folder (also one named
``*.parquet`` by older versions), an ``Index`` and a files table; each table of the folder is one
parquet file that DuckDB queries on its own; the command line prints short relative paths, says
what an update reused and what an export wrote, and shows a few warnings with how to see them all.
"""

from __future__ import annotations

import json
import os
import warnings
from pathlib import Path

import pandas as pd
import pytest

import imgindex
from imgindex import cli
from imgindex.errors import InputTypeError, NotFoundError
from imgindex.examples import write_example_dataset


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    """A small dataset, its index, and the index saved in every form a user may hold."""
    root = tmp_path_factory.mktemp("round_trip")
    data = root / "data"
    write_example_dataset(data, n_samples=2, modalities=("CT",), formats=("nifti", "dicom"), extras=False)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        index = imgindex.build_index(data, mask=data)
        index.save(root / "sts-index")
        index.save(root / "old.parquet")  # how earlier versions named the folder
    imgindex.write_files(index.files, root / "files.parquet")
    return data, index, root


def _forms(saved):
    _data, index, root = saved
    return {
        "folder": root / "sts-index",
        "old folder": root / "old.parquet",
        "Index": index,
        "files table": index.files,
        "files parquet": root / "files.parquet",
    }


FORMS = ["folder", "old folder", "Index", "files table", "files parquet"]


@pytest.mark.parametrize("form", FORMS)
def test_every_reader_takes_every_form(saved, form):
    _data, index, _root = saved
    source = _forms(saved)[form]
    files = imgindex.read_files(source)
    assert sorted(files["file_path"]) == sorted(index.files["file_path"])
    assert imgindex.read_index(source).files["file_path"].tolist() == files["file_path"].tolist()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        images = imgindex.import_image_and_mask(source)
        labels = imgindex.extract_mask_labels(source)
    image_paths = {i.file_path or i.dir_path for i in images}
    expected = set(index.images["file_path"].fillna(index.images["dir_path"]))
    assert image_paths == expected
    assert set(labels["sample_name"]) == set(index.objects["sample_name"])


@pytest.mark.parametrize("form", FORMS)
def test_export_takes_every_form_and_writes_every_image(saved, form, tmp_path):
    _data, index, _root = saved
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        table = imgindex.export(_forms(saved)[form], to="nifti", out=tmp_path / "out", workers=1)
    assert table["image_id"].nunique() == len(index.images)


@pytest.mark.parametrize("command", ["show", "pairs", "errors", "labels"])
@pytest.mark.parametrize("form", ["folder", "old folder", "files parquet"])
def test_every_command_takes_the_saved_forms(saved, form, command, capsys):
    assert cli.main([command, str(_forms(saved)[form])]) == 0
    out = capsys.readouterr().out
    assert out.strip()
    if command in ("pairs", "labels"):
        assert "STS_001" in out and "STS_002" in out


def test_a_folder_that_is_no_index_and_a_wrong_type_say_so(tmp_path):
    (tmp_path / "notes").mkdir()
    with pytest.raises(NotFoundError, match="neither a saved imgindex index"):
        imgindex.read_files(tmp_path / "notes")
    with pytest.raises(NotFoundError, match="is not a saved imgindex index"):
        imgindex.read_index(tmp_path / "notes")
    with pytest.raises(InputTypeError, match="Found: int"):
        imgindex.read_files(3)


def test_the_old_writer_names_still_write_and_say_the_new_ones(saved, tmp_path):
    _data, index, _root = saved
    with pytest.warns(imgindex.ImgIndexWarning, match="Index.save"):
        index.to_parquet(tmp_path / "ix")
    with pytest.warns(imgindex.ImgIndexWarning, match="write_files"):
        imgindex.to_parquet(index.files, tmp_path / "f.parquet")
    assert imgindex.read_index(tmp_path / "ix").objects.equals(index.objects)
    assert imgindex.read_files(tmp_path / "f.parquet").equals(imgindex.read_files(index.files))


def test_saving_an_index_under_a_parquet_name_warns(saved, tmp_path):
    _data, index, _root = saved
    with pytest.warns(imgindex.ImgIndexWarning, match="Name index folders without '.parquet'"):
        index.save(tmp_path / "new.parquet")


# --- SQL engines on the saved folder ------------------------------------------------------------


def test_duckdb_reads_each_table_under_its_own_names(saved):
    """The queries of the README's "Query a saved index" section, one per table."""
    duckdb = pytest.importorskip("duckdb")
    _data, index, root = saved
    folder = root / "sts-index"
    files = duckdb.sql(
        f"SELECT modality, count(*) AS n FROM '{folder}/files.parquet' WHERE role = 'image' GROUP BY modality"
    ).df()
    expected = index.files[index.files["role"] == "image"].groupby("modality").size()
    assert dict(zip(files["modality"], files["n"], strict=True)) == expected.to_dict()
    rois = duckdb.sql(
        f"SELECT sample_name, unnest(roi_names) AS roi FROM '{folder}/objects.parquet' "
        "WHERE role = 'mask' AND roi_names IS NOT NULL"
    ).df()
    masks = index.objects[(index.objects["role"] == "mask") & index.objects["roi_names"].notna()]
    assert len(rois) == sum(len(r) for r in masks["roi_names"])
    pairs = duckdb.sql(f"SELECT status, count(*) AS n FROM '{folder}/pairs.parquet' GROUP BY status").df()
    assert dict(zip(pairs["status"], pairs["n"], strict=True)) == index.pairs.groupby("status").size().to_dict()
    for table in ("files", "objects", "pairs"):  # every column under its own name: no modality_1
        names = duckdb.sql(f"DESCRIBE SELECT * FROM '{folder}/{table}.parquet'").df()["column_name"]
        assert not [n for n in names if n.endswith("_1")], table


# --- what the command line prints ---------------------------------------------------------------


def test_pairs_print_short_relative_paths_and_json_gives_them_whole(saved, capsys):
    data, index, root = saved
    assert cli.main(["pairs", str(root / "sts-index")]) == 0
    text = capsys.readouterr().out
    first, *rows = text.splitlines()
    assert first == f"below {data}:"
    assert str(data) not in "\n".join(rows)  # the common folder is said once
    assert max(len(r) for r in rows) < 200
    single = index.images[index.images["file_type"] == "nifti"].iloc[0]  # a one-file image: its file
    assert os.path.relpath(single["file_path"], data) in text
    assert cli.main(["pairs", str(root / "sts-index"), "--json"]) == 0
    records = json.loads(capsys.readouterr().out)
    assert len(records) == len(index.pairs)
    assert {r["image"] for r in records} >= {single["file_path"]}


def test_csv_gives_every_value_whole(saved, capsys):
    _data, _index, root = saved
    assert cli.main(["labels", str(root / "sts-index"), "--csv"]) == 0
    import io

    table = pd.read_csv(io.StringIO(capsys.readouterr().out))
    assert "series_instance_uid" in table.columns and "dir_path" in table.columns
    assert table["dir_path"].str.startswith(os.sep).all()


def test_an_update_says_what_it_reused_re_read_found_and_lost(tmp_path, capsys):
    data = tmp_path / "data"
    write_example_dataset(data, n_samples=2, modalities=("CT",), formats=("nifti",), extras=False)
    assert cli.main(["scan", str(data), "-o", str(tmp_path / "first"), "-q"]) == 0
    capsys.readouterr()
    niftis = sorted(data.rglob("*.nii.gz"))
    niftis[0].unlink()  # gone
    os.utime(niftis[1], (1, 1))  # changed (its modification time)
    (data / "STS_001" / "extra.nii.gz").write_bytes(niftis[2].read_bytes())  # new
    assert cli.main(["scan", str(data), "-o", str(tmp_path / "second"), "--update", str(tmp_path / "first"), "-q"]) == 0
    out = capsys.readouterr().out
    n = len(niftis)
    assert f"update: {n - 2} files reused, 1 re-read (changed), 1 new, 1 gone" in out


def test_export_says_how_many_images_and_masks_it_wrote(saved, tmp_path, capsys):
    _data, _index, root = saved
    assert cli.main(["export", str(root / "sts-index"), "--to", "nifti", str(tmp_path / "out"), "-q"]) == 0
    out = capsys.readouterr().out.strip()
    manifest = pd.read_csv(tmp_path / "out" / "manifest.csv")
    n_images, n_masks = manifest["image_path"].nunique(), manifest["mask_path"].nunique()
    assert out == (
        f"exported as nifti to {tmp_path / 'out'}: 2 samples, {n_images} images, {n_masks} mask files; "
        f"{n_images + n_masks} files and the listing written"
    )


def test_many_warnings_are_a_few_lines_and_a_count(tmp_path, capsys, monkeypatch):
    def noisy(args):
        for n in range(12):
            imgindex.errors.warn(f"problem {n}")
        return 0

    parser = cli.build_parser()
    args = parser.parse_args(["errors", str(tmp_path)])
    monkeypatch.setattr(cli, "build_parser", lambda: parser)
    monkeypatch.setattr(args, "func", noisy, raising=False)
    monkeypatch.setattr(parser, "parse_args", lambda argv: args)
    assert cli.main(["errors", str(tmp_path)]) == 0
    lines = capsys.readouterr().err.splitlines()
    assert lines[:5] == [f"imgindex: warning: problem {n}" for n in range(5)]
    assert lines[5:] == ["imgindex: 7 more warnings not shown; run the command with --debug to see every warning"]


def test_the_demo_writes_below_the_current_folder(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert cli.main(["demo", "-q"]) == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["imgindex-demo", "imgindex-demo-index"]
    assert "index written to imgindex-demo-index" in capsys.readouterr().out
    saved = imgindex.read_index(Path("imgindex-demo-index"))
    assert len(saved.pairs) and saved.files["file_path"].str.startswith(str(tmp_path / "imgindex-demo")).all()


def test_column_names_are_unique_ignoring_case_in_every_table():
    from imgindex import schema

    for table in ("files", "objects", "pairs"):
        names = [c.name.lower() for c in schema.columns(table)]
        assert len(names) == len(set(names)), table


def test_an_index_of_schema_1_still_reads_under_the_new_names(saved, tmp_path):
    """Written as version 1 wrote it: ``Modality`` in files, ``stack_warning`` in objects."""
    import json as json_

    import pyarrow.parquet as pq

    from imgindex import schema
    from imgindex.persist import METADATA_KEY

    _data, index, root = saved
    old = tmp_path / "v1-index"
    old.mkdir()
    for table in ("files", "objects", "pairs"):
        arrow = pq.read_table(root / "sts-index" / f"{table}.parquet")
        meta = json_.loads(arrow.schema.metadata[METADATA_KEY])
        meta["schema_version"] = 1
        if table == "files":
            arrow = arrow.rename_columns(["Modality" if c == "dicom_modality" else c for c in arrow.column_names])
        if table == "objects":
            arrow = arrow.append_column("stack_warning", arrow.column("geometry_warning"))
        pq.write_table(arrow.replace_schema_metadata({METADATA_KEY: json_.dumps(meta)}), old / f"{table}.parquet")
    again = imgindex.read_index(old)
    assert again.files["dicom_modality"].equals(index.files["dicom_modality"])
    assert (
        "stack_warning" not in again.objects
        and again.objects["object_id"].tolist() == index.objects["object_id"].tolist()
    )
    assert schema.SCHEMA_VERSION == 2 and again.files.attrs["upgraded_from"] == 1
    data = root / "data"
    rescanned = imgindex.scan(data, previous=again)  # rows of an older schema are read again
    assert rescanned.attrs["scan"]["n_reused"] == 0 and rescanned.attrs["scan"]["n_read"] == len(index.files)
