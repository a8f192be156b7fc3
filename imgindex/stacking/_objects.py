"""What every kind of stack shares: the group keys, the copied columns, and one object row per run of files."""

from __future__ import annotations

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from .. import schema
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
    """A group number per row for the combination of ``keys`` (nulls form groups too)."""
    if frame.empty:
        return np.zeros(0, dtype=np.int64)
    return frame.groupby(keys, dropna=False, sort=False).ngroup().to_numpy()


def codes(table: NDArray[np.integer]) -> NDArray[np.integer]:
    """A group number per row of an integer ``(n, k)`` array (hash-based, in order of appearance)."""
    return pd.DataFrame(table).groupby(list(range(table.shape[1])), sort=False).ngroup().to_numpy()


def collect(members: pd.DataFrame, starts: NDArray[np.intp], order: NDArray[np.intp] | None = None) -> pd.DataFrame:
    """One object row per run of ``members`` starting at ``starts``.

    The runs are of ``members`` in stack order: ``members.iloc[order]`` (default: as they are),
    which is never built, since only the first row of each run and the member paths are needed.
    """
    if len(starts) == 0:
        return members.iloc[:0]
    order = np.arange(len(members)) if order is None else order
    ends = np.r_[starts[1:], len(order)].astype(int)
    first = members.iloc[order[starts]]
    out = first[COPIED].reset_index(drop=True)
    paths = members["file_path"].astype(object).where(members["file_path"].notna(), None).to_numpy()[order]
    sops = members["SOPInstanceUID"].astype(object).where(members["SOPInstanceUID"].notna(), None).to_numpy()[order]
    if members["file_path"].isna().any():
        out["file_paths"] = [tuple(p for p in paths[s:e] if p is not None) for s, e in zip(starts, ends, strict=True)]
    else:  # the common case: every member has a path (no per-path test)
        out["file_paths"] = [tuple(paths[s:e].tolist()) for s, e in zip(starts, ends, strict=True)]
    out["SOPInstanceUID"] = pd.Series(
        [
            tuple(sops[s:e]) if any(v is not None for v in sops[s:e]) else None
            for s, e in zip(starts, ends, strict=True)
        ],
        index=out.index,
        dtype=object,
    )
    out["n_files"] = [len(p) for p in out["file_paths"]]
    out["file_path"] = [p[0] if len(p) == 1 else None for p in out["file_paths"]]
    out["_mask_names"] = roi_names(first).to_numpy()
    out["geometry_warning"] = None
    for name in GEOMETRY_COLUMNS:  # filled where the positions are known, else from size_z in _finish
        out[name] = pd.Series([None] * len(out), dtype=object)
    return out


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
        fill = default if isinstance(default, pd.Series) else pd.Series(default, index=out.index, dtype=object)
        unset = out[name].isna().to_numpy() & has_grid
        out[name] = out[name].astype(object).where(~unset, fill.astype(object))
    flags = oblique(as_array(out["direction"], 9))
    out["oblique"] = pd.Series([None if np.isnan(f) else bool(f) for f in flags], index=out.index, dtype=object)
    out["geometry_warning"] = out["geometry_warning"].astype(object).where(out["geometry_warning"].notna(), "")
