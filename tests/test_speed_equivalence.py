"""The shortcuts taken for speed (issue 15) give what the plain computation gives.

Each test builds the reference the slow, obvious way (a full sort, a groupby, a row-by-row
conversion) and compares the fast path with it.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest

import imgindex
from imgindex import schema
from imgindex._distinct import per_distinct, per_value
from imgindex.files import ROW_COLUMNS, ImageFile, MaskFile
from imgindex.stacking.dicom import _slice_order


class _Recorder(dict[str, Any]):
    """A row that records which keys are read."""

    def __init__(self, *args: Any) -> None:
        super().__init__(*args)
        self.read: set[str] = set()

    def get(self, key: str, default: Any = None) -> Any:  # type: ignore[override]
        self.read.add(key)
        return super().get(key, default)

    def __getitem__(self, key: str) -> Any:
        self.read.add(key)
        return super().__getitem__(key)


def test_row_columns_cover_every_field_from_row_reads():
    """Index.materialise converts only ROW_COLUMNS: every key ImageFile/MaskFile.from_row reads is one."""
    objects = schema.empty("objects")
    row = _Recorder({c: None for c in objects.columns})
    ImageFile.from_row(row)
    MaskFile.from_row(row)
    assert row.read, "from_row read nothing"
    assert row.read <= set(ROW_COLUMNS), sorted(row.read - set(ROW_COLUMNS))


def test_materialise_equals_objects_built_from_full_rows(example_dir):
    """The objects from the reduced dict rows equal those from every column of each row (iterrows)."""
    index = imgindex.build_index(example_dir, mask=example_dir)
    fast = index.materialise_masks(roi_name=False)
    slow = [MaskFile.from_row(row, arrays=index.arrays) for _, row in index.masks.iterrows()]
    assert len(fast) == len(slow) > 0
    for a, b in zip(fast, slow, strict=True):
        for name in a.__slots__:
            va, vb = getattr(a, name), getattr(b, name)
            if isinstance(va, np.ndarray) or isinstance(vb, np.ndarray):
                np.testing.assert_array_equal(va, vb)
            else:
                assert va == vb, (name, va, vb)
    images = index.materialise()
    rows = list(index.images.iterrows())
    assert [i.object_id for i in images] == [r["object_id"] for _, r in rows]
    for image, (_, row) in zip(images, rows, strict=True):
        ref = ImageFile.from_row(row, arrays=index.arrays)
        assert (image.image_dimension, image.image_spacing, image.image_origin) == (
            ref.image_dimension,
            ref.image_spacing,
            ref.image_origin,
        )
        assert image.file_paths == ref.file_paths and image.sop_instance_uid == ref.sop_instance_uid


@pytest.mark.parametrize("seed", range(30))
def test_slice_order_equals_the_full_sort(seed):
    """Names and paths ranked for tied slices alone order the slices as sorting all of them does."""
    rng = np.random.default_rng(seed)
    n = int(rng.integers(1, 80))
    names = rng.choice(["b.dcm", "a.dcm", "c.dcm", None], n)
    files = pd.DataFrame(
        {
            "file_name": pd.array(names, dtype=schema.TEXT),
            "file_path": pd.array([f"/d{rng.integers(3)}/{i:03d}" for i in range(n)], dtype=schema.TEXT),
        }
    )
    rows = rng.permutation(n)
    group = rng.integers(0, 3, n)
    primary = rng.integers(0, 3, n).astype(float)
    secondary = rng.choice([0.0, 1.0, np.inf], n)
    name_rank = pd.factorize(files["file_name"], sort=True)[0][rows]
    path_rank = pd.factorize(files["file_path"], sort=True)[0][rows]
    expected = np.lexsort((path_rank, name_rank, secondary, primary, group))
    np.testing.assert_array_equal(_slice_order(files, rows, group, primary, secondary), expected)


def test_per_value_equals_the_computation_on_every_row():
    values = pd.Series(["ct", None, "CT", "mr", "ct", None], dtype=schema.TEXT, index=[5, 3, 1, 0, 2, 4])
    got = per_value(values, lambda u: u.str.upper())
    pd.testing.assert_series_equal(got, values.str.upper(), check_dtype=False)
    shared = per_value(pd.Series(["ct"] * 4, dtype=schema.TEXT), lambda u: "DICOM " + u).to_numpy(object)
    assert len({id(v) for v in shared}) == 1  # one str for the four rows


def _per_distinct_by_groupby(frame: pd.DataFrame) -> tuple[list[int], list[Any]]:
    """The plain way: hash every row (groupby), the first row of each group, in order of appearance."""
    codes = frame.groupby(list(frame.columns), dropna=False, sort=False).ngroup().to_numpy()
    first = np.unique(codes, return_index=True)[1]
    return codes.tolist(), frame.iloc[first].to_numpy(dtype=object, na_value=None).tolist()


@pytest.mark.parametrize(
    "columns",
    [
        # folders in runs (a scan's order), a null run, a folder that comes back later
        {"d": pd.Series(["/a"] * 40 + [None] * 30 + ["/b"] * 50 + ["/a"] * 20, dtype=schema.TEXT)},
        # two columns whose runs end at different rows; nulls of both kinds in an object column
        {
            "d": pd.Series((["/a"] * 7 + ["/b"] * 5) * 12, dtype=schema.TEXT),
            "t": pd.Series(([("ORIGINAL", "PRIMARY")] * 3 + [None, np.nan, pd.NA] + [("DERIVED",)] * 6) * 12),
        },
        # no runs at all: every row hashed
        {"d": pd.Series([f"/p{i % 97}" for i in range(300)], dtype=schema.TEXT)},
        # NaN never equals NaN: too many runs, every row hashed
        {"a": pd.Series([(1, 2)] * 70 + [(3,)] * 30), "n": pd.Series([1.0] * 50 + [np.nan] * 50)},
    ],
)
def test_per_distinct_by_runs_equals_a_groupby_of_every_row(columns):
    """Runs of equal neighbours are hashed once: the distinct rows, their order and the codes are unchanged."""
    frame = pd.DataFrame(columns)
    frame.index = pd.RangeIndex(len(frame))[::-1]  # per_distinct keeps any index
    seen: list[pd.DataFrame] = []

    def compute(distinct: pd.DataFrame) -> pd.Series:
        seen.append(distinct)
        return pd.Series(np.arange(len(distinct)), index=distinct.index)

    got = per_distinct(frame, compute)
    codes, rows = _per_distinct_by_groupby(frame)
    assert seen[0].to_numpy(dtype=object, na_value=None).tolist() == rows
    assert got.tolist() == codes
    assert got.index.equals(frame.index)


_DIRS = [
    "/d/P1/CT",
    "/d/./P1//CT/",
    "C:\\data\\P2\\image",
    "/d/.hidden/x/.",
    "//server/share/./a",
    "/",
    "",
    "/d",
    "/d/",
    "d/e",
    "/d/images/P3/labels",
    "/d/MASK/Image",
    None,
]
_ROOTS = [None, "/", "/d", "/d/", "d", "C:/data", "//server/share"]


def test_folder_functions_equal_their_regex_passes():
    """normalise_dirs, relative_dirs and the folder sample names, element by element, equal pandas' string passes."""
    from imgindex import filters, samples

    dirs = pd.Series([d for d in _DIRS for _ in _ROOTS], dtype=schema.TEXT)
    roots = pd.Series([r for _ in _DIRS for r in _ROOTS], dtype=schema.TEXT)
    dirs.index = roots.index = pd.RangeIndex(len(dirs))[::-1]

    def regex_normalise(paths: pd.Series) -> pd.Series:
        out = paths.astype(schema.TEXT).str.replace("\\", "/", regex=False)
        out = out.str.replace(r"/(?:\./)+", "/", regex=True).str.replace(r"/+", "/", regex=True)
        return out.str.replace(r"(.)/\.?\Z", r"\1", regex=True)

    def regex_relative(d: pd.Series, r: pd.Series) -> pd.Series:
        rel = pd.Series(pd.NA, index=d.index, dtype=schema.TEXT)
        for root in r.dropna().unique():
            rows = r.eq(root).fillna(False).to_numpy(bool)
            prefix = root.rstrip("/") + "/"
            below = d[rows].str.startswith(prefix).fillna(False)
            rel[rows] = d[rows].str.slice(len(prefix)).where(below, "").where(below | d[rows].eq(root), pd.NA).array
        return rel

    def exploded_first_folder(rel: pd.Series) -> pd.Series:
        parts = rel.reset_index(drop=True).str.split("/").explode()
        words = samples.NOT_SAMPLE_FOLDERS
        parts = parts[parts.ne("").fillna(False) & ~parts.str.lower().isin(words).fillna(True)]
        first = parts.groupby(level=0).first()
        out = pd.Series(pd.NA, index=range(len(rel)), dtype=schema.TEXT)
        out[first.index] = first.astype(schema.TEXT)
        return out.set_axis(rel.index)

    normal = regex_normalise(dirs)
    pd.testing.assert_series_equal(filters.normalise_dirs(dirs), normal)
    for d, r in ((dirs, roots), (normal, regex_normalise(roots))):
        rel = regex_relative(d, r)
        pd.testing.assert_series_equal(samples.relative_dirs(d, r), rel)
        pd.testing.assert_series_equal(samples._folder_names(d, rel, None), exploded_first_folder(rel))


