"""DICOM pixel data → real-world voxels on a :class:`~imgindex.voxels.grid.Grid`.

One reader for every DICOM image object of the index: a series of single-frame files (stacked
in the given order, which is the objects table's), one multi-frame file (enhanced or
legacy-converted enhanced CT/MR/PT with per-frame functional groups, or a classic multi-frame
file such as an RTDOSE; frames sorted along the slice normal), or the RTDOSE files of one plan
(beams summed). Pixel data are decoded by pydicom; a file pydicom cannot decode (a compressed
transfer syntax without a pydicom plugin) is read with SimpleITK (GDCM) instead.

Real-world values are ``stored * RescaleSlope + RescaleIntercept`` per frame (RTDOSE:
DoseGridScaling). When every slope and intercept is integral the result is the smallest
integer type that holds the transformed range of the stored bits (as GDCM decides); otherwise
it is float32.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal, SupportsFloat, overload

import numpy as np
import numpy.typing as npt
import pydicom

from .._lazy import SimpleITK as sitk
from ..errors import InputError, warn
from ..geometry import describe_problems, stack_geometry
from .grid import Grid

_INTEGER_TYPES = (np.uint8, np.int8, np.uint16, np.int16, np.uint32, np.int32, np.int64)
_AXIAL = (1.0, 0.0, 0.0, 0.0, 1.0, 0.0)


@dataclass
class _Frames:
    """Per-frame geometry and rescale of one file (arrays with one row per frame)."""

    position: npt.NDArray[np.float64]  # (n, 3) ImagePositionPatient
    orientation: npt.NDArray[np.float64]  # (n, 6) ImageOrientationPatient
    pixel_spacing: npt.NDArray[np.float64]  # (n, 2) row spacing, column spacing
    slope: npt.NDArray[np.float64]  # (n,)
    intercept: npt.NDArray[np.float64]  # (n,)
    thickness: float  # NaN when the header has none
    sorted_frames: bool  # a multi-frame file: frames go in order along the normal


def _floats(value: Sequence[Any] | None, n: int, default: npt.ArrayLike) -> npt.NDArray[np.float64]:
    if value is None or len(value) != n:
        return np.asarray(default, dtype=float)
    return np.asarray([float(v) for v in value], dtype=float)


def _item(group: pydicom.Dataset | None, keyword: str) -> pydicom.Dataset | None:
    """The first item of the sequence ``keyword`` of ``group``, or ``None``."""
    sequence: Sequence[pydicom.Dataset] | None = group.get(keyword) if group is not None else None
    return sequence[0] if sequence else None


def _pick(group: pydicom.Dataset, shared: pydicom.Dataset | None, keyword: str) -> pydicom.Dataset | None:
    """The first item of ``keyword`` in a frame's functional groups, else in the shared ones."""
    return _item(group, keyword) or _item(shared, keyword)


def _number(value: SupportsFloat | str | None, default: float) -> float:
    return default if value is None or value == "" else float(value)


def _frames(ds: pydicom.Dataset, problems: list[str]) -> _Frames:
    """The geometry and rescale of every frame of ``ds``."""
    n = int(ds.get("NumberOfFrames") or 1)
    top_position = _floats(ds.get("ImagePositionPatient"), 3, (np.nan,) * 3)
    top_orientation = _floats(ds.get("ImageOrientationPatient"), 6, (np.nan,) * 6)
    top_spacing = _floats(ds.get("PixelSpacing"), 2, (np.nan, np.nan))
    slope = _number(ds.get("RescaleSlope"), 1.0)
    intercept = _number(ds.get("RescaleIntercept"), 0.0)
    if ds.get("Modality") == "RTDOSE":
        slope, intercept = _number(ds.get("DoseGridScaling"), 1.0), 0.0
    thickness = ds.get("SpacingBetweenSlices") or ds.get("SliceThickness")
    per_frame = ds.get("PerFrameFunctionalGroupsSequence")
    if per_frame:
        shared = _item(ds, "SharedFunctionalGroupsSequence")
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
                    _number(values.get("RescaleSlope") if values else None, slope),
                    _number(values.get("RescaleIntercept") if values else None, intercept),
                )
            )
            if measures is not None and thickness is None:
                thickness = measures.get("SpacingBetweenSlices") or measures.get("SliceThickness")
        columns = (np.asarray(v, dtype=float) for v in zip(*rows, strict=True))
        position, orientation, spacing, slopes, intercepts = columns
        return _Frames(position, orientation, spacing, slopes, intercepts, _number(thickness, np.nan), True)
    normal = np.cross(top_orientation[:3], top_orientation[3:])
    if n > 1:
        offsets = ds.get("GridFrameOffsetVector")
        if offsets is not None and len(offsets) == n:
            offsets = np.asarray([float(v) for v in offsets])
            if offsets[0] != 0:  # absolute positions along the normal (a deprecated form)
                offsets = offsets - float(top_position @ normal)
        else:
            step = _number(thickness, np.nan)
            if not np.isfinite(step):
                problems.append("a multi-frame file without frame positions or slice spacing: 1 mm assumed")
                step = 1.0
            offsets = np.arange(n) * step
        position = top_position + offsets[:, None] * normal
    else:
        position = top_position[None, :]
    return _Frames(
        position,
        np.tile(top_orientation, (n, 1)),
        np.tile(top_spacing, (n, 1)),
        np.full(n, slope),
        np.full(n, intercept),
        _number(thickness, np.nan),
        n > 1,
    )


