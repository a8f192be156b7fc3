"""Files → image and mask objects: DICOM series, RTDOSE beam sums, stacks of 2D slices.

:func:`stack` turns the curated files table into the objects table
(:data:`imgindex.schema.OBJECTS`), one row per image or mask. It follows MIRP's
``import_image_and_mask()`` (spec sections 10.4-10.8 and 11) with these differences:

- DICOM series are ordered by position along the slice normal (MIRP: lexicographic (z, y, x)),
  the spacing is the median distance between distinct positions, and a series whose slices
  disagree in orientation or in-plane size is split into one object per orientation and size
  instead of being stacked blindly. Missing slices, duplicated positions and slices without
  ImagePositionPatient give one ``UserWarning`` per series and a ``geometry_warning``.
- Every object gets the geometry columns ``n_slices``, ``slice_spacing``,
  ``slice_spacing_uniform``, ``missing_slices``, ``duplicate_positions``, ``oblique`` and
  ``geometry_warning`` (empty when all is well); ``stack_warning`` holds the same text, null when
  all is well (kept for compatibility).
- Stacks of 2D numpy slices get a 3D geometry (unit spacing, zero origin, identity direction),
  and their slices really are sorted by the number in the file name (MIRP's sort is a no-op).
- 2D NIfTI/NRRD slices stack with ``"yes"`` (MIRP crashes, E37), using the first slice's
  geometry; the slices are ordered along the normal when their origins differ along it.
- 1D numpy arrays count as 2D slices one row high (``size_y`` 1), so they stack like 2D slices.
- DICOM files with role ``mask`` other than RTSTRUCT/SEG are never stacked (MIRP ignores them).
"""

from __future__ import annotations

import itertools
import re
import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from . import schema
from .errors import InputError
from .formats import strip_suffix
from .geometry import (
    GEOMETRY_COLUMNS,
    as_array,
    describe_problems,
    geometry_columns,
    oblique,
    slice_normal,
    stack_geometry,
)

STACK_OPTIONS = ("auto", "yes", "no")
#: Files of one DICOM series object share these values (MIRP spec 10.4).
SERIES_KEY = ["request", "role", "sample_name", "modality", "dir_path", "SeriesInstanceUID", "FrameOfReferenceUID"]
#: 2D slices (numpy, NIfTI, NRRD) of one stack share these values (spec 11).
SLICE_KEY = ["request", "role", "sample_name", "modality", "dir_path", "file_type", "size_x", "size_y", "pixel_type"]
_PLANAR = ("cr", "dx", "mg")
_NOT_SLICES = ("rtstruct", "seg", "rtdose", *_PLANAR)
_COPIED = [
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
            *_COPIED,
            *SERIES_KEY,
            *SLICE_KEY,
            "file_path",
            "file_name",
            "error",
            "Modality",
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
        ]
    )
)
_IDENTITY = (1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0)
_DIGITS = re.compile(r"(\d+)")


