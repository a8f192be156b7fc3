"""RTSTRUCT contours → binary masks on a reference grid (vectorised even-odd scanline fill).

Each closed planar contour is mapped into the reference's continuous index space (any
orientation, oblique included) and drawn on the slice nearest its plane. Voxels are filled by
plastimatch's rule (its ``rasterize_slice``): a voxel is inside when its *centre* has an odd number
of contour crossings at or left of it on its row, with each edge covering the rows
``ceil(y_low) <= row < y_high`` (half-open). A centre on a left or lower boundary is inside, on a
right or upper boundary outside. Crossings of every contour of an ROI are counted together, so a
contour inside another one of the same ROI is a hole (even-odd rule, plastimatch's
``--xor-contours``; without it plastimatch ORs contours and fills holes).

The fill is a numpy scanline: every edge is expanded into its row crossings at once, each
crossing toggles the voxel where it starts to count, and the running parity along the rows
(runs of 0 and 1 between the toggles, as every row has an even number of them) turns the
toggles into the mask, written into the image's buffer within the bounding box of the
crossings. No Python loop runs per voxel, row or contour.
"""

from __future__ import annotations

from contextlib import ExitStack
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt
import pydicom

from .._lazy import SimpleITK as sitk
from ..errors import InputError, warn
from .buffer import Allocations
from .contours import walk_rois
from .grid import Grid
from .names import RoiName, choose

if TYPE_CHECKING:
    from collections.abc import Callable

_CLOSED = ("CLOSED_PLANAR", "CLOSEDPLANAR_XOR")
#: Bytes of mask drawn at once by :meth:`Filled.write`.
_CHUNK = 1 << 20
#: A contour whose vertices span more than this many slices does not lie in a slice plane.
PLANE_TOLERANCE = 0.5


@dataclass
class Roi:
    """One ROI of a structure set: name, number and its contours (type, (n, 3) points in mm)."""

    name: str
    number: int | None
    contours: list[tuple[str, npt.NDArray[np.float64]]] = field(default_factory=list)


def _points(item: pydicom.Dataset) -> npt.NDArray[np.float64]:
    """ContourData as an (n, 3) array, parsed from the raw bytes when possible (much faster)."""
    raw = item.get_item(0x30060050) if 0x30060050 in item else None
    value = raw.value if raw is not None else None
    if value is None or value == "":  # absent, or empty (pydicom converts an empty DS to None)
        return np.empty((0, 3))
    if isinstance(value, bytes):
        text = value.strip(b" \x00")
        values = np.array(text.split(b"\\"), dtype=float) if text else np.empty(0)
    else:
        values = np.asarray(item.ContourData, dtype=float)
    if values.size % 3:
        raise InputError(f"A contour of the RTSTRUCT has {values.size} ContourData values, not a multiple of 3.")
    return values.reshape(-1, 3)


def read_rois(path: str, ready: Callable[[list[str]], object] | None = None) -> list[Roi]:
    """The ROIs of an RTSTRUCT file, in StructureSetROISequence order.

    ROIs listed only in ROIContourSequence are added after them (named ``ROI_<number>``).
    ``ready``, when given, is called once with the ROI names as soon as they are known, before
    the contour coordinates are converted (the bulk of the work), so that the caller can start
    what needs only the names.

    Examples
    --------
    >>> import os
    >>> rois = read_rois(os.path.join(example_dir, "STS_001", "CT", "dicom", "mask", "RS.dcm"))
    >>> [(roi.name, len(roi.contours)) for roi in rois]  # one contour on each slice the ROI crosses
    [('GTV_Mass', 3), ('GTV_2', 2)]
    """
    walked = walk_rois(path)
    if walked is not None:
        rois = _rois_of(path, walked.modality, walked.listed, walked.numbers if walked.present else None)
        if ready is not None:
            ready([r.name for r in rois.values()])
            ready = None
        items = walked.items()
        if items is not None:
            for item in items:
                rois[item["number"]].contours.extend(item["contours"])
            return list(rois.values())
    ds = pydicom.dcmread(path, force=True)
    if ds.get("Modality") != "RTSTRUCT" and "ROIContourSequence" not in ds:
        raise InputError(f"{path} is not an RTSTRUCT (Modality {ds.get('Modality')!r}).")
    found: dict[int | None, Roi] = {}
    for k, item in enumerate(ds.get("StructureSetROISequence", [])):
        number = item.get("ROINumber")
        key = int(number) if number is not None else -1 - k
        found[key] = Roi(str(item.get("ROIName") or f"ROI_{number}"), number)
    for item in ds.get("ROIContourSequence", []):
        number = item.get("ReferencedROINumber")
        roi = found.setdefault(int(number) if number is not None else None, Roi(f"ROI_{number}", number))
        for contour in item.get("ContourSequence", []):
            kind = str(contour.get("ContourGeometricType") or "CLOSED_PLANAR").upper()
            roi.contours.append((kind, _points(contour)))
    if ready is not None:
        ready([r.name for r in found.values()])
    return list(found.values())


