"""DICOM stacks: single-frame slices → one object per series, orientation and size; RTDOSE beams of a plan.

Slices are ordered by their position along the slice normal (ImagePositionPatient · (row × col)),
the spacing is the median distance between distinct positions, and a series whose slices disagree
in orientation or in-plane size is split into one object per orientation and size. Missing slices,
duplicated positions and slices without a position are reported per series.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import cast

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from ..geometry import (
    GEOMETRY_COLUMNS,
    StackGeometry,
    describe_problems,
    geometry_columns,
    slice_normal,
    stack_geometries,
    stack_geometry,
    stack_tilts,
)
from ._objects import SERIES_KEY, codes, collect, combine, ids, row_codes
from .slice_table import READS, Slices, slice_keys, slice_table
from .volumes import FALLBACK, KEYS, Volumes, split, volume_values


def rtdose_spacing(out: pd.DataFrame, members: pd.DataFrame) -> None:
    """RTDOSE: z spacing from GridFrameOffsetVector (a single frame: 1.0 mm, as MIRP)."""
    for i in np.flatnonzero(members["dicom_modality"].eq("RTDOSE").fillna(False).to_numpy()).tolist():
        offsets = members["GridFrameOffsetVector"].iloc[i]
        if not isinstance(offsets, tuple):
            continue
        if len(offsets) > 1:
            g = stack_geometry(np.asarray(offsets))
            out.loc[i, "spacing_z"] = g["slice_spacing"]
            for name, value in geometry_columns(g, len(offsets)).items():
                out.at[i, name] = value
            if not g["slice_spacing_uniform"]:
                out.loc[i, "geometry_warning"] = "dose grid: " + "; ".join(describe_problems(g))
        elif pd.isna(cast(float, out.loc[i, "spacing_z"])):  # a float64 column
            out.loc[i, "spacing_z"] = 1.0
            out.loc[i, "geometry_warning"] = "dose grid with a single frame: 1.0 mm frame spacing assumed"


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
_SERIES_READS = list(
    dict.fromkeys([*SERIES_KEY, *READS, "Rows", "Columns", "file_name", "file_path", "SliceThickness"])
)


def dicom_series(
    frame: pd.DataFrame,
    slices: NDArray[np.intp],
    messages: list[str],
    enhanced: NDArray[np.intp] | None = None,
    *,
    headers: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """Single-frame DICOM slices and enhanced multi-frame files → one object per volume.

    The single-frame slices are the rows of ``frame`` at positions ``slices``; each file at
    ``enhanced`` is stacked from its frames. A series (or file) makes one object per orientation,
    size and volume (:mod:`imgindex.stacking.volumes`); the attributes that tell volumes apart
    are read from ``headers`` (a files table with the same files), else from ``frame``.
    """
    enhanced = np.zeros(0, dtype=np.intp) if enhanced is None else enhanced
    if len(slices) + len(enhanced) == 0:
        return frame.iloc[:0]
    files = frame[_SERIES_READS]
    table = slice_table(files, slices, enhanced)
    rows_of_files = np.r_[slices, enhanced].astype(np.intp)
    lookup = np.full(len(frame), -1, dtype=np.int64)  # files-frame position -> series code / own file
    lookup[rows_of_files] = combine([row_codes([frame[k] for k in SERIES_KEY])[rows_of_files]])  # no copied rows
    own = np.full(len(frame), -1, dtype=np.int64)
    own[enhanced] = np.arange(len(enhanced))
    gid, file_group = lookup[table.row], own[table.row]
    orientation = codes(np.rint(np.nan_to_num(table.iop, nan=9.0) * 1e4).astype(np.int64))
    n_rows = files["Rows"].fillna(-1).to_numpy(dtype=np.int64)[table.row]
    n_cols = files["Columns"].fillna(-1).to_numpy(dtype=np.int64)[table.row]
    sub = codes(np.column_stack([gid, orientation, n_rows, n_cols, file_group])).astype(np.int64)
    n_groups = int(sub.max()) + 1
    multiframe = np.zeros(n_groups, dtype=bool)
    multiframe[sub[file_group >= 0]] = True
    del lookup, own, orientation, n_rows, n_cols, file_group  # 10^5 slices: keep only what is needed
    pos = np.einsum("ij,ij->i", table.ipp, slice_normal(table.iop))
    no_position = np.bincount(sub, weights=np.isnan(pos)) > 0
    by_file = no_position[sub]
    instance = np.nan_to_num(table.instance, nan=np.inf)
    order = _slice_order(files, table.row, sub, np.where(by_file, instance, pos), np.where(by_file, 0, instance))
    del by_file
    found = split(
        sub[order],
        pos[order],
        instance[order],
        table.sop[order],
        lambda picked: (
            slice_keys(files, table, order[picked], headers)
            if headers is not None
            else slice_keys(frame, table, order[picked])
        ),
        multiframe,
        n_groups,
    )
    n = len(sub)
    if found.keep.all() and not found.volume.any():  # the common case: one volume per group
        final, volume = order, found.volume
    else:
        rank, vol, keep = np.empty(n, np.int64), np.empty(n, np.int64), np.empty(n, bool)
        rank[order], vol[order], keep[order] = np.arange(n), found.volume, found.keep
        kept = np.flatnonzero(keep)
        final = kept[np.lexsort((rank[kept], vol[kept], sub[kept]))]  # by group, volume, then as ordered
        volume = vol[final]
        del rank, vol, keep, kept
    group = sub[final]
    starts = np.flatnonzero(np.r_[True, (np.diff(group) != 0) | (np.diff(volume) != 0)])
    ends = np.r_[starts[1:], len(final)]
    out = collect(frame, starts, table.row[final])
    keyed = np.full(n, -1, dtype=np.int64)  # each slice's entry among the slices whose keys were read
    keyed[order[found.keyed]] = np.arange(len(found.keyed))
    _volume_columns(out, table, final, starts, ends, group, volume, found, keyed[final])
    _geometry(out, files, table, final, pos, starts, ends, group, found, gid, no_position, messages)
    return out


def _slice_order(
    files: pd.DataFrame,
    rows: NDArray[np.intp],
    group: NDArray[np.int64],
    primary: NDArray[np.float64],
    secondary: NDArray[np.float64],
) -> NDArray[np.intp]:
    """The slices by group, ``primary`` then ``secondary`` key, then file name and file path.

    Names and paths only break ties (slices of a group at the same position and instance), so
    they are ranked for the tied slices alone: sorting 10^5 paths costs ~0.3 s, and ties are rare.
    """
    order = np.lexsort((secondary, primary, group))
    g, p, q = group[order], primary[order], secondary[order]
    same = (g[1:] == g[:-1]) & (p[1:] == p[:-1]) & (q[1:] == q[:-1])  # keys hold no NaN
    if not same.any():
        return order
    run = np.cumsum(np.r_[True, ~same])  # tied slices share a run
    tied = np.flatnonzero(np.bincount(run)[run] > 1)
    at = rows[order[tied]]
    names = pd.factorize(files["file_name"].to_numpy(dtype=object)[at], sort=True)[0]
    paths = pd.factorize(files["file_path"].to_numpy(dtype=object)[at], sort=True)[0]
    order[tied] = order[tied][np.lexsort((paths, names, run[tied]))]
    return order


def _volume_columns(
    out: pd.DataFrame,
    table: Slices,
    final: NDArray[np.intp],
    starts: NDArray[np.intp],
    ends: NDArray[np.intp],
    group: NDArray[np.int64],
    volume: NDArray[np.int64],
    found: Volumes,
    keyed: NDArray[np.int64],
) -> None:
    """frames, volume_index, n_volumes, volume_key, volume_value and volume_group of each object, in place.

    ``keyed`` gives, for each slice in stack order (``final``), its entry in ``found.keys``.
    """
    first = final[starts]
    g = group[starts]
    frames = table.frame[final]
    split_group = found.n_volumes[g] > 1
    enhanced = table.frame[first] >= 0
    n = len(out)
    if not split_group.any() and not enhanced.any():  # the common case: one volume each, of files
        out["frames"] = pd.Series(np.full(n, None, dtype=object), index=out.index, dtype=object)
        out["volume_index"] = pd.Series(pd.NA, index=out.index, dtype="Int64")
        out["n_volumes"] = found.n_volumes[g]
        for name in ("volume_key", "volume_value", "volume_group"):
            out[name] = pd.Series(np.full(n, None, dtype=object), index=out.index, dtype=object)
        return
    paths, sops = list(out["file_paths"]), list(out["SOPInstanceUID"])
    frame_lists: list[tuple[int, ...] | None] = []
    for k, (s, e) in enumerate(zip(starts, ends, strict=True)):
        if enhanced[k]:  # one file: its path once, and the frames of this volume (all: None)
            paths[k], sops[k] = paths[k][:1], (sops[k][:1] if sops[k] else None)
            frame_lists.append(tuple(int(f) for f in frames[s:e]) if split_group[k] else None)
        else:
            frame_lists.append(None)
    out["file_paths"] = pd.Series(paths, index=out.index, dtype=object)
    out["SOPInstanceUID"] = pd.Series(sops, index=out.index, dtype=object)
    out["n_files"] = [len(p) for p in paths]
    out["file_path"] = [p[0] if len(p) == 1 else None for p in paths]
    out["frames"] = pd.Series(frame_lists, index=out.index, dtype=object)
    out["volume_index"] = pd.array(np.where(split_group, volume[starts], -1), dtype="Int64")
    out.loc[~split_group, "volume_index"] = pd.NA
    out["n_volumes"] = found.n_volumes[g]
    keys = [found.key[c] if split_group[k] else None for k, c in enumerate(g)]
    out["volume_key"] = pd.Series(keys, index=out.index, dtype=object)
    values: list[str | None] = []
    for k, (s, e) in enumerate(zip(starts, ends, strict=True)):
        key = keys[k]
        if key is None:
            values.append(None)
        elif key in FALLBACK:
            values.append(f"{np.nanmin(table.instance[final[s:e]]):g}")
        else:
            column = next(spec.column for spec in KEYS if key in (spec.single, spec.multi))
            if column == "image_type":
                values.append(found.image_types[keyed[s]])
            else:
                values.append(volume_values(key, found.keys[column][keyed[s:e]]))
    out["volume_value"] = pd.Series(values, index=out.index, dtype=object)
    uids = out["SeriesInstanceUID"].astype(object).where(out["SeriesInstanceUID"].notna(), None)
    base = pd.Series(
        [(u or p[0]) if split_group[k] else None for k, (u, p) in enumerate(zip(uids, paths, strict=True))],
        dtype=object,
    )
    first_of_group = pd.Series(g).duplicated().to_numpy()  # one name per group, numbered per base
    named = base[split_group & ~first_of_group]
    number = named.groupby(named, sort=False).cumcount()
    label = named.where(number == 0, named + "#" + (number + 1).astype(str))
    per_group = dict(zip(g[named.index.to_numpy()], label, strict=True))
    out["volume_group"] = pd.Series(
        [per_group.get(c) if split_group[k] else None for k, c in enumerate(g)], dtype=object
    )


def _geometry(
    out: pd.DataFrame,
    files: pd.DataFrame,
    table: Slices,
    final: NDArray[np.intp],
    pos: NDArray[np.float64],
    starts: NDArray[np.intp],
    ends: NDArray[np.intp],
    group: NDArray[np.int64],
    found: Volumes,
    gid: NDArray[np.int64],
    no_position: NDArray[np.bool_],
    messages: list[str],
) -> None:
    """Each object's slice geometry (per volume), tilt, warnings; one message per original series, in place."""
    firsts = final[starts]
    n = ends - starts
    stacked = n > 1
    thickness = files["SliceThickness"].to_numpy(dtype=float, na_value=np.nan)[table.row[firsts]]
    spacing_xy = out[["spacing_x", "spacing_y"]].to_numpy(dtype=float, na_value=np.nan)
    stack = stack_geometries(pos[final], starts, ends)
    tilt = stack_tilts(table.ipp[final], slice_normal(table.iop[firsts]), starts, ends, np.fmin(*spacing_xy.T))
    g = group[starts]
    positioned = ~no_position[g]
    tilt = np.where(stacked & positioned, tilt, np.nan)
    spacing = np.where(np.isfinite(stack["slice_spacing"]), stack["slice_spacing"], thickness)
    single_spacing = np.where(
        np.isfinite(thickness), thickness, out["spacing_z"].to_numpy(dtype=float, na_value=np.nan)
    )
    out["spacing_z"] = np.where(stacked, spacing, single_spacing)
    origin = table.ipp[firsts]
    known = np.isfinite(origin).all(axis=1)
    for k, axis in enumerate("xyz"):
        column = out[f"origin_{axis}"].to_numpy(dtype=float, na_value=np.nan)
        out[f"origin_{axis}"] = np.where(known, origin[:, k], column)
    out["ndim"] = np.where(stacked, 3, out["ndim"].astype("float64").fillna(2))
    out["size_z"] = n
    out["tilt_angle"] = tilt
    stack["n_slices"] = n  # slices without a position count too
    for name in GEOMETRY_COLUMNS:
        out[name] = pd.Series(
            [v if s else None for v, s in zip(stack[name].tolist(), stacked, strict=True)], dtype=object
        )
    first_of_group = np.r_[True, g[1:] != g[:-1]]
    doubtful = np.flatnonzero(
        stacked & (~stack["slice_spacing_uniform"] | (stack["missing_slices"] > 0) | (stack["duplicate_positions"] > 0))
        | (found.copies[g] > 0) & first_of_group
        | found.fallback[g]
        | no_position[g] & stacked
        | (np.nan_to_num(tilt) > 0)
    )
    reasons: list[list[str]] = [[] for _ in range(len(out))]
    for k in doubtful.tolist():
        why = reasons[k]
        if found.copies[g[k]] and first_of_group[k]:
            why.append(f"{found.copies[g[k]]} cop(ies) of an instance (the same SOPInstanceUID) left out")
        if found.fallback[g[k]]:
            why.append(
                f"{found.n_volumes[g[k]]} volumes at the same positions, told apart by instance order only "
                "(no diffusion, echo, temporal, acquisition or image type attribute differs)"
            )
        if stacked[k]:
            why += describe_problems(cast(StackGeometry, {name: values[k] for name, values in stack.items()}))
            if no_position[g[k]]:
                why.append(
                    f"{int(np.isnan(pos[final[starts[k] : ends[k]]]).sum())} slice(s) without ImagePositionPatient "
                    "(or ImageOrientationPatient): slices kept in file order (InstanceNumber, then name)"
                )
            elif tilt[k] > 0:
                why.append(f"gantry tilt: the slices progress {tilt[k]:.3g} degrees off the image normal")
    _warnings(out, reasons, table.iop[firsts], out["size_x"], out["size_y"], gid[firsts], messages)


