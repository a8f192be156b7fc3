"""What every kind of stack shares: the group keys, the copied columns, and one object row per run of files."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from .. import schema
from .._distinct import neighbour_runs
from ..geometry import GEOMETRY_COLUMNS, as_array, oblique
from .slice_table import READS

#: Files of one DICOM series object share these values (MIRP spec 10.4).
SERIES_KEY = ["request", "role", "sample_name", "modality", "dir_path", "SeriesInstanceUID", "FrameOfReferenceUID"]
#: 2D slices (numpy, NIfTI, NRRD) of one stack share these values (spec 11).
SLICE_KEY = ["request", "role", "sample_name", "modality", "dir_path", "file_type", "size_x", "size_y", "pixel_type"]
PLANAR = ("cr", "dx", "mg")
NOT_SLICES = ("rtstruct", "seg", "rtdose", *PLANAR)
COPIED = [
    "role",
    "sample_name",
    "modality",
    "file_type",
    "dir_path",
    "array_index",
    "request",
    "PatientID",
    "StudyInstanceUID",
    "SeriesInstanceUID",
    "SeriesDescription",
    "StructureSetLabel",
    "FrameOfReferenceUID",
    "ReferencedSeriesInstanceUID",
    "ReferencedSOPInstanceUID",
    "ReferencedFrameOfReferenceUID",
    "ndim",
    "size_x",
    "size_y",
    "size_z",
    "spacing_x",
    "spacing_y",
    "spacing_z",
    "origin_x",
    "origin_y",
    "origin_z",
    "direction",
    "pixel_type",
]
#: Every files column stacking reads: the rest is left behind before any rows are copied.
USED_COLUMNS = list(
    dict.fromkeys(
        [
            *COPIED,
            *SERIES_KEY,
            *SLICE_KEY,
            "file_path",
            "file_name",
            "error",
            "dicom_modality",
            "multiframe",
            "NumberOfFrames",
            "Rows",
            "Columns",
            "DoseSummationType",
            "ImageOrientationPatient",
            "ImagePositionPatient",
            "InstanceNumber",
            "SliceThickness",
            "GridFrameOffsetVector",
            "ROIName",
            "SegmentLabel",
            "SOPInstanceUID",
            *READS,
        ]
    )
)
IDENTITY = (1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0)


def ensure_columns(files: pd.DataFrame, names: list[str]) -> pd.DataFrame:
    """``files`` with the files-table columns ``names`` present (missing ones added as nulls)."""
    missing = [c for c in names if c not in files.columns]
    if not missing:
        return files
    empty = schema.empty("files")
    extra = pd.DataFrame(
        {c: pd.Series([None] * len(files), index=files.index, dtype=object).astype(empty[c].dtype) for c in missing}
    )
    return pd.concat([files, extra], axis=1)


def ids(frame: pd.DataFrame, keys: list[str]) -> NDArray[np.integer]:
    """A group number per row for the combination of ``keys`` (nulls form groups too).

    Numbered in order of first appearance, as ``frame.groupby(keys, dropna=False, sort=False).ngroup()``,
    from one factorize per column: a groupby of several text columns costs ~20 ms on 10^5 rows.
    """
    if frame.empty:
        return np.zeros(0, dtype=np.int64)
    return row_codes([frame[k] for k in keys])


def row_codes(columns: Sequence[pd.Series]) -> NDArray[np.int64]:
    """``combine([value_codes(c) for c in columns])``, one row per run of equal neighbours hashed.

    Files come folder by folder, series by series: the runs (:func:`imgindex._distinct.neighbour_runs`)
    are found with one comparison of neighbours per column, and only their first rows are
    factorized. The codes are the same: every combination first appears at the start of a run.
    """
    found = neighbour_runs(list(columns))
    if found is None:
        return combine([value_codes(c) for c in columns])
    starts, run = found
    return combine([value_codes(c.iloc[starts]) for c in columns])[run]


def value_codes(column: pd.Series) -> NDArray[np.int64]:
    """A code per value of ``column``, -1 for nulls (any numbering: only equality counts)."""
    if isinstance(column.dtype, pd.StringDtype) and column.dtype.storage == "python":
        # The values as they are stored (pd.NA for nulls), no copy: factorizing the object array
        # costs a third of factorizing the extension array.
        return np.asarray(pd.factorize(column.to_numpy(dtype=object))[0], dtype=np.int64)
    return np.asarray(pd.factorize(column)[0], dtype=np.int64)


def combine(columns: Sequence[NDArray[np.integer]]) -> NDArray[np.int64]:
    """A group number per row for the combination of integer ``columns``, in order of first appearance.

    Each column is shifted to start at 0 and the columns are mixed into one integer key
    (re-factorized before the key could overflow), which is factorized once at the end.
    """
    n = len(columns[0]) if columns else 0
    key = np.zeros(n, dtype=np.int64)
    size = 1  # key < size
    for column in columns:
        column = np.asarray(column, dtype=np.int64)
        low, high = (int(column.min()), int(column.max())) if n else (0, 0)
        if high - low >= 4 * n + 16:  # sparse values: number them
            column, low, high = pd.factorize(column)[0].astype(np.int64), 0, n
        width = high - low + 1
        if size * width >= 2**62:
            key = pd.factorize(key)[0].astype(np.int64)
            size = int(key.max()) + 1 if n else 1
        key = key * width + (column - low)
        size *= width
    return np.asarray(pd.factorize(key)[0], dtype=np.int64)


def codes(table: NDArray[np.integer]) -> NDArray[np.integer]:
    """A group number per row of an integer ``(n, k)`` array (hash-based, in order of appearance)."""
    return combine([table[:, j] for j in range(table.shape[1])]) if table.shape[1] else np.zeros(len(table), np.int64)


def collect(members: pd.DataFrame, starts: NDArray[np.intp], order: NDArray[np.intp] | None = None) -> pd.DataFrame:
    """One object row per run of ``members`` starting at ``starts``.

    The runs are of ``members`` in stack order: ``members.iloc[order]`` (default: as they are),
    which is never built, since only the first row of each run and the member paths are needed.
    """
    if len(starts) == 0:
        return members.iloc[:0]
    order = np.arange(len(members)) if order is None else order
    ends = np.r_[starts[1:], len(order)].astype(int)
    rows = order[starts]
    index = pd.RangeIndex(len(rows))
    # Column by column, array by array: selecting 30 of 50 columns first consolidates (copies)
    # them all, and a frame of the first rows would only be taken apart again.
    first = {c: _take(members[c], rows, index) for c in [*COPIED, "ROIName", "SegmentLabel"]}
    bounds = list(zip(starts.tolist(), ends.tolist(), strict=True))
    paths, missing_path = _members(members["file_path"], order)
    sops, missing_sop = _members(members["SOPInstanceUID"], order)
    if missing_path.any():
        file_paths = [tuple(p for p in paths[s:e] if p is not None) for s, e in bounds]
    else:  # the common case: every member has a path (no per-path test)
        file_paths = [tuple(paths[s:e].tolist()) for s, e in bounds]
    has_sop = np.add.reduceat(~missing_sop, starts) > 0  # runs are never empty
    sop_tuples = [
        tuple(sops[s:e].tolist()) if has else None for (s, e), has in zip(bounds, has_sop.tolist(), strict=True)
    ]
    n = len(rows)
    columns: dict[str, object] = {c: first[c] for c in COPIED}
    columns["file_paths"] = pd.Series(file_paths, index=index, dtype=object)
    columns["SOPInstanceUID"] = pd.Series(sop_tuples, index=index, dtype=object)
    columns["n_files"] = pd.Series([len(p) for p in file_paths], index=index)
    # Inferred as a column set from a list would be (text when every object has one file).
    columns["file_path"] = pd.Series([p[0] if len(p) == 1 else None for p in file_paths], index=index)
    named = pd.DataFrame({c: first[c] for c in ("ROIName", "SegmentLabel", "role")}, copy=False)
    columns["_mask_names"] = pd.Series(roi_names(named).to_numpy(), index=index)
    columns["geometry_warning"] = pd.Series(np.full(n, None, dtype=object), index=index)
    for name in GEOMETRY_COLUMNS:  # filled where the positions are known, else from size_z in _finish
        columns[name] = pd.Series(np.full(n, None, dtype=object), index=index)
    return pd.DataFrame(columns, index=index, copy=False)


def _take(column: pd.Series, rows: NDArray[np.intp], index: pd.RangeIndex) -> pd.Series:
    """``column``'s values at positions ``rows``, as a Series on ``index`` (one take of its array)."""
    if isinstance(column.dtype, np.dtype):  # numpy: the array itself, no extension wrapper
        return pd.Series(column.to_numpy().take(rows), index=index, name=column.name, copy=False)
    return pd.Series(column.array.take(rows), index=index, name=column.name, copy=False)