@pytest.mark.parametrize("wanted", [None, ["S2"], ["Doe^J", "S1"], ["nobody"]])
def test_dicom_names_row_by_row_equal_the_column_passes(wanted):
    """The first non-empty identifier (or the requested one), per row, equals the column-wise fill."""
    from imgindex.samples import DICOM_NAME_TAGS, dicom_names

    cells = [None, "", "  ", " P1 ", "S1", "S2", "Doe^J", "nobody "]
    rows = [[cells[(i * 7 + k * 3) % len(cells)] for k in range(len(DICOM_NAME_TAGS))] for i in range(40)]
    files = pd.DataFrame(rows, columns=list(DICOM_NAME_TAGS), dtype=schema.TEXT)
    files.insert(0, "file_type", pd.Series(["dicom", "nifti", None, "dicom"] * 10, dtype=schema.TEXT))

    ids = pd.DataFrame({t: files[t].str.strip() for t in DICOM_NAME_TAGS})
    ids = ids.mask((ids == "").fillna(False))
    first = ids[DICOM_NAME_TAGS[0]]
    for tag in DICOM_NAME_TAGS[1:]:
        first = first.fillna(ids[tag])
    if wanted:
        requested = ids.where(ids.isin(wanted))
        match = requested[DICOM_NAME_TAGS[0]]
        for tag in DICOM_NAME_TAGS[1:]:
            match = match.fillna(requested[tag])
        first = match.fillna(first)
    expected = first.astype(schema.TEXT).where(files["file_type"].eq("dicom").fillna(False))
    pd.testing.assert_series_equal(dicom_names(files, wanted), expected)


