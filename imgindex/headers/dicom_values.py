"""Value decoding of the fast DICOM reader: raw element bytes → the files table's Python values.

Each conversion gives exactly what :func:`imgindex.headers.dicom_pydicom.values_from_dataset` gives
for the same element: pydicom's decoding (character sets, multi-values, DS/IS parsing with its
fallbacks), then the reference's ``_convert`` / ``_text``. Anything else raises
:class:`~imgindex.headers.dicom_walk.Unsupported`. Conversions are remembered in a
:class:`ValueCache` that belongs to one reader.
"""

from __future__ import annotations

import math
from typing import Any, Literal, overload

from .dicom_tags import (
    _CONTOUR_IMAGE_SEQ,
    _DERIVATION_SEQ,
    _ENC,
    _FOR_UID,
    _KIND,
    _MEASURES_SEQ,
    _ORIENTATION_SEQ,
    _PER_FRAME_SEQ,
    _POSITION_SEQ,
    _REF_FOR_SEQ,
    _REF_FOR_UID,
    _REF_INSTANCE_SEQ,
    _REF_SERIES_SEQ,
    _REF_SOP_UID,
    _ROI_NAME,
    _ROI_NUMBER,
    _ROI_SEQ,
    _RT_SERIES_SEQ,
    _RT_STUDY_SEQ,
    _SCALARS,
    _SEGMENT_DESCRIPTION,
    _SEGMENT_LABEL,
    _SEGMENT_NUMBER,
    _SEGMENT_SEQ,
    _SERIES_UID,
    _SHARED_SEQ,
    _SOURCE_SEQ,
    _VR,
    _tag,
)
from .dicom_walk import Unsupported

#: Converted top-level values by (tag, raw bytes, text encoding). Most values repeat from file to
#: file (modality, descriptions, spacing, orientation, series UIDs ...): converting each distinct
#: one once is exact (the conversion depends on nothing else) and shares the resulting objects.
_MEMO_SIZE = 1 << 15
#: Tags whose values differ in (nearly) every file: not worth remembering.
_UNIQUE = frozenset(_tag(k) for k in ("SOPInstanceUID", "ImagePositionPatient", "InstanceNumber"))
_SHARED_SCALARS = tuple(s for s in _SCALARS if s[1] not in _UNIQUE)
_SHARED_TAGS = tuple(s[1] for s in _SHARED_SCALARS)
_UNIQUE_SCALARS = tuple(s for s in _SCALARS if s[1] in _UNIQUE)
_SCALAR_ORDER = dict.fromkeys(name for name, _tag_, _vr, _kind in _SCALARS)
#: The converted shared values of a whole file by (text encoding, raw values of every shared tag):
#: the slices of a series differ only in their unique tags, so a series costs one conversion.
_GROUPS_SIZE = 1 << 12


def _decode(raw: bytes, encoding: str | None) -> str:
    if b"\x1b" in raw:
        raise Unsupported("text with ISO 2022 escape sequences")
    if encoding is None:
        if not raw.isascii():
            raise Unsupported("non-ASCII text in a character set other than Latin-1 or UTF-8")
        return raw.decode("ascii")
    try:
        return raw.decode(encoding)
    except UnicodeDecodeError:
        raise Unsupported(f"text that is not valid {encoding}") from None


def _split(raw: bytes, vr: bytes, encoding: str | None) -> list[str]:
    """The components of a string value, as pydicom's converter for ``vr`` gives them."""
    if vr == b"UI":
        return raw.decode("latin-1").rstrip("\x00 ").split("\\")
    if vr == b"CS" or vr == b"IS":
        return raw.decode("latin-1").rstrip(" \x00").split("\\")
    if vr == b"DS":
        return raw.decode("latin-1").strip().rstrip(" \x00").split("\\")
    if vr == b"PN":  # str(PersonName) drops empty trailing component groups
        return [c.rstrip("=") for c in _decode(raw.rstrip(b"\x00 "), encoding).split("\\")]
    if vr == b"ST":
        return [_decode(raw, encoding).rstrip("\x00 ")]
    if vr == b"LO" or vr == b"SH":
        return [c.rstrip("\x00 ") for c in _decode(raw, encoding).split("\\")]
    raise Unsupported(f"no conversion for VR {vr!r}")  # pragma: no cover - only the VRs above are needed


def _text(value: str) -> str | None:
    return value.strip().strip("\x00").strip() or None


class _Retry(Exception):
    """pydicom's DS or IS converter failed: pydicom then reads the value as SH text."""


def _ds(text: str) -> float | None:
    if not text.strip():
        return None  # pydicom keeps a blank component as text, which float() refuses
    try:
        return float(text)
    except ValueError:
        raise _Retry from None


def _is(text: str) -> int | None:
    """int(IS(text)): an integer string, or a float string truncated (pydicom's ISfloat)."""
    if not text.strip():
        return None
    try:
        value = int(text)
    except ValueError:
        try:
            number = float(text)
        except ValueError:
            raise _Retry from None
        if math.isnan(number):
            raise _Retry from None
        if math.isinf(number):
            raise Unsupported(f"IS value {text!r}") from None  # pydicom raises OverflowError
        return int(number)
    if abs(value) > 2**53:  # pydicom compares with float(text)
        raise Unsupported(f"IS value {text!r}")
    return value


