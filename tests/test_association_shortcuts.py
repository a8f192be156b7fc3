"""The association and materialise shortcuts taken for speed (issue 15) give what the plain computation gives.

Each test builds the reference the slow, obvious way (pandas merges and groupbys, aligned
Series, PurePath, one row at a time) and compares the fast path with it on random inputs.
"""

from __future__ import annotations

from pathlib import PurePath

import numpy as np
import pandas as pd
import pytest

from imgindex import schema
from imgindex.arguments import STRATEGIES
from imgindex.association import report
from imgindex.association.evidence import Objects, dir_distance, file_name
from imgindex.association.keys import distinct, group_range, key_codes, key_sides
from imgindex.files import ImageFile, MaskFile


def _key_codes_by_merges(step: str, img: Objects, msk: Objects) -> np.ndarray:
    """key_codes as it was: drop_duplicates and a merge of exploded key frames."""
    codes = []
    for (li, lk), (rm, rk) in key_sides(step, img, msk):  # the same keys: only the join differs
        a = pd.DataFrame({"i": li, "k": pd.Series(lk, dtype=object)}).drop_duplicates()
        b = pd.DataFrame({"m": rm, "k": pd.Series(rk, dtype=object)}).drop_duplicates()
        both = a.merge(b, on="k")
        codes.append(both["i"].to_numpy(np.int64) * msk.n + both["m"].to_numpy(np.int64))
    return np.unique(np.concatenate(codes)).astype(np.int64)


def _random_objects(rng: np.random.Generator, n: int, role: str) -> Objects:
    uids = [f"1.2.{k}" for k in range(12)]

    def some(k_max: int) -> tuple[str | None, ...] | None:
        if rng.random() < 0.15:
            return None
        return tuple(rng.choice([*uids, None], int(rng.integers(0, k_max))).tolist())

    def one() -> str | None:
        return None if rng.random() < 0.2 else str(rng.choice(uids))

    rows = [
        {
            "object_id": f"{role}_{k}",
            "role": role,
            "file_type": str(rng.choice(["dicom", "dicom", "nifti"])),
            "sample_name": None if rng.random() < 0.3 else str(rng.choice(["A", "B", "C"])),
            "SeriesInstanceUID": one(),
            "FrameOfReferenceUID": one(),
            "SOPInstanceUID": some(6),
            "ReferencedSeriesInstanceUID": some(3),
            "ReferencedSOPInstanceUID": some(8),
            "ReferencedFrameOfReferenceUID": some(3),
            "dir_path": str(rng.choice(["/a/b", "/a/b/c", "/a/d", "/x", "rel/b", "/a/b/c/e"])),
        }
        for k in range(n)
    ]
    return Objects(schema.coerce(pd.DataFrame(rows), "objects"))


@pytest.mark.parametrize("seed", range(25))
def test_key_codes_equal_the_merges(seed):
    rng = np.random.default_rng(seed)
    img = _random_objects(rng, int(rng.integers(1, 15)), "image")
    msk = _random_objects(rng, int(rng.integers(1, 15)), "mask")
    for step in ("reference_instances", "reference_series", "frame_of_reference", "sample_name"):
        np.testing.assert_array_equal(key_codes(step, img, msk), _key_codes_by_merges(step, img, msk))


@pytest.mark.parametrize("seed", range(10))
def test_dir_distance_equals_purepath_parts(seed):
    rng = np.random.default_rng(seed)
    img, msk = _random_objects(rng, 8, "image"), _random_objects(rng, 9, "mask")
    ci, cm = np.repeat(np.arange(img.n), msk.n), np.tile(np.arange(msk.n), img.n)
    expected = []
    for a, b in zip(img.df["dir_path"].iloc[ci], msk.df["dir_path"].iloc[cm], strict=True):
        pa, pb = PurePath(a).parts, PurePath(b).parts
        common = next((k for k, (x, y) in enumerate(zip(pa, pb, strict=False)) if x != y), min(len(pa), len(pb)))
        expected.append(len(pa) - common if PurePath(a).anchor == PurePath(b).anchor else np.inf)
    np.testing.assert_array_equal(dir_distance(img, msk, ci, cm), expected)