def stack(
    files: pd.DataFrame,
    *,
    stack_images: str = "auto",
    stack_masks: str = "auto",
    name_patterns: dict[str, object] | None = None,
) -> pd.DataFrame:
    """Group the curated files table into image and mask objects (the objects table).

    Rows with an ``error``, and rows whose ``role`` is neither ``image`` nor ``mask``, are
    ignored. DICOM single-frame image slices are always stacked into series; an RTDOSE is
    stacked with the other beams of its plan only when DoseSummationType is BEAM; 2D numpy
    slices are stacked unless the role's option is ``"no"``; 2D NIfTI/NRRD slices only when it
    is ``"yes"``. Everything else (multi-frame files, RTSTRUCT, SEG, CR/DX/MG, volumes) is one
    object per file, and every in-memory array is one object.

    Parameters
    ----------
    files : pandas.DataFrame
        Files table (:data:`imgindex.schema.FILES`) with the curation columns ``role``,
        ``modality``, ``sample_name`` (and optionally ``request``) filled. Not modified.
    stack_images, stack_masks : {"auto", "yes", "no"}
        Whether 2D slices of images / masks are stacked (MIRP's arguments of the same name).
    name_patterns : dict, optional
        ``{"image": pattern, "mask": pattern}`` (a pattern, a list of patterns or ``None``):
        their literal parts are removed from file names before slice numbers are read.

    Returns
    -------
    pandas.DataFrame
        The objects table (:data:`imgindex.schema.OBJECTS`), images first, then by sample name
        and first member path; ``object_id`` is ``image_0``, ``image_1``, ..., ``mask_0``, ...

    Warns
    -----
    UserWarning
        Once per DICOM series with non-uniform spacing, missing slices, duplicated positions,
        slices without ImagePositionPatient or mixed orientations or sizes, and once per slice
        stack whose file names do not give a clean slice order. The reason is also in the
        object's ``geometry_warning`` (empty when all is well) and ``stack_warning`` (null then).

    Examples
    --------
    >>> import imgindex, tempfile
    >>> root = tempfile.mkdtemp()
    >>> m = imgindex.examples.write_example_dataset(root, n_samples=1, modalities=["CT"],
    ...                                             formats=["dicom"], extras=False)
    >>> files = imgindex.scan(root).merge(m[["file_path", "role", "modality", "sample_name"]]
    ...                                   .astype(schema.TEXT), on="file_path", suffixes=("_", ""))
    >>> objects = stack(files)
    >>> objects[["object_id", "modality", "n_files", "size_z", "spacing_z"]].values.tolist()
    [['image_0', 'ct', 8, 8, 3.0], ['mask_0', 'rtstruct', 1, <NA>, nan], ['mask_1', 'seg', 1, 5, 3.0]]
    """
    options = {"image": _option(stack_images, "stack_images"), "mask": _option(stack_masks, "stack_masks")}
    patterns = _patterns(name_patterns)
    # Only the columns used, and each part's rows copied once: the files table may have 10^5 rows.
    f = _ensure_columns(files, USED_COLUMNS)[USED_COLUMNS]
    role = f["role"].fillna("")
    kept = f["error"].isna() & role.isin(["image", "mask"])

    is_array = f["array_index"].notna()
    file_type = f["file_type"].fillna("")
    dicom = (file_type == "dicom") & ~is_array
    mods = f["modality"].str.lower().fillna(f["Modality"].str.lower()).fillna("")
    own = f["Modality"].str.lower().fillna("")
    multiframe = f["multiframe"].fillna(False).astype(bool) | (f["NumberOfFrames"].fillna(1) > 1)
    rtdose = dicom & ((mods == "rtdose") | (own == "rtdose"))
    series = (
        dicom
        & (role == "image")
        & ~multiframe
        & ~rtdose
        & f["Rows"].notna()
        & ~mods.isin(_NOT_SLICES)
        & ~own.isin(_NOT_SLICES)
    )
    enhanced = f["multiframe"].fillna(False).astype(bool)  # an RTDOSE's frames are its grid
    beams = rtdose & ~enhanced & (f["DoseSummationType"].str.upper() == "BEAM").fillna(False)
    ndim, size_z = f["ndim"], f["size_z"]
    flat = (((ndim >= 1) & (ndim <= 2)) | ((ndim == 3) & (size_z == 1))).fillna(False) & ~is_array
    role_option = role.map(options)
    numpy_slices = flat & (file_type == "numpy") & role_option.isin(["auto", "yes"])
    itk_slices = flat & file_type.isin(["nifti", "nrrd"]) & (role_option == "yes")
    single = ~(series | beams | numpy_slices | itk_slices)

    messages: list[str] = []
    parts = [
        _dicom_series(f, np.flatnonzero((kept & series).to_numpy(bool)), messages),
        _beam_sums(f[kept & beams]),
        _slice_stacks(f[kept & numpy_slices], patterns, messages),
        _slice_stacks(f[kept & itk_slices], patterns, messages),
        _singles(f[kept & single & ~is_array]),
        _singles(f[kept & is_array]),
    ]
    for message in sorted(messages):
        warnings.warn(message, UserWarning, stacklevel=2)
    return _finish([p for p in parts if len(p)])


def _option(value: Any, name: str) -> str:
    if value not in STACK_OPTIONS:
        raise InputError(f"The {name} argument is expected to be one of yes, auto, or no. Found: {value!r}.")
    return value


