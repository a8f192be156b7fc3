"""A small DICOM element walker for the voxel readers: raw values of chosen tags, and where the pixel data are.

The voxel readers need a handful of header values and the offset of the pixel data of each file,
or the contours of one RTSTRUCT; building pydicom data sets for them costs more than reading
the voxels. :func:`walk` reads the file meta, then the data set's elements (explicit or implicit
VR little endian, explicit VR big endian), keeps the raw bytes of the tags asked for (and the
items of the sequences asked for, recursively), skips everything else by its length and stops at
the pixel data, whose offset and length it returns.

It handles only what it can read exactly as pydicom does: anything else (no ``DICM`` marker, a
compressed or deflated transfer syntax, elements out of order, a VR that is not two capital
letters, an undefined length outside a sequence, a file that ends inside an element) raises
:class:`NotHandled`, and the callers use pydicom instead.
"""

from __future__ import annotations

import mmap
import struct
from dataclasses import dataclass
from typing import Any, Union

#: The bytes walked: the file's bytes, or a memory map of the file (slices of either are bytes).
Data = bytes | mmap.mmap
#: What to keep of a data set: tag → ``None`` (the raw value) or the spec of the items of a sequence.
Spec = dict[int, Union["Spec", None]]

EXPLICIT_LITTLE = "1.2.840.10008.1.2.1"
IMPLICIT_LITTLE = "1.2.840.10008.1.2"
EXPLICIT_BIG = "1.2.840.10008.1.2.2"
_SYNTAXES = {EXPLICIT_LITTLE: (False, True), IMPLICIT_LITTLE: (True, True), EXPLICIT_BIG: (False, False)}
_ITEM, _ITEM_END, _SEQUENCE_END = 0xFFFEE000, 0xFFFEE00D, 0xFFFEE0DD
_TRANSFER_SYNTAX = 0x00020010
_PIXEL_TAGS = frozenset({0x7FE00008, 0x7FE00009, 0x7FE00010})
_LONG_VRS = frozenset({b"OB", b"OD", b"OF", b"OL", b"OV", b"OW", b"SQ", b"SV", b"UC", b"UN", b"UR", b"UT", b"UV"})
UNDEFINED = 0xFFFFFFFF
_OPEN = 1 << 62  # the end of an undefined-length item or sequence: its delimiter
_TAG = {True: struct.Struct("<HH"), False: struct.Struct(">HH")}
_U16 = {True: struct.Struct("<H"), False: struct.Struct(">H")}
_U32 = {True: struct.Struct("<I"), False: struct.Struct(">I")}


class NotHandled(Exception):
    """The walker does not read this file exactly as pydicom does: the caller uses pydicom."""


class NeedMore(NotHandled):
    """The bytes given end before the walk does: read more of the file (or all of it) and walk again."""


@dataclass(frozen=True, slots=True)
class Pixels:
    """Where a file's pixel data element is: its tag, VR (``None`` in implicit VR), value offset and length."""

    tag: int
    vr: bytes | None
    offset: int
    length: int


@dataclass(frozen=True, slots=True)
class Walked:
    """What :func:`walk` found: the kept values, the pixel data (if reached) and the encoding."""

    values: dict[int, Any]
    vrs: dict[int, bytes]
    pixels: Pixels | None
    transfer_syntax: str
    implicit: bool
    little: bool


def _meta(data: Data) -> tuple[str, int]:
    """The transfer syntax in the file meta and where the data set starts."""
    if len(data) < 144 or data[128:132] != b"DICM":
        raise NotHandled("no DICOM preamble and 'DICM' marker")
    pos, syntax = 132, None
    tag_of, u16, u32 = _TAG[True].unpack_from, _U16[True].unpack_from, _U32[True].unpack_from
    while True:
        if pos + 8 > len(data):
            raise NeedMore("the file meta runs past the bytes read")
        group, element = tag_of(data, pos)
        if group != 2:
            break
        vr = data[pos + 4 : pos + 6]
        if vr in _LONG_VRS:
            length, pos = u32(data, pos + 8)[0], pos + 12
        else:
            length, pos = u16(data, pos + 6)[0], pos + 8
        if length == UNDEFINED or pos + length > len(data):
            raise NeedMore("the file meta runs past the bytes read")
        if group << 16 | element == _TRANSFER_SYNTAX:
            syntax = data[pos : pos + length].decode("ascii", "replace").rstrip("\x00 ")
        pos += length
    if syntax is None:
        raise NotHandled("no transfer syntax in the file meta")
    return syntax, pos


def walk(data: Data, spec: Spec, *, complete: bool) -> Walked:
    r"""Walk the data set of a DICOM file's bytes ``data`` (all of it when ``complete``, else its head).

    Returns the raw values of the tags of ``spec`` found at the top level (sequences as lists of
    item dicts) and, when the walk reached it, where the pixel data are. Raises
    :class:`NeedMore` when ``data`` is only the head and the walk needs more of the file.

    Examples
    --------
    >>> from pydicom.data import get_testdata_file
    >>> data = open(get_testdata_file("CT_small.dcm"), "rb").read()
    >>> found = walk(data, {0x00280010: None}, complete=True)
    >>> found.values[0x00280010], found.pixels.length  # Rows (US, little endian) and 128 x 128 x 2 bytes
    (b'\x80\x00', 32768)
    """
    syntax, pos = _meta(data)
    if syntax not in _SYNTAXES:
        raise NotHandled(f"transfer syntax {syntax}")
    implicit, little = _SYNTAXES[syntax]
    vrs: dict[int, bytes] = {}
    values, _pos, pixels = _dataset(data, pos, len(data), implicit, little, spec, top=True, complete=complete, vrs=vrs)
    return Walked(values, vrs, pixels, syntax, implicit, little)