@pytest.mark.parametrize("seed", range(10))
def test_distinct_and_group_range_equal_numpy_unique_and_groupby(seed):
    rng = np.random.default_rng(seed)
    n = int(rng.integers(0, 50))
    values = rng.integers(0, 20, n)
    np.testing.assert_array_equal(distinct(values), np.unique(values).astype(np.int64))
    numbers = rng.choice([0.0, 1.5, 2.0, np.inf, np.nan], n)
    groups = rng.integers(0, 6, n)
    count, lo, hi = group_range(numbers, groups, 6)
    frame = pd.DataFrame({"g": groups, "v": numbers}).groupby("g")["v"].agg(["size", "min", "max"]).reindex(range(6))
    np.testing.assert_array_equal(count, frame["size"].fillna(0).to_numpy())
    seen = count > 0
    with_value = seen & frame["min"].notna().to_numpy()
    np.testing.assert_array_equal(lo[with_value], frame["min"].to_numpy()[with_value])
    np.testing.assert_array_equal(hi[with_value], frame["max"].to_numpy()[with_value])
    assert not (lo[~with_value] == hi[~with_value]).any()  # no value: never a range of one value


@pytest.mark.parametrize(
    "path", ["/a/b.dcm", "a.nii.gz", "/a/b/", "/a/b/.", "a/..", "/", "", ".", "//x", "/a//b", "x/./y", "/a/.hidden"]
)
def test_file_name_equals_purepath(path):
    assert file_name(path) == PurePath(path).name


def _evidence_text_by_series(chain_code, details, decided_by, n_others, status):
    """report.evidence_text as it was: aligned pandas Series."""
    names = np.array([*STRATEGIES, None], dtype=object)
    own = pd.Series(names[chain_code]).map(report._WORDS).to_numpy(object)
    ref = names[chain_code] == "reference"
    own = np.where(ref & details["instances"], "refers to instances of this image", own)
    own = np.where(ref & ~details["instances"] & details["series"], "refers to this series", own)
    own = np.where(
        (names[chain_code] == "frame_of_reference") & details["sample"], "same frame of reference and sample name", own
    )
    own = np.where((names[chain_code] == "position") & details["overlap"], "overlapping voxel grid", own)
    own = np.where(details["undecided"], "nothing told the images apart", own)
    own = np.where(
        status == "missing",
        np.where(details["lost"], "no mask: its candidates went to images with stronger evidence", "no mask matched"),
        own,
    )
    text = pd.Series(own, dtype=object)
    others = pd.Series(n_others).astype(str)
    plural = pd.Series(np.where(n_others == 1, " image", " images"), dtype=object)
    decided = pd.Series(decided_by, dtype=object).map(report.LEVEL_WORDS)
    has_decided = decided.notna().to_numpy() & (status != "missing")
    text[has_decided] = text[has_decided] + "; " + decided[has_decided] + " decided over " + others + plural
    weaker = (~has_decided) & (n_others > 0) & (status == "ok") & ~details["volumes"]
    text[weaker] = text[weaker] + "; " + others[weaker] + " other" + plural[weaker] + " had weaker evidence"
    volumes = details["volumes"]
    text[volumes] = (
        "refers to the series as a whole: each of its " + (others[volumes].astype(int) + 1).astype(str) + " volumes"
    )
    shared = (status == "ambiguous") & (n_others > 0)
    text[shared] = text[shared] + "; fits " + (others[shared].astype(int) + 1).astype(str) + " images equally"
    unsure = (status == "ambiguous") & details["unsure"]
    text[unsure] = text[unsure] + "; masks from different folders at the same distance"
    return text.to_numpy(object)


@pytest.mark.parametrize("seed", range(20))
def test_evidence_text_equals_the_series_version(seed):
    rng = np.random.default_rng(seed)
    n = int(rng.integers(1, 40))
    status = rng.choice(["ok", "ambiguous", "missing"], n)
    chain_code = np.where(status == "missing", -1, rng.integers(0, len(STRATEGIES), n))
    names = list(report.LEVEL_WORDS)
    details = {k: rng.random(n) < 0.3 for k in ("instances", "series", "sample", "overlap", "undecided", "unsure")}
    details["volumes"] = (rng.random(n) < 0.2) & (status == "ok")
    details["lost"] = (rng.random(n) < 0.5) & (status == "missing")
    decided_by = np.array([None if rng.random() < 0.5 else str(rng.choice(names)) for _ in range(n)], dtype=object)
    n_others = rng.integers(0, 4, n)
    got = report.evidence_text(chain_code, details, decided_by, n_others, status)
    assert got.tolist() == _evidence_text_by_series(chain_code, details, decided_by, n_others, status).tolist()


def _same(a, b) -> None:
    for name in a.__slots__:
        va, vb = getattr(a, name), getattr(b, name)
        if isinstance(va, np.ndarray) or isinstance(vb, np.ndarray):
            assert type(va) is type(vb) and va.flags.c_contiguous == vb.flags.c_contiguous
            np.testing.assert_array_equal(va, vb)
        else:
            assert va == vb and type(va) is type(vb), (name, va, vb)


