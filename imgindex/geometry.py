"""Slice geometry, vectorised over the files table: normals, positions, spacing, gaps, duplicates.

A DICOM slice lies in the plane spanned by the row and column direction cosines of its
ImageOrientationPatient; its position along the stack is the projection of ImagePositionPatient
on the slice normal ``row x col``. Sorting by that position ascending gives the same order and
origin as SimpleITK's (GDCM's) series reader, whose third direction column is the same normal.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from itertools import chain
from typing import Any, TypedDict, cast

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike, NDArray

#: Two positions closer than this (mm) along the normal are the same position.
DUPLICATE_TOLERANCE = 1e-3
#: A gap is uniform when within this fraction of the median gap ...
UNIFORM_RELATIVE = 0.01
#: ... or within this absolute distance (mm), whichever is larger.
UNIFORM_ABSOLUTE = 0.01
#: A gap counts as missing slices when within this fraction of the spacing of a multiple >= 2.
MULTIPLE_TOLERANCE = 0.1


def as_array(values: pd.Series | Sequence[Sequence[float] | None], width: int) -> NDArray[np.float64]:
    """Stack a column of tuples into an ``(n, width)`` float array; NaN rows where missing.

    A cell that is missing or does not have exactly ``width`` values becomes a row of NaN.

    Examples
    --------
    >>> as_array(pd.Series([(1, 2, 3), None, (4.0, 5.0)], dtype=object), 3).tolist()
    [[1.0, 2.0, 3.0], [nan, nan, nan], [nan, nan, nan]]
    """
    cells = values.tolist() if isinstance(values, pd.Series) else list(values)  # tolist: 20x faster than list
    n = len(cells)
    if n > 64:
        # Cells repeat as one object (the orientation of a series is one tuple in all its rows):
        # each distinct object is converted once. Numbered by id, in order of first appearance.
        codes = pd.factorize(np.fromiter(map(id, cells), dtype=np.int64, count=n))[0]
        first = np.flatnonzero(codes > np.maximum.accumulate(np.r_[-1, codes[:-1]]))
        if 2 * len(first) <= n:
            return _cells_array([cells[i] for i in first.tolist()], width)[codes]
    return _cells_array(cells, width)


def _cells_array(cells: list[Any], width: int) -> NDArray[np.float64]:
    """:func:`as_array` of a list of cells."""
    n = len(cells)
    if not cells:
        return np.empty((0, width))
    if set(map(type, cells)) <= {tuple, list} and set(map(len, cells)) == {width}:
        try:  # C-level: numpy's discovery of nested sequences in np.asarray is 3x slower
            return np.fromiter(chain.from_iterable(cells), dtype=float, count=n * width).reshape(n, width)
        except (TypeError, ValueError):
            pass
    try:  # fast path: every cell holds ``width`` numbers
        out = np.asarray(cells, dtype=float)
        if out.shape == (n, width):
            return out
    except (TypeError, ValueError):
        pass
    nan_row = (np.nan,) * width
    return np.asarray(
        [v if isinstance(v, (tuple, list, np.ndarray)) and len(v) == width else nan_row for v in cells], dtype=float
    )


class StackGeometry(TypedDict):
    """What :func:`stack_geometry` finds about the slice positions of one stack."""

    n_slices: int
    slice_spacing: float
    slice_spacing_uniform: bool
    missing_slices: int
    duplicate_positions: int
    min_gap: float
    max_gap: float


def slice_normal(orientation: ArrayLike) -> NDArray[np.float64]:
    """The unit slice normal ``row x col`` of one or many ImageOrientationPatient values.

    Parameters
    ----------
    orientation : array-like, shape (6,) or (n, 6)
        Row direction cosines followed by column direction cosines.

    Returns
    -------
    numpy.ndarray
        Shape (3,) or (n, 3); NaN where the orientation is missing or degenerate.

    Examples
    --------
    >>> slice_normal((1, 0, 0, 0, 1, 0)).tolist()
    [0.0, 0.0, 1.0]
    >>> slice_normal([(1, 0, 0, 0, 0, -1)]).tolist()  # coronal
    [[0.0, 1.0, 0.0]]
    """
    iop = np.asarray(orientation, dtype=float)
    normal = np.cross(iop[..., :3], iop[..., 3:6])
    norm = np.linalg.norm(normal, axis=-1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(norm > 1e-6, normal / norm, np.nan) + 0.0  # no negative zeros


def slice_positions(files: pd.DataFrame) -> pd.Series:
    """Position of each slice along its own normal: ImagePositionPatient · (row × col).

    Parameters
    ----------
    files : pandas.DataFrame
        Rows of the files table with ``ImagePositionPatient`` and ``ImageOrientationPatient``
        (tuples).

    Returns
    -------
    pandas.Series
        float64, same index as ``files``; NaN where either tag is missing.

    Examples
    --------
    >>> files = pd.DataFrame({"ImagePositionPatient": [(0.0, 0.0, -3.0), (0.0, 0.0, 3.0), None],
    ...                       "ImageOrientationPatient": [(1, 0, 0, 0, 1, 0)] * 3})
    >>> slice_positions(files).tolist()
    [-3.0, 3.0, nan]
    """
    ipp = as_array(files["ImagePositionPatient"], 3)
    normal = slice_normal(as_array(files["ImageOrientationPatient"], 6))
    return pd.Series(np.einsum("ij,ij->i", ipp, normal), index=files.index, dtype="float64", name="slice_position")


def stack_geometry(positions: ArrayLike) -> StackGeometry:
    """Spacing, uniformity, missing slices and duplicates of slice positions along the normal.

    Positions are sorted first (NaN values are dropped). Gaps of at most
    :data:`DUPLICATE_TOLERANCE` (1e-3 mm) are duplicate positions and are left out of the
    spacing; every other gap is compared with the spacing.

    Parameters
    ----------
    positions : numpy.ndarray
        Slice positions along the slice normal (mm), any order.

    Returns
    -------
    dict
        ``n_slices`` (finite positions), ``slice_spacing`` (median of the gaps between distinct
        consecutive positions; NaN with fewer than two distinct positions),
        ``slice_spacing_uniform`` (every such gap within 1 % of the median *or* within 0.01 mm
        of it, whichever tolerance is larger), ``missing_slices`` (sum over the gaps that are
        within 10 % of the spacing of a multiple k >= 2 of it, of k - 1), ``duplicate_positions``
        (positions equal to the previous one within 1e-3 mm), ``min_gap`` and ``max_gap`` (over
        the distinct gaps; NaN when there are none).

    Examples
    --------
    >>> g = stack_geometry(np.array([0.0, 3.0, 9.0, 12.0, 12.0]))
    >>> g["n_slices"], g["slice_spacing"], g["slice_spacing_uniform"], g["missing_slices"]
    (5, 3.0, False, 1)
    >>> g["duplicate_positions"]
    1
    """
    pos = np.sort(np.asarray(positions, dtype=float).ravel())
    pos = pos[np.isfinite(pos)]
    gaps = np.diff(pos)
    duplicate = gaps <= DUPLICATE_TOLERANCE
    distinct = gaps[~duplicate]
    out: StackGeometry = {
        "n_slices": int(pos.size),
        "slice_spacing": float("nan"),
        "slice_spacing_uniform": True,
        "missing_slices": 0,
        "duplicate_positions": int(duplicate.sum()),
        "min_gap": float("nan"),
        "max_gap": float("nan"),
    }
    if distinct.size == 0:
        return out
    spacing = float(np.median(distinct))
    tolerance = max(UNIFORM_RELATIVE * spacing, UNIFORM_ABSOLUTE)
    ratio = distinct / spacing
    multiple = np.rint(ratio)
    gap_of_missing = (multiple >= 2) & (np.abs(ratio - multiple) <= MULTIPLE_TOLERANCE)
    out["slice_spacing"] = spacing
    out["slice_spacing_uniform"] = bool(np.all(np.abs(distinct - spacing) <= tolerance))
    out["missing_slices"] = int((multiple[gap_of_missing] - 1).sum())
    out["min_gap"] = float(distinct.min())
    out["max_gap"] = float(distinct.max())
    return out


def describe_problems(geometry: StackGeometry) -> list[str]:
    """Short reasons why a stack's slice positions are doubtful (empty when all is well).

    Examples
    --------
    >>> describe_problems(stack_geometry(np.array([0.0, 3.0, 6.0, 12.0])))
    ['slice spacing not uniform (gaps 3-6 mm, median 3 mm)', '1 missing slice(s)']
    >>> describe_problems(stack_geometry(np.arange(4.0)))
    []
    """
    reasons: list[str] = []
    if not geometry["slice_spacing_uniform"]:
        reasons.append(
            f"slice spacing not uniform (gaps {geometry['min_gap']:.4g}-{geometry['max_gap']:.4g} mm, "
            f"median {geometry['slice_spacing']:.4g} mm)"
        )
    if geometry["missing_slices"]:
        reasons.append(f"{geometry['missing_slices']} missing slice(s)")
    if geometry["duplicate_positions"]:
        reasons.append(f"{geometry['duplicate_positions']} duplicated slice position(s)")
    return reasons


#: The per-object geometry columns of the objects table that :func:`stack_geometry` fills.
GEOMETRY_COLUMNS = ("n_slices", "slice_spacing", "slice_spacing_uniform", "missing_slices", "duplicate_positions")
#: A direction cosine within this of 1 counts as along a patient axis.
OBLIQUE_TOLERANCE = 1e-4


def geometry_columns(geometry: StackGeometry, n_slices: int | None = None) -> dict[str, int | float | bool]:
    """The objects-table geometry columns from a :func:`stack_geometry` result.

    ``n_slices`` overrides the count of finite positions (slices without a position count too).

    Examples
    --------
    >>> geometry_columns(stack_geometry(np.array([0.0, 2.0, 4.0, 8.0])))
    {'n_slices': 4, 'slice_spacing': 2.0, 'slice_spacing_uniform': False, 'missing_slices': 1, 'duplicate_positions': 0}
    """
    found = cast(Mapping[str, int | float | bool], geometry)  # read by the names in GEOMETRY_COLUMNS
    out = {name: found[name] for name in GEOMETRY_COLUMNS}
    if n_slices is not None:
        out["n_slices"] = n_slices
    return out


def oblique(directions: ArrayLike) -> NDArray[np.float64]:
    """Whether each direction (rows of 9 cosines, SimpleITK order) has an axis off the patient axes.

    Returns a float array: 1.0 oblique, 0.0 not, NaN where the direction is missing.

    Examples
    --------
    >>> oblique(np.array([[1, 0, 0, 0, 0, -1, 0, 1, 0], [0.8, -0.6, 0, 0.6, 0.8, 0, 0, 0, 1]])).tolist()
    [0.0, 1.0]
    """
    d = np.abs(np.asarray(directions, dtype=float).reshape(-1, 3, 3))
    flags = (d.max(axis=1) < 1.0 - OBLIQUE_TOLERANCE).any(axis=1).astype(float)
    return np.where(np.isnan(d).any(axis=(1, 2)), np.nan, flags)


#: A stack is tilted when a slice lies off the line along the normal through the first slice by more
#: than this fraction of the smallest pixel spacing (a tenth of a pixel: no voxel would move more).
TILT_SHIFT = 0.1


def stack_tilt(positions: ArrayLike, normal: ArrayLike, pixel_spacing: float = 1.0) -> float | None:
    """Degrees between a stack's slice progression and its image normal (gantry tilt), from positions.

    ``positions`` are the ImagePositionPatient values of the slices in stack order (along the
    normal). The stack is tilted when a slice lies more than :data:`TILT_SHIFT` pixels
    (``pixel_spacing`` mm each) in-plane from the line along the normal through the first slice;
    the angle is then that of the vector from the first to the last slice. 0.0 when not tilted;
    None when unknown (fewer than two distinct positions, or no normal).

    Examples
    --------
    >>> z = np.arange(4.0)[:, None] * (0.0, 0.0, 2.5)
    >>> stack_tilt(z, (0.0, 0.0, 1.0))
    0.0
    >>> tilted = z + np.arange(4.0)[:, None] * (0.0, -2.5 * np.tan(np.radians(20)), 0.0)
    >>> round(stack_tilt(tilted, (0.0, 0.0, 1.0)), 6)
    20.0
    """
    p = np.asarray(positions, dtype=float).reshape(-1, 3)
    n = np.asarray(normal, dtype=float)
    p = p[np.isfinite(p).all(axis=1)]
    if len(p) < 2 or not np.isfinite(n).all():
        return None
    d = p - p[0]
    along = d @ n
    if np.abs(along).max() <= DUPLICATE_TOLERANCE:
        return None
    offset = np.linalg.norm(d - along[:, None] * n, axis=1)
    spacing = pixel_spacing if np.isfinite(pixel_spacing) and pixel_spacing > 0 else 1.0
    if offset.max() <= TILT_SHIFT * spacing:
        return 0.0
    step = p[-1] - p[0]
    cosine = abs(float(step @ n)) / float(np.linalg.norm(step))
    return float(np.degrees(np.arccos(min(1.0, cosine))))


def _segments(starts: NDArray[np.intp], ends: NDArray[np.intp]) -> NDArray[np.intp]:
    """The segment number of every element of the runs ``starts[k]:ends[k]`` (covering 0 ... ends[-1])."""
    return np.repeat(np.arange(len(starts)), ends - starts)


def stack_geometries(positions: ArrayLike, starts: ArrayLike, ends: ArrayLike) -> dict[str, NDArray[Any]]:
    """:func:`stack_geometry` of many stacks at once: ``positions[starts[k]:ends[k]]`` is stack ``k``.

    The runs must cover ``positions`` in order. Gives the same values as :func:`stack_geometry`
    on each run, as arrays (one entry per stack) under the same keys.

    Examples
    --------
    >>> g = stack_geometries([0.0, 3.0, 9.0, 12.0, 12.0, 5.0, 6.0], [0, 5], [5, 7])
    >>> g["slice_spacing"].tolist(), g["missing_slices"].tolist(), g["duplicate_positions"].tolist()
    ([3.0, 1.0], [1, 0], [1, 0])
    """
    p = np.asarray(positions, dtype=float).ravel()
    first, last = np.asarray(starts, dtype=np.intp), np.asarray(ends, dtype=np.intp)
    n = len(first)
    segment = _segments(first, last)
    finite = np.isfinite(p)
    order = np.lexsort((p, ~finite, segment))  # by stack, finite positions first, ascending
    ps, ss, fs = p[order], segment[order], finite[order]
    pair = (ss[1:] == ss[:-1]) & fs[1:] & fs[:-1]  # consecutive finite positions of one stack
    gaps, owner = np.diff(ps)[pair], ss[1:][pair]
    duplicate = gaps <= DUPLICATE_TOLERANCE
    out: dict[str, NDArray[Any]] = {
        "n_slices": np.bincount(segment, weights=finite, minlength=n).astype(np.int64),
        "slice_spacing": np.full(n, np.nan),
        "slice_spacing_uniform": np.ones(n, dtype=bool),
        "missing_slices": np.zeros(n, dtype=np.int64),
        "duplicate_positions": np.bincount(owner[duplicate], minlength=n).astype(np.int64),
        "min_gap": np.full(n, np.nan),
        "max_gap": np.full(n, np.nan),
    }
    distinct, whose = gaps[~duplicate], owner[~duplicate]
    if distinct.size == 0:
        return out
    by = np.lexsort((distinct, whose))
    distinct, whose = distinct[by], whose[by]
    count = np.bincount(whose, minlength=n)
    begin = np.r_[0, np.cumsum(count)[:-1]]
    has = count > 0
    low = begin + (count - 1) // 2
    high = begin + count // 2
    median = np.full(n, np.nan)
    median[has] = (distinct[low[has]] + distinct[high[has]]) / 2  # what np.median gives
    spacing = median[whose]
    tolerance = np.maximum(UNIFORM_RELATIVE * spacing, UNIFORM_ABSOLUTE)
    ratio = distinct / spacing
    multiple = np.rint(ratio)
    gap_of_missing = (multiple >= 2) & (np.abs(ratio - multiple) <= MULTIPLE_TOLERANCE)
    out["slice_spacing"] = median
    out["slice_spacing_uniform"] = np.bincount(whose, weights=np.abs(distinct - spacing) > tolerance, minlength=n) == 0
    out["missing_slices"] = np.bincount(whose, weights=np.where(gap_of_missing, multiple - 1, 0), minlength=n).astype(
        np.int64
    )
    out["min_gap"][has] = distinct[begin[has]]
    out["max_gap"][has] = distinct[begin[has] + count[has] - 1]
    return out


def stack_tilts(
    positions: ArrayLike, normals: ArrayLike, starts: ArrayLike, ends: ArrayLike, pixel_spacing: ArrayLike
) -> NDArray[np.float64]:
    """:func:`stack_tilt` of many stacks at once (runs of ``positions`` as in :func:`stack_geometries`).

    ``normals`` and ``pixel_spacing`` have one entry per stack; NaN where the tilt is unknown.

    Examples
    --------
    >>> z = np.arange(4.0)[:, None] * (0.0, 0.0, 2.5)
    >>> tilted = z + np.arange(4.0)[:, None] * (0.0, -2.5 * np.tan(np.radians(20)), 0.0)
    >>> np.round(stack_tilts(np.r_[z, tilted], [(0, 0, 1.0)] * 2, [0, 4], [4, 8], [1.0, 1.0]), 6).tolist()
    [0.0, 20.0]
    """
    p = np.asarray(positions, dtype=float).reshape(-1, 3)
    first, last = np.asarray(starts, dtype=np.intp), np.asarray(ends, dtype=np.intp)
    normal = np.asarray(normals, dtype=float).reshape(-1, 3)
    spacing = np.asarray(pixel_spacing, dtype=float)
    spacing = np.where(np.isfinite(spacing) & (spacing > 0), spacing, 1.0)
    out = np.full(len(first), np.nan)
    segment = _segments(first, last)
    known = np.isfinite(p).all(axis=1)
    complete = np.bincount(segment, weights=~known, minlength=len(first)) == 0  # stack_tilt drops them; so rare
    d = p[first][segment]
    np.subtract(p, d, out=d)  # each slice from its stack's first slice (few temporaries: 10^5 slices)
    along = np.einsum("ij,ij->i", d, normal[segment])
    offset = np.einsum("ij,ij->i", d, d)
    del d
    offset -= along * along  # squared in-plane distance
    extent = np.zeros(len(first))
    widest = np.zeros(len(first))
    if len(p):
        np.maximum.at(extent, segment, np.nan_to_num(np.abs(along)))  # stacks with a NaN are not complete
        np.maximum.at(widest, segment, np.nan_to_num(offset))
    widest = np.sqrt(np.maximum(widest, 0.0))
    ok = complete & (last - first >= 2) & np.isfinite(normal).all(axis=1) & (extent > DUPLICATE_TOLERANCE)
    step = p[np.maximum(last - 1, 0)] - p[first] if len(p) else np.zeros((len(first), 3))
    with np.errstate(invalid="ignore", divide="ignore"):
        cosine = np.abs(np.einsum("ij,ij->i", step, normal)) / np.linalg.norm(step, axis=1)
    angle = np.degrees(np.arccos(np.minimum(1.0, cosine)))
    out[ok] = np.where(widest[ok] <= TILT_SHIFT * spacing[ok], 0.0, angle[ok])
    return out