def _dataset(
    data: Data,
    pos: int,
    end: int,
    implicit: bool,
    little: bool,
    spec: Spec,
    *,
    top: bool,
    complete: bool,
    vrs: dict[int, bytes] | None = None,
) -> tuple[dict[int, Any], int, Pixels | None]:
    """The elements of one data set from ``pos`` to ``end`` (:data:`_OPEN`: to its item delimiter).

    ``vrs`` collects the explicit VR of each kept value.
    """
    out: dict[int, Any] = {}
    tag_of, u16, u32 = _TAG[little].unpack_from, _U16[little].unpack_from, _U32[little].unpack_from
    size = len(data)
    prev = -1
    while pos < end:
        if pos + 8 > size:
            if top and complete and pos == size:
                break
            raise NeedMore("a data set runs past the bytes read") if not complete else NotHandled("truncated")
        group, element = tag_of(data, pos)
        tag = group << 16 | element
        if tag == _ITEM_END and end == _OPEN:
            return out, pos + 8, None
        vr: bytes | None
        if implicit:
            vr, length, start = None, u32(data, pos + 4)[0], pos + 8
        else:
            vr = data[pos + 4 : pos + 6]
            if not (0x40 < vr[0] < 0x5B and 0x40 < vr[1] < 0x5B):
                raise NotHandled(f"VR {vr!r} of ({group:04X},{element:04X})")
            if vr in _LONG_VRS:
                if pos + 12 > size:
                    raise NeedMore("an element header runs past the bytes read")
                length, start = u32(data, pos + 8)[0], pos + 12
            else:
                length, start = u16(data, pos + 6)[0], pos + 8
        if tag <= prev or group == 2 or tag >> 16 == 0xFFFE:
            raise NotHandled(f"({group:04X},{element:04X}) out of order")
        prev = tag
        if top and tag in _PIXEL_TAGS:
            return out, pos, Pixels(tag, vr, start, length)
        if length == UNDEFINED:
            if vr not in (None, b"SQ", b"UN"):
                raise NotHandled(f"undefined length of ({group:04X},{element:04X}), VR {vr!r}")
            inner_implicit, inner_little = (True, True) if vr == b"UN" else (implicit, little)
            keep = tag in spec
            items, pos = _sequence(
                data, start, _OPEN, inner_implicit, inner_little, spec.get(tag) or {}, keep, complete
            )
            if keep:
                out[tag] = items
            continue
        pos = start + length
        if tag in spec:
            if pos > size:
                raise NeedMore("a value runs past the bytes read") if not complete else NotHandled("truncated")
            sub = spec[tag]
            if vrs is not None and vr is not None:
                vrs[tag] = vr
            if sub is None:
                out[tag] = data[start:pos]
            elif vr in (None, b"SQ"):
                out[tag] = _sequence(data, start, pos, implicit, little, sub, True, complete)[0]
            else:
                raise NotHandled(f"({group:04X},{element:04X}) is {vr!r}, not a sequence")
    if end == _OPEN or (top and (pos > end or not complete)):
        raise NeedMore("a data set runs past the bytes read") if not complete else NotHandled("truncated")
    if pos != end:
        raise NotHandled("an element runs past the end of its item")
    return out, pos, None


def _sequence(
    data: Data, pos: int, end: int, implicit: bool, little: bool, spec: Spec, keep: bool, complete: bool
) -> tuple[list[dict[int, Any]], int]:
    """The items of a sequence from ``pos`` to ``end`` (:data:`_OPEN`: to its delimiter)."""
    items: list[dict[int, Any]] = []
    tag_of, u32 = _TAG[little].unpack_from, _U32[little].unpack_from
    while pos < end:
        if pos + 8 > len(data):
            raise NeedMore("a sequence runs past the bytes read") if not complete else NotHandled("truncated")
        group, element = tag_of(data, pos)
        tag, length = group << 16 | element, u32(data, pos + 4)[0]
        if tag == _SEQUENCE_END and end == _OPEN:
            return items, pos + 8
        if tag != _ITEM:
            raise NotHandled(f"({group:04X},{element:04X}) where a sequence item was expected")
        if length == UNDEFINED:
            item, pos, _ = _dataset(data, pos + 8, _OPEN, implicit, little, spec, top=False, complete=complete)
        else:
            item_end = pos + 8 + length
            item = (
                _dataset(data, pos + 8, item_end, implicit, little, spec, top=False, complete=complete)[0]
                if keep and spec
                else {}
            )
            pos = item_end
        if keep:
            items.append(item)
    if end == _OPEN:
        raise NeedMore("a sequence runs past the bytes read") if not complete else NotHandled("truncated")
    if pos != end:
        raise NotHandled("an item runs past the end of its sequence")
    return items, pos
