"""DICOM header reading: one parse per file, never the pixel data.

:func:`read` returns a plain dict whose keys are columns of the files table
(:data:`imgindex.schema.FILES`): the DICOM keywords verbatim, the mask references
(``ReferencedSeriesInstanceUID``, ``ROIName``, ``SegmentLabel`` ...), and the geometry columns
derived from them (``size_x``, ``spacing_x``, ``origin_x``, ``direction`` ...).

Two readers fill the same dict: a fast pure-Python reader of the elements we need
(:mod:`imgindex.headers.dicom_fast`, when present) and :mod:`pydicom`, used for anything the fast
reader does not handle (big endian, deflated, no meta and odd encodings). Both are compared on
every test file.
"""

from __future__ import annotations

import os
import struct
import warnings
from typing import Any, BinaryIO

import pyarrow as pa
import pydicom
from pydicom.datadict import tag_for_keyword
from pydicom.dataset import Dataset
from pydicom.multival import MultiValue
from pydicom.tag import Tag

from ..schema import FILES

#: Top-level DICOM keywords that are columns of the files table, with their schema types.
TOP_LEVEL = tuple(
    c
    for c in FILES
    if c.name[0].isupper()
    and tag_for_keyword(c.name) is not None
    and c.name
    not in (
        "ReferencedFrameOfReferenceUID",
        "ReferencedSeriesInstanceUID",
        "ReferencedSOPInstanceUID",
        "ROINumber",
        "ROIName",
        "SegmentNumber",
        "SegmentLabel",
        "SegmentDescription",
        "ImagePositionPatient",
        "TransferSyntaxUID",
    )
) + tuple(c for c in FILES if c.name == "ImagePositionPatient")

_SEQUENCES = (
    "ReferencedFrameOfReferenceSequence",  # RTSTRUCT (3006,0010)
    "StructureSetROISequence",  # RTSTRUCT (3006,0020)
    "ReferencedSeriesSequence",  # SEG (0008,1115)
    "SegmentSequence",  # SEG (0062,0002)
    "SharedFunctionalGroupsSequence",  # (5200,9229)
    "PerFrameFunctionalGroupsSequence",  # (5200,9230)
)

#: Every tag the pydicom reader asks for.
SPECIFIC_TAGS = [Tag(tag_for_keyword(c.name)) for c in TOP_LEVEL] + [Tag(tag_for_keyword(k)) for k in _SEQUENCES]

_SCALAR_KIND = {c.name: c.type for c in TOP_LEVEL}
_LIST_INT = pa.list_(pa.int64())


def _text(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, bytes):
        value = value.decode("ascii", "replace")
    text = str(value).strip().strip("\x00").strip()
    return text or None


def _convert(value: Any, type_) -> Any:
    """Convert a pydicom element value to the column's Python type.

    Empty values become None, and so do values that do not parse as their VR says (an IS of
    ``'1A'``): one bad element must not cost the whole row.
    """
    try:
        return _convert_strict(value, type_)
    except (ValueError, TypeError, OverflowError):
        return None


def _convert_strict(value: Any, type_) -> Any:
    if value is None or value == "" or (isinstance(value, (list, MultiValue)) and len(value) == 0):
        return None
    if pa.types.is_list(type_):
        items = list(value) if isinstance(value, (list, tuple, MultiValue)) else [value]
        item = type_.value_type
        if pa.types.is_floating(item):
            return tuple(float(v) for v in items)
        if pa.types.is_integer(item):
            return tuple(int(v) for v in items)
        return tuple(_text(v) or "" for v in items)
    if isinstance(value, (list, tuple, MultiValue)):
        value = value[0] if len(value) else None
        if value is None:
            return None
    if pa.types.is_floating(type_):
        return float(value)
    if pa.types.is_integer(type_):
        return int(value)
    return _text(value)


def _unique(values) -> tuple[str, ...] | None:
    seen = dict.fromkeys(v for v in values if v)
    return tuple(seen) if seen else None


def _items(ds: Dataset | None, keyword: str) -> list[Dataset]:
    if ds is None:
        return []
    seq = ds.get(keyword)
    return list(seq) if seq is not None else []


def _first(ds_list, *path: str) -> Dataset | None:
    """The first item found along a path of sequence keywords, over several datasets."""
    for ds in ds_list:
        node = ds
        for keyword in path:
            items = _items(node, keyword)
            node = items[0] if items else None
            if node is None:
                break
        if node is not None:
            return node
    return None