def test_files_table_by_position_equals_by_key(example_dir, monkeypatch):
    """The files table found by the selected rows' positions equals the one found by their keys."""
    from imgindex import curate

    original = curate._files_table
    compared = []

    def both(every, selected, labels=None):
        fast = original(every, selected, labels)
        slow = original(every, selected, None)
        pd.testing.assert_frame_equal(fast, slow)
        compared.append((labels is not None, len(fast)))
        return fast

    monkeypatch.setattr(curate, "_files_table", both)
    imgindex.build_index(example_dir, mask=example_dir, image_modality="ct")
    assert compared and compared[0][0] and compared[0][1] > 100


@pytest.mark.parametrize("order", ["shuffled", "in_order"])
def test_files_table_of_every_file_puts_each_curation_on_its_own_file(example_dir, order):
    """Every file selected once, in any order: each file gets the curation of its own selected row."""
    from imgindex import curate

    every = imgindex.scan(example_dir)
    n = len(every)
    labels = np.random.default_rng(0).permutation(n) if order == "shuffled" else np.arange(n)
    selected = every.iloc[labels].reset_index(drop=True)
    selected = selected.assign(
        role=np.where(np.arange(n) % 2, "image", "mask"),
        role_reason="test",
        modality=[f"m{i}" for i in range(n)],
        sample_name=selected["file_name"].to_numpy(dtype=object),
        sample_name_source=[None if i % 4 else "file_name" for i in range(n)],
        request=np.arange(n) % 3,
    )
    files = curate._files_table(every, selected, labels)
    by_path = selected.set_index("file_path")  # the reference: each file's selected row, found by its path
    for name in curate.CURATED:
        dtype = schema.pandas_dtype(schema.column("files", name).type)
        expected = by_path[name].reindex(every["file_path"]).astype(dtype)
        assert files[name].tolist() == expected.tolist(), name
        assert files[name].dtype == dtype, name
    others = [c for c in every.columns if c not in curate.CURATED]
    pd.testing.assert_frame_equal(files[others], every[others].reset_index(drop=True))
    assert files["sample_name"].tolist() == every["file_name"].tolist()