def _patterns(name_patterns: dict[str, object] | None) -> dict[str, list[str]]:
    """Each role's name patterns as a list of strings."""
    out: dict[str, list[str]] = {"image": [], "mask": []}
    for role, value in (name_patterns or {}).items():
        if role not in out:
            raise InputError(f"name_patterns has an unknown role {role!r}; the roles are 'image' and 'mask'.")
        out[role] = [] if value is None else [value] if isinstance(value, str) else [str(v) for v in value]
    return out


def _ensure_columns(files: pd.DataFrame, names: list[str]) -> pd.DataFrame:
    """``files`` with the files-table columns ``names`` present (missing ones added as nulls)."""
    missing = [c for c in names if c not in files.columns]
    if not missing:
        return files
    empty = schema.empty("files")
    extra = pd.DataFrame(
        {c: pd.Series([None] * len(files), index=files.index, dtype=object).astype(empty[c].dtype) for c in missing}
    )
    return pd.concat([files, extra], axis=1)


def _ids(frame: pd.DataFrame, keys: list[str]) -> np.ndarray:
    """A group number per row for the combination of ``keys`` (nulls form groups too)."""
    if frame.empty:
        return np.zeros(0, dtype=np.int64)
    return frame.groupby(keys, dropna=False, sort=False).ngroup().to_numpy()


def _codes(table: np.ndarray) -> np.ndarray:
    """A group number per row of an integer ``(n, k)`` array (hash-based, in order of appearance)."""
    return pd.DataFrame(table).groupby(list(range(table.shape[1])), sort=False).ngroup().to_numpy()


def _collect(members: pd.DataFrame, starts: np.ndarray, order: np.ndarray | None = None) -> pd.DataFrame:
    """One object row per run of ``members`` starting at ``starts``.

    The runs are of ``members`` in stack order: ``members.iloc[order]`` (default: as they are),
    which is never built, since only the first row of each run and the member paths are needed.
    """
    if len(starts) == 0:
        return members.iloc[:0]
    order = np.arange(len(members)) if order is None else order
    ends = np.r_[starts[1:], len(order)].astype(int)
    first = members.iloc[order[starts]]
    out = first[_COPIED].reset_index(drop=True)
    paths = members["file_path"].astype(object).where(members["file_path"].notna(), None).to_numpy()[order]
    sops = members["SOPInstanceUID"].astype(object).where(members["SOPInstanceUID"].notna(), None).to_numpy()[order]
    out["file_paths"] = [tuple(p for p in paths[s:e] if p is not None) for s, e in zip(starts, ends, strict=True)]
    out["SOPInstanceUID"] = [
        tuple(sops[s:e]) if any(v is not None for v in sops[s:e]) else None for s, e in zip(starts, ends, strict=True)
    ]
    out["n_files"] = [len(p) for p in out["file_paths"]]
    out["file_path"] = [p[0] if len(p) == 1 else None for p in out["file_paths"]]
    out["_mask_names"] = _roi_names(first).to_numpy()
    out["stack_warning"] = None
    for name in GEOMETRY_COLUMNS:  # filled where the positions are known, else from size_z in _finish
        out[name] = pd.Series([None] * len(out), dtype=object)
    return out


def _roi_names(rows: pd.DataFrame) -> pd.Series:
    names = rows["ROIName"].where(rows["ROIName"].notna(), rows["SegmentLabel"])
    return names.where(rows["role"] == "mask", None)


def _singles(members: pd.DataFrame) -> pd.DataFrame:
    """One object per file (or array), geometry from its row."""
    members = members.sort_values(["file_path", "array_index"], kind="mergesort")
    out = _collect(members, np.arange(len(members)))
    _rtdose_spacing(out, members)
    return out


def _rtdose_spacing(out: pd.DataFrame, members: pd.DataFrame) -> None:
    """RTDOSE: z spacing from GridFrameOffsetVector (a single frame: 1.0 mm, as MIRP)."""
    for i in np.flatnonzero(members["Modality"].eq("RTDOSE").fillna(False).to_numpy()):
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
        elif pd.isna(out.loc[i, "spacing_z"]):
            out.loc[i, "spacing_z"] = 1.0
            out.loc[i, "stack_warning"] = "dose grid with a single frame: 1.0 mm frame spacing assumed"


