"""The scan's shortcuts give what the plain computation gives: sizes and modification times taken by
the workers instead of the walk. No timings (speed is measured in ``benchmarks/``)."""

from __future__ import annotations

import importlib
import os

import numpy as np
import pandas as pd

import imgindex
from imgindex import schema, walk
from imgindex.inputs import sources

chunks_module = importlib.import_module("imgindex.chunks")
scan_module = importlib.import_module("imgindex.scan")


def _stats(paths: list[str]) -> tuple[list[int], pd.DatetimeIndex]:
    """The plain computation: ``os.stat`` of each path (links followed)."""
    stats = [os.stat(p) for p in paths]
    return [s.st_size for s in stats], pd.to_datetime([s.st_mtime_ns for s in stats], unit="ns", utc=True)


def test_cold_scan_sizes_and_mtimes_are_the_files_stats(scanned):
    _root, _manifest, files = scanned
    rows = files[files["array_index"].isna()]
    sizes, mtimes = _stats(rows["file_path"].tolist())
    assert rows["file_size"].tolist() == sizes
    assert rows["mtime"].tolist() == list(mtimes)
    assert rows["file_size"].notna().all()


def test_cold_scan_stats_equal_those_of_a_walk_that_stats(scanned):
    root, _manifest, files = scanned
    walked = walk.collect(sources(root, "input")).frame().set_index("file_path")
    rows = files.set_index("file_path")
    assert walked.loc[rows.index, "file_size"].tolist() == rows["file_size"].tolist()
    assert walked.loc[rows.index, "mtime"].tolist() == rows["mtime"].tolist()


def test_a_cold_walk_stats_nothing_and_gives_null_sizes(scanned):
    root, _manifest, _files = scanned
    plain = walk.collect(sources(root, "input")).frame()
    cold = walk.collect(sources(root, "input"), stat=False).frame()
    pd.testing.assert_frame_equal(cold.drop(columns=["file_size", "mtime"]), plain.drop(columns=["file_size", "mtime"]))
    assert cold["file_size"].isna().all() and cold["mtime"].isna().all()
    assert cold["mtime"].dtype == plain["mtime"].dtype


def test_a_linked_file_has_the_size_of_its_target(tmp_path):
    target = tmp_path / "data" / "image.npy"
    target.parent.mkdir()
    np.save(target, np.zeros((3, 4), dtype="uint8"))
    (tmp_path / "data" / "link.npy").symlink_to(target)
    files = imgindex.scan(tmp_path)
    sizes, mtimes = _stats(files["file_path"].tolist())
    assert len(files) == 2 and files["file_size"].tolist() == sizes == [target.stat().st_size] * 2
    assert files["mtime"].tolist() == list(mtimes)


def test_chunks_without_stats_take_the_walks(scanned):
    """Chunks made without sizes (an older worker's) get the walk's, when the walk has them."""
    root, _manifest, files = scanned
    job = scan_module.plan(root, previous=files.iloc[:0])  # an update: the walk stats
    paths = job.todo["file_path"].tolist()
    chunks = [chunks_module.read_chunk(paths[i : i + 50]) for i in range(0, len(paths), 50)]
    for chunk in chunks[::2]:
        chunk.sizes = chunk.mtimes_ns = None
    got = chunks_module.assemble(job.todo, chunks)
    pd.testing.assert_frame_equal(got, files.reset_index(drop=True)[schema.names("files")])


def test_a_file_gone_before_it_is_read_is_an_error_row_without_a_size(tmp_path):
    gone = tmp_path / "gone.npy"
    np.save(gone, np.zeros(2))
    job = scan_module.plan(tmp_path)
    gone.unlink()
    files = scan_module.finish(job, [chunks_module.read_chunk(job.todo["file_path"].tolist())])
    assert files["error"].str.contains("could not be opened").all()
    assert files["file_size"].isna().all() and files["mtime"].isna().all()


def _item_types(series: pd.Series) -> set[type]:
    return {type(v) for cell in series.dropna() for v in (cell if isinstance(cell, tuple) else [cell])}


def test_list_columns_that_skip_coerce_are_what_coerce_gives(scanned):
    """The scan's list columns, checked on their distinct cells instead of coerced: as coerce makes them."""
    _root, _manifest, files = scanned
    plain = schema.coerce(files, "files")
    pd.testing.assert_frame_equal(files, plain)
    for col in schema.columns("files"):
        if col.name in files and files[col.name].dtype == object:
            assert {type(v) for v in files[col.name]} <= {tuple, type(None)}, col.name
            assert _item_types(files[col.name]) == _item_types(plain[col.name]), col.name


def test_the_check_on_distinct_cells_follows_coerce():
    spacing = next(c for c in schema.columns("files") if c.name == "PixelSpacing")
    names = next(c for c in schema.columns("files") if c.name == "ROIName")
    cases = [
        (spacing, [(1.0, 2.0), None, ()]),
        (spacing, [(1, 2.0)]),  # an int item in a float column
        (spacing, [(np.float64(1.0), 2.0)]),  # a numpy float is not a float
        (spacing, [[1.0, 2.0]]),  # a list cell
        (spacing, [(True, 1.0)]),
        (spacing, [(None, 1.0)]),
        (names, [("a", "b"), None]),
        (names, [("a", 1)]),
    ]
    for col, cells in cases:
        series = pd.Series(chunks_module._objects(cells), dtype=object)
        kept = schema._coerce_column(series, col) is series
        assert chunks_module._follows_schema(cells, col) == kept, (col.name, cells)


def test_scalar_frame_of_a_dict_of_columns_equals_that_of_the_table(scanned):
    """The scan hands scalar_frame its columns (freed as converted): the same frame as from the table."""
    import pyarrow as pa

    _root, _manifest, files = scanned
    paths = files.loc[files["array_index"].isna(), "file_path"].tolist()
    batches = [chunks_module.read_chunk(paths[i : i + 9]).scalars for i in range(0, len(paths), 9)]
    table = pa.Table.from_batches(batches)
    columns = dict(zip(table.column_names, table.columns, strict=True))
    got = schema.scalar_frame(columns, self_destruct=True)
    assert columns == {}
    pd.testing.assert_frame_equal(got, schema.scalar_frame(table))


def test_one_walk_lists_each_path_once_and_repeated_sources_are_deduplicated(scanned):
    """The raw frame skips the duplicate check after a single walk: its paths are unique anyway."""
    root, _manifest, _files = scanned
    one = walk.collect(sources(root, "input"), stat=False)
    assert one.sources == 1 and len(set(one.paths)) == len(one.paths)  # the plain check
    frame = one.frame()
    assert frame["file_path"].tolist() == one.paths
    some = sorted(p for p in one.paths if p.endswith(".npy"))[:2]
    twice = walk.collect(sources([root, root, *some], "input"), stat=False)
    assert twice.sources == 4
    assert twice.frame()["file_path"].tolist() == one.paths


def test_scalar_frame_of_text_columns_only_keeps_the_rows():
    import pyarrow as pa

    only_text = {"file_type": pa.chunked_array([["dicom", None], ["nifti"]])}  # no other column
    pd.testing.assert_frame_equal(
        schema.scalar_frame(only_text), schema.scalar_frame(pa.table({"file_type": ["dicom", None, "nifti"]}))
    )
