"""Stacking's shortcuts give what the plain computation gives: group numbers from mixed per-column
codes (not a groupby), tuples converted once per distinct object, the kind of each file decided
once per distinct combination. No timings (speed is measured in ``benchmarks/``)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from imgindex import schema
from imgindex.geometry import as_array
from imgindex.stacking import _kinds, stack
from imgindex.stacking._objects import codes, ids


def _frame(rng: np.random.Generator, n: int) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "text": pd.array(rng.choice(["x", "y", None], n), dtype=schema.TEXT),
            "number": pd.array(rng.choice([1, 2, None], n), dtype="Int64"),
            "float": rng.choice([0.5, np.nan, 1.0, -0.0, 0.0], n),
            "flag": pd.array(rng.choice([True, False, None], n), dtype="boolean"),
            "object": pd.Series(rng.choice(["p", "q", "r"], n), dtype=object).where(rng.random(n) > 0.3, None),
        }
    )


@pytest.mark.parametrize("seed", range(20))
def test_ids_number_groups_as_groupby_ngroup(seed):
    rng = np.random.default_rng(seed)
    frame = _frame(rng, int(rng.integers(1, 80)))
    keys = list(rng.permutation(list(frame.columns))[: int(rng.integers(1, 6))])
    plain = frame.groupby(keys, dropna=False, sort=False).ngroup().to_numpy()
    assert ids(frame, keys).tolist() == plain.tolist()


@pytest.mark.parametrize("seed", range(20))
def test_codes_number_rows_as_groupby_ngroup(seed):
    rng = np.random.default_rng(seed)
    n, k = int(rng.integers(1, 80)), int(rng.integers(1, 6))
    table = rng.integers(-3, 4, size=(n, k)) * (10 ** rng.integers(0, 17, size=k))  # dense and sparse values
    plain = pd.DataFrame(table).groupby(list(range(k)), sort=False).ngroup().to_numpy()
    assert codes(table).tolist() == plain.tolist()


def _plain_as_array(cells: list[object], width: int) -> np.ndarray:
    nan_row = (np.nan,) * width
    return np.asarray(
        [v if isinstance(v, (tuple, list, np.ndarray)) and len(v) == width else nan_row for v in cells], dtype=float
    )


@pytest.mark.parametrize(
    "cells",
    [
        [(1.0, 0.0, 0.0, 0.0, 1.0, 0.0)] * 100,  # one shared tuple
        [tuple(float(i + j) for j in range(6)) for i in range(100)],  # all distinct
        [(1, 0, 0, 0, 1, 0), None, (1.0, 0.0)] * 40,  # missing and short cells
        [(1.0, None, 0.0, 0.0, 1.0, 0.0), [0, 1, 0, 1, 0, 0]] * 50,  # None items, lists
        [np.arange(6.0)] * 70,  # arrays
    ],
)
def test_as_array_equals_the_cell_by_cell_conversion(cells):
    shared = as_array(pd.Series(cells, dtype=object), 6)
    np.testing.assert_array_equal(shared, _plain_as_array(cells, 6))
    np.testing.assert_array_equal(as_array(list(cells), 6), shared)


def test_kinds_per_distinct_combination_equal_those_of_each_row():
    rng = np.random.default_rng(0)
    n = 300
    f = pd.DataFrame(
        {
            "role": pd.array(rng.choice(["image", "mask", None], n), dtype=schema.TEXT),
            "file_type": pd.array(rng.choice(["dicom", "numpy", "nifti", None], n), dtype=schema.TEXT),
            "dicom_modality": pd.array(rng.choice(["CT", "RTDOSE", "SEG", None], n), dtype=schema.TEXT),
            "modality": pd.array(rng.choice(["ct", "rtdose", None], n), dtype=schema.TEXT),
            "multiframe": pd.array(rng.choice([True, False, None], n), dtype="boolean"),
            "NumberOfFrames": pd.array(rng.choice([1, 3, None], n), dtype="Int64"),
            "DoseSummationType": pd.array(rng.choice(["BEAM", "PLAN", None], n), dtype=schema.TEXT),
            "ndim": pd.array(rng.choice([2, 3, None], n), dtype="Int64"),
            "size_z": pd.array(rng.choice([1, 5, None], n), dtype="Int64"),
            "error": pd.array(rng.choice(["bad", None, None], n), dtype=schema.TEXT),
            "array_index": pd.array(rng.choice([0, None, None], n), dtype="Int64"),
            "Rows": pd.array(rng.choice([512, None], n), dtype="Int64"),
            "frame_positions": pd.Series([(0.0, 0.0, float(i)) if i % 3 else None for i in range(n)], dtype=object),
        }
    )
    for stacking in ({"image": "auto", "mask": "auto"}, {"image": "yes", "mask": "no"}):
        found = _kinds(f, stacking)
        for i in range(n):  # each row alone: its own distinct combination
            alone = _kinds(f.iloc[[i]], stacking)
            assert {k: bool(v[i]) for k, v in found.items()} == {k: bool(v[0]) for k, v in alone.items()}


def test_stack_of_an_empty_files_table_is_the_empty_objects_table():
    out = stack(schema.empty("files"))
    assert out.empty and list(out.columns) == schema.names("objects")


@pytest.mark.parametrize("seed", range(5))
def test_objects_are_numbered_per_role_as_groupby_cumcount(seed):
    """Each object is numbered within its role in row order, as a groupby's cumcount numbers it."""
    from imgindex.stacking import _numbered

    rng = np.random.default_rng(seed)
    role = pd.Series(pd.array(rng.choice(["image", "mask"], 200), dtype=schema.TEXT))
    expected = (role.astype(str) + "_" + role.groupby(role).cumcount().astype(str)).tolist()
    numbered = _numbered(role)
    assert numbered is not None
    assert numbered.tolist() == expected
    assert numbered.dtype == role.dtype
    assert numbered.tolist()[:3] == [f"{r}_{list(role[: i + 1]).count(r) - 1}" for i, r in enumerate(role[:3])]


def test_objects_with_a_missing_role_are_left_to_the_groupby():
    """A missing role has no number of its own here: the caller's groupby decides."""
    from imgindex.stacking import _numbered

    assert _numbered(pd.Series(pd.array(["image", None], dtype=schema.TEXT))) is None
    assert _numbered(pd.Series(["image", "mask"], dtype=object)) is None
