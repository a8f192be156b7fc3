"""Uncompressed grey-scale DICOM series read at their pixel data's offsets: one walk and one read per file.

The fast path of :func:`~imgindex.voxels.dicom.read_dicom`. For a series of single-frame files in
explicit or implicit VR little endian with 8, 16 or 32 bits allocated per grey-scale sample, or
explicit VR big endian with 16 bits (OW, whose byte order is the transfer syntax's),
:func:`headers` walks the head of each file (:mod:`.elements`, no pydicom) for the values the
layout and the rescale need, in the form pydicom gives them, and where the pixel data are;
:func:`read_volume` reads every file's pixel data straight into one preallocated volume
(``readinto`` at the offset, in the slice's place along the normal) and rescales it with a few
whole-array operations. The values are exactly those of the pydicom path (the unused high bits
masked, the sign extended, ``stored * RescaleSlope + RescaleIntercept`` in the type of
:func:`~imgindex.voxels.decode.voxel_type`).

Anything else (compressed data, colour, multi-frame or enhanced files, RTDOSE, float pixel data,
too few pixel bytes, a header the walker does not read as pydicom does) makes :func:`headers`
return ``None``, and the caller reads the series with pydicom.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from .decode import stored_type
from .elements import UNDEFINED, NeedMore, NotHandled, Spec, walk
from .frames import Frames

#: Allocates the output: ``allocate(shape, kind)`` → an array of that shape and type to fill.
Allocate = Callable[[tuple[int, ...], np.dtype[Any]], npt.NDArray[Any]]

#: Bytes read first of each file: the header (the walk reads the whole file when it is longer).
HEAD = 1 << 16
#: Slices rescaled together (bounds the float64 intermediate of a fractional rescale).
CHUNK_BYTES = 1 << 24

#: The header values :func:`~imgindex.voxels.decode.voxel_type` reads of a fast-path file (with its rescale).
ENCODING = ("BitsAllocated", "BitsStored", "PixelRepresentation", "SamplesPerPixel", "PhotometricInterpretation")
_US = ("Rows", "Columns", "SamplesPerPixel", "BitsAllocated", "BitsStored", "PixelRepresentation")
_DS = (
    "SliceThickness",
    "SpacingBetweenSlices",
    "EstimatedRadiographicMagnificationFactor",
    "ImagerPixelSpacing",
    "ImagePositionPatient",
    "ImageOrientationPatient",
    "PixelSpacing",
    "RescaleIntercept",
    "RescaleSlope",
)
_TAGS = {
    "SOPInstanceUID": 0x00080018,
    "Modality": 0x00080060,
    "SliceThickness": 0x00180050,
    "SpacingBetweenSlices": 0x00180088,
    "EstimatedRadiographicMagnificationFactor": 0x00181114,
    "ImagerPixelSpacing": 0x00181164,
    "ImagePositionPatient": 0x00200032,
    "ImageOrientationPatient": 0x00200037,
    "SamplesPerPixel": 0x00280002,
    "PhotometricInterpretation": 0x00280004,
    "NumberOfFrames": 0x00280008,
    "Rows": 0x00280010,
    "Columns": 0x00280011,
    "PixelSpacing": 0x00280030,
    "BitsAllocated": 0x00280100,
    "BitsStored": 0x00280101,
    "PixelRepresentation": 0x00280103,
    "RescaleIntercept": 0x00281052,
    "RescaleSlope": 0x00281053,
    "SharedFunctionalGroupsSequence": 0x52009229,
    "PerFrameFunctionalGroupsSequence": 0x52009230,
}
_SPEC: Spec = dict.fromkeys(_TAGS.values())
_VRS = {**dict.fromkeys(_US, b"US"), **dict.fromkeys(_DS, b"DS"), "NumberOfFrames": b"IS"}
_EXPECTED_VR = {
    tag: _VRS.get(keyword, b"UI" if keyword == "SOPInstanceUID" else b"SQ" if keyword.endswith("Sequence") else b"CS")
    for keyword, tag in _TAGS.items()
}
_PIXEL_DATA = 0x7FE00010


@dataclass(frozen=True, slots=True)
class NativeFile:
    """One file of the fast path: its header values (keyword → value, as pydicom gives them) and pixel data."""

    header: dict[str, Any]
    offset: int
    little: bool


def _ds(raw: bytes) -> float | list[float] | None:
    """A DS value as pydicom converts it: ``None`` when empty, a float, or a list of floats."""
    text = raw.decode("ascii").strip(" \x00")
    if not text:
        return None
    values = [float(v) for v in text.split("\\")]  # ValueError on anything float() refuses: NotHandled
    return values[0] if len(values) == 1 else values


def _header(found: dict[int, Any], little: bool) -> dict[str, Any]:
    header: dict[str, Any] = {}
    for keyword, tag in _TAGS.items():
        raw = found.get(tag)
        if raw is None:
            continue
        if keyword.endswith("Sequence"):
            raise NotHandled(f"{keyword}: an enhanced file")
        if keyword in _US:
            if len(raw) == 0:
                header[keyword] = None
                continue
            if len(raw) != 2:
                raise NotHandled(f"{keyword} with {len(raw)} bytes")
            header[keyword] = int.from_bytes(raw, "little" if little else "big")
        elif keyword in _DS:
            header[keyword] = _ds(raw)
        elif keyword == "NumberOfFrames":
            text = raw.decode("ascii").strip(" \x00")
            if text and int(text) != 1:
                raise NotHandled("a multi-frame file")
        else:  # CS, UI
            text = raw.decode("ascii").rstrip(" \x00")
            if text != text.lstrip() or "\\" in text:
                raise NotHandled(f"{keyword} {text!r}")
            header[keyword] = text
    return header


def read_header(path: str) -> NativeFile:
    """The header values and pixel data position of one file; :class:`NotHandled` when it is not for the fast path."""
    with open(path, "rb") as handle:
        data = handle.read(HEAD)
        try:
            walked = walk(data, _SPEC, complete=len(data) < HEAD)
        except NeedMore:
            data += handle.read()
            walked = walk(data, _SPEC, complete=True)
    pixels = walked.pixels
    if pixels is None or pixels.tag != _PIXEL_DATA or pixels.length == UNDEFINED:
        raise NotHandled("no native PixelData")
    for tag, vr in walked.vrs.items():
        if vr != _EXPECTED_VR[tag]:
            raise NotHandled(f"({tag >> 16:04X},{tag & 0xFFFF:04X}) has VR {vr!r}")
    try:
        header = _header(walked.values, walked.little)
    except (UnicodeDecodeError, ValueError) as error:
        raise NotHandled(str(error)) from None
    allocated: int = header.get("BitsAllocated") or 0
    if (
        header.get("Modality") == "RTDOSE"
        or header.get("PhotometricInterpretation") not in ("MONOCHROME1", "MONOCHROME2")
        or header.get("SamplesPerPixel") not in (None, 1)
        or allocated not in (8, 16, 32)
        or (not walked.little and (allocated != 16 or pixels.vr != b"OW"))  # big endian: 16-bit words only
        or not header.get("Rows")
        or not header.get("Columns")
        or header.get("PixelRepresentation") not in (None, 0, 1)
    ):
        raise NotHandled("not a grey-scale image of 8, 16 or 32 bits")
    if pixels.length < header["Rows"] * header["Columns"] * (allocated // 8):
        raise NotHandled("fewer pixel bytes than the header describes")
    return NativeFile(header, pixels.offset, walked.little)


def headers(paths: Sequence[str]) -> list[NativeFile] | None:
    """Every file's :class:`NativeFile`, or ``None`` when any of them is not for the fast path.

    Examples
    --------
    >>> import glob, os
    >>> paths = sorted(glob.glob(os.path.join(example_dir, "STS_001", "CT", "dicom", "image", "*.dcm")))
    >>> found = headers(paths)
    >>> len(found), found[0].header["Rows"], found[0].header["PhotometricInterpretation"]
    (8, 32, 'MONOCHROME2')
    """
    try:
        return [read_header(p) for p in paths]
    except (NotHandled, OSError):
        return None


def _encoding(f: NativeFile) -> tuple[bool, bool, int, int]:
    """What decides how a file's bytes become stored values: byte order, sign, bits allocated and stored."""
    h = f.header
    allocated = int(h["BitsAllocated"])
    return f.little, h.get("PixelRepresentation") == 1, allocated, min(int(h.get("BitsStored") or allocated), allocated)