def _beam_sums(members: pd.DataFrame) -> pd.DataFrame:
    """RTDOSE files with DoseSummationType BEAM: one object per plan (the beams are summed)."""
    if members.empty:
        return members.iloc[:0]
    gid = _ids(members, [*SERIES_KEY, "DoseSummationType", "size_x", "size_y", "size_z"])
    members = members.assign(_gid=gid).sort_values(["_gid", "file_path"], kind="mergesort")
    starts = np.flatnonzero(np.r_[True, np.diff(members["_gid"].to_numpy()) != 0])
    out = _collect(members, starts)
    _rtdose_spacing(out, members.iloc[starts])
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


def _dicom_series(frame: pd.DataFrame, slices: np.ndarray, messages: list[str]) -> pd.DataFrame:
    """Single-frame DICOM image slices (the rows of ``frame`` at positions ``slices``) → one object
    per series, orientation and size."""
    if len(slices) == 0:
        return frame.iloc[:0]
    members = frame[_SERIES_READS].iloc[slices]
    gid = _ids(members, SERIES_KEY)
    iop = as_array(members["ImageOrientationPatient"], 6)
    orientation = _codes(np.rint(np.nan_to_num(iop, nan=9.0) * 1e4).astype(np.int64))
    rows = members["Rows"].fillna(-1).to_numpy(dtype=np.int64)
    cols = members["Columns"].fillna(-1).to_numpy(dtype=np.int64)
    sub = _codes(np.column_stack([gid, orientation, rows, cols]))
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
    out = _collect(frame, starts, slices[order])

    thickness = members["SliceThickness"].to_numpy()[order[starts]]
    reasons: list[list[str]] = []
    geometry: list[dict] = []
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
    warning = []
    for k in range(len(out)):
        why = list(reasons[k])
        if n_orient[k] > 1:
            why.insert(0, f"split: {n_orient[k]} orientations in series {uids.iloc[k]}")
        if n_size[k] > 1:
            why.insert(0, f"split: {n_size[k]} image sizes (Rows, Columns) in series {uids.iloc[k]}")
        warning.append("; ".join(why) or None)
    out["stack_warning"] = warning
    broken: dict[int, list[str]] = {}  # one warning per original series, naming it
    for k in np.flatnonzero(out["stack_warning"].notna().to_numpy()):
        texts = broken.setdefault(int(series_of[k]), [f"DICOM series {uids.iloc[k]} in {out['dir_path'].iloc[k]}"])
        texts.extend(t for t in warning[k].split("; ") if t not in texts)
    messages.extend(
        f"{head}: {'; '.join(texts)}. Check the series before using it." for head, *texts in broken.values()
    )
    return out


