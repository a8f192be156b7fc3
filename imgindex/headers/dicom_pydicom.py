"""The reference DICOM header reader: pydicom, asked for the tags imgindex needs only.

:func:`read_with_pydicom` reads a file with ``pydicom.dcmread(stop_before_pixels=True,
specific_tags=...)`` and :func:`values_from_dataset` picks the files-table values out of the
dataset. The fast reader (:mod:`imgindex.headers.dicom_fast`) gives exactly the same dict; it is
compared with this one on every test file, and this one reads what the fast reader does not
handle.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Iterable
from typing import Any, BinaryIO

import pyarrow as pa
import pydicom
from pydicom.dataset import Dataset
from pydicom.multival import MultiValue
from pydicom.tag import Tag

from .dicom_derived import frame_column, frame_value, tm_seconds
from .dicom_tags import DERIVED, FRAME_COLUMNS, SPECIFIC_TAGS, TOP_LEVEL

__all__ = ["read_with_pydicom", "values_from_dataset"]

_SCALAR_KIND = {c.key: c.type for c in TOP_LEVEL}
_LIST_INT = pa.list_(pa.int64())
#: The column type a frame value of each kind is converted to before :func:`frame_value`.
_FRAME_TYPE = {
    "xyz": pa.list_(pa.float64()),
    "float": pa.float64(),
    "int": pa.int64(),
    "dt": pa.string(),
    "text": pa.list_(pa.string()),
}


def _text(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, bytes):
        value = value.decode("ascii", "replace")
    text = str(value).strip().strip("\x00").strip()
    return text or None


def _convert(value: Any, type_: pa.DataType) -> Any:
    """Convert a pydicom element value to the column's Python type.

    Empty values become None, and so do values that do not parse as their VR says (an IS of
    ``'1A'``): one bad element must not cost the whole row.
    """
    try:
        return _convert_strict(value, type_)
    except (ValueError, TypeError, OverflowError):
        return None


def _convert_strict(value: Any, type_: pa.DataType) -> Any:
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


def _unique(values: Iterable[str | None]) -> tuple[str, ...] | None:
    seen = dict.fromkeys(v for v in values if v)
    return tuple(seen) if seen else None


def _items(ds: Dataset | None, keyword: str) -> list[Dataset]:
    if ds is None:
        return []
    seq = ds.get(keyword)
    return list(seq) if seq is not None else []


def _first(ds_list: Iterable[Dataset], *path: str) -> Dataset | None:
    """The first item found along a path of sequence keywords, over several datasets."""
    for ds in ds_list:
        node: Dataset | None = ds
        for keyword in path:
            items = _items(node, keyword)
            node = items[0] if items else None
            if node is None:
                break
        if node is not None:
            return node
    return None


def _frame_columns(per_frame: list[Dataset], shared: Dataset | None) -> dict[str, Any]:
    """The per-frame columns (:data:`~imgindex.headers.dicom_tags.FRAME_COLUMNS`) of the frames' groups."""
    out: dict[str, Any] = {}
    for name, paths, keyword, kind in FRAME_COLUMNS:
        values = []
        for frame in per_frame:
            node: Dataset | None = None
            for path in paths:
                group = frame if path[0] in frame else shared
                node = _first([group], *path) if group is not None else None
                if node is not None:
                    break
            value = _convert(node.get(keyword), _FRAME_TYPE[kind]) if node is not None else None
            values.append(frame_value(value, kind))
        out[name] = frame_column(values, kind)
    return out


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
    for name, keyword, _kind in DERIVED:  # TM values in seconds since midnight
        out[name] = tm_seconds(_convert(ds.get(keyword), pa.string()))
    meta = getattr(ds, "file_meta", None)
    out["TransferSyntaxUID"] = _text(meta.get("TransferSyntaxUID")) if meta is not None else None

    # RTSTRUCT references and ROI names.
    ref_for: list[str | None] = []
    ref_series: list[str | None] = []
    ref_sop: list[str | None] = []
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
    if _text(ds.get("Modality")) == "SEG":  # its source images, named at the top level
        ref_sop.extend(_text(s.get("ReferencedSOPInstanceUID")) for s in _items(ds, "SourceImageSequence"))
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
    shared = _items(ds, "SharedFunctionalGroupsSequence")
    out.update(_frame_columns(per_frame, shared[0] if shared else None))
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
        for frame in per_frame:  # the frames' source images (SEG), with or without ReferencedInstanceSequence
            for derivation in _items(frame, "DerivationImageSequence"):
                ref_sop.extend(
                    _text(s.get("ReferencedSOPInstanceUID")) for s in _items(derivation, "SourceImageSequence")
                )

    out["ReferencedFrameOfReferenceUID"] = _unique(ref_for)
    out["ReferencedSeriesInstanceUID"] = _unique(ref_series)
    out["ReferencedSOPInstanceUID"] = _unique(ref_sop)
    return out


def read_with_pydicom(source: str | os.PathLike[str] | BinaryIO) -> dict[str, Any]:
    """Read the header values with pydicom (``stop_before_pixels``, only the tags we need).

    Parameters
    ----------
    source
        A DICOM file's path, or a binary file object positioned at its start.

    Returns
    -------
    dict
        The files-table values of :func:`values_from_dataset`.

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