def _warnings(
    out: pd.DataFrame,
    reasons: list[list[str]],
    iop: NDArray[np.float64],
    size_x: pd.Series,
    size_y: pd.Series,
    series_of: NDArray[np.int64],
    messages: list[str],
) -> None:
    """``geometry_warning`` of each object, and one message per original series, in place."""
    series_uid = out["SeriesInstanceUID"].astype(object)
    uids = series_uid.where(series_uid.notna(), "<no SeriesInstanceUID>").tolist()
    orientation = codes(np.rint(np.nan_to_num(iop, nan=9.0) * 1e4).astype(np.int64))
    size = [np.asarray(v.fillna(-1).to_numpy(dtype=np.int64, na_value=-1)) for v in (size_y, size_x)]
    n_orient = _distinct_per(series_of, [orientation])
    n_size = _distinct_per(series_of, size)
    warning: list[str | None] = []
    for k in range(len(out)):
        why = list(reasons[k])
        if n_orient[k] > 1:
            why.insert(0, f"split: {n_orient[k]} orientations in series {uids[k]}")
        if n_size[k] > 1:
            why.insert(0, f"split: {n_size[k]} image sizes (Rows, Columns) in series {uids[k]}")
        warning.append("; ".join(why) or None)
    out["geometry_warning"] = warning
    broken: dict[int, list[str]] = {}  # one warning per original series, naming it
    dirs = out["dir_path"].tolist()
    for k, text in enumerate(warning):
        if text is None:
            continue
        texts = broken.setdefault(int(series_of[k]), [f"DICOM series {uids[k]} in {dirs[k]}"])
        texts.extend(t for t in text.split("; ") if t not in texts)
    messages.extend(
        f"{head}: {'; '.join(texts)}. Check the series before using it." for head, *texts in broken.values()
    )


def _distinct_per(series: NDArray[np.integer], values: Sequence[NDArray[np.integer]]) -> NDArray[np.int64]:
    """For each row, how many distinct combinations of ``values`` the rows of its ``series`` hold."""
    if len(series) == 0:
        return np.zeros(0, dtype=np.int64)
    pair = combine([series, *values])
    first = np.unique(pair, return_index=True)[1]  # one row per distinct (series, values)
    return np.asarray(np.bincount(series[first], minlength=int(series.max()) + 1)[series], dtype=np.int64)
