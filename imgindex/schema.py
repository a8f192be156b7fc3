"""The columns of every imgindex table, declared once.

Each table is a tuple of :class:`Column` (name, Arrow type, nullable, one-line doc). The same
declaration gives the pandas dtypes (:func:`coerce`), the parquet schema (:func:`arrow_schema`),
the checks (:func:`validate`) and the README's column table (:func:`markdown_table`).

pandas representation: strings are ``string`` (missing = ``<NA>``), integers ``Int64``,
booleans ``boolean``, floats ``float64`` (missing = NaN), times ``datetime64[ns, UTC]`` and list
columns hold tuples (hashable, so they can be grouped on), ``None`` where missing. In parquet the
list columns are native Arrow lists, so DuckDB or Spark can unnest them.
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
from pandas.api.extensions import ExtensionDtype

from .errors import InputError

#: Bumped whenever a column is added, removed or changes type. Saved with every parquet file.
SCHEMA_VERSION = 2


@dataclass(frozen=True, slots=True)
class Column:
    """One column of a table: its name, Arrow type, whether it may be null, and a doc line."""

    name: str
    type: pa.DataType
    nullable: bool
    doc: str
    keyword: str | None = None  # the DICOM keyword the header readers give the value under, if not ``name``

    @property
    def key(self) -> str:
        """The name of the value in a header reader's dict: the DICOM keyword, else the column name."""
        return self.keyword or self.name


_S, _I, _F, _B = pa.string(), pa.int64(), pa.float64(), pa.bool_()
_LS, _LF, _LI = pa.list_(pa.string()), pa.list_(pa.float64()), pa.list_(pa.int64())
_T = pa.timestamp("ns", tz="UTC")


def _c(name: str, type_: pa.DataType, doc: str, nullable: bool = True, keyword: str | None = None) -> Column:
    return Column(name, type_, nullable, doc, keyword)