def _pixels(ds: pydicom.Dataset, path: str) -> tuple[npt.NDArray[Any], bool]:
    """Stored values as (frames, rows, columns[, samples]); ``True`` when already rescaled (GDCM)."""
    frames = int(ds.get("NumberOfFrames") or 1)
    if "TransferSyntaxUID" not in getattr(ds, "file_meta", {}):  # no file meta: the encoding it was read with
        implicit, little = ds.original_encoding
        ds.file_meta = getattr(ds, "file_meta", None) or pydicom.dataset.FileMetaDataset()
        ds.file_meta.TransferSyntaxUID = (
            pydicom.uid.ImplicitVRLittleEndian
            if implicit
            else pydicom.uid.ExplicitVRLittleEndian
            if little
            else pydicom.uid.ExplicitVRBigEndian
        )
    try:
        array = ds.pixel_array
    except Exception:  # no pydicom decoder for this transfer syntax: let GDCM decode it
        array = sitk.GetArrayFromImage(sitk.ReadImage(path))
        return array.reshape((-1, *array.shape[-2:])) if array.ndim >= 2 else array, True
    samples = int(ds.get("SamplesPerPixel") or 1)
    return array.reshape((frames, *array.shape[-(3 if samples > 1 else 2) :])), False


def _integer_type(
    ds: pydicom.Dataset,
    slope: npt.NDArray[np.float64],
    intercept: npt.NDArray[np.float64],
    stored: Sequence[npt.NDArray[Any]],
) -> type[np.integer[Any]] | None:
    """The integer type of the rescaled values, or ``None`` when they are not integral."""
    if not (np.all(slope == np.round(slope)) and np.all(intercept == np.round(intercept))):
        return None
    bits = int(ds.get("BitsStored") or ds.get("BitsAllocated") or 16)
    if ds.get("PixelRepresentation") == 1:
        lo, hi = -(2 ** (bits - 1)), 2 ** (bits - 1) - 1
    else:
        lo, hi = 0, 2**bits - 1
    if any(a.dtype.kind == "f" for a in stored):
        return None
    lo = min([lo] + [int(a.min()) for a in stored if a.size])
    hi = max([hi] + [int(a.max()) for a in stored if a.size])
    ends = np.concatenate([slope * lo, slope * hi, slope * lo + intercept, slope * hi + intercept, [lo, hi]])
    for kind in _INTEGER_TYPES:
        info = np.iinfo(kind)
        if info.min <= ends.min() and ends.max() <= info.max:
            return kind
    return None


