"""Where a DICOM file that ends inside its header ends: the element, its start and its declared length.

pydicom reads a file cut short inside its header without complaint (it keeps what it read), and the
fast reader only knows that the file ended. :func:`where_it_ends` walks the element headers of the
file (file meta, then the data set in its transfer syntax, into sequences and items) up to the pixel
data, and says in which element, at which depth, the file ends. It is called only for files that
are known or suspected to be cut short, never on the scan's fast path.
"""

from __future__ import annotations

import mmap
import os
import struct
from dataclasses import dataclass

from pydicom.datadict import dictionary_VR, keyword_for_tag

__all__ = ["Cut", "cut_message", "where_it_ends"]

_LONG = frozenset({b"OB", b"OD", b"OF", b"OL", b"OV", b"OW", b"SQ", b"UC", b"UN", b"UR", b"UT"})
_ITEM, _ITEM_END, _SEQ_END = 0xFFFEE000, 0xFFFEE00D, 0xFFFEE0DD
_PIXELS = frozenset({0x7FE00008, 0x7FE00009, 0x7FE00010})
_UNDEFINED = 0xFFFFFFFF
_DEFLATED = ("1.2.840.10008.1.2.1.99", "1.2.840.10008.1.2.4.95")


@dataclass(frozen=True)
class Cut:
    """Where a file ends inside its header: ``size`` bytes, inside ``where`` (the elements, outermost first)."""

    size: int
    where: tuple[str, ...]
    start: int
    length: int | None


class _End(Exception):
    def __init__(self, start: int, length: int | None) -> None:
        self.start, self.length = start, length


def _name(tag: int) -> str:
    keyword = keyword_for_tag(tag) if tag >> 16 != 0xFFFE else ""
    return f"({tag >> 16:04X},{tag & 0xFFFF:04X})" + (f" {keyword}" if keyword else "")


def _is_sequence(tag: int, vr: bytes | None) -> bool:
    if vr is not None:
        return vr == b"SQ"
    try:
        return dictionary_VR(tag) == "SQ"
    except KeyError:
        return False


class _Walker:
    """The element headers of one buffer, little or big endian, explicit or implicit VR."""

    def __init__(self, data: mmap.mmap | bytes, little: bool, implicit: bool) -> None:
        self.data, self.size, self.implicit = data, len(data), implicit
        order = "<" if little else ">"
        self.tag = struct.Struct(order + "HH").unpack_from
        self.u16 = struct.Struct(order + "H").unpack_from
        self.u32 = struct.Struct(order + "L").unpack_from
        self.path: list[str] = []

    def elements(self, pos: int, end: int | None, top: bool) -> int:
        """Walk the elements from ``pos`` to ``end`` (None: to an item delimiter); the end position."""
        while end is None or pos < end:
            if pos == self.size and top:
                return pos
            if pos + 8 > self.size:
                self.path.append(f"the element header at byte {pos}")
                raise _End(pos, None)
            group, element = self.tag(self.data, pos)
            tag = group << 16 | element
            if end is None and tag == _ITEM_END:
                return pos + 8
            if top and tag in _PIXELS:
                return pos
            if self.implicit:
                vr, length, header = None, self.u32(self.data, pos + 4)[0], 8
            else:
                vr = bytes(self.data[pos + 4 : pos + 6])
                if vr in _LONG:
                    if pos + 12 > self.size:
                        self.path.append(_name(tag))
                        raise _End(pos, None)
                    length, header = self.u32(self.data, pos + 8)[0], 12
                else:
                    length, header = self.u16(self.data, pos + 6)[0], 8
            self.path.append(_name(tag))
            value = pos + header
            if length == _UNDEFINED or _is_sequence(tag, vr):
                pos = self.items(value, None if length == _UNDEFINED else value + length, pos, length)
            elif value + length > self.size:
                raise _End(pos, length)
            else:
                pos = value + length
            self.path.pop()
        return pos

    def items(self, pos: int, end: int | None, start: int, length: int) -> int:
        """Walk the items of a sequence (of a defined ``end``, or to its delimiter)."""
        number = 0
        while end is None or pos < end:
            if pos + 8 > self.size:
                raise _End(start, None if length == _UNDEFINED else length)
            group, element = self.tag(self.data, pos)
            tag, item_length = group << 16 | element, self.u32(self.data, pos + 4)[0]
            if tag == _SEQ_END:
                return pos + 8
            if tag != _ITEM:
                raise _End(start, None if length == _UNDEFINED else length)  # not a sequence we can walk
            number += 1
            self.path.append(f"item {number}")
            body, implicit = pos + 8, self.implicit
            vr = self.data[body + 4 : body + 6]  # pydicom reads an item that looks implicit as implicit
            self.implicit = implicit or (len(vr) == 2 and not (0x40 < vr[0] < 0x5B and 0x40 < vr[1] < 0x5B))
            if item_length == _UNDEFINED:
                pos = self.elements(body, None, False)
            else:
                if body + item_length > self.size:
                    pos = self.elements(body, body + item_length, False)  # find the deepest element
                pos = body + item_length
            self.implicit = implicit
            self.path.pop()
        if end is not None and end > self.size:
            raise _End(start, length)
        return pos