@overload
def _numbers(raw: bytes, vr: Literal[b"IS"]) -> list[int | None] | None: ...
@overload
def _numbers(raw: bytes, vr: bytes) -> list[float | int | None] | None: ...
def _numbers(raw: bytes, vr: bytes) -> list[float | int | None] | list[int | None] | None:
    """A DS or IS value's numbers as the reference's int()/float() sees them (None: not a number).

    None for an empty value.
    """
    parts = _split(raw, vr, None)
    if len(parts) == 1 and not parts[0]:
        return None
    try:
        return [(_ds if vr == b"DS" else _is)(p) for p in parts]
    except _Retry:
        if not raw.isascii():
            raise Unsupported("a malformed non-ASCII number") from None
        parts = [p.rstrip("\x00 ") for p in raw.decode("ascii").split("\\")]
        if len(parts) == 1 and not parts[0]:
            return None
        convert = float if vr == b"DS" else int
        numbers: list[float | int | None] = []
        for p in parts:
            try:
                numbers.append(convert(p))
            except ValueError:
                numbers.append(None)
        return numbers


def _plain_numbers(raw: bytes, vr: bytes) -> list[float] | list[int] | None:
    """The :func:`_numbers` of the usual DS and IS values, else None.

    A DS value whose every component :func:`float` takes, or a single IS integer of at most 2**53;
    None for any other value (then :func:`_numbers`' rules apply).
    """
    if vr == b"DS":
        try:
            return list(map(float, raw.decode("latin-1").strip().rstrip(" \x00").split("\\")))
        except ValueError:  # a blank or malformed component
            return None
    text = raw.decode("latin-1").rstrip(" \x00")
    if "\\" in text:
        return None
    try:
        value = int(text)
    except ValueError:
        return None
    return [value] if -(2**53) <= value <= 2**53 else None


def _column(raw: bytes | None, vr: bytes, kind: str, encoding: str | None) -> Any:
    """The reference's ``_convert(ds.get(keyword), type)`` for a raw value."""
    if not raw:
        return None
    if vr == b"US":
        if len(raw) % 2:
            raise Unsupported("US value of odd length")
        return int.from_bytes(raw[:2], "little")  # only scalar US columns
    if vr == b"DS" or vr == b"IS":
        numbers = _plain_numbers(raw, vr) or _numbers(raw, vr)  # the usual values first
        if numbers is None:
            return None
        if kind[0] != "l":
            return numbers[0]
        return None if None in numbers else tuple(numbers)
    if vr == b"UI" and kind == "str":  # _text of the first of _split's components
        return _text(raw.decode("latin-1").rstrip("\x00 ").split("\\", 1)[0])
    parts = _split(raw, vr, encoding)
    if len(parts) == 1 and not parts[0]:
        return None
    if kind == "str":
        return _text(parts[0])
    return tuple(_text(p) or "" for p in parts)


def _one(item: dict[int, Any], tag: int) -> str | None:
    """The reference's ``_text(item.get(keyword))``."""
    raw = item.get(tag)
    if not raw:
        return None
    parts = _split(raw, _VR[tag], item[_ENC])
    if len(parts) > 1:  # the reference would give str(MultiValue), "['a', 'b']"
        raise Unsupported("a multi-valued reference or name")
    return _text(parts[0])


def _integers(items: list[dict[int, Any]], tag: int) -> tuple[int, ...] | None:
    """The reference's ``_convert([item.get(keyword) ...], list<int>)`` for ROINumber / SegmentNumber."""
    values: list[int] = []
    ok = True
    numbers: list[int | None]
    for item in items:
        raw = item.get(tag)
        if not raw:
            continue  # item.get() is None
        if _VR[tag] == b"US":
            if len(raw) % 2:
                raise Unsupported("US value of odd length")
            numbers = [int.from_bytes(raw[i : i + 2], "little") for i in range(0, len(raw), 2)]
        else:
            numbers = _numbers(raw, b"IS") or [None]
        if len(numbers) == 1 and numbers[0] is not None:
            values.append(numbers[0])
        else:
            ok = False  # int() of a list or text fails
    return tuple(values) if ok and values else None


def _items(ds: dict[int, Any] | None, tag: int) -> list[dict[int, Any]]:
    return (ds.get(tag) or []) if ds is not None else []


def _first(groups: list[dict[int, Any]], tag: int) -> dict[int, Any] | None:
    for group in groups:
        items = _items(group, tag)
        if items:
            return items[0]
    return None


def _unique(values: list[str | None]) -> tuple[str, ...] | None:
    seen = dict.fromkeys(v for v in values if v)
    return tuple(seen) if seen else None


