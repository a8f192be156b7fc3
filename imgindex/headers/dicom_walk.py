"""The element walk of the fast DICOM reader: element headers unpacked with :mod:`struct`.

:func:`_walk` reads the elements of one data set, keeps the raw bytes of the wanted tags and skips
the others by their length; :func:`_sequence` does the same for the items of a sequence. Anything
the walk does not handle raises :class:`Unsupported` (the caller falls back to pydicom). Values
are decoded in :mod:`imgindex.headers.dicom_values`.
"""

from __future__ import annotations

import os
from typing import Any, BinaryIO

from pydicom.datadict import dictionary_VR

from .dicom_tags import (
    _BEFORE_GROUPS,
    _CHARSET,
    _DELIM,
    _ENC,
    _EOF,
    _EXPLICIT,
    _EXPLICIT_INT,
    _IMPLICIT,
    _ITEM,
    _ITEM_END,
    _LAST_META,
    _LAST_NESTED,
    _LATIN1_CHARSETS,
    _LONG_VR_INTS,
    _LONG_VRS,
    _MODALITY,
    _NESTED,
    _NOTHING,
    _PLAIN,
    _SEQ_END,
    _SHORT_VR_INTS,
    _SHORT_VRS,
    _SQ_TAGS,
    _U32,
    _UNDEFINED,
    _VR,
)


class Unsupported(Exception):
    """The fast path does not handle this file; the caller falls back to pydicom."""


class Truncated(Unsupported):
    """The file ends inside its header: the caller reports it (pydicom would read what there is, silently)."""


class _Source:
    """A window on the file's bytes: the caller's head first, then chunks read on demand."""

    __slots__ = ("base", "chunk", "data", "handle", "path", "size")

    def __init__(self, path: str, head: bytes) -> None:
        self.path, self.data, self.base = path, head, 0
        self.size = _EOF  # unknown until the file is opened
        self.chunk = 1 << 16
        self.handle: BinaryIO | None = None

    def fill(self, pos: int, n: int) -> None:
        """Load at least ``n`` bytes from file offset ``pos`` (fewer at the end of the file)."""
        if self.handle is None:
            self.handle = open(self.path, "rb")  # noqa: SIM115 - closed by close()
            self.size = os.fstat(self.handle.fileno()).st_size
        self.handle.seek(pos)
        self.data, self.base = self.handle.read(max(0, min(max(n, self.chunk), self.size - pos))), pos
        self.chunk = min(self.chunk * 4, 1 << 24)

    def close(self) -> None:
        """Close the file if it was opened."""
        if self.handle is not None:
            self.handle.close()


def _walk(
    src: _Source,
    pos: int,
    end: int,
    implicit: bool,
    wanted: frozenset[int],
    last: int,
    encoding: str | None = "latin-1",
) -> tuple[dict[int, Any], int]:
    """Walk the elements of one data set from ``pos``; return the wanted ones and the end position.

    ``end`` is the data set's end offset, :data:`_EOF` at the top level (stop at the end of the
    file or at the first tag after ``last``) or :data:`_DELIM` for an undefined-length item.
    Values are raw bytes; sequences are lists of item dicts. Key :data:`_ENC` holds the text
    encoding: the data set's own (0008,0005), else its parent's ``encoding``, as in pydicom.
    """
    out: dict[int, Any] = {_ENC: encoding}
    prev = -1
    data, base = src.data, src.base
    dlen = len(data)
    # the per-element names as locals (a global lookup per element costs a fifth of the loop)
    unpack_implicit, unpack_explicit, short_vrs, long_vrs, u32 = _IMPLICIT, _EXPLICIT, _SHORT_VRS, _LONG_VRS, _U32
    undefined = _UNDEFINED
    unpack_fast, short_ints, long_ints, plain = _EXPLICIT_INT, _SHORT_VR_INTS, _LONG_VR_INTS, _PLAIN
    while pos < end:
        # The fast loop: elements in order, with their header (and a wanted value) in the buffer,
        # of a defined length, not a sequence we want, not the character set. It does exactly what
        # the general code below does for them; anything else breaks out to the general code.
        off = pos - base
        stop = dlen - 12  # the header fits: off + 12 <= dlen
        if end - base <= stop:
            stop = end - base - 1  # inside the data set: pos < end
        if implicit:
            while off <= stop:
                group, elem, length = unpack_implicit(data, off)
                tag = group << 16 | elem
                if not prev < tag <= last or length == undefined:
                    break
                if tag in wanted:
                    if tag not in plain or off + 8 + length > dlen:
                        break
                    out[tag] = data[off + 8 : off + 8 + length]
                prev = tag
                off += 8 + length
        else:
            while off <= stop:
                group, elem, vr_int, length = unpack_fast(data, off)
                tag = group << 16 | elem
                if not prev < tag <= last:
                    break
                if vr_int in short_ints:
                    if tag in wanted:
                        if plain.get(tag) != vr_int or off + 8 + length > dlen:
                            break
                        out[tag] = data[off + 8 : off + 8 + length]
                    prev = tag
                    off += 8 + length
                elif vr_int in long_ints and tag not in wanted:
                    length = u32(data, off + 8)[0]
                    if length == undefined:
                        break
                    prev = tag
                    off += 12 + length
                else:
                    break
        pos = base + off
        if pos >= end:
            break
        # the general code: one element
        if off + 12 > dlen:
            if base + dlen < src.size:
                src.fill(pos, 12)
                data, base, off = src.data, pos, 0
                dlen = len(data)
            if dlen - off < 8:
                if end == _EOF and pos == src.size:
                    break
                raise Truncated("the file ends inside a data set")
        if implicit:
            group, elem, length = unpack_implicit(data, off)
            vr = None
        else:
            group, elem, vr, length = unpack_explicit(data, off)
        tag = group << 16 | elem
        if tag > last:
            if end == _EOF:
                break  # past the last tag we need (or at the pixel data)
            if tag == _ITEM_END and end == _DELIM:
                return out, pos + 8
            raise Unsupported(f"unexpected ({group:04X},{elem:04X}) in a sequence item")
        if tag <= prev:
            if last == _LAST_META and group != 2:
                break  # the file meta ends at the first tag of another group
            raise Unsupported("data elements out of order")
        prev = tag
        if vr is None or vr in short_vrs:
            pos += 8
        elif vr in long_vrs:
            if off + 12 > dlen:
                raise Truncated("the file ends inside an element header")
            length = u32(data, off + 8)[0]
            pos += 12
        else:
            raise Unsupported(f"unknown VR {vr!r} in ({group:04X},{elem:04X})")
        if length == undefined:
            if not _is_sequence(src, tag, vr, pos):
                raise Unsupported(f"undefined length for non-sequence ({group:04X},{elem:04X})")
            if tag in wanted:
                if _VR[tag] != b"SQ":
                    raise Unsupported(f"({group:04X},{elem:04X}) is not a sequence")
                out[tag], pos = _sequence(src, pos, _DELIM, implicit, True, encoding)
            elif end == _EOF and tag > _BEFORE_GROUPS and _is_rtstruct(out):
                break  # the contours: nothing an RTSTRUCT has after them is needed
            else:
                pos = _sequence(src, pos, _DELIM, implicit, False, encoding)[1]
            data, base = src.data, src.base
            dlen = len(data)
            continue
        if tag in wanted:
            want = _VR[tag]
            if vr is not None and vr != want:
                raise Unsupported(f"VR {vr!r} of ({group:04X},{elem:04X}) differs from the dictionary")
            if want == b"SQ":
                out[tag] = _sequence(src, pos, pos + length, implicit, True, encoding)[0]
                data, base = src.data, src.base
                dlen = len(data)
            else:
                off = pos - base
                if off + length > dlen:
                    src.fill(pos, length)
                    data, base, off = src.data, pos, 0
                    dlen = len(data)
                    if length > dlen:
                        raise Truncated("the file ends inside a value")
                out[tag] = data[off : off + length]
                if tag == _CHARSET:
                    out[_ENC] = encoding = _encoding(out[tag])
        pos += length
    if pos != end and end < _EOF:
        raise Unsupported("an element runs past the end of its item")
    return out, pos