def _transfer_syntax(walker: _Walker, pos: int) -> tuple[str | None, int]:
    """The transfer syntax of the file meta from ``pos`` (explicit VR little endian), and where it ends."""
    syntax = None
    while pos + 8 <= walker.size:
        group, element = walker.tag(walker.data, pos)
        if group != 2:
            break
        start = pos
        vr = bytes(walker.data[pos + 4 : pos + 6])
        if vr in _LONG:
            if pos + 12 > walker.size:
                walker.path.append(_name(group << 16 | element))
                raise _End(start, None)
            length, header = walker.u32(walker.data, pos + 8)[0], 12
        else:
            length, header = walker.u16(walker.data, pos + 6)[0], 8
        if pos + header + length > walker.size:
            walker.path.append(_name(group << 16 | element))
            raise _End(start, length)
        if element == 0x0010:
            syntax = bytes(walker.data[pos + header : pos + header + length]).decode("latin-1").strip("\x00 ")
        pos += header + length
    if pos == walker.size or 0 < walker.size - pos < 8:  # nothing after the meta, or half an element header
        walker.path.append(f"the element header at byte {pos}" if pos < walker.size else "the file meta")
        raise _End(pos, None)
    return syntax, pos


def where_it_ends(path: str | os.PathLike[str]) -> Cut | None:
    """Where the DICOM file ``path`` ends, if it ends inside its header (before the pixel data); else None.

    None too for a deflated data set (its header cannot be walked without inflating it).

    Examples
    --------
    >>> from pydicom.data import get_testdata_file
    >>> path = os.path.join(tmp_dir, "cut.dcm")
    >>> _ = open(path, "wb").write(open(get_testdata_file("CT_small.dcm"), "rb").read()[:1000])
    >>> cut = where_it_ends(path)
    >>> cut.size, cut.where, cut.start, cut.length
    (1000, ('(0010,1002) OtherPatientIDsSequence',), 982, 72)
    >>> where_it_ends(get_testdata_file("CT_small.dcm")) is None
    True
    """
    with open(path, "rb") as handle:
        size = os.fstat(handle.fileno()).st_size
        if size == 0:
            return Cut(0, (), 0, None)
        with mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ) as data:
            preamble = size >= 132 and data[128:132] == b"DICM"
            pos = 132 if preamble else 0
            meta = _Walker(data, True, False)
            try:
                syntax, pos = _transfer_syntax(meta, pos) if preamble or data[:2] == b"\x02\x00" else (None, pos)
            except _End as end:
                return Cut(size, tuple(meta.path), end.start, end.length)
            if syntax in _DEFLATED:
                return None
            # The VR encoding of the data set as pydicom finds it (from its first element, whatever the
            # transfer syntax says); without a meta, the byte order too (group 0008 or lower first).
            vr = data[pos + 4 : pos + 6]
            implicit = not (len(vr) == 2 and 0x40 < vr[0] < 0x5B and 0x40 < vr[1] < 0x5B)
            if syntax is None:
                little = (
                    size < pos + 2
                    or int.from_bytes(data[pos : pos + 2], "little") <= 0x0008
                    or (int.from_bytes(data[pos : pos + 2], "big") > 0x0008)
                )
            else:
                little = syntax != "1.2.840.10008.1.2.2"
            walker = _Walker(data, little, implicit)
            try:
                walker.elements(pos, size + 1, True)
            except _End as end:
                return Cut(size, tuple(walker.path), end.start, end.length)
            except struct.error:
                return None
    return None


def cut_message(path: str, cut: Cut | None, reason: str = "") -> str:
    """The ``error`` of a file that ends inside its header.

    Examples
    --------
    >>> print(cut_message("/d/x.dcm", Cut(1000, ("(0028,0030) PixelSpacing",), 990, 16)))
    The DICOM header of /d/x.dcm is cut short: the file ends at byte 1000, inside (0028,0030) PixelSpacing (from byte 990, 16 bytes long). Copy the file again from its source.
    """  # noqa: E501
    advice = "Copy the file again from its source."
    if cut is None or not cut.where:
        size = os.path.getsize(path) if os.path.exists(path) else "?"
        inside = f" ({reason})" if reason else ""
        return f"The DICOM header of {path} is cut short: the file ends at byte {size}{inside}. {advice}"
    length = f", {cut.length} bytes long" if cut.length is not None else ""
    return (
        f"The DICOM header of {path} is cut short: the file ends at byte {cut.size}, inside "
        f"{' > '.join(cut.where)} (from byte {cut.start}{length}). {advice}"
    )
