"""Per-frame geometry and rescale of a DICOM file, from its header (no pixel data).

A single-frame file is one frame; a multi-frame file has a row per frame: enhanced files from
their per-frame functional groups (falling back to the shared ones), classic multi-frame files
(RTDOSE, NM, ...) from GridFrameOffsetVector or their slice spacing.

The in-plane spacing is PixelSpacing; without it (projection images: DX, CR, MG, XA)
ImagerPixelSpacing divided by EstimatedRadiographicMagnificationFactor when that is given, the
spacing at the detector otherwise (:func:`pixel_spacing`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any, SupportsFloat

import numpy as np
import numpy.typing as npt
import pydicom

from ..errors import InputError

#: A file's header: a pydicom data set, or the keyword → value dict of the fast path (:mod:`.native`).
Header = pydicom.Dataset | Mapping[str, Any]

#: A slice's plane: ImagePositionPatient (3), ImageOrientationPatient (6), (row, column) spacing (2).
Plane = tuple[npt.NDArray[np.float64], npt.NDArray[np.float64], npt.NDArray[np.float64]]


@dataclass
class Frames:
    """Per-frame geometry and rescale of one file (arrays with one row per frame)."""

    position: npt.NDArray[np.float64]  # (n, 3) ImagePositionPatient
    orientation: npt.NDArray[np.float64]  # (n, 6) ImageOrientationPatient
    pixel_spacing: npt.NDArray[np.float64]  # (n, 2) row spacing, column spacing
    slope: npt.NDArray[np.float64]  # (n,)
    intercept: npt.NDArray[np.float64]  # (n,)
    thickness: float  # NaN when the header has none
    sorted_frames: bool  # a multi-frame file: frames go in order along the normal
    numbers: npt.NDArray[np.intp] | None = None  # the frames of the file these rows are (None: all, in order)

    def take(self, frames: Sequence[int], path: str) -> Frames:
        """The rows of ``frames`` (0-based frame numbers of the file), in the order given.

        Examples
        --------
        >>> f = Frames(np.zeros((3, 3)), np.zeros((3, 6)), np.ones((3, 2)), np.ones(3), np.arange(3.0), 2.0, True)
        >>> f.take([2, 0], "f.dcm").intercept.tolist()
        [2.0, 0.0]
        """
        numbers = np.asarray(list(frames), dtype=np.intp)
        n = len(self.slope)
        if numbers.size == 0 or numbers.min() < 0 or numbers.max() >= n or len(set(numbers.tolist())) != numbers.size:
            raise InputError(
                f"The object's frames {numbers.tolist()} do not name distinct frames of {path}, which has "
                f"{n} frame(s) numbered 0 to {n - 1}. Re-index the data with imgindex.build_index."
            )
        return replace(
            self,
            position=self.position[numbers],
            orientation=self.orientation[numbers],
            pixel_spacing=self.pixel_spacing[numbers],
            slope=self.slope[numbers],
            intercept=self.intercept[numbers],
            numbers=numbers,
        )


def _floats(value: Sequence[Any] | None, n: int, default: npt.ArrayLike) -> npt.NDArray[np.float64]:
    if value is None or len(value) != n:
        return np.asarray(default, dtype=float)
    try:
        return np.asarray([float(v) for v in value], dtype=float)
    except (TypeError, ValueError):
        return np.asarray(default, dtype=float)


def item(group: Header | None, keyword: str) -> pydicom.Dataset | None:
    """The first item of the sequence ``keyword`` of ``group``, or ``None``."""
    sequence: Sequence[pydicom.Dataset] | None = group.get(keyword) if group is not None else None
    return sequence[0] if sequence else None


def _pick(group: pydicom.Dataset, shared: pydicom.Dataset | None, keyword: str) -> pydicom.Dataset | None:
    """The first item of ``keyword`` in a frame's functional groups, else in the shared ones."""
    return item(group, keyword) or item(shared, keyword)


def number(value: SupportsFloat | str | None, default: float) -> float:
    """``value`` as a float, ``default`` when it is missing, empty or not a number."""
    if value is None or value == "":
        return default
    try:
        return float(value)
    except (TypeError, ValueError):
        return default