#: The file-reference table: one row per imaging file (or in-memory array).
FILES: tuple[Column, ...] = (
    _c("file_path", _S, "Absolute path of the file; null for an in-memory array."),
    _c("dir_path", _S, "Directory that holds the file."),
    _c("file_name", _S, "File name without directory."),
    _c("file_type", _S, "`dicom`, `nifti`, `nrrd` or `numpy`, found from content (suffix as a hint)."),
    _c("array_index", _I, "Position of an in-memory array in the input; null for files."),
    _c("file_size", _I, "Size in bytes."),
    _c("mtime", _T, "Modification time (UTC), used to detect changed files on re-index."),
    _c("error", _S, "Why a file that looked like imaging could not be read; null when it was read."),
    _c("ndim", _I, "Number of image dimensions (2 for a DICOM slice or 2D array, 3 for volumes)."),
    _c("size_x", _I, "Voxels along x (columns)."),
    _c("size_y", _I, "Voxels along y (rows)."),
    _c("size_z", _I, "Voxels along z (slices or frames; 1 for a 2D image)."),
    _c("spacing_x", _F, "Voxel spacing along x in mm (1.0 for numpy, which has no geometry)."),
    _c("spacing_y", _F, "Voxel spacing along y in mm."),
    _c("spacing_z", _F, "Voxel spacing along z in mm (DICOM slice: SpacingBetweenSlices or SliceThickness)."),
    _c("origin_x", _F, "World x of the first voxel's centre in mm (DICOM/ITK LPS)."),
    _c("origin_y", _F, "World y of the first voxel's centre in mm."),
    _c("origin_z", _F, "World z of the first voxel's centre in mm."),
    _c("direction", _LF, "Direction cosines, 9 values, row-major as SimpleITK's GetDirection()."),
    _c("pixel_type", _S, "Stored voxel type as a numpy dtype name (`int16`, `uint8`, `float32`, `bool`)."),
    _c("n_components", _I, "Values per voxel (1 for grey values, 3 for RGB)."),
    # DICOM header, keywords verbatim.
    _c("PatientID", _S, "DICOM (0010,0020)."),
    _c("PatientName", _S, "DICOM (0010,0010), as text."),
    _c("StudyID", _S, "DICOM (0020,0010)."),
    _c("StudyInstanceUID", _S, "DICOM (0020,000D)."),
    _c("StudyDescription", _S, "DICOM (0008,1030)."),
    _c("SeriesInstanceUID", _S, "DICOM (0020,000E)."),
    _c("SeriesDescription", _S, "DICOM (0008,103E)."),
    _c("StructureSetLabel", _S, "DICOM (3006,0002), RTSTRUCT."),
    _c("SeriesNumber", _I, "DICOM (0020,0011)."),
    _c("SOPInstanceUID", _S, "DICOM (0008,0018)."),
    _c("SOPClassUID", _S, "DICOM (0008,0016)."),
    _c("TransferSyntaxUID", _S, "DICOM (0002,0010); null when the file has no meta header."),
    _c("FrameOfReferenceUID", _S, "DICOM (0020,0052)."),
    _c(
        "dicom_modality",
        _S,
        "DICOM Modality (0008,0060) as stored, e.g. CT, PT, MR, RTSTRUCT, SEG (`modality` is imgindex's).",
        keyword="Modality",
    ),
    _c("ImageType", _LS, "DICOM (0008,0008), its values."),
    _c("InstanceNumber", _I, "DICOM (0020,0013)."),
    _c("AcquisitionNumber", _I, "DICOM (0020,0012)."),
    _c("EchoNumbers", _I, "DICOM (0018,0086), its first value."),
    _c("EchoTime", _F, "DICOM (0018,0081), ms."),
    _c("TemporalPositionIdentifier", _I, "DICOM (0020,0100)."),
    _c("TriggerTime", _F, "DICOM (0018,1060), ms."),
    _c("DiffusionBValue", _F, "DICOM (0018,9087), s/mm²; vendor-private diffusion tags are not read."),
    _c("DiffusionGradientOrientation", _LF, "DICOM (0018,9089): the diffusion gradient direction (x, y, z)."),
    _c("acquisition_time", _F, "DICOM AcquisitionTime (0008,0032) in seconds since midnight."),
    _c("content_time", _F, "DICOM ContentTime (0008,0033) in seconds since midnight."),
    _c("ImagePositionPatient", _LF, "DICOM (0020,0032) (first frame's for multi-frame files)."),
    _c("ImageOrientationPatient", _LF, "DICOM (0020,0037) (shared functional group for multi-frame files)."),
    _c("PixelSpacing", _LF, "DICOM (0028,0030): row spacing, column spacing."),
    _c("ImagerPixelSpacing", _LF, "DICOM (0018,1164): row, column spacing at the detector (projection images)."),
    _c("EstimatedRadiographicMagnificationFactor", _F, "DICOM (0018,1114): detector over patient-plane size."),
    _c("GantryDetectorTilt", _F, "DICOM (0018,1120), degrees."),
    _c("SliceThickness", _F, "DICOM (0018,0050)."),
    _c("SpacingBetweenSlices", _F, "DICOM (0018,0088)."),
    _c("Rows", _I, "DICOM (0028,0010)."),
    _c("Columns", _I, "DICOM (0028,0011)."),
    _c("NumberOfFrames", _I, "DICOM (0028,0008); null for single-frame files."),
    _c("PhotometricInterpretation", _S, "DICOM (0028,0004), e.g. MONOCHROME2, RGB, PALETTE COLOR, YBR_FULL_422."),
    _c("BitsAllocated", _I, "DICOM (0028,0100)."),
    _c("PixelRepresentation", _I, "DICOM (0028,0103): 0 unsigned, 1 signed."),
    _c("RescaleSlope", _F, "DICOM (0028,1053)."),
    _c("RescaleIntercept", _F, "DICOM (0028,1052)."),
    _c("DoseSummationType", _S, "DICOM (3004,000A), RTDOSE."),
    _c("GridFrameOffsetVector", _LF, "DICOM (3004,000C), RTDOSE frame offsets."),
    _c("ReferencedFrameOfReferenceUID", _LS, "RTSTRUCT: frames of reference the structure set refers to."),
    _c("ReferencedSeriesInstanceUID", _LS, "RTSTRUCT/SEG: series the mask was drawn on."),
    _c("ReferencedSOPInstanceUID", _LS, "RTSTRUCT/SEG: image instances the mask refers to."),
    _c("ROINumber", _LI, "RTSTRUCT: (3006,0022) of each StructureSetROISequence item."),
    _c("ROIName", _LS, "RTSTRUCT: (3006,0026) of each StructureSetROISequence item, in order."),
    _c("SegmentNumber", _LI, "SEG: (0062,0004) of each SegmentSequence item."),
    _c("SegmentLabel", _LS, "SEG: (0062,0005) of each SegmentSequence item, in order."),
    _c("SegmentDescription", _LS, "SEG: (0062,0006) of each segment (null entries kept as empty text)."),
    _c("SegmentationType", _S, "SEG: (0062,0001), BINARY or FRACTIONAL."),
    _c("multiframe", _B, "DICOM: the file has per-frame functional groups (enhanced multi-frame or SEG)."),
    # Per frame of an enhanced multi-frame file, from its per-frame functional groups (else the
    # shared ones): one value per frame, NaN (numbers) or empty text where a frame has none; null
    # when no frame has the value.
    _c("frame_positions", _LF, "Per frame: ImagePositionPatient, flattened (x, y, z of frame 1, then frame 2, ...)."),
    _c("frame_b_values", _LF, "Per frame: MRDiffusionSequence DiffusionBValue."),
    _c("frame_gradients", _LF, "Per frame: DiffusionGradientOrientation, flattened (x, y, z per frame)."),
    _c("frame_echo_times", _LF, "Per frame: MREchoSequence EffectiveEchoTime (ms)."),
    _c("frame_temporal_indices", _LI, "Per frame: FrameContentSequence TemporalPositionIndex."),
    _c("frame_trigger_delays", _LF, "Per frame: CardiacSynchronizationSequence NominalCardiacTriggerDelayTime (ms)."),
    _c("frame_acquisition_numbers", _LI, "Per frame: FrameContentSequence FrameAcquisitionNumber."),
    _c(
        "frame_acquisition_datetimes",
        _LF,
        "Per frame: FrameAcquisitionDateTime in seconds since 1970-01-01 (as written; a time-zone offset is ignored).",
    ),
    _c("frame_types", _LS, "Per frame: FrameType of the MR, CT or PET frame type sequence, values joined by `\\`."),
    # Curation (filled by build_index; null in a plain scan).
    _c("role", _S, "`image` or `mask` after curation; null when the file is neither or was not curated."),
    _c("role_reason", _S, "Why the file got its role (DICOM Modality, a hint, its name, pixel type, voxels)."),
    _c(
        "modality",
        _S,
        "Canonical modality: `ct`, `pt`, `mr`, `adc`, ..., `generic`; `rtstruct`, `seg`, `generic_mask`.",
    ),
    _c("sample_name", _S, "Sample (patient) the file belongs to."),
    _c(
        "sample_name_source",
        _S,
        "Where the sample name came from: `pattern`, `folder`, `dicom`, `argument`, `list`, "
        "`file_name` or `generated`.",
    ),
    _c("root", _S, "The input directory the file was found under (null for files given one by one)."),
    _c("request", _I, "Which input request (data-xml `<data>` element, csv row) selected the file."),
    _c(
        "volume_index",
        _I,
        "Single-frame DICOM: the `volume_index` of the object the file went to (null when its series is one volume).",
    ),
)

