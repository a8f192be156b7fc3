"""Step 6: ``ImageFile`` and ``MaskFile`` objects, built last from rows of the objects table.

They carry the attributes MIRP users know (``sample_name``, ``modality``, ``file_type``,
``file_path``, ``dir_path``, ``image_dimension``, ``image_spacing``, ``image_origin``,
``image_orientation`` in MIRP's (z, y, x) order, ``associated_masks``, ``roi_name``) plus
``file_paths`` (every member file in stack order), ``object_id`` (the row in the index) and
what the objects table says about volumes: ``frames`` (the frames of a multi-frame file that make
the object, 0-based, in stack order; ``None``: every frame), ``volume_index``, ``n_volumes``,
``volume_key``, ``volume_value``, ``volume_group`` and ``tilt_angle``.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar, cast

import numpy as np
import numpy.typing as npt
import pandas as pd

from ._lazy import SimpleITK as sitk

if TYPE_CHECKING:
    from .voxels.names import RoiName

_T = TypeVar("_T")
_F = TypeVar("_F", bound="BaseFile")


#: The objects-table columns ``from_row`` reads (``Index.materialise`` converts only these).
ROW_COLUMNS = (
    "object_id",
    "sample_name",
    "modality",
    "file_type",
    "file_path",
    "file_paths",
    "dir_path",
    "SeriesInstanceUID",
    "FrameOfReferenceUID",
    "SOPInstanceUID",
    *(f"{prefix}_{axis}" for prefix in ("size", "spacing", "origin") for axis in "zyx"),
    "direction",
    "array_index",
    "geometry_warning",
    "frames",
    "volume_index",
    "n_volumes",
    "volume_key",
    "volume_value",
    "volume_group",
    "tilt_angle",
    "roi_names",
    "request",
)


def _value(row: Mapping[str, Any], key: str) -> Any:
    return _cell(row.get(key))


def _cell(value: Any) -> Any:
    """A cell as ``from_row`` keeps it: nulls ``None``, numpy scalars as Python ones."""
    if value is None or value is pd.NA:
        return None
    if isinstance(value, float):  # Python floats and numpy float64 (cheaper than np.isnan)
        return None if value != value else float(value)
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.floating):
        return float(value)
    return value


def _column(table: pd.DataFrame, name: str, rows: Sequence[int] | None = None) -> list[Any]:
    """The cells of one column (of the positions ``rows``) as :func:`_cell` gives them, column by column.

    Numbers, booleans and strings (numpy or pandas dtypes) come out of ``tolist`` as Python
    scalars or nulls: only their nulls need replacing. Other columns go cell by cell.
    """
    if name not in table.columns:
        return [None] * (len(table) if rows is None else len(rows))
    column = table[name]
    dtype = column.dtype
    if isinstance(dtype, _TYPED):  # pandas' own nulls: one conversion does it
        values = column.to_numpy(dtype=object, na_value=cast(Any, None)).tolist()
    elif isinstance(dtype, np.dtype) and dtype.kind in "iufb":
        values = column.tolist()
        for k in np.flatnonzero(column.isna().to_numpy(bool)).tolist():
            values[k] = None
    else:  # tuples, strings and None are kept as they are: no call for them
        values = [v if v is None or type(v) in _KEPT else _cell(v) for v in column.tolist()]
    return values if rows is None else [values[k] for k in rows]


#: pandas dtypes whose cells are Python scalars or their null only (a Float64 column may hold NaN beside NA).
_TYPED: tuple[type, ...] = (pd.Int64Dtype, pd.Int32Dtype, pd.Int16Dtype, pd.Int8Dtype, pd.BooleanDtype)
_TYPED += (pd.StringDtype,)
_KEPT = frozenset({tuple, str})


def _zyx(columns: Mapping[str, list[Any]], prefix: str, convert: Callable[[Any], _T]) -> list[tuple[_T, _T, _T] | None]:
    z, y, x = (columns[f"{prefix}_{axis}"] for axis in "zyx")
    return [
        None if a is None or b is None or c is None else (convert(a), convert(b), convert(c))
        for a, b, c in zip(z, y, x, strict=True)
    ]


def _orientations(directions: list[Any]) -> list[npt.NDArray[np.float64] | None]:
    """:func:`_orientation` of each cell; tuples of nine numbers (the schema's) converted at once."""
    given = [k for k, v in enumerate(directions) if v is not None]
    if not given or not all(type(directions[k]) is tuple and len(directions[k]) == 9 for k in given):
        return [_orientation(v) for v in directions]
    matrices = np.array([directions[k] for k in given], dtype=np.float64).reshape(-1, 3, 3)[:, ::-1, ::-1]
    out: list[npt.NDArray[np.float64] | None] = [None] * len(directions)
    for k, matrix in zip(given, matrices, strict=True):
        out[k] = matrix.copy()  # its own C-ordered array, as _orientation gives
    return out


def _orientation(direction: Any) -> npt.NDArray[np.float64] | None:
    if direction is None:
        return None
    # Ours: row-major (x, y, z) with columns = voxel axes; MIRP: the same matrix in (z, y, x).
    return np.asarray(direction, dtype=np.float64).reshape(3, 3)[::-1, ::-1].copy()


@dataclass(slots=True, eq=False)
class BaseFile:
    """What images and masks share. Build them with :meth:`from_row`, not by hand."""

    object_id: str | None = None
    sample_name: str | None = None
    modality: str | None = None
    file_type: str | None = None
    file_path: str | None = None
    file_paths: tuple[str, ...] = ()
    dir_path: str | None = None
    series_instance_uid: str | None = None
    frame_of_reference_uid: str | None = None
    sop_instance_uid: tuple[str, ...] | str | None = None
    image_dimension: tuple[int, int, int] | None = None
    image_spacing: tuple[float, float, float] | None = None
    image_origin: tuple[float, float, float] | None = None
    image_orientation: npt.NDArray[np.float64] | None = None
    image_data: npt.NDArray[Any] | None = field(default=None, repr=False)
    geometry_warning: str | None = None
    frames: tuple[int, ...] | None = None
    volume_index: int | None = None
    n_volumes: int = 1
    volume_key: str | None = None
    volume_value: str | None = None
    volume_group: str | None = None
    tilt_angle: float | None = None

    @property
    def file_name(self) -> str | None:
        """Name of the single file (``None`` for stacks and arrays)."""
        return os.path.basename(self.file_path) if self.file_path else None

    @classmethod
    def _fields_from_row(cls, row: Mapping[str, Any], arrays: Sequence[npt.NDArray[Any]] | None) -> dict[str, Any]:
        fields = cls._fields({name: [_value(row, name)] for name in ROW_COLUMNS}, arrays)
        return {name: values[0] for name, values in fields.items()}

    @classmethod
    def _build(
        cls: type[_F],
        table: pd.DataFrame,
        arrays: Sequence[npt.NDArray[Any]] | None,
        rows: Sequence[int] | None,
        **extra: list[Any],
    ) -> list[_F]:
        """One object per row (at ``rows``) of ``table``, column by column; ``extra``: the fields of a subclass."""
        fields = {**cls._fields({name: _column(table, name, rows) for name in ROW_COLUMNS}, arrays), **extra}
        ordered = [fields[f.name] for f in dataclasses.fields(cls)]  # positional: no dict per object
        return [cls(*values) for values in zip(*ordered, strict=True)]

    @staticmethod
    def _fields(columns: Mapping[str, list[Any]], arrays: Sequence[npt.NDArray[Any]] | None) -> dict[str, list[Any]]:
        """The fields of every object (one list per field) from the converted cells of each column."""
        return {
            "object_id": columns["object_id"],
            "sample_name": columns["sample_name"],
            "modality": columns["modality"],
            "file_type": columns["file_type"],
            "file_path": columns["file_path"],
            "file_paths": [tuple(v or ()) for v in columns["file_paths"]],
            "dir_path": columns["dir_path"],
            "series_instance_uid": columns["SeriesInstanceUID"],
            "frame_of_reference_uid": columns["FrameOfReferenceUID"],
            "sop_instance_uid": [v[0] if v is not None and len(v) == 1 else v for v in columns["SOPInstanceUID"]],
            "image_dimension": _zyx(columns, "size", int),
            "image_spacing": _zyx(columns, "spacing", float),
            "image_origin": _zyx(columns, "origin", float),
            "image_orientation": _orientations(columns["direction"]),
            "image_data": [arrays[k] if arrays is not None and k is not None else None for k in columns["array_index"]],
            "geometry_warning": [v or None for v in columns["geometry_warning"]],
            "frames": [tuple(int(f) for f in v) if v is not None else None for v in columns["frames"]],
            "volume_index": columns["volume_index"],
            "n_volumes": [v or 1 for v in columns["n_volumes"]],
            "volume_key": columns["volume_key"],
            "volume_value": columns["volume_value"],
            "volume_group": columns["volume_group"],
            "tilt_angle": columns["tilt_angle"],
        }


@dataclass(slots=True, eq=False)
class MaskFile(BaseFile):
    """A mask: RTSTRUCT, SEG, label map, or the whole-image placeholder.

    ``roi_name`` is the caller's selection/renaming as given (str, list, dict or None);
    ``roi_names`` the labels present in the file as far as the header tells (RTSTRUCT ROI names,
    SEG segment labels; ``None`` for label maps, whose labels are in the voxels).
    """

    roi_name: RoiName = None
    roi_names: tuple[str, ...] | None = None

    @classmethod
    def from_row(
        cls,
        row: Mapping[str, Any],
        *,
        roi_name: RoiName = None,
        arrays: Sequence[npt.NDArray[Any]] | None = None,
    ) -> MaskFile:
        """Build a mask from a row of the objects table.

        Examples
        --------
        >>> row = pd.Series({"object_id": "mask_0", "modality": "rtstruct", "roi_names": ("GTV",)})
        >>> MaskFile.from_row(row, roi_name="GTV").roi_names
        ('GTV',)
        """
        roi_names = _value(row, "roi_names")
        return cls(
            **cls._fields_from_row(row, arrays),
            roi_name=roi_name,
            roi_names=tuple(roi_names) if roi_names is not None else None,
        )

    @classmethod
    def from_table(
        cls,
        table: pd.DataFrame,
        *,
        roi_name: Sequence[RoiName] | None = None,
        arrays: Sequence[npt.NDArray[Any]] | None = None,
        rows: Sequence[int] | None = None,
    ) -> list[MaskFile]:
        """One mask per row of ``table`` (rows of the objects table), as :meth:`from_row` builds it.

        ``roi_name``: the selection of each row (default: none); ``rows``: the positions of the
        rows to build (default: every row). Column by column, not row by row.

        Examples
        --------
        >>> table = pd.DataFrame({"object_id": ["mask_0"], "modality": ["rtstruct"], "roi_names": [("GTV",)]})
        >>> MaskFile.from_table(table, roi_name=["GTV"])[0].roi_names
        ('GTV',)
        """
        n = len(table) if rows is None else len(rows)
        selections = list(roi_name) if roi_name is not None else [None] * n
        found = [tuple(names) if names is not None else None for names in _column(table, "roi_names", rows)]
        return cls._build(table, arrays, rows, roi_name=selections, roi_names=found)

    @classmethod
    def full_image(cls, image: ImageFile) -> MaskFile:
        """MIRP's placeholder for "no mask": the whole image, ``roi_name='full_image_mask'``.

        Examples
        --------
        >>> mask = MaskFile.full_image(ImageFile(sample_name="STS_001"))
        >>> mask.sample_name, mask.roi_name
        ('STS_001', 'full_image_mask')
        """
        return cls(sample_name=image.sample_name, roi_name="full_image_mask")

    def read(self, reference: ImageFile | sitk.Image | None = None) -> dict[str, sitk.Image]:
        """One binary (uint8 0/1) image per region, on exactly the reference's grid.

        Keys: RTSTRUCT ROIName, SEG SegmentLabel (made unique), ``region_<value>`` for label maps;
        the ``roi_name`` selection and renaming of the import applies.

        Parameters
        ----------
        reference : ImageFile or SimpleITK.Image, optional
            The grid of the result (size, spacing, origin, direction). Required for an RTSTRUCT
            and the whole-image placeholder; a label map defaults to its own grid (on another grid
            it is resampled with nearest neighbour, with a warning), a SEG to its own frame geometry.

        Examples
        --------
        >>> import imgindex
        >>> image = imgindex.import_image_and_mask(
        ...     example_dir, image_sub_folder="CT/dicom/image", mask_sub_folder="CT/dicom/mask",
        ...     mask_modality="rtstruct",  # the RTSTRUCT, not the SEG beside it
        ... )[0]
        >>> masks = image.associated_masks[0].read(reference=image)
        >>> sorted(masks), masks["GTV_Mass"].GetSize() == image.read().GetSize()
        (['GTV_2', 'GTV_Mass'], True)
        """
        from .voxels import read_mask

        return read_mask(self, reference)

    def to_numpy(self, reference: ImageFile | sitk.Image | None = None) -> dict[str, npt.NDArray[np.bool_]]:
        """The masks of :meth:`read` as boolean numpy arrays (z, y, x).

        Examples
        --------
        >>> MaskFile(image_data=np.array([[0, 3]], np.uint8)).to_numpy()["region_3"].tolist()
        [[[False, True]]]
        """
        return {name: sitk.GetArrayFromImage(image).astype(bool) for name, image in self.read(reference).items()}


@dataclass(slots=True, eq=False)
class ImageFile(BaseFile):
    """An image: a DICOM series or multi-frame file, a NIfTI/NRRD/numpy file, a stack or an array.

    ``associated_masks`` is the list of :class:`MaskFile` after ``import_image_and_mask``.
    """

    associated_masks: list[MaskFile] | None = None

    @classmethod
    def from_row(
        cls,
        row: Mapping[str, Any],
        *,
        arrays: Sequence[npt.NDArray[Any]] | None = None,
        masks: list[MaskFile] | None = None,
    ) -> ImageFile:
        """Build an image from a row of the objects table.

        Examples
        --------
        >>> row = pd.Series({"object_id": "image_0", "modality": "ct", "size_x": 4, "size_y": 3,
        ...                  "size_z": 2})
        >>> ImageFile.from_row(row).image_dimension
        (2, 3, 4)
        """
        return cls(**cls._fields_from_row(row, arrays), associated_masks=masks)

    @classmethod
    def from_table(
        cls,
        table: pd.DataFrame,
        *,
        arrays: Sequence[npt.NDArray[Any]] | None = None,
        masks: Sequence[list[MaskFile] | None] | None = None,
        rows: Sequence[int] | None = None,
    ) -> list[ImageFile]:
        """One image per row of ``table`` (rows of the objects table), as :meth:`from_row` builds it.

        ``masks``: the ``associated_masks`` of each row (default: none); ``rows``: the positions
        of the rows to build (default: every row). Column by column.

        Examples
        --------
        >>> table = pd.DataFrame({"object_id": ["image_0"], "size_x": [4], "size_y": [3], "size_z": [2]})
        >>> ImageFile.from_table(table)[0].image_dimension
        (2, 3, 4)
        """
        found = list(masks) if masks is not None else [None] * (len(table) if rows is None else len(rows))
        return cls._build(table, arrays, rows, associated_masks=found)

    def read(self, *, resample: bool = True) -> sitk.Image:
        """The image as a 3D SimpleITK image: real-world values, geometry from the headers.

        DICOM series are stacked along their normal with RescaleSlope/RescaleIntercept applied
        (float32 when not integral); tilted series and series with missing slices or uneven
        spacing are resampled so that every voxel is where the patient was (``resample=False``:
        the slices as stored; see :mod:`imgindex.voxels.layout`); multi-frame DICOM is one volume;
        NIfTI/NRRD are read by SimpleITK; numpy arrays get unit spacing at the origin unless the
        object's ``image_spacing``/``image_origin``/``image_orientation`` say otherwise; 2D slices
        are stacked.

        Examples
        --------
        >>> import imgindex
        >>> image = imgindex.import_image(example_dir, image_sub_folder="PET/dicom/image")[0].read()
        >>> image.GetSize(), image.GetPixelIDTypeAsString()
        ((32, 32, 8), '32-bit float')
        """
        from .voxels import read_image

        return read_image(self, resample=resample)

    def to_numpy(self, *, resample: bool = True) -> npt.NDArray[Any]:
        """The voxels of :meth:`read` as a numpy array (z, y, x).

        Examples
        --------
        >>> ImageFile(image_data=np.zeros((2, 3, 4), np.int16)).to_numpy().shape
        (2, 3, 4)
        """
        from .voxels import read_voxels

        return read_voxels(self, resample=resample)[1]