def _sequence(
    src: _Source, pos: int, end: int, implicit: bool, keep: bool, encoding: str | None
) -> tuple[list[dict[int, Any]], int]:
    """Walk a sequence's items from ``pos`` to ``end`` (or its delimiter, ``end`` = :data:`_DELIM`)."""
    items: list[dict[int, Any]] = []
    wanted = _NESTED if keep else _NOTHING
    while pos < end:
        off = pos - src.base
        if off + 8 > len(src.data):
            src.fill(pos, 8)
            off = 0
            if len(src.data) < 8:
                raise Truncated("the file ends inside a sequence")
        group, elem, length = _IMPLICIT(src.data, off)
        tag = group << 16 | elem
        pos += 8
        if tag == _SEQ_END and end == _DELIM:
            return items, pos
        if tag != _ITEM:
            raise Unsupported(f"({group:04X},{elem:04X}) where a sequence item was expected")
        if length == _UNDEFINED:
            item_end = _DELIM
        else:
            item_end = pos + length
            if not keep:
                pos = item_end
                continue
        # pydicom reads an item of an explicit-VR sequence as implicit VR if it looks implicit
        implicit_item = implicit or _looks_implicit(src, pos)
        item, pos = _walk(src, pos, item_end, implicit_item, wanted, _LAST_NESTED, encoding)
        if keep:
            items.append(item)
    if pos != end:
        raise Unsupported("a sequence item runs past the end of its sequence")
    return items, pos


def _peek(src: _Source, pos: int, n: int) -> bytes:
    off = pos - src.base
    if off + n > len(src.data) and src.base + len(src.data) < src.size:
        src.fill(pos, n)
        off = 0
    return src.data[off : off + n]


def _looks_implicit(src: _Source, pos: int) -> bool:
    """The test pydicom makes of a data set's first element: its "VR" is not two capital letters."""
    vr = _peek(src, pos, 6)[4:6]
    return len(vr) == 2 and not (0x40 < vr[0] < 0x5B and 0x40 < vr[1] < 0x5B)


def _is_sequence(src: _Source, tag: int, vr: bytes | None, pos: int) -> bool:
    """Whether pydicom parses an undefined-length element as a sequence."""
    if vr is not None:
        return vr in (b"SQ", b"UN")
    if tag in _SQ_TAGS:
        return True
    try:
        if (tag >> 16) % 2:
            raise KeyError(tag)
        return dictionary_VR(tag) == "SQ"
    except KeyError:  # private or unknown: a sequence if an item follows
        return _peek(src, pos, 4) == b"\xfe\xff\x00\xe0"


def _is_rtstruct(top: dict[int, Any]) -> bool:
    modality: bytes = top.get(_MODALITY, b"")
    return modality.strip(b" \x00") == b"RTSTRUCT"


def _encoding(raw: bytes | None) -> str | None:
    """Python codec of the first specific character set; None: decode only ASCII text."""
    first = raw.decode("latin-1").rstrip(" \x00").split("\\")[0] if raw else ""
    if first in _LATIN1_CHARSETS:
        return "latin-1"
    return "utf-8" if first == "ISO_IR 192" else None