def pixel_spacing(ds: Header) -> npt.NDArray[np.float64]:
    """(row spacing, column spacing) in mm of a file's top level: NaN when it has none.

    PixelSpacing; else ImagerPixelSpacing (the detector's spacing, of projection images)
    divided by EstimatedRadiographicMagnificationFactor when that is given and positive.

    Examples
    --------
    >>> ds = pydicom.Dataset()
    >>> ds.ImagerPixelSpacing, ds.EstimatedRadiographicMagnificationFactor = [0.15, 0.15], 1.2
    >>> pixel_spacing(ds).round(4).tolist()
    [0.125, 0.125]
    """
    spacing = _floats(ds.get("PixelSpacing"), 2, (np.nan, np.nan))
    if np.isnan(spacing).any():
        spacing = _floats(ds.get("ImagerPixelSpacing"), 2, (np.nan, np.nan))
        magnification = number(ds.get("EstimatedRadiographicMagnificationFactor"), np.nan)
        if np.isfinite(magnification) and magnification > 0:
            spacing = spacing / magnification
    return spacing


def frames_of(ds: Header, problems: list[str]) -> Frames:
    """The geometry and rescale of every frame of ``ds`` (``problems`` collects what was assumed)."""
    n = int(number(ds.get("NumberOfFrames"), 1.0) or 1)
    top_position = _floats(ds.get("ImagePositionPatient"), 3, (np.nan,) * 3)
    top_orientation = _floats(ds.get("ImageOrientationPatient"), 6, (np.nan,) * 6)
    top_spacing = pixel_spacing(ds)
    slope = number(ds.get("RescaleSlope"), 1.0)
    intercept = number(ds.get("RescaleIntercept"), 0.0)
    if ds.get("Modality") == "RTDOSE":
        slope, intercept = number(ds.get("DoseGridScaling"), 1.0), 0.0
    thickness = ds.get("SpacingBetweenSlices") or ds.get("SliceThickness")
    per_frame = ds.get("PerFrameFunctionalGroupsSequence")
    if per_frame:
        shared = item(ds, "SharedFunctionalGroupsSequence")
        rows = []
        for group in per_frame:
            plane, orient, measures, values = (
                _pick(group, shared, "PlanePositionSequence"),
                _pick(group, shared, "PlaneOrientationSequence"),
                _pick(group, shared, "PixelMeasuresSequence"),
                _pick(group, shared, "PixelValueTransformationSequence"),
            )
            rows.append(
                (
                    _floats(plane.get("ImagePositionPatient") if plane else None, 3, top_position),
                    _floats(orient.get("ImageOrientationPatient") if orient else None, 6, top_orientation),
                    _floats(measures.get("PixelSpacing") if measures else None, 2, top_spacing),
                    number(values.get("RescaleSlope") if values else None, slope),
                    number(values.get("RescaleIntercept") if values else None, intercept),
                )
            )
            if measures is not None and thickness is None:
                thickness = measures.get("SpacingBetweenSlices") or measures.get("SliceThickness")
        columns = (np.asarray(v, dtype=float) for v in zip(*rows, strict=True))
        position, orientation, spacing, slopes, intercepts = columns
        if len(per_frame) != n:
            problems.append(f"{len(per_frame)} per-frame functional group items for {n} frames")
        return Frames(position, orientation, spacing, slopes, intercepts, number(thickness, np.nan), True)
    if n == 1:  # a single frame (most files): no offsets along the normal
        return Frames(
            top_position[None, :],
            top_orientation[None, :],
            top_spacing[None, :],
            np.array([slope]),
            np.array([intercept]),
            number(thickness, np.nan),
            False,
        )
    normal = np.cross(top_orientation[:3], top_orientation[3:])
    if n > 1:
        offsets = ds.get("GridFrameOffsetVector")
        if offsets is not None and len(offsets) == n:
            offsets = np.asarray([float(v) for v in offsets])
            if offsets[0] != 0:  # absolute positions along the normal (a deprecated form)
                offsets = offsets - float(top_position @ normal)
        else:
            step = number(thickness, np.nan)
            if not np.isfinite(step):
                problems.append("a multi-frame file without frame positions or slice spacing: 1 mm assumed")
                step = 1.0
            offsets = np.arange(n) * step
        position = top_position + offsets[:, None] * normal
    else:
        position = top_position[None, :]
    return Frames(
        position,
        np.tile(top_orientation, (n, 1)),
        np.tile(top_spacing, (n, 1)),
        np.full(n, slope),
        np.full(n, intercept),
        number(thickness, np.nan),
        n > 1,
    )