class ValueCache:
    """Converted values remembered by one reader: per raw value, and per file's shared values.

    A reader's own, never shared between processes; bounded (cleared when full).
    """

    __slots__ = ("groups", "memo")

    def __init__(self) -> None:
        #: converted top-level values by (tag, raw bytes, text encoding)
        self.memo: dict[tuple[int, bytes, str | None], Any] = {}
        #: the converted shared values of a file by (text encoding, raw values of every shared tag)
        self.groups: dict[tuple[Any, ...], dict[str, Any]] = {}


def _scalars(ds: dict[int, Any], enc: str | None, cache: ValueCache) -> dict[str, Any]:
    """The reference's ``_convert(ds.get(keyword), type)`` of every top-level scalar column, in order."""
    get = ds.get
    key = (enc, *map(get, _SHARED_TAGS))
    groups = cache.groups
    shared = groups.get(key)
    if shared is None:
        shared, memo = {}, cache.memo
        for name, tag, vr, kind in _SHARED_SCALARS:
            raw = get(tag)
            if not raw:
                shared[name] = None
                continue
            item = (tag, raw, enc)
            try:
                shared[name] = memo[item]
            except KeyError:
                if len(memo) >= _MEMO_SIZE:
                    memo.clear()
                shared[name] = memo[item] = _column(raw, vr, kind, enc)
        if len(groups) >= _GROUPS_SIZE:
            groups.clear()
        groups[key] = shared
    out = _SCALAR_ORDER.copy()
    out.update(shared)
    for name, tag, vr, kind in _UNIQUE_SCALARS:
        out[name] = _column(get(tag), vr, kind, enc)
    return out


def _values(ds: dict[int, Any], transfer_syntax: str | None, cache: ValueCache) -> dict[str, Any]:
    """Mirror of :func:`imgindex.headers.dicom_pydicom.values_from_dataset` on the raw elements."""
    out = _scalars(ds, ds[_ENC], cache)
    out["TransferSyntaxUID"] = transfer_syntax

    ref_for: list[str | None]
    ref_series: list[str | None]
    ref_sop: list[str | None]
    ref_for, ref_series, ref_sop = [], [], []
    for for_item in _items(ds, _REF_FOR_SEQ):
        ref_for.append(_one(for_item, _FOR_UID))
        for study in _items(for_item, _RT_STUDY_SEQ):
            for series in _items(study, _RT_SERIES_SEQ):
                ref_series.append(_one(series, _SERIES_UID))
                ref_sop.extend(_one(i, _REF_SOP_UID) for i in _items(series, _CONTOUR_IMAGE_SEQ))
    rois = _items(ds, _ROI_SEQ)
    ref_for.extend(_one(r, _REF_FOR_UID) for r in rois)
    if _ROI_SEQ in ds:
        out["ROINumber"] = _integers(rois, _ROI_NUMBER)
        out["ROIName"] = tuple(_one(r, _ROI_NAME) or "" for r in rois)

    for series in _items(ds, _REF_SERIES_SEQ):
        ref_series.append(_one(series, _SERIES_UID))
        ref_sop.extend(_one(i, _REF_SOP_UID) for i in _items(series, _REF_INSTANCE_SEQ))
    if out.get("Modality") == "SEG":  # its source images, named at the top level
        ref_sop.extend(_one(s, _REF_SOP_UID) for s in _items(ds, _SOURCE_SEQ))
    if _SEGMENT_SEQ in ds:
        segments = _items(ds, _SEGMENT_SEQ)
        out["SegmentNumber"] = _integers(segments, _SEGMENT_NUMBER)
        out["SegmentLabel"] = tuple(_one(s, _SEGMENT_LABEL) or "" for s in segments)
        out["SegmentDescription"] = tuple(_one(s, _SEGMENT_DESCRIPTION) or "" for s in segments)

    per_frame = _items(ds, _PER_FRAME_SEQ)
    out["multiframe"] = bool(per_frame) or None
    if per_frame or _SHARED_SEQ in ds:
        groups = _items(ds, _SHARED_SEQ)[:1] + per_frame[:1]
        for seq, keys, frames in (
            (_MEASURES_SEQ, ("PixelSpacing", "SliceThickness", "SpacingBetweenSlices"), groups),
            (_ORIENTATION_SEQ, ("ImageOrientationPatient",), groups),
            (_POSITION_SEQ, ("ImagePositionPatient",), per_frame[:1]),
        ):
            node = _first(frames, seq)
            if node is not None:
                for key in keys:
                    if out.get(key) is None:
                        tag, vr, kind = _KIND[key]
                        out[key] = _column(node.get(tag), vr, kind, node[_ENC])
        for frame in per_frame:  # the frames' source images (SEG), with or without ReferencedInstanceSequence
            for derivation in _items(frame, _DERIVATION_SEQ):
                ref_sop.extend(_one(s, _REF_SOP_UID) for s in _items(derivation, _SOURCE_SEQ))

    out["ReferencedFrameOfReferenceUID"] = _unique(ref_for)
    out["ReferencedSeriesInstanceUID"] = _unique(ref_series)
    out["ReferencedSOPInstanceUID"] = _unique(ref_sop)
    return out