#: Files columns that only stacking reads, and only for the series (or multi-frame files) whose slice
#: positions repeat: it reads them from the files table itself, so that curation never copies them.
VOLUME_COLUMNS = (
    "DiffusionBValue",
    "DiffusionGradientOrientation",
    "EchoNumbers",
    "EchoTime",
    "TemporalPositionIdentifier",
    "TriggerTime",
    "AcquisitionNumber",
    "acquisition_time",
    "content_time",
    "ImageType",
    "frame_b_values",
    "frame_gradients",
    "frame_echo_times",
    "frame_temporal_indices",
    "frame_trigger_delays",
    "frame_acquisition_numbers",
    "frame_acquisition_datetimes",
    "frame_types",
)

#: The objects table: one row per image or mask after stacking.
OBJECTS: tuple[Column, ...] = (
    _c("object_id", _S, "Identifier of the image or mask, unique within an index (`image_0`, `mask_3`).", False),
    _c("role", _S, "`image` or `mask`.", False),
    _c("sample_name", _S, "Sample (patient) name."),
    _c("modality", _S, "Canonical modality (`ct`, `pt`, `mr`, ..., `rtstruct`, `seg`, `generic_mask`)."),
    _c("file_type", _S, "`dicom`, `nifti`, `nrrd` or `numpy`; null for in-memory arrays."),
    _c("n_files", _I, "Number of member files (slices of a stack; 1 for a single file; 0 for an array)."),
    _c("file_path", _S, "The one file of a single-file object; null for stacks and arrays."),
    _c("file_paths", _LS, "Every member file in stack order."),
    _c(
        "frames",
        _LI,
        "The frames (0-based) of a multi-frame file that make this object, in stack order; null: every frame.",
    ),
    _c("dir_path", _S, "Directory of the (first) member file."),
    _c("array_index", _I, "Position of an in-memory array in the input; null for files."),
    _c("request", _I, "Which input request selected the object."),
    _c("PatientID", _S, "DICOM PatientID."),
    _c("StudyInstanceUID", _S, "DICOM StudyInstanceUID."),
    _c("SeriesInstanceUID", _S, "DICOM SeriesInstanceUID."),
    _c("SeriesDescription", _S, "DICOM SeriesDescription (compared with the masks' by the association)."),
    _c("StructureSetLabel", _S, "RTSTRUCT: DICOM StructureSetLabel (compared with the images' names)."),
    _c("FrameOfReferenceUID", _S, "DICOM FrameOfReferenceUID (masks: their own, else the first referenced one)."),
    _c("SOPInstanceUID", _LS, "DICOM SOPInstanceUIDs of the members, in stack order."),
    _c(
        "volume_index",
        _I,
        "Which volume of its series (or multi-frame file) the object is, from 0 in the order of `volume_value`; "
        "null when the series is one volume.",
    ),
    _c("n_volumes", _I, "How many volumes the object's series (or multi-frame file) holds (1 when it is one)."),
    _c(
        "volume_key",
        _S,
        "What told the volumes apart: `DiffusionBValue`, `EchoNumbers`, `EchoTime`, `TemporalPositionIdentifier`, "
        "`TriggerTime`, `AcquisitionNumber`, `AcquisitionTime`, `ContentTime`, `ImageType` (multi-frame: the "
        "functional-group attribute), or `InstanceNumber` / `frame order` when nothing did; null for one volume.",
    ),
    _c("volume_value", _S, "The value of `volume_key` for this volume, as text (the earliest one for times)."),
    _c(
        "volume_group",
        _S,
        "Shared by the volumes of one series (its SeriesInstanceUID, `#2`, ... appended where needed to keep "
        "groups apart); null when the series is one volume.",
    ),
    _c("ReferencedSeriesInstanceUID", _LS, "Masks: series the mask refers to."),
    _c("ReferencedSOPInstanceUID", _LS, "Masks: instances the mask refers to."),
    _c("ReferencedFrameOfReferenceUID", _LS, "Masks: frames of reference the mask refers to."),
    _c("roi_names", _LS, "Masks: ROI names (RTSTRUCT), segment labels (SEG); null for label maps until read."),
    _c("ndim", _I, "Dimensions of the object (3 for a stack of 2D slices)."),
    _c("size_x", _I, "Voxels along x."),
    _c("size_y", _I, "Voxels along y."),
    _c("size_z", _I, "Voxels along z (number of slices of a stack)."),
    _c("spacing_x", _F, "Spacing along x in mm."),
    _c("spacing_y", _F, "Spacing along y in mm."),
    _c("spacing_z", _F, "Spacing along z in mm (stacks: distance between slice positions)."),
    _c("origin_x", _F, "World x of the first voxel in mm."),
    _c("origin_y", _F, "World y of the first voxel in mm."),
    _c("origin_z", _F, "World z of the first voxel in mm."),
    _c("direction", _LF, "Direction cosines, 9 values, row-major (SimpleITK convention)."),
    _c("pixel_type", _S, "Stored voxel type (numpy dtype name)."),
    _c(
        "n_slices",
        _I,
        "Slices of the object: member slices of a stack (duplicates included), frames or `size_z` "
        "otherwise; null for RTSTRUCT.",
    ),
    _c(
        "slice_spacing",
        _F,
        "Median distance (mm) between distinct slice positions along the normal (`spacing_z` "
        "where positions are not checked).",
    ),
    _c(
        "slice_spacing_uniform",
        _B,
        "Every gap between distinct slice positions is within 1 % (or 0.01 mm) of `slice_spacing`.",
    ),
    _c("missing_slices", _I, "Slices missing from gaps that are whole multiples (>= 2) of `slice_spacing`."),
    _c("duplicate_positions", _I, "Slices at the position of another slice (within 1e-3 mm)."),
    _c("oblique", _B, "An axis of the grid is not along a patient axis (direction cosine below 1 - 1e-4)."),
    _c(
        "tilt_angle",
        _F,
        "Degrees between the slice progression and the image normal (gantry tilt); 0 when the slices are stacked "
        "along the normal, null when unknown (one slice, no positions).",
    ),
    _c(
        "geometry_warning",
        _S,
        "Why the geometry or stack order is doubtful: non-uniform spacing, missing or "
        "duplicated slices, slices without position, a gantry tilt, copies of one instance left out, a series split "
        "by orientation or size, volumes told apart by instance order only, slice order from file names; empty "
        "when all is well. Import warns once per such series.",
    ),
)