def _members(column: pd.Series, order: NDArray[np.intp]) -> tuple[NDArray[np.object_], NDArray[np.bool_]]:
    """The values of ``column`` in ``order`` as objects (None where missing), and where they are missing."""
    missing = column.isna().to_numpy()
    values = column.to_numpy(dtype=object)  # text columns: the stored objects, not copied
    if missing.any():
        values = values.copy()
        values[missing] = None
    return values[order], missing[order]


def roi_names(rows: pd.DataFrame) -> pd.Series:
    """The ROI names of mask rows (RTSTRUCT ``ROIName``, else SEG ``SegmentLabel``); ``None`` for images."""
    names: pd.Series = rows["ROIName"].where(rows["ROIName"].notna(), rows["SegmentLabel"])
    masks: pd.Series = names.where(rows["role"] == "mask", None)
    return masks


def fill_geometry(out: pd.DataFrame) -> None:
    """Fill the geometry columns of objects whose slice positions were not checked, in place.

    These are single files, arrays and slice stacks ordered by name: ``size_z`` slices
    ``spacing_z`` apart, nothing missing; ``oblique`` from the direction; ``geometry_warning``
    the stacking warning, empty when all is well.
    """
    has_grid = out["size_z"].notna().to_numpy()
    defaults = {
        "n_slices": out["size_z"],
        "slice_spacing": out["spacing_z"],
        "slice_spacing_uniform": True,
        "missing_slices": 0,
        "duplicate_positions": 0,
    }
    for name, default in defaults.items():
        unset = out[name].isna().to_numpy() & has_grid
        if not unset.any():
            out[name] = out[name].astype(object)
            continue
        values = out[name].to_numpy(dtype=object, copy=True)  # the cells as they are, nulls included
        if isinstance(default, pd.Series):
            values[unset] = default.astype(object).to_numpy()[unset]
        else:
            values[unset] = default
        out[name] = pd.Series(values, index=out.index, dtype=object)
    flags = oblique(as_array(out["direction"], 9))
    known = ~np.isnan(flags)
    tilted = np.full(len(out), None, dtype=object)
    tilted[known] = (flags[known] != 0).tolist()  # Python bools, None where the direction is missing
    out["oblique"] = pd.Series(tilted, index=out.index, dtype=object)
    out["geometry_warning"] = out["geometry_warning"].astype(object).where(out["geometry_warning"].notna(), "")
