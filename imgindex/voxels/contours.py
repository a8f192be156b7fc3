"""The ROIs and contours of an RTSTRUCT without pydicom: one walk of the file, one parse of every coordinate.

The fast path of :func:`~imgindex.voxels.rtstruct.read_rois`. A pydicom data set of a large
structure set (hundreds of contours of hundreds of points) costs more to build than the masks
cost to fill, and converting its coordinates one Python float at a time more again. Here the
walker of :mod:`.elements` keeps the few elements the masks need (StructureSetROISequence:
ROINumber, ROIName; ROIContourSequence: ReferencedROINumber, ContourSequence:
ContourGeometricType, ContourData), and the ContourData text of all contours is converted at once
by Arrow (split at the backslashes, then its decimal parser: correctly rounded, as Python's
``float`` is). The result is what the
pydicom path gives, value for value; anything it cannot read exactly as pydicom does (another
character set, multi-valued names, a number Arrow refuses, a file the walker does not handle)
makes :func:`walk_rois` (or :meth:`Walked.items`) return ``None`` and the caller uses pydicom.
"""

from __future__ import annotations

import mmap
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc

from ..errors import InputError
from .elements import NotHandled, Spec, walk

_MODALITY, _CHARSET = 0x00080060, 0x00080005
_STRUCTURE_SET_ROIS, _ROI_NUMBER, _ROI_NAME = 0x30060020, 0x30060022, 0x30060026
_ROI_CONTOURS, _REFERENCED_ROI, _CONTOURS = 0x30060039, 0x30060084, 0x30060040
_CONTOUR_TYPE, _CONTOUR_DATA = 0x30060042, 0x30060050
_SPEC: Spec = {
    _MODALITY: None,
    _CHARSET: None,
    _STRUCTURE_SET_ROIS: {_ROI_NUMBER: None, _ROI_NAME: None},
    _ROI_CONTOURS: {_REFERENCED_ROI: None, _CONTOURS: {_CONTOUR_TYPE: None, _CONTOUR_DATA: None}},
}
#: Character sets whose text pydicom decodes with these Python codecs (the default is ISO_IR 6 as latin-1).
_CODECS = {"": "latin-1", "ISO_IR 6": "latin-1", "ISO_IR 100": "latin-1", "ISO_IR 192": "utf-8"}


def _text(raw: bytes | None, codec: str = "ascii") -> str | None:
    """A single-valued string as pydicom gives it (trailing spaces and NULs removed); ``None`` when absent."""
    if raw is None:
        return None
    text = raw.decode(codec).rstrip("\x00 ")
    if "\\" in text:
        raise NotHandled("a multi-valued string")
    return text


def _integer(raw: bytes | None) -> int | None:
    """An IS value: ``None`` when absent or empty, else an int whose text pydicom would print the same."""
    text = _text(raw)
    if not text:
        return None
    value = int(text)
    if str(value) != text:
        raise NotHandled(f"IS {text!r}")
    return value


def parse_decimals(texts: list[bytes]) -> list[npt.NDArray[np.float64]] | None:
    r"""The DS values of each of ``texts`` (raw ContourData), converted together; ``None`` if any is unusual.

    Examples
    --------
    >>> [a.tolist() for a in parse_decimals([b"1.5\\-2\\3e1 ", b""])]
    [[1.5, -2.0, 30.0], []]
    """
    stripped = [t.strip(b" \x00") for t in texts]
    lengths = np.fromiter(map(len, stripped), dtype=np.int64, count=len(stripped))
    present = lengths > 0
    counts = np.zeros(len(texts), dtype=np.int64)
    if not present.any():
        return [np.empty(0) for _ in texts]
    offsets = np.zeros(int(present.sum()) + 1, dtype=np.int64)
    np.cumsum(lengths[present], out=offsets[1:])
    strings = pa.Array.from_buffers(
        pa.large_string(), len(offsets) - 1, [None, pa.py_buffer(offsets), pa.py_buffer(b"".join(stripped))]
    )
    try:
        strings.validate(full=True)  # UTF-8 (DS is ASCII)
        tokens = pc.split_pattern(strings, "\\")
        values = pc.cast(tokens.flatten(), pa.float64()).to_numpy()
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        return None  # a value Arrow's parser refuses (spaces, an empty value, ...): Python decides
    counts[present] = pc.list_value_length(tokens).to_numpy()
    return np.split(values, np.cumsum(counts)[:-1])


@dataclass
class Walked:
    """What one walk of an RTSTRUCT found, before its coordinates are parsed (see :func:`walk_rois`).

    ``numbers`` (ReferencedROINumber) and ``kinds`` (ContourGeometricType of each contour) follow
    the ROIContourSequence items; ``texts`` is the raw ContourData of every contour in that order;
    ``present`` says whether the file has a ROIContourSequence at all.
    """

    modality: str | None
    listed: list[tuple[int | None, str | None]]
    numbers: list[int | None]
    kinds: list[list[str]]
    texts: list[bytes]
    present: bool

    def items(self) -> list[dict[str, Any]] | None:
        """The ROIContourSequence items as ``{"number": ..., "contours": [(type, points), ...]}``.

        ``None`` when :func:`parse_decimals` leaves a coordinate to Python.
        """
        values = parse_decimals(self.texts)
        if values is None:
            return None
        out, k = [], 0
        for number, item_kinds in zip(self.numbers, self.kinds, strict=True):
            contours = []
            for kind in item_kinds:
                points = values[k]
                k += 1
                if points.size % 3:
                    raise InputError(
                        f"A contour of the RTSTRUCT has {points.size} ContourData values, not a multiple of 3."
                    )
                contours.append((kind, points.reshape(-1, 3)))
            out.append({"number": number, "contours": contours})
        return out


def walk_rois(path: str) -> Walked | None:
    """The header of an RTSTRUCT, its ContourData still text; ``None`` if the walker cannot read it as pydicom does.

    The names and numbers are known before the coordinates are converted (:meth:`Walked.items`),
    so a caller can start work that needs only them (allocating the masks) first.
    """
    with open(path, "rb") as handle:
        try:  # mapped, not read: the walk copies only the values it keeps
            data: bytes | mmap.mmap = mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ)
        except (OSError, ValueError):  # an empty file, or one that cannot be mapped
            data = handle.read()
        try:
            found = walk(data, _SPEC, complete=True).values
        except NotHandled:
            return None
        finally:
            if isinstance(data, mmap.mmap):
                data.close()
    try:
        codec = _CODECS.get(_text(found.get(_CHARSET)) or "")
        if codec is None:
            return None
        modality = _text(found.get(_MODALITY))
        rois = [
            (_integer(item.get(_ROI_NUMBER)), _text(item.get(_ROI_NAME), codec))
            for item in found.get(_STRUCTURE_SET_ROIS, [])
        ]
        items = found.get(_ROI_CONTOURS, [])
        kinds = [
            [str(_text(c.get(_CONTOUR_TYPE)) or "CLOSED_PLANAR").upper() for c in item.get(_CONTOURS, [])]
            for item in items
        ]
        numbers = [_integer(item.get(_REFERENCED_ROI)) for item in items]
    except (NotHandled, UnicodeDecodeError, ValueError):
        return None
    texts = [c.get(_CONTOUR_DATA) or b"" for item in items for c in item.get(_CONTOURS, [])]
    return Walked(modality, rois, numbers, kinds, texts, _ROI_CONTOURS in found)