@pytest.mark.parametrize("batch", [1, 5, 1000])
def test_batched_parquet_read_equals_the_whole_table_read(example_dir, tmp_path, monkeypatch, batch):
    """A saved table read a few columns at a time equals the table read whole (every column, dtype, cell)."""
    import pyarrow.parquet as pq

    from imgindex import persist, saved

    files = imgindex.scan(example_dir)
    files.loc[files.index[0], "SeriesDescription"] = "tab\there, newline\nthere"  # an escaped cell
    path = tmp_path / "files.parquet"
    saved.write_files(files, path)
    monkeypatch.setattr(persist, "READ_BATCH_COLUMNS", batch)
    whole = persist.from_arrow(pq.read_table(path), "files")
    read = saved.read_saved_files(path)
    pd.testing.assert_frame_equal(read, whole)
    assert read["SeriesDescription"].iloc[0] == "tab\there, newline\nthere"


@pytest.mark.parametrize(
    "folder",
    [
        "/",
        "/a",
        "/a/b/c",
        "/a/./b",
        "/a//b",
        "//a/b",
        "/a/b/",
        "a/b",
        "",
        ".",
        "/a/../b",
        "/a b/c.d/e",
        "/a/.x/y",
        "/a/b/.",
    ],
)
def test_folder_parts_equal_purepath(folder):
    from pathlib import PurePath

    from imgindex.association.evidence import _parts

    assert _parts(folder) == PurePath(folder).parts


def test_coded_cells_equal_the_cells_and_share_equal_tuples_across_chunks():
    import pyarrow as pa

    from imgindex.chunks import Chunk, Coded, _list_column

    cells = [(1.0, 2.0), None, (1.0, 2.0), (), (3.0,), None, ()]
    coded = Coded.of(list(cells))
    assert isinstance(coded, Coded)
    assert coded.cells({}).tolist() == cells  # the plain cells, in order
    assert coded.uniques == [(1.0, 2.0), None, (), (3.0,)]
    later = Coded.of([(1.0, 2.0), (3.0,)])  # a later chunk's equal tuples become the first ones
    unhashable = [[1.0], (1.0,)]
    assert Coded.of(unhashable) == unhashable  # left as they are, coerce makes tuples later
    empty = pa.RecordBatch.from_pylist([])
    chunks = [Chunk(list(range(n)), [], empty, {"PixelSpacing": c}) for n, c in ((7, coded), (2, later), (3, None))]
    column = next(c for c in imgindex.schema.columns("files") if c.name == "PixelSpacing")
    out, ok = _list_column(chunks, column)
    assert out.tolist() == [*cells, (1.0, 2.0), (3.0,), None, None, None] and ok
    assert out[0] is out[2] is out[7] and out[3] is out[6] and out[4] is out[8]
