"""What the DICOM header readers read: the columns and their tags, VRs and kinds.

Shared by the readers of :mod:`imgindex.headers`: the pydicom reference
(:mod:`~imgindex.headers.dicom_pydicom`), the element walk (:mod:`~imgindex.headers.dicom_walk`),
the value decoding (:mod:`~imgindex.headers.dicom_values`) and the series templates
(:mod:`~imgindex.headers.dicom_templates`). The underscored names are the fast reader's constants
(tags as integers, VR sets, struct unpackers), internal to those modules.
"""

from __future__ import annotations

import struct

import pyarrow as pa

# The dictionary itself lives in pydicom._dicom_dict (pydicom.datadict imports it from there without
# re-exporting it); pydicom's own modules import it from there too.
from pydicom._dicom_dict import DicomDictionary
from pydicom.datadict import dictionary_VR, tag_for_keyword
from pydicom.tag import Tag
from pydicom.valuerep import EXPLICIT_VR_LENGTH_32, VR

from ..schema import FILES

#: Top-level DICOM keywords that are columns of the files table, with their schema types.
TOP_LEVEL = tuple(
    c
    for c in FILES
    if c.key[0].isupper()
    and tag_for_keyword(c.key) is not None
    and c.key
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

#: Columns derived from a top-level element: (column, keyword of the element, kind of conversion).
#: ``tm``: a TM value in seconds since midnight (:func:`imgindex.headers.dicom_derived.tm_seconds`).
DERIVED = (("acquisition_time", "AcquisitionTime", "tm"), ("content_time", "ContentTime", "tm"))

#: Per-frame columns of enhanced multi-frame files: (column, alternative paths of functional-group
#: sequences, keyword of the value, kind). A frame's value is found along the first path whose first
#: sequence is in the frame's own functional groups, else in the shared ones; the first item of each
#: sequence is taken. Kinds: ``xyz`` (3 numbers), ``float``, ``int``, ``dt`` (DT in seconds since
#: 1970, :func:`imgindex.headers.dicom_derived.dt_seconds`) and ``text`` (the values joined by ``\``).
FRAME_COLUMNS: tuple[tuple[str, tuple[tuple[str, ...], ...], str, str], ...] = (
    ("frame_positions", (("PlanePositionSequence",),), "ImagePositionPatient", "xyz"),
    ("frame_b_values", (("MRDiffusionSequence",),), "DiffusionBValue", "float"),
    (
        "frame_gradients",
        (("MRDiffusionSequence", "DiffusionGradientDirectionSequence"),),
        "DiffusionGradientOrientation",
        "xyz",
    ),
    ("frame_echo_times", (("MREchoSequence",),), "EffectiveEchoTime", "float"),
    ("frame_temporal_indices", (("FrameContentSequence",),), "TemporalPositionIndex", "int"),
    ("frame_trigger_delays", (("CardiacSynchronizationSequence",),), "NominalCardiacTriggerDelayTime", "float"),
    ("frame_acquisition_numbers", (("FrameContentSequence",),), "FrameAcquisitionNumber", "int"),
    ("frame_acquisition_datetimes", (("FrameContentSequence",),), "FrameAcquisitionDateTime", "dt"),
    (
        "frame_types",
        (("MRImageFrameTypeSequence",), ("CTImageFrameTypeSequence",), ("PETFrameTypeSequence",)),
        "FrameType",
        "text",
    ),
)

_SEQUENCES = (
    "ReferencedFrameOfReferenceSequence",  # RTSTRUCT (3006,0010)
    "StructureSetROISequence",  # RTSTRUCT (3006,0020)
    "ReferencedSeriesSequence",  # SEG (0008,1115)
    "SegmentSequence",  # SEG (0062,0002)
    "SourceImageSequence",  # SEG (0008,2112): source images named at the top level
    "SharedFunctionalGroupsSequence",  # (5200,9229)
    "PerFrameFunctionalGroupsSequence",  # (5200,9230)
)


def _tag(keyword: str) -> int:
    tag = tag_for_keyword(keyword)
    if tag is None:  # pragma: no cover - only dictionary keywords are asked for
        raise KeyError(f"{keyword!r} is not a DICOM keyword")
    return tag


#: Every tag the pydicom reader asks for.
SPECIFIC_TAGS = (
    [Tag(_tag(c.key)) for c in TOP_LEVEL]
    + [Tag(_tag(keyword)) for _name, keyword, _kind in DERIVED]
    + [Tag(_tag(k)) for k in _SEQUENCES]
)


_NESTED_KEYWORDS = (
    "FrameOfReferenceUID",
    "RTReferencedStudySequence",
    "RTReferencedSeriesSequence",
    "SeriesInstanceUID",
    "ContourImageSequence",
    "ReferencedSOPInstanceUID",
    "ReferencedFrameOfReferenceUID",
    "ROINumber",
    "ROIName",
    "ReferencedInstanceSequence",
    "SegmentNumber",
    "SegmentLabel",
    "SegmentDescription",
    "PixelMeasuresSequence",
    "PixelSpacing",
    "SliceThickness",
    "SpacingBetweenSlices",
    "PlaneOrientationSequence",
    "ImageOrientationPatient",
    "PlanePositionSequence",
    "ImagePositionPatient",
    "DerivationImageSequence",
    "SourceImageSequence",
    *dict.fromkeys(
        keyword
        for _name, paths, value, _kind in FRAME_COLUMNS
        for keyword in (*(k for path in paths for k in path), value)
    ),
)
_CHARSET, _TRANSFER_SYNTAX, _MODALITY = 0x00080005, 0x00020010, 0x00080060
_ENC = -1  # key of a data set's text encoding in the walked dicts
_TOP = frozenset(int(t) for t in SPECIFIC_TAGS) | {_CHARSET}  # wanted at the top level
_NESTED = frozenset(_tag(k) for k in _NESTED_KEYWORDS) | {_CHARSET}  # wanted inside sequence items
_META = frozenset({_TRANSFER_SYNTAX})
_NOTHING: frozenset[int] = frozenset()
#: The VR (as in the file) of every tag we decode, from pydicom's dictionary.
_VR = {t: dictionary_VR(t).encode() for t in _TOP | _NESTED | _META}
#: The sequences of the dictionary: the undefined-length elements of implicit VR data sets we can skip.
_SQ_TAGS = frozenset(t for t, entry in DicomDictionary.items() if entry[0] == "SQ")

#: The VR (a little-endian integer) of the decoded tags whose value the walk's fast loop takes as
#: it is: every one but the sequences and the character set (which sets the text encoding).
_PLAIN = {t: int.from_bytes(vr, "little") for t, vr in _VR.items() if vr != b"SQ" and t != _CHARSET}

_LAST_TOP = max(_TOP)  # stop the top-level walk at the first tag after this one
_LAST_META = 0x0002FFFF
_LAST_NESTED = 0xFFFDFFFF  # inside items everything up to the delimiters is walked
#: The last needed top-level tag before the functional groups (5200,xxxx), which an RTSTRUCT never has.
_BEFORE_GROUPS = max(t for t in _TOP if t < 0x52000000)
_EOF = 1 << 62  # "end" of the top-level data set: the end of the file
_DELIM = _EOF + 1  # "end" of an undefined-length item: its delimiter
_ITEM, _ITEM_END, _SEQ_END = 0xFFFEE000, 0xFFFEE00D, 0xFFFEE0DD
_UNDEFINED = 0xFFFFFFFF

_LONG_VRS = frozenset(vr.encode() for vr in EXPLICIT_VR_LENGTH_32)  # 2 reserved bytes, then a 4-byte length
_SHORT_VRS = frozenset(vr.value.encode() for vr in VR if len(vr.value) == 2) - _LONG_VRS
_EXPLICIT = struct.Struct("<HH2sH").unpack_from
_EXPLICIT_INT = struct.Struct("<HHHH").unpack_from  # the VR as a little-endian integer
_SHORT_VR_INTS = frozenset(int.from_bytes(vr, "little") for vr in _SHORT_VRS)
_LONG_VR_INTS = frozenset(int.from_bytes(vr, "little") for vr in _LONG_VRS)
_IMPLICIT = struct.Struct("<HHL").unpack_from
_U32 = struct.Struct("<L").unpack_from

_IMPLICIT_LE = "1.2.840.10008.1.2"
_NOT_HANDLED = {
    "1.2.840.10008.1.2.2": "big-endian transfer syntax",
    "1.2.840.10008.1.2.1.99": "deflated transfer syntax",
    "1.2.840.10008.1.2.4.95": "deflated transfer syntax (JPIP referenced deflate)",
}


def _kind(type_: pa.DataType) -> str:
    if pa.types.is_list(type_):
        return "l" + _kind(type_.value_type)
    return "float" if pa.types.is_floating(type_) else "int" if pa.types.is_integer(type_) else "str"


#: (column, tag, VR, kind) of every top-level scalar column, in the reference's order: the DICOM
#: keywords, then the derived columns (kind ``tm``).
_SCALARS = tuple((c.key, _tag(c.key), _VR[_tag(c.key)], _kind(c.type)) for c in TOP_LEVEL) + tuple(
    (name, _tag(keyword), _VR[_tag(keyword)], kind) for name, keyword, kind in DERIVED
)
_KIND = {name: (tag, vr, kind) for name, tag, vr, kind in _SCALARS}
(
    _REF_FOR_SEQ,
    _RT_STUDY_SEQ,
    _RT_SERIES_SEQ,
    _CONTOUR_IMAGE_SEQ,
    _ROI_SEQ,
    _REF_SERIES_SEQ,
    _REF_INSTANCE_SEQ,
    _SEGMENT_SEQ,
    _SHARED_SEQ,
    _PER_FRAME_SEQ,
    _MEASURES_SEQ,
    _ORIENTATION_SEQ,
    _POSITION_SEQ,
    _DERIVATION_SEQ,
    _SOURCE_SEQ,
) = (
    _tag(k)
    for k in (
        "ReferencedFrameOfReferenceSequence",
        "RTReferencedStudySequence",
        "RTReferencedSeriesSequence",
        "ContourImageSequence",
        "StructureSetROISequence",
        "ReferencedSeriesSequence",
        "ReferencedInstanceSequence",
        "SegmentSequence",
        "SharedFunctionalGroupsSequence",
        "PerFrameFunctionalGroupsSequence",
        "PixelMeasuresSequence",
        "PlaneOrientationSequence",
        "PlanePositionSequence",
        "DerivationImageSequence",
        "SourceImageSequence",
    )
)
(
    _FOR_UID,
    _SERIES_UID,
    _REF_SOP_UID,
    _REF_FOR_UID,
    _ROI_NUMBER,
    _ROI_NAME,
    _SEGMENT_NUMBER,
    _SEGMENT_LABEL,
    _SEGMENT_DESCRIPTION,
) = (
    _tag(k)
    for k in (
        "FrameOfReferenceUID",
        "SeriesInstanceUID",
        "ReferencedSOPInstanceUID",
        "ReferencedFrameOfReferenceUID",
        "ROINumber",
        "ROIName",
        "SegmentNumber",
        "SegmentLabel",
        "SegmentDescription",
    )
)

_LATIN1_CHARSETS = {"", "ISO_IR 6", "ISO_IR 100", "ISO 2022 IR 6", "ISO 2022 IR 100"}