#: The pairs table: which mask belongs to which image, and how that was decided.
PAIRS: tuple[Column, ...] = (
    _c("image_id", _S, "object_id of the image.", False),
    _c("mask_id", _S, "object_id of the mask; null when no mask was found for the image."),
    _c(
        "strategy",
        _S,
        "The association step that decided: `reference`, `frame_of_reference`, `sample_name`, "
        "`file_distance`, `file_name_similarity`, `position`, `list_order`, `single_image`.",
    ),
    _c(
        "status",
        _S,
        "`ok`, `ambiguous` (the mask fits other images equally, listed in `candidates`, or masks "
        "from different folders at the same distance) or `missing` (no mask). Exports refuse "
        "ambiguous pairs unless allowed.",
        False,
    ),
    _c(
        "evidence",
        _S,
        "Why the pair was made, in words: the image's own evidence (`refers to this series`, `same "
        "frame of reference and sample name`, `nearest folder` ...), then what decided between images that "
        "chose the same mask (`the names and descriptions decided over 2 images`) or why it is ambiguous.",
    ),
    _c(
        "candidates",
        _LS,
        "The other images (object ids) that chose this mask (for `ambiguous`: among them those it fits "
        "equally; for `ok`: those with weaker evidence; for `missing`: the images that took this "
        "image's candidates); null when there were none.",
    ),
)