def _rois_of(
    path: str, modality: str | None, listed: list[tuple[int | None, str | None]], numbers: list[int | None] | None
) -> dict[int | None, Roi]:
    """The ROIs (no contours yet) by ROI number from what :func:`~imgindex.voxels.contours.walk_rois` read.

    ``numbers`` (the ReferencedROINumber of each ROIContourSequence item) is ``None`` when the
    file has no ROIContourSequence.
    """
    if modality != "RTSTRUCT" and numbers is None:
        raise InputError(f"{path} is not an RTSTRUCT (Modality {modality!r}).")
    rois: dict[int | None, Roi] = {}
    for k, (number, name) in enumerate(listed):
        rois[number if number is not None else -1 - k] = Roi(str(name or f"ROI_{number}"), number)
    for number in numbers or []:
        rois.setdefault(number, Roi(f"ROI_{number}", number))
    return rois


def rasterise(contours: list[npt.NDArray[np.float64]], grid: Grid) -> tuple[npt.NDArray[np.uint8], dict[str, int]]:
    """Fill closed contours (each (n, 3) in mm) on ``grid``: a uint8 (z, y, x) mask and drop counts.

    Returns the mask and ``{"outside": n, "not_planar": n}``: contours dropped because their plane
    is more than half a slice outside the grid, and contours drawn although their vertices span
    more than :data:`PLANE_TOLERANCE` slices.

    Examples
    --------
    >>> grid = Grid((6, 5, 1), (1.0, 1.0, 1.0), (0.0, 0.0, 0.0), (1, 0, 0, 0, 1, 0, 0, 0, 1))
    >>> square = np.array([[0.5, 0.5, 0], [3.5, 0.5, 0], [3.5, 3.5, 0], [0.5, 3.5, 0]])
    >>> int(rasterise([square], grid)[0].sum())
    9
    """
    mask = np.zeros(grid.shape, dtype=np.uint8)
    box, inside, counts = fill(contours, grid)
    if inside is not None:
        inside.write(mask[box])
    return mask, counts


Box = tuple[slice, slice, slice]


