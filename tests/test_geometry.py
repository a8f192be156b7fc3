"""imgindex.geometry: slice normals, positions and the geometry of a stack of positions."""

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from imgindex.geometry import as_array, describe_problems, slice_normal, slice_positions, stack_geometry


@pytest.mark.parametrize(
    ("orientation", "normal"),
    [
        ((1, 0, 0, 0, 1, 0), (0, 0, 1)),  # axial
        ((1, 0, 0, 0, 0, -1), (0, 1, 0)),  # coronal
        ((0, 1, 0, 0, 0, -1), (-1, 0, 0)),  # sagittal
        ((2, 0, 0, 0, 3, 0), (0, 0, 1)),  # not unit length: normalised
    ],
)
def test_slice_normal(orientation, normal):
    np.testing.assert_allclose(slice_normal(orientation), normal, atol=1e-12)


def test_slice_normal_many_and_missing():
    iop = np.array([(1, 0, 0, 0, 1, 0), (np.nan,) * 6, (1, 0, 0, 1, 0, 0)], dtype=float)
    normals = slice_normal(iop)
    assert normals.shape == (3, 3)
    np.testing.assert_allclose(normals[0], (0, 0, 1))
    assert np.isnan(normals[1]).all()
    assert np.isnan(normals[2]).all()  # parallel row and column cosines: degenerate


def test_as_array_handles_missing_and_ragged_cells():
    values = pd.Series([(1.0, 2.0, 3.0), None, (1.0, 2.0), [4, 5, 6]], dtype=object)
    out = as_array(values, 3)
    assert out.shape == (4, 3)
    np.testing.assert_array_equal(out[[0, 3]], [[1, 2, 3], [4, 5, 6]])
    assert np.isnan(out[[1, 2]]).all()
    assert as_array(pd.Series([], dtype=object), 6).shape == (0, 6)


def test_slice_positions_match_a_loop(scanned):
    _, _, files = scanned
    dicom = files[files["ImagePositionPatient"].notna() & files["ImageOrientationPatient"].notna()]
    assert len(dicom) > 20
    expected = [
        np.dot(ipp, np.cross(iop[:3], iop[3:]))
        for ipp, iop in zip(dicom["ImagePositionPatient"], dicom["ImageOrientationPatient"], strict=True)
    ]
    got = slice_positions(dicom)
    assert got.index.equals(dicom.index)
    np.testing.assert_allclose(got.to_numpy(), expected)


def test_slice_positions_oblique_and_missing():
    iop = (np.cos(0.3), np.sin(0.3), 0.0, 0.0, 0.0, -1.0)
    normal = np.cross(iop[:3], iop[3:])
    points = [tuple(np.array([10.0, -5.0, 2.0]) + k * 2.5 * normal) for k in range(3)]
    files = pd.DataFrame({"ImagePositionPatient": [*points, None], "ImageOrientationPatient": [iop] * 3 + [iop]})
    pos = slice_positions(files)
    np.testing.assert_allclose(np.diff(pos.to_numpy()[:3]), [2.5, 2.5])
    assert np.isnan(pos.iloc[3])


def test_stack_geometry_uniform_unsorted():
    g = stack_geometry(np.array([6.0, 0.0, 3.0, 9.0]))
    assert g == {
        "n_slices": 4,
        "slice_spacing": 3.0,
        "slice_spacing_uniform": True,
        "missing_slices": 0,
        "duplicate_positions": 0,
        "min_gap": 3.0,
        "max_gap": 3.0,
    }
    assert describe_problems(g) == []


def test_stack_geometry_gaps_and_duplicates():
    g = stack_geometry(np.array([0.0, 3.0, 6.0, 15.0, 18.0, 18.0005, 21.0]))
    assert g["slice_spacing"] == 3.0
    assert not g["slice_spacing_uniform"]
    assert g["missing_slices"] == 2  # 6 -> 15 is three steps
    assert g["duplicate_positions"] == 1
    reasons = describe_problems(g)
    assert any("not uniform" in r for r in reasons)
    assert "2 missing slice(s)" in reasons
    assert "1 duplicated slice position(s)" in reasons


def test_stack_geometry_odd_gap_is_not_missing_slices():
    g = stack_geometry(np.array([0.0, 3.0, 6.0, 9.0, 13.5]))  # 4.5 mm: 1.5 steps
    assert not g["slice_spacing_uniform"]
    assert g["missing_slices"] == 0


@pytest.mark.parametrize(
    ("gap", "uniform"),
    [
        (3.02, True),  # within 1 % of 3 mm
        (3.04, False),
    ],
)
def test_stack_geometry_relative_tolerance(gap, uniform):
    assert stack_geometry(np.array([0.0, 3.0, 6.0, 6.0 + gap]))["slice_spacing_uniform"] is uniform


@pytest.mark.parametrize(
    ("gap", "uniform"),
    [
        (0.509, True),  # within 0.01 mm of 0.5 mm, although more than 1 %
        (0.52, False),
    ],
)
def test_stack_geometry_absolute_tolerance(gap, uniform):
    assert stack_geometry(np.array([0.0, 0.5, 1.0, 1.0 + gap]))["slice_spacing_uniform"] is uniform


@pytest.mark.parametrize("positions", [[], [4.0], [np.nan, 2.0], [1.0, 1.0]])
def test_stack_geometry_degenerate(positions):
    g = stack_geometry(np.array(positions, dtype=float))
    assert g["n_slices"] == np.isfinite(positions).sum()
    assert np.isnan(g["slice_spacing"])
    assert g["slice_spacing_uniform"] is True
    assert g["missing_slices"] == 0


@settings(max_examples=60, deadline=None)
@given(
    spacing=st.floats(0.2, 10.0),
    n=st.integers(12, 60),
    start=st.floats(-500, 500),
    removed=st.lists(st.integers(1, 1000), max_size=3, unique=True),
    seed=st.integers(0, 2**16),
)
def test_stack_geometry_property(spacing, n, start, removed, seed):
    positions = start + spacing * np.arange(n)
    # Interior slices only; n >= 12 > 3 * len(drop) + 1 keeps the true spacing the majority gap.
    drop = sorted({1 + r % (n - 2) for r in removed})
    kept = np.delete(positions, drop)
    g = stack_geometry(np.random.default_rng(seed).permutation(kept))
    assert g["n_slices"] == len(kept)
    assert g["slice_spacing"] == pytest.approx(spacing, rel=1e-9, abs=1e-9)
    assert g["missing_slices"] == len(drop)
    assert g["slice_spacing_uniform"] is (len(drop) == 0)
    assert g["duplicate_positions"] == 0