TABLES: dict[str, tuple[Column, ...]] = {"files": FILES, "objects": OBJECTS, "pairs": PAIRS}


def row_keys(files: pd.DataFrame) -> pd.Series:
    """The identity of each row of a files table: its ``file_path``, or ``array:<array_index>`` for an array.

    Examples
    --------
    >>> row_keys(coerce(pd.DataFrame({"file_path": ["/a.dcm", None], "array_index": [None, 0]}), "files")).tolist()
    ['/a.dcm', 'array:0']
    """
    paths = files["file_path"].astype(object)
    return paths.where(files["file_path"].notna(), "array:" + files["array_index"].astype(TEXT))


def columns(table: str) -> tuple[Column, ...]:
    """Return the declared columns of ``table``.

    Examples
    --------
    >>> [c.name for c in columns("files")][:3]
    ['file_path', 'dir_path', 'file_name']
    """
    try:
        return TABLES[table]
    except KeyError:
        raise InputError(f"Unknown table {table!r}; the tables are {sorted(TABLES)}.") from None


def column(table: str, name: str) -> Column:
    """The declared column ``name`` of ``table``.

    Examples
    --------
    >>> column("files", "Rows").type
    DataType(int64)
    """
    for col in columns(table):
        if col.name == name:
            return col
    raise InputError(f"The {table} table has no column {name!r}; see imgindex.schema.names({table!r}).")


