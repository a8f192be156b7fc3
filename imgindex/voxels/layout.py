"""Where the slices of a DICOM stack go: every voxel where the patient was, on a grid SimpleITK can hold.

A stack's slices (the files of a series, the frames of a multi-frame file) are sorted along their
normal ``row x column`` (stable, so an index's order is kept). The result is one of two grids:

* **as stored** (the slices one after the other): the origin of the first slice, the median
  distance between slice positions along the normal, axes row, column, normal. Used when every
  slice lies on its slot of that grid (within :data:`~imgindex.geometry.UNIFORM_RELATIVE` of the
  spacing or :data:`~imgindex.geometry.UNIFORM_ABSOLUTE` mm, the tolerance of the index's
  uniform-spacing check) and no slice is shifted in its plane by more than
  :data:`IN_PLANE_TOLERANCE` of a voxel; or on request (``resample=False``); or when positions
  repeat or are missing, where no other grid is defined.
* **resampled** otherwise, onto an orthogonal grid whose in-plane axes are the slices' rows and
  columns and whose third axis is their normal, at the median spacing along the normal:

  - *gantry tilt* (the slices progress along a direction that is not their normal, so each is
    shifted in its plane against the one before): every output slice is its stored slice moved
    by its in-plane offset, with linear interpolation; the grid is widened so that no slice
    content falls outside it;
  - *uneven spacing*: an output slice within the tolerance above of a stored one is that slice;
    one between two stored slices less than (2 - :data:`~imgindex.geometry.MULTIPLE_TOLERANCE`)
    spacings apart is their linear interpolation along the normal;
  - *missing slices* (a gap of about two spacings or more): output slices inside the gap are
    empty, except one within half a spacing of the slice at either end of the gap, which is that
    slice.

  Voxels no slice covers get the image's minimum value. Every stored slice lies within half a
  spacing of an output slice, so no slice is shifted by more than half a voxel; slices on the
  grid are not shifted at all.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from ..geometry import MULTIPLE_TOLERANCE, UNIFORM_ABSOLUTE, UNIFORM_RELATIVE, stack_geometry
from .grid import Grid

#: Stacks whose slices are shifted in their plane by at most this fraction of a voxel are not resampled.
IN_PLANE_TOLERANCE = 0.1
#: Fractional in-plane shifts closer than this (voxels) to a whole voxel are whole (no interpolation).
WHOLE_VOXEL = 1e-3


@dataclass
class Layout:
    """The grid of a stack and, when resampled, where each output slice comes from.

    ``order`` lists the stored slices (indices into the stack as given) along the normal.
    ``source`` and ``weight`` (one row per output slice, two columns) name up to two stored
    slices (positions in ``order``; -1 for none) and their weights; ``shift`` (one row per
    position in ``order``) is the (x, y) offset in voxels of each stored slice on the output grid.
    """

    grid: Grid
    order: npt.NDArray[np.intp]
    resampled: bool = False
    source: npt.NDArray[np.intp] = field(default_factory=lambda: np.empty((0, 2), np.intp))
    weight: npt.NDArray[np.float64] = field(default_factory=lambda: np.empty((0, 2)))
    shift: npt.NDArray[np.float64] = field(default_factory=lambda: np.empty((0, 2)))
    tilt: float = 0.0
    notes: list[str] = field(default_factory=list)

    def slot_of(self) -> npt.NDArray[np.intp]:
        """For each stored slice (in the stack as given), the output slice it is copied to (-1: none).

        Examples
        --------
        >>> grid = Grid((2, 2, 3), (1, 1, 1), (0, 0, 0), (1, 0, 0, 0, 1, 0, 0, 0, 1))
        >>> Layout(grid, np.array([2, 0, 1])).slot_of().tolist()
        [1, 2, 0]
        """
        out = np.full(len(self.order), -1, dtype=np.intp)
        if not self.resampled:
            out[self.order] = np.arange(len(self.order))
            return out
        copied = (self.source[:, 1] < 0) & (self.source[:, 0] >= 0)
        out[self.order[self.source[copied, 0]]] = np.flatnonzero(copied)
        return out


def plan(
    position: npt.NDArray[np.float64],
    orientation: npt.ArrayLike,
    pixel_spacing: tuple[float, float],
    shape: tuple[int, int],
    *,
    thickness: float = np.nan,
    resample: bool = True,
) -> Layout:
    """The layout of a stack: slice positions (n, 3), one ImageOrientationPatient, (x, y) spacing, (rows, columns).

    Examples
    --------
    >>> positions = np.array([[0.0, 0.0, z] for z in (0.0, 2.0, 4.0, 8.0)])  # slice 3 (z = 6) missing
    >>> layout = plan(positions, (1, 0, 0, 0, 1, 0), (1.0, 1.0), (4, 4))
    >>> layout.grid.size, layout.source[:, 0].tolist()
    ((4, 4, 5), [0, 1, 2, -1, 3])
    """
    orientation = np.asarray(orientation, dtype=float)
    row, col = orientation[:3], orientation[3:]
    normal = np.cross(row, col)
    rows, cols = shape
    sx, sy = float(pixel_spacing[0]), float(pixel_spacing[1])
    n = len(position)
    known = n > 0 and bool(np.isfinite(position).all())
    along = position @ normal if known else np.zeros(n)
    order = np.argsort(along, kind="stable") if known else np.arange(n)
    along = along[order]
    geometry = stack_geometry(along) if known else None
    step = geometry["slice_spacing"] if geometry is not None else np.nan
    if not np.isfinite(step) or step <= 0:
        step = thickness if np.isfinite(thickness) and thickness > 0 else 1.0
    first = np.nan_to_num(position[order[0]]) if n else np.zeros(3)
    direction = np.column_stack([row, col, normal]).ravel()
    stored = Layout(Grid((cols, rows, n), (sx, sy, step), first, direction), order)
    if not known or n < 2 or (geometry is not None and geometry["duplicate_positions"]):
        return stored
    offset = position[order] - position[order[0]]
    u, v = offset @ row / sx, offset @ col / sy
    progression = position[order[-1]] - position[order[0]]
    length = float(np.linalg.norm(progression))
    tilt = float(np.degrees(np.arccos(min(1.0, abs(float(progression @ normal)) / length)))) if length else 0.0
    stored.tilt = tilt
    tilted = max(np.abs(u).max(), np.abs(v).max()) > IN_PLANE_TOLERANCE
    slot = (along - along[0]) / step
    tolerance = max(UNIFORM_RELATIVE, UNIFORM_ABSOLUTE / step)
    regular = bool(np.all(np.abs(slot - np.arange(n)) <= tolerance))
    if not resample or (regular and not tilted):
        return stored
    if not tilted:
        u, v = np.zeros(n), np.zeros(n)
    n_slots = int(np.rint(slot[-1])) + 1
    source, weight, counts = _sources(slot, n_slots, tolerance)
    widen = np.ceil(np.array([u.max() - u.min(), v.max() - v.min()]) - WHOLE_VOXEL).clip(0).astype(int)
    origin = position[order[0]] + u.min() * sx * row + v.min() * sy * col
    grid = Grid((cols + widen[0], rows + widen[1], n_slots), (sx, sy, step), origin, direction)
    notes = []
    if tilted:
        notes.append(
            f"gantry tilt (the slices progress {tilt:.3g} degrees off their normal): resampled onto an "
            f"orthogonal grid ({grid.size[0]} x {grid.size[1]} x {grid.size[2]}), each slice moved in its plane "
            "with linear interpolation"
        )
    if counts["interpolated"]:
        notes.append(f"uneven slice spacing: {counts['interpolated']} slice(s) interpolated between their neighbours")
    if counts["empty"]:
        notes.append(f"missing slices: {counts['empty']} empty slice(s) inserted in the gaps (the image's minimum)")
    if counts["snapped"]:
        notes.append(f"{counts['snapped']} slice(s) beside a gap moved by less than half a slice onto the grid")
    shift = np.column_stack([u - u.min(), v - v.min()])
    return Layout(grid, order, True, source, weight, shift, tilt, notes)


def _sources(
    slot: npt.NDArray[np.float64], n_slots: int, tolerance: float
) -> tuple[npt.NDArray[np.intp], npt.NDArray[np.float64], dict[str, int]]:
    """Per output slice: up to two stored slices (positions along the normal, in slot units) and weights."""
    source = np.full((n_slots, 2), -1, dtype=np.intp)
    weight = np.zeros((n_slots, 2))
    counts = {"interpolated": 0, "empty": 0, "snapped": 0}
    largest = 2.0 - MULTIPLE_TOLERANCE  # a gap this wide (in spacings) or wider holds missing slices
    for j in range(n_slots):
        hi = int(np.searchsorted(slot, j - tolerance))
        if hi < len(slot) and abs(slot[hi] - j) <= tolerance:
            source[j, 0], weight[j, 0] = hi, 1.0
            continue
        lo = hi - 1
        if lo >= 0 and hi < len(slot) and slot[hi] - slot[lo] < largest:
            w = (j - slot[lo]) / (slot[hi] - slot[lo])
            source[j], weight[j] = (lo, hi), (1.0 - w, w)
            counts["interpolated"] += 1
            continue
        near = [k for k in (lo, hi) if 0 <= k < len(slot) and abs(slot[k] - j) <= 0.5]
        if near:
            source[j, 0], weight[j, 0] = min(near, key=lambda k: abs(slot[k] - j)), 1.0
            counts["snapped"] += 1
        else:
            counts["empty"] += 1
    return source, weight, counts


def _moved(
    frame: npt.NDArray[Any], dx: float, dy: float, size: tuple[int, int], *, nearest: bool
) -> tuple[npt.NDArray[Any], npt.NDArray[np.bool_]]:
    """``frame`` (rows, cols[, samples]) moved by (dx, dy) voxels onto a canvas of ``size`` (rows, cols).

    Linear interpolation (nearest neighbour with ``nearest``); returns the canvas (float64, or the
    frame's type when the move is by whole voxels) and where the frame covers it.
    """
    height, width = size
    data: npt.NDArray[Any] = frame
    y0, x0 = 0, 0
    for axis, d in ((0, dy), (1, dx)):
        whole = int(np.floor(d))
        fraction = d - whole
        if nearest:
            whole, fraction = int(np.rint(d)), 0.0
        elif fraction > 1.0 - WHOLE_VOXEL:
            whole, fraction = whole + 1, 0.0
        elif fraction < WHOLE_VOXEL:
            fraction = 0.0
        if fraction:
            low = np.take(data, np.arange(data.shape[axis] - 1), axis=axis).astype(np.float64)
            high = np.take(data, np.arange(1, data.shape[axis]), axis=axis).astype(np.float64)
            data = fraction * low + (1.0 - fraction) * high
            whole += 1
        if axis == 0:
            y0 = whole
        else:
            x0 = whole
    canvas = np.zeros((height, width, *frame.shape[2:]), dtype=data.dtype)
    inside = np.zeros((height, width), dtype=bool)
    h, w = data.shape[:2]
    canvas[y0 : y0 + h, x0 : x0 + w] = data[: height - y0, : width - x0]
    inside[y0 : y0 + h, x0 : x0 + w] = True
    return canvas, inside


def resample(
    layout: Layout, values: npt.NDArray[Any], *, nearest: bool = False, fill: float | None = None
) -> npt.NDArray[Any]:
    """The voxels (z, y, x[, samples]) of ``layout``'s grid from the stored slices ``values`` (in the stack as given).

    ``nearest`` (for label maps): nearest neighbour in the plane and along the normal, instead of
    linear. Voxels no slice covers get ``fill`` (default: the minimum of ``values``).

    Examples
    --------
    >>> positions = np.array([[0.0, 0.0, z] for z in (0.0, 2.0, 4.0, 8.0)])  # z = 6 missing
    >>> layout = plan(positions, (1, 0, 0, 0, 1, 0), (1.0, 1.0), (1, 2))
    >>> resample(layout, np.array([[[1, 1]], [[2, 2]], [[3, 3]], [[5, 5]]], np.int16))[:, 0, 0].tolist()
    [1, 2, 3, 1, 5]
    """
    if not layout.resampled:
        return values[layout.order] if not np.array_equal(layout.order, np.arange(len(values))) else values
    kind = values.dtype
    fill = float(values.min()) if fill is None and values.size else float(fill or 0)
    width, height, n_slots = layout.grid.size
    out = np.empty((n_slots, height, width, *values.shape[3:]), dtype=kind)
    for j in range(n_slots):
        sources = [(int(k), float(w)) for k, w in zip(layout.source[j], layout.weight[j], strict=True) if k >= 0]
        if nearest and len(sources) == 2:
            sources = [max(sources, key=lambda s: s[1])]
        if not sources:
            out[j] = fill
            continue
        moves = [
            (
                w,
                *_moved(
                    values[layout.order[k]], layout.shift[k, 0], layout.shift[k, 1], (height, width), nearest=nearest
                ),
            )
            for k, w in sources
        ]
        if len(moves) == 1 and moves[0][1].dtype == kind:  # moved by whole voxels: copied, not interpolated
            out[j] = fill
            out[j][moves[0][2]] = moves[0][1][moves[0][2]]
            continue
        total = np.zeros((height, width, *values.shape[3:]))
        cover = np.zeros((height, width))
        for w, moved, inside in moves:
            total += w * moved
            cover += w * inside
        covered = cover > 0
        scale = np.where(covered, cover, 1.0)
        blended = total / (scale[..., None] if total.ndim == 3 else scale)
        blended[~covered] = fill
        out[j] = np.rint(blended) if kind.kind in "iub" else blended
    return out