def read_volume(
    files: Sequence[NativeFile],
    paths: Sequence[str],
    info: Sequence[Frames],
    kind: np.dtype[Any],
    slots: npt.NDArray[np.intp],
    allocate: Allocate | None = None,
) -> npt.NDArray[Any]:
    """The real-world voxels (z, y, x) of type ``kind``, the pixel data of file ``k`` at ``out[slots[k]]``.

    ``allocate(shape, kind)`` gives the array to fill (default: a new numpy array).

    Raises :class:`NotHandled` when the files differ in how their pixels are stored, or a file no
    longer holds the pixel bytes its header described.
    """
    encoding = _encoding(files[0])
    if any(_encoding(f) != encoding for f in files):
        raise NotHandled("the files store their pixels differently")
    little, _signed, _allocated, bits = encoding
    rows, cols = int(files[0].header["Rows"]), int(files[0].header["Columns"])
    n = len(files)
    out = allocate((n, rows, cols), kind) if allocate is not None else np.empty((n, rows, cols), dtype=kind)
    slope, intercept = np.empty(n), np.empty(n)
    slope[slots] = [f.slope[0] for f in info]
    intercept[slots] = [f.intercept[0] for f in info]
    store = stored_type(files[0].header).newbyteorder("<" if little else ">")
    if store == kind:  # the stored values are (nearly) the voxels: read in place
        for k in range(n):
            _read_into(paths[k], files[k].offset, out[slots[k]])
        _mask(out, bits)
        _rescale_in_place(out, slope, intercept)
        return out
    chunk = max(1, CHUNK_BYTES // (rows * cols * 8))
    buffer = np.empty((min(chunk, n), rows, cols), dtype=store)
    for start in range(0, n, chunk):
        part = range(start, min(start + chunk, n))
        values = buffer[: len(part)]
        for j, k in enumerate(part):
            _read_into(paths[k], files[k].offset, values[j])
        if not little:
            values = values.byteswap(inplace=True).view(store.newbyteorder("="))
        _mask(values, bits)
        where = slots[start : start + len(part)]
        target = _window(out, where)
        if target is not None:
            _rescale(values, slope[where], intercept[where], target)
        else:
            for j, slot in enumerate(where):
                _rescale(values[j : j + 1], slope[slot : slot + 1], intercept[slot : slot + 1], out[slot : slot + 1])
    return out


def _window(out: npt.NDArray[Any], where: npt.NDArray[np.intp]) -> npt.NDArray[Any] | None:
    """``out[where]`` as a view when ``where`` is a run of consecutive slices (either way), else ``None``."""
    if len(where) == 1:
        return out[where[0] : where[0] + 1]
    step = np.diff(where)
    if np.all(step == 1):
        return out[where[0] : where[-1] + 1]
    if np.all(step == -1):
        return out[where[-1] : where[0] + 1][::-1]
    return None


def _read_into(path: str, offset: int, into: npt.NDArray[Any]) -> None:
    with open(path, "rb", buffering=0) as handle:
        handle.seek(offset)
        got = handle.readinto(into.data.cast("B"))
    if got != into.nbytes:
        raise NotHandled(f"{path} holds {got} of {into.nbytes} pixel bytes")


def _mask(values: npt.NDArray[Any], bits: int) -> None:
    """Unused high bits ignored, the sign extended (PS3.5 8.1.1), in place, as the pydicom path does."""
    shift = 8 * values.dtype.itemsize - bits
    if shift > 0:  # the right shift is arithmetic for a signed type, logical for an unsigned one
        np.left_shift(values, shift, out=values)
        np.right_shift(values, shift, out=values)


def _rescale(
    values: npt.NDArray[Any],
    slope: npt.NDArray[np.float64],
    intercept: npt.NDArray[np.float64],
    out: npt.NDArray[Any],
) -> None:
    """``out = values * slope + intercept`` per slice in ``out``'s type, computed as the pydicom path computes it."""
    kind = out.dtype
    if kind.kind == "f":  # in float64, then rounded once to the voxel type
        np.copyto(out, values * slope[:, None, None] + intercept[:, None, None], casting="unsafe")
        return
    if np.all(slope == 1):
        np.copyto(out, values, casting="unsafe")
    else:
        np.multiply(values, slope.astype(kind)[:, None, None], out=out, casting="unsafe")
    if np.any(intercept):
        np.add(out, intercept.astype(kind)[:, None, None], out=out, casting="unsafe")


def _rescale_in_place(
    out: npt.NDArray[Any], slope: npt.NDArray[np.float64], intercept: npt.NDArray[np.float64]
) -> None:
    """Integer voxels of the stored type, rescaled in place (exact: the voxel type holds every product and sum)."""
    kind = out.dtype
    if not np.all(slope == 1):
        np.multiply(out, slope.astype(kind)[:, None, None], out=out, casting="unsafe")
    if np.all(intercept == intercept[0]):
        if intercept[0]:
            np.add(out, kind.type(intercept[0]), out=out, casting="unsafe")
    else:
        np.add(out, intercept.astype(kind)[:, None, None], out=out, casting="unsafe")