def _slice_stacks(members: pd.DataFrame, patterns: dict[str, list[str]], messages: list[str]) -> pd.DataFrame:
    """2D numpy, NIfTI or NRRD slices → one stack per directory, sample and slice shape."""
    if members.empty:
        return members.iloc[:0]
    keys = list(SLICE_KEY)
    itk = members["file_type"].isin(["nifti", "nrrd"]).to_numpy()
    direction = as_array(members["direction"], 9)
    spacing_xy = members[["spacing_x", "spacing_y"]].to_numpy(dtype=float, na_value=np.nan)
    grid = np.rint(np.nan_to_num(np.column_stack([direction, spacing_xy]), nan=-9.0) * 1e4).astype(np.int64)
    members = members.assign(_grid=_codes(grid))  # ITK in-plane geometry (numpy: all unit and identity)
    # Slices of one stack share a name template: the bare name with its digit runs masked, so
    # STS_001_CT_00_image and STS_001_PET_00_image in one flat folder make two stacks.
    template = members["file_name"].astype(schema.TEXT).map(strip_suffix, na_action="ignore")
    has_digits = template.str.contains(r"\d", regex=True).fillna(False)
    members = members.assign(_template=template.str.replace(r"\d+", "#", regex=True).where(has_digits, ""))
    keys += ["_grid", "_template"]
    origin = members[["origin_x", "origin_y", "origin_z"]].to_numpy(dtype=float, na_value=np.nan)
    pos = np.where(itk, np.einsum("ij,ij->i", origin, np.nan_to_num(direction[:, [2, 5, 8]])), np.nan)
    text = {
        c: members[c].astype(object).where(members[c].notna(), None).to_numpy()
        for c in ("file_name", "file_type", "role", "sample_name", "dir_path")
    }
    order, spacing, warning, geometry = [], [], [], []
    for idx in members.groupby(keys, dropna=False, sort=False).indices.values():
        bare = [strip_suffix(str(n)) for n in text["file_name"][idx]]
        first = {c: v[idx[0]] for c, v in text.items()}
        p = pos[idx]
        what = f"{first['file_type']} {first['role']} slices of sample {first['sample_name']} in {first['dir_path']}"
        if len(idx) == 1:
            sequence, why = [0], []
            spacing.append(np.nan)
        elif np.all(np.isfinite(p)) and np.ptp(p) > 1e-3:
            sequence = sorted(range(len(idx)), key=lambda i: (p[i], bare[i]))
            g = stack_geometry(p)
            why = describe_problems(g)
            spacing.append(g["slice_spacing"])
            geometry.append(geometry_columns(g, len(idx)))
            if why:
                messages.append(f"The {what} are ordered by their origin along the slice normal: {'; '.join(why)}.")
        else:
            sequence, why, message = order_by_name_number(
                bare, sample_name=first["sample_name"], patterns=patterns.get(first["role"], []), what=what
            )
            spacing.append(1.0)
            if message:
                messages.append(message)
        order.append(idx[sequence])
        warning.append("; ".join(why) or None)
        geometry += [{}] * (len(order) - len(geometry))
    sizes = np.array([len(o) for o in order])
    out = _collect(members, np.r_[0, np.cumsum(sizes)[:-1]].astype(int), np.concatenate(order))
    stacked = sizes > 1
    numpy_stack = stacked & (out["file_type"] == "numpy").to_numpy()
    out["stack_warning"] = [w if s else None for w, s in zip(warning, stacked, strict=True)]
    out["ndim"] = np.where(stacked, 3, out["ndim"].astype("float64"))
    out["size_z"] = np.where(stacked, sizes, out["size_z"].astype("float64"))
    out["spacing_z"] = np.where(stacked, spacing, out["spacing_z"])
    for axis in "xyz":  # numpy has no geometry: a unit grid at the origin
        out[f"origin_{axis}"] = np.where(numpy_stack, 0.0, out[f"origin_{axis}"])
        out[f"spacing_{axis}"] = np.where(numpy_stack, 1.0, out[f"spacing_{axis}"])
    out["direction"] = [_IDENTITY if s else d for d, s in zip(out["direction"], numpy_stack, strict=True)]
    for name in GEOMETRY_COLUMNS:
        out[name] = pd.Series([g.get(name) for g in geometry], dtype=object)
    return out