def fill(contours: list[npt.NDArray[np.float64]], grid: Grid) -> tuple[Box, Filled | None, dict[str, int]]:
    """The filled voxels of :func:`rasterise` within their bounding box: (box, :class:`Filled`, drop counts).

    The fill is ``None`` when nothing is filled; everything outside the box is 0.

    Examples
    --------
    >>> grid = Grid((6, 5, 1), (1.0, 1.0, 1.0), (0.0, 0.0, 0.0), (1, 0, 0, 0, 1, 0, 0, 0, 1))
    >>> box, inside, _ = fill([np.array([[0.5, 0.5, 0], [3.5, 0.5, 0], [3.5, 3.5, 0], [0.5, 3.5, 0]])], grid)
    >>> box, int(inside.array().sum())  # the box ends at the column where the last fill stops
    ((slice(0, 1, None), slice(1, 4, None), slice(1, 5, None)), 9)
    """
    nz, ny, nx = grid.shape
    none: Box = (slice(0, 0), slice(0, 0), slice(0, 0))
    counts = {"outside": 0, "not_planar": 0}
    contours = [c for c in contours if len(c) >= 3]
    if not contours:
        return none, None, counts
    lengths = np.array([len(c) for c in contours])
    index = grid.to_index(np.concatenate(contours))
    starts = np.r_[0, np.cumsum(lengths)[:-1]]
    z = index[:, 2]
    plane = np.add.reduceat(z, starts) / lengths
    counts["not_planar"] = int(
        np.sum((np.maximum.reduceat(z, starts) - np.minimum.reduceat(z, starts)) > PLANE_TOLERANCE)
    )
    slices = np.floor(plane + 0.5).astype(np.int64)
    inside = (slices >= 0) & (slices < nz)
    counts["outside"] = int(np.sum(~inside))
    if not inside.any():
        return none, None, counts
    # Edges: vertex i to i + 1, the last vertex of a contour back to its first.
    following = np.arange(1, len(index) + 1)
    following[starts + lengths - 1] = starts
    owner = np.repeat(np.arange(len(contours)), lengths)
    keep = inside[owner]
    x0, y0 = index[keep, 0], index[keep, 1]
    x1, y1 = index[following[keep], 0], index[following[keep], 1]
    k = slices[owner[keep]]
    sloped = y0 != y1
    x0, y0, x1, y1, k = x0[sloped], y0[sloped], x1[sloped], y1[sloped], k[sloped]
    up = y1 > y0
    y_low, y_high = np.where(up, y0, y1), np.where(up, y1, y0)
    x_low = np.where(up, x0, x1)
    first = np.maximum(np.ceil(y_low), 0).astype(np.int64)
    last = np.minimum(np.ceil(y_high) - 1, ny - 1).astype(np.int64)
    rows = np.maximum(last - first + 1, 0)
    total = int(rows.sum())
    if total == 0:
        return none, None, counts
    edge = np.repeat(np.arange(len(rows)), rows)
    row = first[edge] + np.arange(total) - np.repeat(np.cumsum(rows) - rows, rows)
    gradient = (np.where(up, x1, x0) - x_low) / (y_high - y_low)
    crossing = x_low[edge] + (row - y_low[edge]) * gradient[edge]
    column = np.clip(np.ceil(crossing), 0, nx).astype(np.int64)
    slice_of = k[edge]
    # Toggles inside the bounding box of the crossings, then a running parity along each row.
    k0, r0, c0 = slice_of.min(), row.min(), column.min()
    shape = (slice_of.max() - k0 + 1, row.max() - r0 + 1, column.max() - c0 + 1)
    # A voxel toggles once per crossing that starts there: only an odd number of them counts.
    where = ((slice_of - k0) * shape[1] + (row - r0)) * shape[2] + (column - c0)
    where.sort()
    runs = np.flatnonzero(np.r_[True, where[1:] != where[:-1], True])
    odd = where[runs[:-1][(np.diff(runs) % 2) == 1]]
    c1 = min(c0 + shape[2], nx)
    box = (slice(int(k0), int(k0 + shape[0])), slice(int(r0), int(r0 + shape[1])), slice(int(c0), int(c1)))
    inside = Filled(odd, (int(shape[0]), int(shape[1]), int(shape[2])), int(c1 - c0))
    if np.any(np.bincount(odd // shape[2], minlength=shape[0] * shape[1]) % 2):  # pragma: no cover
        inside.parity = _accumulated(odd, inside.shape)  # not reached by closed outlines; kept for safety
    return box, inside, counts


def _accumulated(odd: npt.NDArray[np.int64], shape: tuple[int, int, int]) -> npt.NDArray[np.uint8]:
    """The running parity along each row of the toggles ``odd`` (flat positions in a box of ``shape``)."""
    toggles = np.zeros(shape, dtype=np.uint8)
    toggles.ravel()[odd] = 1
    return np.bitwise_xor.accumulate(toggles, axis=2)


@dataclass
class Filled:
    """The filled voxels of one ROI in its bounding box, as the toggles of the scanline fill.

    ``odd``: sorted flat positions (in a box of ``shape``, one column wider than the box when the
    fill ends at the grid's edge) where the running parity along a row flips. Every row flips an
    even number of times (a closed outline crosses a row an even number of times), so the parity
    of the flattened box restarts at 0 on every row and the mask is runs of 0 and 1 between the
    flips: :meth:`write` draws them slice by slice into the image, :meth:`array` into a new array.
    """

    odd: npt.NDArray[np.int64]
    shape: tuple[int, int, int]
    width: int  # the columns of the box on the grid
    parity: npt.NDArray[np.uint8] | None = None  # set when a row flips an odd number of times

    def write(self, target: npt.NDArray[np.uint8]) -> None:
        """Write the mask into ``target`` (the grid's voxels of the box, zeros outside the runs)."""
        if self.parity is not None:  # pragma: no cover - see fill
            target[...] = self.parity[:, :, : self.width]
            return
        n, rows, cols = self.shape
        plane = rows * cols
        step = max(1, _CHUNK // plane)  # slices drawn at once: a small temporary, reused
        cuts = np.searchsorted(self.odd, np.arange(0, n + step, step).clip(max=n) * plane)
        for j, k in enumerate(range(0, n, step)):
            if cuts[j] == cuts[j + 1]:
                continue
            m = min(step, n - k)
            flips = self.odd[cuts[j] : cuts[j + 1]] - k * plane
            lengths = np.diff(np.concatenate(([0], flips, [m * plane])))
            runs = np.repeat((np.arange(len(lengths)) & 1).astype(np.uint8), lengths)
            target[k : k + m] = runs.reshape(m, rows, cols)[:, :, : self.width]

    def array(self) -> npt.NDArray[np.uint8]:
        """The mask of the box as a new array."""
        out = np.empty((*self.shape[:2], self.width), dtype=np.uint8)
        self.write(out)
        return out


def read_rtstruct(path: str, grid: Grid, roi_name: RoiName = None) -> dict[str, sitk.Image]:
    """One binary image per selected ROI of an RTSTRUCT, on ``grid``.

    Warns (one warning per ROI) about skipped POINT / OPEN_PLANAR / OPEN_NONPLANAR contours,
    contours dropped outside the grid, contours not in a slice plane, and ROIs without contours
    (their masks are empty).

    Examples
    --------
    >>> from imgindex.examples import write_shapes_dataset
    >>> data = write_shapes_dataset(tmp_dir, seg=False)  # shapes with their exact voxel masks
    >>> grid = Grid(data.size, data.spacing, data.origin, data.direction)
    >>> masks = read_rtstruct(str(data.rtstruct), grid, roi_name={"ring": "annulus"})
    >>> int(sitk.GetArrayFromImage(masks["annulus"]).sum()) == int(data.expected["ring"].sum())
    True
    """
    out: dict[str, sitk.Image] = {}
    with ExitStack() as stack:
        started: list[Allocations] = []

        def allocate(names: list[str]) -> None:  # the masks are zero-filled while the contours are parsed and filled
            count = len(choose(names, roi_name, source=path))
            started.append(stack.enter_context(Allocations(grid.shape, np.dtype(np.uint8), count)))

        rois = read_rois(path, ready=allocate)
        chosen = choose([r.name for r in rois], roi_name, source=path)
        for position, key in chosen.items():
            out[key] = _image(grid, *_filled(rois[position], grid, path), started[0])
    return out


def _filled(roi: Roi, grid: Grid, path: str) -> tuple[Box, Filled | None]:
    """:func:`fill` of the closed contours of ``roi``, with one warning for what was skipped or dropped."""
    closed = [points for kind, points in roi.contours if kind in _CLOSED]
    problems = []
    skipped = [kind for kind, _ in roi.contours if kind not in _CLOSED]
    for kind in dict.fromkeys(skipped):
        problems.append(f"{skipped.count(kind)} {kind} contour(s) skipped (only closed contours enclose voxels)")
    if not roi.contours:
        problems.append("no contours: its mask is empty")
    box, inside, counts = fill(closed, grid)
    if counts["outside"]:
        problems.append(
            f"{counts['outside']} contour(s) dropped: more than half a slice outside the "
            f"reference grid ({grid.describe()})"
        )
    if counts["not_planar"]:
        problems.append(
            f"{counts['not_planar']} contour(s) not parallel to the reference slices (their points "
            f"span more than {PLANE_TOLERANCE} slice): each was drawn on the slice nearest its centre"
        )
    if problems:
        warn(f"ROI {roi.name!r} of {path}: {'; '.join(problems)}.")
    return box, inside


def _image(grid: Grid, box: Box, inside: Filled | None, ahead: Allocations) -> sitk.Image:
    """A uint8 image on ``grid``: zeros, ``inside`` in ``box`` (written into the image's buffer, no full-size copy)."""
    made = ahead.take()
    if made is None:  # pragma: no cover - SimpleITK always has uint8 images
        mask = np.zeros(grid.shape, dtype=np.uint8)
        if inside is not None:
            inside.write(mask[box])
        return grid.image(mask)
    image, view = made
    if inside is not None:
        inside.write(view[box])
    del view
    image.SetSpacing(grid.spacing)
    image.SetOrigin(grid.origin)
    image.SetDirection(grid.direction)
    return image