def names(table: str) -> list[str]:
    """Column names of ``table`` in declared order."""
    return [c.name for c in columns(table)]


#: The pandas dtype of text columns: pandas' string dtype with NumPy object storage, not Arrow.
#: Equal values (a series' UIDs, a folder's path) are then one shared Python object, and copying
#: rows copies 8-byte pointers, where Arrow storage copies every string's bytes: a row selection
#: of a 155,000-file table costs 30 MB instead of 95 MB.
TEXT = pd.StringDtype("python")


def text_array(values: pa.Array | pa.ChunkedArray) -> pd.api.extensions.ExtensionArray:
    """Arrow strings as a :data:`TEXT` array in which equal values are one Python object.

    Examples
    --------
    >>> a = text_array(pa.array(["1.2.3", "1.2.3", None]))
    >>> a[0] is a[1], a.dtype == TEXT
    (True, True)
    """
    if isinstance(values, pa.ChunkedArray):
        values = values.combine_chunks() if values.num_chunks else pa.array([], type=pa.string())
    encoded = values.dictionary_encode()
    uniques = np.empty(len(encoded.dictionary) + 1, dtype=object)
    uniques[:-1] = encoded.dictionary.to_pylist()
    uniques[-1] = pd.NA
    indices = encoded.indices.fill_null(len(uniques) - 1).to_numpy(zero_copy_only=False)
    # pandas-stubs lacks StringArray's keyword-only dtype (pandas 3 takes it; it picks the NA value).
    return pd.arrays.StringArray(uniques[indices], dtype=TEXT)  # type: ignore[call-arg]


_ARROW_TO_PANDAS = {pa.int64(): pd.Int64Dtype(), pa.bool_(): pd.BooleanDtype()}