def values_from_dataset(ds: Dataset) -> dict[str, Any]:
    """Pick the files-table values out of a pydicom dataset (the reference implementation).

    Examples
    --------
    >>> from pydicom.data import get_testdata_file
    >>> values_from_dataset(pydicom.dcmread(get_testdata_file("CT_small.dcm")))["Modality"]
    'CT'
    """
    out: dict[str, Any] = {}
    for name, type_ in _SCALAR_KIND.items():
        out[name] = _convert(ds.get(name), type_)
    meta = getattr(ds, "file_meta", None)
    out["TransferSyntaxUID"] = _text(meta.get("TransferSyntaxUID")) if meta is not None else None

    # RTSTRUCT references and ROI names.
    ref_for, ref_series, ref_sop = [], [], []
    for for_item in _items(ds, "ReferencedFrameOfReferenceSequence"):
        ref_for.append(_text(for_item.get("FrameOfReferenceUID")))
        for study in _items(for_item, "RTReferencedStudySequence"):
            for series in _items(study, "RTReferencedSeriesSequence"):
                ref_series.append(_text(series.get("SeriesInstanceUID")))
                ref_sop.extend(_text(i.get("ReferencedSOPInstanceUID")) for i in _items(series, "ContourImageSequence"))
    rois = _items(ds, "StructureSetROISequence")
    ref_for.extend(_text(r.get("ReferencedFrameOfReferenceUID")) for r in rois)
    if "StructureSetROISequence" in ds:
        out["ROINumber"] = _convert([r.get("ROINumber") for r in rois if r.get("ROINumber") is not None], _LIST_INT)
        out["ROIName"] = tuple(_text(r.get("ROIName")) or "" for r in rois)

    # SEG segments and references.
    for series in _items(ds, "ReferencedSeriesSequence"):
        ref_series.append(_text(series.get("SeriesInstanceUID")))
        ref_sop.extend(_text(i.get("ReferencedSOPInstanceUID")) for i in _items(series, "ReferencedInstanceSequence"))
    if "SegmentSequence" in ds:
        segments = _items(ds, "SegmentSequence")
        out["SegmentNumber"] = _convert(
            [s.get("SegmentNumber") for s in segments if s.get("SegmentNumber") is not None], _LIST_INT
        )
        out["SegmentLabel"] = tuple(_text(s.get("SegmentLabel")) or "" for s in segments)
        out["SegmentDescription"] = tuple(_text(s.get("SegmentDescription")) or "" for s in segments)

    # Enhanced multi-frame: geometry lives in the functional groups.
    per_frame = _items(ds, "PerFrameFunctionalGroupsSequence")
    out["multiframe"] = bool(per_frame) or None
    if per_frame or "SharedFunctionalGroupsSequence" in ds:
        groups = _items(ds, "SharedFunctionalGroupsSequence")[:1] + per_frame[:1]
        measures = _first(groups, "PixelMeasuresSequence")
        if measures is not None:
            for key in ("PixelSpacing", "SliceThickness", "SpacingBetweenSlices"):
                if out.get(key) is None:
                    out[key] = _convert(measures.get(key), _SCALAR_KIND[key])
        orientation = _first(groups, "PlaneOrientationSequence")
        if orientation is not None and out.get("ImageOrientationPatient") is None:
            out["ImageOrientationPatient"] = _convert(
                orientation.get("ImageOrientationPatient"), _SCALAR_KIND["ImageOrientationPatient"]
            )
        position = _first(per_frame[:1], "PlanePositionSequence")
        if position is not None and out.get("ImagePositionPatient") is None:
            out["ImagePositionPatient"] = _convert(
                position.get("ImagePositionPatient"), _SCALAR_KIND["ImagePositionPatient"]
            )
        if not ref_sop:  # SEG without ReferencedInstanceSequence: the frames' source images
            for frame in per_frame:
                for derivation in _items(frame, "DerivationImageSequence"):
                    ref_sop.extend(
                        _text(s.get("ReferencedSOPInstanceUID")) for s in _items(derivation, "SourceImageSequence")
                    )

    out["ReferencedFrameOfReferenceUID"] = _unique(ref_for)
    out["ReferencedSeriesInstanceUID"] = _unique(ref_series)
    out["ReferencedSOPInstanceUID"] = _unique(ref_sop)
    return out


