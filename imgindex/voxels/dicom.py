"""DICOM pixel data → real-world voxels on a :class:`~imgindex.voxels.grid.Grid`.

One reader for every DICOM image object of the index: a series of single-frame files, one
multi-frame file or some of its frames (one volume of an enhanced file: ``frames``, 0-based
frame numbers), or the RTDOSE files of one plan (beams summed). The slices are sorted along
their normal (stable: the objects table's order is kept) and laid out by
:mod:`~imgindex.voxels.layout`: as stored when they are evenly spaced and not tilted, else
resampled so that every voxel is where the patient was (gantry tilt, missing slices, uneven
spacing); ``resample=False`` gives the stack as stored.

Pixel data are decoded by :mod:`~imgindex.voxels.decode` (pydicom, then SimpleITK/GDCM);
real-world values are ``stored * RescaleSlope + RescaleIntercept`` per frame (RTDOSE:
DoseGridScaling), of the type the header decides (:func:`~imgindex.voxels.decode.voxel_type`).
Before anything is allocated the size the headers claim is checked against the read limit and
the bytes the files hold (:mod:`~imgindex.voxels.limits`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal, cast, overload

import numpy as np
import numpy.typing as npt
import pydicom

from ..errors import DecodeError, InputError, warn
from ..geometry import describe_problems, stack_geometry
from . import native
from .decode import claimed_bytes, frame_shape, is_colour, pixel_bytes, stored_values, voxel_type
from .elements import NotHandled
from .frames import Frames, Header, Plane, frames_of
from .grid import Grid
from .layout import plan
from .layout import resample as lay_out
from .limits import check_allocation, check_deflated

_AXIAL = (1.0, 0.0, 0.0, 0.0, 1.0, 0.0)
_DEFLATED = b"1.2.840.10008.1.2.1.99"


def _dataset_start(data: bytes) -> int | None:
    """Where the data set after the file meta information starts (None when there is no meta group)."""
    if data[128:132] != b"DICM" or data[132:136] != b"\x02\x00\x00\x00":
        return None
    return 144 + int.from_bytes(data[140:144], "little")


def open_dataset(path: str, *, pixels: bool = True, max_bytes: int | None = None) -> pydicom.Dataset:
    """Read a DICOM file with pydicom (header only without ``pixels``); a deflated one is bounded first.

    Raises :class:`~imgindex.errors.DecodeError` naming the file when it cannot be read as DICOM.
    """
    with open(path, "rb") as handle:
        head = handle.read(4096)
        if _DEFLATED in head:
            data = head + handle.read()
            start = _dataset_start(data)
            if start is not None:
                check_deflated(path, memoryview(data)[start:], max_bytes=max_bytes)
    try:
        return pydicom.dcmread(path, stop_before_pixels=not pixels, force=True)
    except Exception as error:
        raise DecodeError(
            f"{path} could not be read as DICOM by pydicom: {error}. Check that the file is complete."
        ) from None


def slice_planes(paths: Sequence[str]) -> dict[str, Plane]:
    """SOPInstanceUID → (ImagePositionPatient, ImageOrientationPatient, pixel spacing) of single-frame files.

    Read from the headers only; files without a position or orientation are left out.

    Examples
    --------
    >>> import glob, os
    >>> paths = sorted(glob.glob(os.path.join(example_dir, "STS_001", "CT", "dicom", "image", "*.dcm")))
    >>> position, orientation, spacing = next(iter(slice_planes(paths).values()))
    >>> orientation.tolist(), spacing.tolist()
    ([1.0, 0.0, 0.0, 0.0, 1.0, 0.0], [0.9, 0.9])
    """
    out: dict[str, Plane] = {}
    fast = native.headers(paths)
    headers: Sequence[Header] = [f.header for f in fast] if fast is not None else []
    for k, path in enumerate(paths):
        ds = headers[k] if fast is not None else open_dataset(path, pixels=False)
        f = frames_of(ds, [])
        if (
            len(f.slope) == 1
            and ds.get("SOPInstanceUID") is not None
            and np.isfinite(f.position).all()
            and np.isfinite(f.orientation).all()
        ):
            out[str(ds.get("SOPInstanceUID"))] = (f.position[0], f.orientation[0], f.pixel_spacing[0])
    return out


def _image_size(ds: Header, path: str) -> tuple[int, int]:
    if ds.get("Rows") is None or ds.get("Columns") is None:
        raise DecodeError(
            f"{path} has no image (no Rows/Columns; Modality {ds.get('Modality')!r}): it is a header-only "
            "or non-image DICOM file (e.g. a DICOMDIR record, a report, a structure set), so it has no "
            "voxels. Index its folder with imgindex.build_index, which tells images from other files."
        )
    return int(ds.get("Rows") or 0), int(ds.get("Columns") or 0)


@overload
def read_dicom(
    paths: Sequence[str],
    *,
    pixels: Literal[True] = ...,
    check: bool = ...,
    frames: Sequence[int] | None = ...,
    resample: bool = ...,
    nearest: bool = ...,
    max_bytes: int | None = ...,
    allocate: native.Allocate | None = ...,
) -> tuple[Grid, npt.NDArray[Any]]: ...
@overload
def read_dicom(
    paths: Sequence[str],
    *,
    pixels: Literal[False],
    check: bool = ...,
    frames: Sequence[int] | None = ...,
    resample: bool = ...,
    nearest: bool = ...,
    max_bytes: int | None = ...,
    allocate: native.Allocate | None = ...,
) -> tuple[Grid, None]: ...
@overload
def read_dicom(
    paths: Sequence[str],
    *,
    pixels: bool = ...,
    check: bool = ...,
    frames: Sequence[int] | None = ...,
    resample: bool = ...,
    nearest: bool = ...,
    max_bytes: int | None = ...,
    allocate: native.Allocate | None = ...,
) -> tuple[Grid, npt.NDArray[Any] | None]: ...
def read_dicom(
    paths: Sequence[str],
    *,
    pixels: bool = True,
    check: bool = True,
    frames: Sequence[int] | None = None,
    resample: bool = True,
    nearest: bool = False,
    max_bytes: int | None = None,
    allocate: native.Allocate | None = None,
) -> tuple[Grid, npt.NDArray[Any] | None]:
    """Read a DICOM image object: its grid and (with ``pixels``) its real-world voxels (z, y, x).

    Parameters
    ----------
    paths : sequence of str
        The member files (the objects table's ``file_paths``).
    pixels : bool
        Also decode the pixel data; ``False`` reads headers only.
    check : bool
        Warn when the frames of a multi-frame file are irregular (series are checked by the index).
    frames : sequence of int, optional
        The frames of a multi-frame file that make the object (0-based); ``None``: all of them.
    resample : bool
        Lay tilted or unevenly spaced slices out where the patient was (see
        :mod:`~imgindex.voxels.layout`); ``False`` gives the stack as stored.
    nearest : bool
        Resample with nearest neighbour (label maps) instead of linear interpolation.
    max_bytes : int, optional
        The read limit (:func:`~imgindex.voxels.limits.max_voxel_bytes`).
    allocate : callable, optional
        ``allocate(shape, dtype)`` gives the array the voxels are written to when the stack is read
        as stored by the fast path (e.g. the buffer of a SimpleITK image,
        :class:`~imgindex.voxels.buffer.ImageTarget`); default: a new numpy array.

    Returns
    -------
    grid : Grid
        Size, spacing, origin and direction of the volume.
    voxels : numpy.ndarray or None
        Real-world values (z, y, x), or (z, y, x, 3) RGB; ``None`` without ``pixels``.

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
    if frames is not None and len(paths) != 1:
        raise InputError(
            f"frames {list(frames)} select frames of one multi-frame file, but this object has {len(paths)} "
            f"files ({paths[0]}, ...)."
        )
    problems: list[str] = []
    fast = native.headers(paths) if frames is None else None
    datasets: Sequence[Header] = (
        [f.header for f in fast]
        if fast is not None
        else [open_dataset(p, pixels=pixels, max_bytes=max_bytes) for p in paths]
    )
    shapes = {_image_size(ds, p) for ds, p in zip(datasets, paths, strict=True)}
    info = [frames_of(ds, problems) for ds in datasets]
    if frames is not None:
        info = [info[0].take(frames, paths[0])]
    beams = len(datasets) > 1 and all(
        ds.get("Modality") == "RTDOSE" and f.sorted_frames for ds, f in zip(datasets, info, strict=True)
    )
    members = (datasets, list(paths), info)
    if beams:  # RTDOSE beams of one plan: one grid, doses summed
        datasets, info = datasets[:1], info[:1]
    position = np.concatenate([f.position for f in info])
    orientation = np.concatenate([f.orientation for f in info])
    spacing = np.concatenate([f.pixel_spacing for f in info])
    if np.isnan(orientation).all():
        problems.append("no ImageOrientationPatient: axial orientation assumed")
        orientation = np.tile(_AXIAL, (len(orientation), 1))
    if len(shapes) > 1 or np.ptp(np.nan_to_num(orientation, nan=9.0), axis=0).max() > 1e-4:
        raise InputError(
            f"The frames of {paths[0]} (and {len(paths) - 1} other file(s)) differ in orientation or in "
            f"size ({sorted(shapes)}), so they do not form one volume. Index them with imgindex, which "
            "splits such series into one object per orientation and size."
        )
    single_file = len(datasets) == 1 and info[0].sorted_frames
    if np.isnan(position).any():
        problems.append("frames without ImagePositionPatient: origin 0 assumed")
    pixel_spacing = np.nan_to_num(spacing[0], nan=1.0)
    rows, cols = shapes.pop()
    layout = plan(
        position,
        orientation[0],
        (pixel_spacing[1], pixel_spacing[0]),
        (rows, cols),
        thickness=info[0].thickness,
        resample=resample and not beams,
    )
    if single_file and check and len(position) > 1 and np.isfinite(position).all():
        problems.extend(describe_problems(stack_geometry(position @ np.cross(orientation[0, :3], orientation[0, 3:]))))
        problems.extend(layout.notes)
    if problems and (check or not pixels):
        warn(f"DICOM image {paths[0]}: {'; '.join(dict.fromkeys(problems))}.")
    if not pixels:
        return layout.grid, None
    if beams:
        doses = _voxels(cast("list[pydicom.Dataset]", members[0]), *members[1:], np.dtype(np.float32), max_bytes)
        total = doses.reshape(len(members[0]), -1, *doses.shape[1:]).sum(axis=0, dtype=np.float64)
        return layout.grid, lay_out(layout, total.astype(np.float32))
    kind = _common_type(_voxel_types(datasets, info, fast is not None))
    extra = layout.grid if layout.resampled else None
    if fast is not None:
        _check_claim(datasets, paths, info, kind, extra, max_bytes)
        slots = np.arange(len(paths)) if layout.resampled else layout.slot_of()
        try:
            values = native.read_volume(fast, paths, info, kind, slots, None if layout.resampled else allocate)
        except NotHandled:  # a file changed since its header was read: pydicom says what is wrong
            again = [open_dataset(p, max_bytes=max_bytes) for p in paths]
            values = _voxels(again, list(paths), [frames_of(ds, []) for ds in again], kind, max_bytes, extra=extra)
            return layout.grid, lay_out(layout, values, nearest=nearest)
        return layout.grid, lay_out(layout, values, nearest=nearest) if layout.resampled else values
    values = _voxels(cast("list[pydicom.Dataset]", datasets), list(paths), info, kind, max_bytes, extra=extra)
    return layout.grid, lay_out(layout, values, nearest=nearest)


def _voxel_types(datasets: Sequence[Header], info: Sequence[Frames], plain: bool) -> list[np.dtype[Any]]:
    """The voxel type of each file; files of the fast path (``plain``) with the same encoding and rescale share one."""
    if not plain:
        return [voxel_type(ds, f.slope, f.intercept) for ds, f in zip(datasets, info, strict=True)]
    known: dict[tuple[Any, ...], np.dtype[Any]] = {}
    out = []
    for ds, f in zip(datasets, info, strict=True):
        key = (*(ds.get(k) for k in native.ENCODING), f.slope.tobytes(), f.intercept.tobytes())
        if key not in known:
            known[key] = voxel_type(ds, f.slope, f.intercept)
        out.append(known[key])
    return out


def _common_type(kinds: Sequence[np.dtype[Any]]) -> np.dtype[Any]:
    """One type for the voxels of all files: float32 if any is float, else the integer type holding them all."""
    found = set(kinds)
    if len(found) == 1:
        return found.pop()
    if any(k.kind == "f" for k in found):
        return np.dtype(np.float32)
    out = found.pop()
    for kind in found:
        out = np.promote_types(out, kind)
    return out if out.kind in "iu" else np.dtype(np.float32)  # int64 and uint64 promote to float64


def _check_claim(
    datasets: Sequence[Header],
    paths: Sequence[str],
    info: Sequence[Frames],
    kind: np.dtype[Any],
    extra: Grid | None,
    max_bytes: int | None,
) -> None:
    """The voxels of every frame (plus the resampled volume on ``extra``) checked against the read limit."""
    counts = [len(f.slope) for f in info]
    claimed = claimed_bytes(datasets, counts, kind)
    shape = frame_shape(datasets[0])
    if extra is not None:
        claimed += int(np.prod(extra.size, dtype=object)) * int(np.prod(shape[2:], dtype=object)) * kind.itemsize
    what = f"{sum(counts)} frame(s) of {' x '.join(map(str, shape))} {kind} voxels"
    check_allocation(paths[0], claimed, what=what, max_bytes=max_bytes)


def _voxels(
    datasets: Sequence[pydicom.Dataset],
    paths: Sequence[str],
    info: Sequence[Frames],
    kind: np.dtype[Any],
    max_bytes: int | None,
    *,
    extra: Grid | None = None,
) -> npt.NDArray[Any]:
    """Real-world values of every frame of every file (file and frame order), of type ``kind``.

    The claim (these values, plus the resampled volume on ``extra``) is checked before decoding.
    """
    _check_claim(datasets, paths, info, kind, extra, max_bytes)
    counts = [len(f.slope) for f in info]
    shape = frame_shape(datasets[0])
    for ds, path in zip(datasets, paths, strict=True):
        found = pixel_bytes(ds)
        if found is not None:
            check_allocation(path, 0, what="pixel data", needed=found[0], present=found[1], max_bytes=max_bytes)
    out = np.empty((sum(counts), *shape), dtype=kind)
    k = 0
    for ds, path, f in zip(datasets, paths, info, strict=True):
        stored = stored_values(ds, path, f.numbers)
        if stored.shape[0] != len(f.slope) or stored.shape[1:] != shape:
            raise DecodeError(
                f"{path}: the pixel data hold {stored.shape[0]} frame(s) of {stored.shape[1:]}, the header "
                f"describes {len(f.slope)} of {shape}."
            )
        _rescale(stored, f, out[k : k + len(f.slope)], colour=is_colour(ds))
        k += len(f.slope)
    return out


def _rescale(stored: npt.NDArray[Any], f: Frames, out: npt.NDArray[Any], *, colour: bool) -> None:
    """``out[i] = stored[i] * slope[i] + intercept[i]``, frame by frame, in ``out``'s type."""
    kind = out.dtype
    if colour:
        out[...] = stored
        return
    for i, frame in enumerate(stored):
        slope, intercept = f.slope[i], f.intercept[i]
        if kind.kind == "f":
            out[i] = frame * slope + intercept if (slope != 1 or intercept != 0) else frame
        elif slope == 1:
            np.add(frame, kind.type(intercept), out=out[i], casting="unsafe")
        else:
            np.multiply(frame, kind.type(slope), out=out[i], casting="unsafe")
            if intercept:
                out[i] += kind.type(intercept)