def scalar_frame(arrow: pa.Table | dict[str, pa.ChunkedArray], *, self_destruct: bool = False) -> pd.DataFrame:
    """An Arrow table of scalar columns as a pandas frame with the schema's dtypes.

    Integers become ``Int64``, booleans ``boolean``, strings :data:`TEXT` (equal values shared, see
    :func:`text_array`); floats and timestamps keep pyarrow's conversion. ``self_destruct`` frees
    the Arrow columns as they are converted (the table must not be used afterwards). ``arrow`` may
    also be a dict of columns by name, which is emptied as they are converted: a column the dict
    held the only reference to is freed as soon as it is converted (the text columns too).

    Examples
    --------
    >>> scalar_frame(pa.table({"Rows": [512, None], "dicom_modality": ["CT", "CT"]})).dtypes.astype(str).tolist()
    ['Int64', 'string']
    >>> columns = {"Rows": pa.chunked_array([[512]]), "dicom_modality": pa.chunked_array([["CT"]])}
    >>> scalar_frame(columns).dtypes.astype(str).tolist(), columns
    (['Int64', 'string'], {})
    """
    owned: dict[str, pa.ChunkedArray] | None = None  # the caller's columns, emptied here
    if isinstance(arrow, dict):
        owned = arrow
        names = list(owned)
        rows = len(owned[names[0]]) if names else 0
        text = [n for n in names if pa.types.is_string(owned[n].type) or pa.types.is_large_string(owned[n].type)]
        columns = {n: text_array(owned.pop(n)) for n in text}  # each Arrow column goes once converted
        pa.default_memory_pool().release_unused()  # mimalloc keeps freed pages otherwise
        others = {n: owned.pop(n) for n in names if n not in columns}
        # a table of no columns has no rows: the text columns' count, then
        rest = pa.table(others) if others else pa.table({"_": pa.nulls(rows)}).drop_columns(["_"])
    else:
        names = arrow.column_names
        text = [
            n
            for n, t in zip(names, arrow.schema.types, strict=True)
            if pa.types.is_string(t) or pa.types.is_large_string(t)
        ]
        columns = {n: text_array(arrow.column(n)) for n in text}
        rest = arrow.drop_columns(text)
    del arrow
    frame: pd.DataFrame = rest.to_pandas(
        types_mapper=_ARROW_TO_PANDAS.get, split_blocks=True, self_destruct=self_destruct
    )
    del rest
    if owned is not None:
        pa.default_memory_pool().release_unused()
    for name, values in columns.items():
        frame[name] = pd.Series(values, index=frame.index, copy=False)
    return frame[names]


def pandas_dtype(type_: pa.DataType) -> ExtensionDtype | np.dtype[np.float64] | np.dtype[np.object_]:
    """The pandas dtype that represents a column of Arrow type ``type_``."""
    if pa.types.is_string(type_):
        return TEXT
    if pa.types.is_integer(type_):
        return pd.Int64Dtype()
    if pa.types.is_floating(type_):
        return np.dtype("float64")
    if pa.types.is_boolean(type_):
        return pd.BooleanDtype()
    if pa.types.is_timestamp(type_):
        return pd.DatetimeTZDtype("ns", "UTC")
    return np.dtype(object)  # lists: tuples in cells


def arrow_schema(table: str) -> pa.Schema:
    """The Arrow (parquet) schema of ``table``."""
    return pa.schema([pa.field(c.name, c.type, nullable=c.nullable) for c in columns(table)])


def empty(table: str) -> pd.DataFrame:
    """An empty frame with every declared column and dtype of ``table``.

    Examples
    --------
    >>> empty("files").shape[0]
    0
    """
    return pd.DataFrame({c.name: pd.Series([], dtype=pandas_dtype(c.type)) for c in columns(table)})


def _as_tuple(value: Any, item_type: Callable[[Any], float | int | str]) -> tuple[float | int | str | None, ...] | None:
    """One cell of a list column as a tuple of ``item_type`` (``None`` items kept), or ``None`` when missing.

    ``value`` is whatever a cell of an object column holds: a sequence, an array, a string or a null.
    """
    if value is None or value is pd.NA or (isinstance(value, float) and np.isnan(value)):
        return None
    if isinstance(value, str):
        value = [value]
    try:
        return tuple(map(item_type, value))
    except TypeError:  # None items stay None
        return tuple(item_type(v) if v is not None else None for v in value)