def order_by_name_number(
    names: Sequence[str], *, sample_name: str | None = None, patterns: Sequence[str] = (), what: str = "numpy slices"
) -> tuple[list[int], list[str], str | None]:
    """Order slice files by the number in their bare names (MIRP's intended numpy slice order).

    The sample name and the literal parts of the name patterns are removed from each name
    where present (each replaced by a separator, so digit runs on either side stay apart); the
    rest is split into alternating non-digit and digit tokens. When every
    name has the same structure and exactly one digit token varies, the names are sorted by its
    integer value (a warning is still due when the values are not consecutive). Otherwise the
    names are sorted naturally (digit runs compared as numbers) and a warning is due.

    Parameters
    ----------
    names : sequence of str
        Bare file names (without suffix).
    sample_name : str, optional
        Removed from the names first.
    patterns : sequence of str
        Name patterns (``*``, ``?`` and ``#`` are wildcards); their literal parts are removed.
    what : str
        How to name the slices in the warning text.

    Returns
    -------
    order : list of int
        Positions into ``names`` in slice order.
    reasons : list of str
        Short reasons for ``geometry_warning`` (empty when the order is certain).
    message : str or None
        The warning text (MIRP's W3, W4 or W5 in gist), or ``None``.

    Examples
    --------
    >>> order_by_name_number(["STS_001_10_image", "STS_001_9_image"], sample_name="STS_001")[:2]
    ([1, 0], [])
    >>> order_by_name_number(["slice_2", "slice_1", "slice_4"])[1]
    ['file-name numbers not fully sequential']
    """
    cleaned = []
    literals = [part for pattern in patterns for part in re.split(r"[*?#]+", strip_suffix(pattern)) if part]
    for name in names:
        if sample_name and isinstance(sample_name, str) and sample_name in name:
            name = name.replace(sample_name, "/", 1)
        for part in literals:  # a separator, so that digits on either side stay apart
            name = name.replace(part, "/", 1)
        cleaned.append(name)
    tokens = [_DIGITS.split(name) for name in cleaned]

    def natural(reason: str, problem: str) -> tuple[list[int], list[str], str]:
        order = sorted(range(len(names)), key=lambda i: _natural_key(names[i]))
        return (
            order,
            [f"{reason}: natural sort"],
            (
                f"Cannot form stacks from {what} based on the file name as {problem}. The slices are ordered "
                f"by natural sort of their names instead: {[names[i] for i in order]}"
            ),
        )

    if any(len(t) == 1 for t in tokens):
        missing = [names[i] for i, t in enumerate(tokens) if len(t) == 1]
        return natural(
            "numeric values missing from file names",
            f"numeric values are missing from one or more file names ({missing})",
        )
    if len({len(t) for t in tokens}) > 1 or len({tuple(t[0::2]) for t in tokens}) > 1:
        return natural(
            "file names differ in structure",
            "the file names do not share one structure (text and numbers in the same places)",
        )
    numbers = [[int(v) for v in t[1::2]] for t in tokens]
    varying = [j for j in range(len(numbers[0])) if len({row[j] for row in numbers}) > 1]
    if len(varying) > 1:
        return natural(
            "more than one sequence of numeric values in file names",
            "more than one sequence of numeric values are present in the file names",
        )
    j = varying[0] if varying else len(numbers[0]) - 1
    order = sorted(range(len(names)), key=lambda i: (numbers[i][j], names[i]))
    values = [numbers[i][j] for i in order]
    if any(b - a != 1 for a, b in itertools.pairwise(values)):
        return (
            order,
            ["file-name numbers not fully sequential"],
            f"The numbers in the file names of the {what} are not fully sequential ({values}); "
            "the slices are ordered by these numbers, but some may be missing or repeated.",
        )
    return order, [], None


def _natural_key(name: str) -> tuple:
    return tuple((1, int(t), "") if t.isdigit() else (0, 0, t) for t in _DIGITS.split(name) if t)


def _fill_geometry(out: pd.DataFrame) -> None:
    """Geometry columns of objects whose slice positions were not checked (one file, an array, a
    slice stack ordered by name): ``size_z`` slices ``spacing_z`` apart, nothing missing; ``oblique``
    from the direction; ``geometry_warning`` the stacking warning, empty when all is well."""
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
    out["geometry_warning"] = out["stack_warning"].astype(object).where(out["stack_warning"].notna(), "")


def _finish(parts: list[pd.DataFrame]) -> pd.DataFrame:
    """Concatenate, fill the derived columns, sort, number and coerce to the objects schema."""
    if not parts:
        return schema.empty("objects")
    out = pd.concat(parts, ignore_index=True)
    referenced = [t[0] if isinstance(t, tuple) and t else None for t in out["ReferencedFrameOfReferenceUID"]]
    out["FrameOfReferenceUID"] = (
        out["FrameOfReferenceUID"]
        .astype(object)
        .where(out["FrameOfReferenceUID"].notna(), pd.Series(referenced, dtype=object))
    )
    out["roi_names"] = out.pop("_mask_names")
    _fill_geometry(out)
    out["file_type"] = out["file_type"].where(out["array_index"].isna(), None)
    out["_rank"] = (out["role"] != "image").astype(int)
    out["_first"] = [p[0] if p else None for p in out["file_paths"]]
    out = out.sort_values(
        ["_rank", "sample_name", "_first", "array_index"], kind="mergesort", na_position="last", ignore_index=True
    )
    out["object_id"] = out["role"].astype(str) + "_" + out.groupby("role").cumcount().astype(str)
    out = schema.coerce(out, "objects")
    return out[schema.names("objects")]