@overload
def read_dicom(
    paths: Sequence[str], *, pixels: Literal[True] = ..., check: bool = ...
) -> tuple[Grid, npt.NDArray[Any]]: ...
@overload
def read_dicom(paths: Sequence[str], *, pixels: Literal[False], check: bool = ...) -> tuple[Grid, None]: ...
@overload
def read_dicom(
    paths: Sequence[str], *, pixels: bool = ..., check: bool = ...
) -> tuple[Grid, npt.NDArray[Any] | None]: ...
def read_dicom(
    paths: Sequence[str], *, pixels: bool = True, check: bool = True
) -> tuple[Grid, npt.NDArray[Any] | None]:
    """Read a DICOM image object: its grid and (with ``pixels``) its real-world voxels (z, y, x).

    Parameters
    ----------
    paths : sequence of str
        The member files in stack order (the objects table's ``file_paths``).
    pixels : bool
        Also decode the pixel data; ``False`` reads headers only.
    check : bool
        Warn when the frames of a multi-frame file are irregular (series are checked by the index).

    Returns
    -------
    grid : Grid
        Size, spacing, origin and direction of the volume.
    voxels : numpy.ndarray or None
        Real-world values (z, y, x); ``None`` without ``pixels``.

    Examples
    --------
    >>> import glob, os
    >>> paths = sorted(glob.glob(os.path.join(example_dir, "STS_001", "PET", "dicom", "image", "*.dcm")))
    >>> grid, voxels = read_dicom(paths)
    >>> grid.size, voxels.dtype.name  # PET slices with a fractional RescaleSlope: float32
    ((32, 32, 8), 'float32')
    """
    if not paths:
        raise InputError("A DICOM image object needs at least one file; this one has none.")
    problems: list[str] = []
    datasets = [pydicom.dcmread(p, stop_before_pixels=not pixels, force=True) for p in paths]
    frames = [_frames(ds, problems) for ds in datasets]
    beams = len(datasets) > 1 and all(
        ds.get("Modality") == "RTDOSE" and f.sorted_frames for ds, f in zip(datasets, frames, strict=True)
    )
    if beams:  # RTDOSE beams of one plan: one grid, doses summed
        datasets, frames, sum_of = datasets[:1], frames[:1], datasets
    position = np.concatenate([f.position for f in frames])
    orientation = np.concatenate([f.orientation for f in frames])
    spacing = np.concatenate([f.pixel_spacing for f in frames])
    shapes = {(int(ds.Rows), int(ds.Columns)) for ds in datasets}
    if np.isnan(orientation).all():
        problems.append("no ImageOrientationPatient: axial orientation assumed")
        orientation = np.tile(_AXIAL, (len(orientation), 1))
    if len(shapes) > 1 or np.ptp(np.nan_to_num(orientation, nan=9.0), axis=0).max() > 1e-4:
        raise InputError(
            f"The frames of {paths[0]} (and {len(paths) - 1} other file(s)) differ in orientation or in "
            f"size ({sorted(shapes)}), so they do not form one volume. Index them with imgindex, which "
            "splits such series into one object per orientation and size."
        )
    row, col = orientation[0, :3], orientation[0, 3:]
    normal = np.cross(row, col)
    along = position @ normal
    order = np.arange(len(along))
    if len(datasets) == 1 and frames[0].sorted_frames:
        order = np.argsort(along, kind="stable")
    along = along[order]
    geometry = stack_geometry(along)
    if len(along) > 1 and np.isfinite(geometry["slice_spacing"]):
        step = geometry["slice_spacing"]
        normal = normal * (1.0 if along[-1] >= along[0] else -1.0)
        if check and len(datasets) == 1:
            problems.extend(describe_problems(geometry))
    else:
        step = frames[0].thickness if np.isfinite(frames[0].thickness or np.nan) else 1.0
    if np.isnan(position).any():
        problems.append("frames without ImagePositionPatient: origin 0 assumed")
        position = np.nan_to_num(position)
    pixel_spacing = np.nan_to_num(spacing[0], nan=1.0)
    direction = np.column_stack([row, col, normal]).ravel()
    rows, cols = shapes.pop()
    grid = Grid((cols, rows, len(order)), (pixel_spacing[1], pixel_spacing[0], step), position[order[0]], direction)
    if problems and (check or not pixels):
        warn(f"DICOM image {paths[0]}: {'; '.join(dict.fromkeys(problems))}.")
    if not pixels:
        return grid, None
    if beams:
        total = sum(_real(ds, p, _frames(ds, [])) for ds, p in zip(sum_of, paths, strict=True))
        return grid, np.asarray(total, dtype=np.float32)[order]
    values = _real_many(datasets, paths, frames)
    return grid, values[order]


def _real(ds: pydicom.Dataset, path: str, frames: _Frames) -> npt.NDArray[Any]:
    return _real_many([ds], [path], [frames])


def _real_many(
    datasets: Sequence[pydicom.Dataset], paths: Sequence[str], frames: Sequence[_Frames]
) -> npt.NDArray[Any]:
    """Rescaled voxels of every frame of every file, in file and frame order."""
    stored: list[npt.NDArray[Any]] = []
    rescaled: list[bool] = []
    for ds, path in zip(datasets, paths, strict=True):
        array, done = _pixels(ds, path)
        stored.append(array)
        rescaled.append(done)
    slope = np.concatenate(
        [np.ones(len(f.slope)) if done else f.slope for f, done in zip(frames, rescaled, strict=True)]
    )
    intercept = np.concatenate(
        [np.zeros(len(f.slope)) if done else f.intercept for f, done in zip(frames, rescaled, strict=True)]
    )
    if sum(len(a) for a in stored) != len(slope):
        raise InputError(
            f"{paths[0]}: the pixel data hold {sum(len(a) for a in stored)} frames, the header describes {len(slope)}."
        )
    if int(datasets[0].get("SamplesPerPixel") or 1) > 1:  # colour: stored values, no rescale
        return np.concatenate(stored)
    kind = _integer_type(datasets[0], slope, intercept, stored)
    out = np.empty((len(slope), *stored[0].shape[1:]), dtype=kind or np.float32)
    k = 0
    for array in stored:
        for frame in array:
            if kind is None:
                out[k] = frame.astype(np.float64) * slope[k] + intercept[k]
            else:
                out[k] = frame
                if slope[k] != 1:
                    out[k] *= kind(slope[k])
                if intercept[k] != 0:
                    out[k] += kind(intercept[k])
            k += 1
    return out