def _coerce_column(values: pd.Series, col: Column) -> pd.Series:
    """``values`` as the pandas representation of ``col``; a column that already is one is kept.

    The checks are vectorised (dtype comparison; for list columns, the set of cell types and of
    item types), so coercing a frame that already follows the schema costs little.
    """
    type_ = col.type
    if pa.types.is_list(type_):
        item = type_.value_type
        conv = float if pa.types.is_floating(item) else int if pa.types.is_integer(item) else str
        if values.dtype == object:
            from itertools import chain

            cells = values.to_numpy()
            if set(map(type, cells)) <= {tuple, type(None)}:
                kept = list(filter(None, cells))  # C-level loops: a Python one per cell costs ~0.1 s a column
                distinct = dict(zip(map(id, kept), kept, strict=True)).values()  # equal cells are mostly one tuple
                items = set(map(type, chain.from_iterable(distinct)))
                if items <= {conv, type(None)}:
                    return values
        return pd.Series([_as_tuple(v, conv) for v in values], index=values.index, dtype=object)
    want = pandas_dtype(type_)
    if values.dtype == want:
        return values
    if pa.types.is_timestamp(type_):
        return pd.to_datetime(values, utc=True).astype(want)
    return values.astype(want)


def coerce(df: pd.DataFrame, table: str, *, only: Collection[str] | None = None) -> pd.DataFrame:
    """Return a copy of ``df`` with every declared column present, in order and of its dtype.

    Missing columns are added as nulls; columns that are not declared are kept, after the
    declared ones. The input frame is never modified. ``only``: the columns to check and
    convert; the others are kept as they are (for a frame that already followed the schema and
    had these columns replaced: checking a list column of 155,000 cells costs ~10 ms).

    Examples
    --------
    >>> coerce(pd.DataFrame({"file_path": ["/a.dcm"], "Rows": [512]}), "files")["Rows"].dtype
    Int64Dtype()
    """
    out = {}
    n = len(df)
    for col in columns(table):
        if col.name in df.columns:
            out[col.name] = _coerce_column(df[col.name], col) if only is None or col.name in only else df[col.name]
        else:  # a missing column: all nulls of the column's dtype
            want = pandas_dtype(col.type)
            if isinstance(want, np.dtype) and want.kind == "O":
                out[col.name] = pd.Series(np.full(n, None, dtype=object), index=df.index, dtype=object)
            else:
                fill = np.nan if isinstance(want, np.dtype) else pd.NA
                out[col.name] = (
                    pd.Series(fill, index=df.index, dtype=want) if n else pd.Series([], index=df.index, dtype=want)
                )
    extra = [c for c in df.columns if c not in out]
    result = pd.DataFrame(out, index=df.index, copy=False)  # copy-on-write: a lazy copy, no data copied
    if extra:
        result = pd.concat([result, df[extra]], axis=1)
    return result


def validate(df: pd.DataFrame, table: str) -> None:
    """Raise :class:`~imgindex.errors.InputError` when ``df`` does not follow the schema.

    Checks that every declared column is present with its dtype and that non-nullable columns
    hold no nulls.

    Examples
    --------
    >>> validate(empty("files"), "files")
    """
    problems = []
    for col in columns(table):
        if col.name not in df.columns:
            problems.append(f"column {col.name!r} is missing")
            continue
        want = pandas_dtype(col.type)
        if df[col.name].dtype != want:
            problems.append(f"column {col.name!r} has dtype {df[col.name].dtype}, expected {want}")
        if not col.nullable and df[col.name].isna().any():
            problems.append(f"column {col.name!r} has nulls")
    if problems:
        raise InputError(
            f"The {table} table does not follow the imgindex schema: {'; '.join(problems)}. "
            f"Pass it through imgindex.schema.coerce(df, {table!r}) first."
        )


def _type_name(type_: pa.DataType) -> str:
    if pa.types.is_list(type_):
        return f"list<{_type_name(type_.value_type)}>"
    return {"int64": "int", "double": "float", "bool": "bool", "string": "string"}.get(
        str(type_), "timestamp" if pa.types.is_timestamp(type_) else str(type_)
    )


def markdown_table(table: str) -> str:
    """The Markdown table of the columns of ``table`` (the README's column reference).

    Examples
    --------
    >>> markdown_table("files").splitlines()[0]
    '| column | type | description |'
    """
    lines = ["| column | type | description |", "|---|---|---|"]
    for col in columns(table):
        lines.append(f"| `{col.name}` | {_type_name(col.type)} | {col.doc} |")
    return "\n".join(lines)