def read_with_pydicom(source: str | os.PathLike | BinaryIO) -> dict[str, Any]:
    """Read the header values with pydicom (``stop_before_pixels``, only the tags we need).

    Examples
    --------
    >>> from pydicom.data import get_testdata_file
    >>> read_with_pydicom(get_testdata_file("MR_small.dcm"))["Rows"]
    64
    """
    with warnings.catch_warnings():  # pydicom warns about odd values; the row shows them
        warnings.simplefilter("ignore")
        ds = pydicom.dcmread(
            source, stop_before_pixels=True, force=True, specific_tags=SPECIFIC_TAGS + [Tag(0x0002, 0x0010)]
        )
        return values_from_dataset(ds)


def _pixel_type(values: dict[str, Any]) -> str | None:
    bits = values.get("BitsAllocated")
    if bits is None:
        return None
    if bits == 1:
        return "bool"
    if bits not in (8, 16, 32, 64):
        return None
    signed = values.get("PixelRepresentation") == 1
    return f"{'int' if signed else 'uint'}{bits}"


def geometry(values: dict[str, Any]) -> dict[str, Any]:
    """Derive the files table's geometry columns from DICOM header values.

    x runs along a row (Columns), y down the columns (Rows), z along the slice normal.

    Examples
    --------
    >>> g = geometry({"Rows": 2, "Columns": 3, "PixelSpacing": (0.5, 0.7),
    ...               "ImageOrientationPatient": (1.0, 0.0, 0.0, 0.0, 1.0, 0.0),
    ...               "ImagePositionPatient": (1.0, 2.0, 3.0)})
    >>> g["size_x"], g["spacing_x"], g["origin_z"], g["direction"][8]
    (3, 0.7, 3.0, 1.0)
    """
    frames = values.get("NumberOfFrames")
    spacing = values.get("PixelSpacing")
    position = values.get("ImagePositionPatient")
    orientation = values.get("ImageOrientationPatient")
    out: dict[str, Any] = {
        "ndim": 3 if frames and frames > 1 else 2,
        "size_x": values.get("Columns"),
        "size_y": values.get("Rows"),
        "size_z": frames or 1,
        "pixel_type": _pixel_type(values),
        "spacing_z": values.get("SpacingBetweenSlices") or values.get("SliceThickness"),
    }
    if values.get("Rows") is None and values.get("Columns") is None:
        out.update(ndim=None, size_z=None)
    if spacing is not None and len(spacing) == 2:
        out["spacing_y"], out["spacing_x"] = spacing
    if position is not None and len(position) == 3:
        out["origin_x"], out["origin_y"], out["origin_z"] = position
    if orientation is not None and len(orientation) == 6:
        out["direction"] = _direction(orientation)
    return out


_DIRECTIONS: dict[bytes, tuple] = {}
_SIX_DOUBLES = struct.Struct("<6d").pack


def _direction(orientation: tuple) -> tuple:
    """SimpleITK's direction (columns are the axis directions, row-major) of an orientation.

    Remembered per orientation (keyed by the exact bits, so -0.0 and 0.0 stay apart): a series,
    and usually a whole archive, shares a few orientations, so their rows share one tuple.
    """
    key = _SIX_DOUBLES(*orientation) if set(map(type, orientation)) == {float} else None
    direction = _DIRECTIONS.get(key) if key is not None else None
    if direction is None:
        rx, ry, rz, cx, cy, cz = orientation
        nx, ny, nz = ry * cz - rz * cy, rz * cx - rx * cz, rx * cy - ry * cx
        direction = (rx, cx, nx, ry, cy, ny, rz, cz, nz)
        if key is not None:
            if len(_DIRECTIONS) >= 4096:
                _DIRECTIONS.clear()
            _DIRECTIONS[key] = direction
    return direction


def read(path: str, head: bytes) -> dict[str, Any]:
    """Read a DICOM file's header values and geometry: the fast reader, else pydicom.

    ``head`` holds the first bytes of the file (see :data:`imgindex.formats.HEAD_SIZE`).

    Examples
    --------
    >>> from pydicom.data import get_testdata_file
    >>> path = get_testdata_file("CT_small.dcm")
    >>> read(path, open(path, "rb").read(8192))["size_x"]
    128
    """
    values = None
    if _fast is not None:
        try:
            values = _fast.read_fast(path, head)
        except _fast.Unsupported:
            values = None
    if values is None:
        values = read_with_pydicom(path)
    values.update(geometry(values))
    return values


try:  # the fast reader is optional: pydicom alone gives the same values, only slower
    from . import dicom_fast as _fast
except ImportError:  # pragma: no cover
    _fast = None
