"""DICOM stacks: single-frame slices → one object per series, orientation and size; RTDOSE beams of a plan.

Slices are ordered by their position along the slice normal (ImagePositionPatient · (row × col)),
the spacing is the median distance between distinct positions, and a series whose slices disagree
in orientation or in-plane size is split into one object per orientation and size. Missing slices,
duplicated positions and slices without a position are reported per series.
"""

from __future__ import annotations

from typing import cast

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from ..geometry import GEOMETRY_COLUMNS, as_array, describe_problems, geometry_columns, slice_normal, stack_geometry
from ._objects import SERIES_KEY, codes, collect, ids


def rtdose_spacing(out: pd.DataFrame, members: pd.DataFrame) -> None:
    """RTDOSE: z spacing from GridFrameOffsetVector (a single frame: 1.0 mm, as MIRP)."""
    for i in np.flatnonzero(members["Modality"].eq("RTDOSE").fillna(False).to_numpy()).tolist():
        offsets = members["GridFrameOffsetVector"].iloc[i]
        if not isinstance(offsets, tuple):
            continue
        if len(offsets) > 1:
            g = stack_geometry(np.asarray(offsets))
            out.loc[i, "spacing_z"] = g["slice_spacing"]
            for name, value in geometry_columns(g, len(offsets)).items():
                out.at[i, name] = value
            if not g["slice_spacing_uniform"]:
                out.loc[i, "stack_warning"] = "dose grid: " + "; ".join(describe_problems(g))
        elif pd.isna(cast(float, out.loc[i, "spacing_z"])):  # a float64 column
            out.loc[i, "spacing_z"] = 1.0
            out.loc[i, "stack_warning"] = "dose grid with a single frame: 1.0 mm frame spacing assumed"


def beam_sums(members: pd.DataFrame) -> pd.DataFrame:
    """RTDOSE files with DoseSummationType BEAM: one object per plan (the beams are summed)."""
    if members.empty:
        return members.iloc[:0]
    gid = ids(members, [*SERIES_KEY, "DoseSummationType", "size_x", "size_y", "size_z"])
    members = members.assign(_gid=gid).sort_values(["_gid", "file_path"], kind="mergesort")
    starts = np.flatnonzero(np.r_[True, np.diff(members["_gid"].to_numpy()) != 0])
    out = collect(members, starts)
    rtdose_spacing(out, members.iloc[starts])
    return out


#: What grouping and ordering the slices of DICOM series reads (only these columns are copied).
_SERIES_READS = [
    *SERIES_KEY,
    "ImageOrientationPatient",
    "ImagePositionPatient",
    "Rows",
    "Columns",
    "InstanceNumber",
    "file_name",
    "file_path",
    "SliceThickness",
]


def dicom_series(frame: pd.DataFrame, slices: NDArray[np.intp], messages: list[str]) -> pd.DataFrame:
    """Single-frame DICOM image slices → one object per series, orientation and size.

    The slices are the rows of ``frame`` at positions ``slices``.
    """
    if len(slices) == 0:
        return frame.iloc[:0]
    members = frame[_SERIES_READS].iloc[slices]
    gid = ids(members, SERIES_KEY)
    iop = as_array(members["ImageOrientationPatient"], 6)
    orientation = codes(np.rint(np.nan_to_num(iop, nan=9.0) * 1e4).astype(np.int64))
    rows = members["Rows"].fillna(-1).to_numpy(dtype=np.int64)
    cols = members["Columns"].fillna(-1).to_numpy(dtype=np.int64)
    sub = codes(np.column_stack([gid, orientation, rows, cols]))
    pos = np.einsum("ij,ij->i", as_array(members["ImagePositionPatient"], 3), slice_normal(iop))
    no_position = np.bincount(sub, weights=np.isnan(pos)) > 0
    by_file = no_position[sub]
    instance = members["InstanceNumber"].astype("float64").fillna(np.inf).to_numpy()
    names = pd.factorize(members["file_name"], sort=True)[0]
    paths = pd.factorize(members["file_path"], sort=True)[0]
    order = np.lexsort((paths, names, np.where(by_file, 0, instance), np.where(by_file, instance, pos), sub))
    sub, pos, gid = sub[order], pos[order], gid[order]
    starts = np.flatnonzero(np.r_[True, np.diff(sub) != 0])
    ends = np.r_[starts[1:], len(members)]
    out = collect(frame, starts, slices[order])

    thickness = members["SliceThickness"].to_numpy()[order[starts]]
    reasons: list[list[str]] = []
    geometry: list[dict[str, int | float | bool]] = []
    spacing_z = out["spacing_z"].to_numpy(dtype=float, na_value=np.nan, copy=True)
    for k, (s, e) in enumerate(zip(starts, ends, strict=True)):
        p, why = pos[s:e], []
        if e - s == 1:
            spacing_z[k] = thickness[k] if np.isfinite(thickness[k]) else spacing_z[k]
            geometry.append({})
        else:
            g = stack_geometry(p)
            geometry.append(geometry_columns(g, e - s))
            spacing_z[k] = g["slice_spacing"] if np.isfinite(g["slice_spacing"]) else thickness[k]
            why = describe_problems(g)
            if no_position[sub[s]]:
                why.append(
                    f"{int(np.isnan(p).sum())} slice(s) without ImagePositionPatient (or "
                    "ImageOrientationPatient): slices kept in file order (InstanceNumber, then name)"
                )
        reasons.append(why)
    n = ends - starts
    out["ndim"] = np.where(n > 1, 3, out["ndim"].astype("float64").fillna(2))
    out["size_z"] = n
    out["spacing_z"] = spacing_z
    for name in GEOMETRY_COLUMNS:
        out[name] = pd.Series([g.get(name) for g in geometry], dtype=object)

    # Splits and warnings, per original series.
    series_of = gid[starts]
    uids = out["SeriesInstanceUID"].astype(object).where(out["SeriesInstanceUID"].notna(), "<no SeriesInstanceUID>")
    per_series = pd.DataFrame(
        {
            "series": series_of,
            "o": orientation[order][starts],
            "size": list(zip(rows[order][starts], cols[order][starts], strict=True)),
        }
    )
    n_orient = per_series.groupby("series")["o"].transform("nunique").to_numpy()
    n_size = per_series.groupby("series")["size"].transform("nunique").to_numpy()
    warning: list[str | None] = []
    for k in range(len(out)):
        why = list(reasons[k])
        if n_orient[k] > 1:
            why.insert(0, f"split: {n_orient[k]} orientations in series {uids.iloc[k]}")
        if n_size[k] > 1:
            why.insert(0, f"split: {n_size[k]} image sizes (Rows, Columns) in series {uids.iloc[k]}")
        warning.append("; ".join(why) or None)
    out["stack_warning"] = warning
    broken: dict[int, list[str]] = {}  # one warning per original series, naming it
    for k, text in enumerate(warning):
        if text is None:
            continue
        texts = broken.setdefault(int(series_of[k]), [f"DICOM series {uids.iloc[k]} in {out['dir_path'].iloc[k]}"])
        texts.extend(t for t in text.split("; ") if t not in texts)
    messages.extend(
        f"{head}: {'; '.join(texts)}. Check the series before using it." for head, *texts in broken.values()
    )
    return out