@pytest.mark.parametrize("direction", ["tuples", "mixed"])
def test_objects_from_a_table_equal_objects_from_each_row(direction):
    """from_table converts column by column what from_row converts cell by cell (nulls, numpy scalars, dtypes)."""
    eye = (1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0)
    table = pd.DataFrame(
        {
            "object_id": pd.array(["a", "b", "c"], dtype=schema.TEXT),
            "sample_name": pd.array(["A", None, "C"], dtype=schema.TEXT),
            "file_paths": pd.Series([("/x/1", "/x/2"), None, ()], dtype=object),
            "SOPInstanceUID": pd.Series([("1.2",), ("1.3", "1.4"), None], dtype=object),
            "size_x": pd.array([4, None, 2], dtype="Int64"),
            "size_y": pd.array([3, 5, 2], dtype="Int64"),
            "size_z": pd.array([2, 5, 2], dtype="Int64"),
            "spacing_x": [1.0, np.nan, 0.5],
            "spacing_y": np.array([1, 2, 3], np.int32),
            "spacing_z": pd.Series([np.float32(2.5), None, 1.0], dtype=object),
            "origin_x": pd.Series([np.int64(1), pd.NA, 3.0], dtype=object),
            "origin_y": pd.array([0.0, None, 1.0], dtype="Float64"),
            "origin_z": [0.0, 0.0, 0.0],
            "direction": pd.Series([eye, None, [0, 1, 0, 1, 0, 0, 0, 0, 1] if direction == "mixed" else eye]),
            "array_index": pd.array([None, 0, None], dtype="Int64"),
            "geometry_warning": pd.array(["", None, "tilted"], dtype=schema.TEXT),
            "frames": pd.Series([(np.int64(2), 0), None, ()], dtype=object),
            "n_volumes": pd.array([0, None, 3], dtype="Int64"),
            "volume_index": pd.Series([np.int64(1), None, 2], dtype=object),
            "tilt_angle": pd.array([0.0, 0.5, None], dtype="Float64") / pd.array([0.0, 1.0, 1.0], dtype="Float64"),
            "roi_names": pd.Series([("GTV",), None, ()], dtype=object),
            "modality": pd.Categorical(["ct", "rtstruct", None]),
        }
    )
    arrays = [np.zeros((2, 2))]
    rows = [dict(zip(table.columns, values, strict=True)) for values in zip(*(table[c] for c in table), strict=True)]
    for got, row in zip(
        MaskFile.from_table(table, roi_name=["GTV", None, {"a": "b"}], arrays=arrays), rows, strict=True
    ):
        _same(got, MaskFile.from_row(row, roi_name=got.roi_name, arrays=arrays))
    for got, row in zip(ImageFile.from_table(table, arrays=arrays), rows, strict=True):
        _same(got, ImageFile.from_row(row, arrays=arrays))
    some = [2, 0]  # a subset of the rows, out of order (Index.materialise: the rows of one role)
    for got, k in zip(MaskFile.from_table(table, roi_name=["x", None], arrays=arrays, rows=some), some, strict=True):
        _same(got, MaskFile.from_row(rows[k], roi_name=got.roi_name, arrays=arrays))
    for got, k in zip(ImageFile.from_table(table, arrays=arrays, rows=some), some, strict=True):
        _same(got, ImageFile.from_row(rows[k], arrays=arrays))


def _dicom_objects(prefix: str, column: str, cells: list[tuple[str, ...]]) -> Objects:
    """DICOM objects ``prefix0, prefix1, ...`` with one UID list column."""
    ids = [f"{prefix}{k}" for k in range(len(cells))]
    frame = pd.DataFrame({"object_id": ids, "file_type": "dicom", column: pd.Series(cells, dtype=object)})
    return Objects(schema.coerce(frame, "objects"))


@pytest.mark.parametrize("seed", range(10))
def test_key_codes_of_distinct_instances_equal_the_merges(seed):
    """Each instance UID one image's (the lookup path), some listed twice by a mask, some unknown."""
    rng = np.random.default_rng(seed)
    n_i, n_m = int(rng.integers(1, 12)), int(rng.integers(1, 12))
    own = [tuple(f"1.{k}.{j}" for j in range(int(rng.integers(0, 5)))) for k in range(n_i)]
    every = [u for t in own for u in t] + ["9.9"]
    refs = [tuple(rng.choice(every, int(rng.integers(0, 6))).tolist()) if every else () for _ in range(n_m)]
    img = _dicom_objects("i", "SOPInstanceUID", own)
    msk = _dicom_objects("m", "ReferencedSOPInstanceUID", refs)
    np.testing.assert_array_equal(
        key_codes("reference_instances", img, msk), _key_codes_by_merges("reference_instances", img, msk)
    )
