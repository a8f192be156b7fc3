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
  ``geometry_warning`` (empty when all is well).
- Stacks of 2D numpy slices get a 3D geometry (unit spacing, zero origin, identity direction),
  and their slices really are sorted by the number in the file name (MIRP's sort is a no-op).
- 2D NIfTI/NRRD slices stack with ``"yes"`` (MIRP crashes, E37), using the first slice's
  geometry; the slices are ordered along the normal when their origins differ along it.
- 1D numpy arrays count as 2D slices one row high (``size_y`` 1), so they stack like 2D slices.
- DICOM files with role ``mask`` other than RTSTRUCT/SEG are never stacked (MIRP ignores them).
"""

from __future__ import annotations

from itertools import chain, repeat

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from .. import schema
from ..errors import warn
from ..options import ImportOptions
from ._objects import (
    NOT_SLICES,
    SERIES_KEY,
    SLICE_KEY,
    USED_COLUMNS,
    collect,
    ensure_columns,
    fill_geometry,
    row_codes,
)
from .dicom import beam_sums, dicom_series, rtdose_spacing
from .slices import order_by_name_number, slice_stacks

__all__ = [
    "SERIES_KEY",
    "SLICE_KEY",
    "USED_COLUMNS",
    "in_input_order",
    "order_by_name_number",
    "stack",
    "volume_of_files",
]


def stack(
    files: pd.DataFrame, options: ImportOptions | None = None, *, headers: pd.DataFrame | None = None
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
    options : ImportOptions, optional
        ``stack_images`` / ``stack_masks`` (``options.image.stack``, ``options.mask.stack``) say
        whether 2D slices of images / masks are stacked (MIRP's arguments of the same name); the
        literal parts of each role's name patterns are removed from file names before slice
        numbers are read. Default: ``ImportOptions()``.
    headers : pandas.DataFrame, optional
        The files table ``files`` was selected from, for the columns that tell volumes apart
        (:data:`imgindex.schema.VOLUME_COLUMNS`), read only for the series whose positions repeat.
        Default: ``files`` itself (which then needs them).

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
        object's ``geometry_warning`` (empty when all is well).

    Examples
    --------
    The CT slices of one sample with its RTSTRUCT and SEG, curated by hand:

    >>> import imgindex, os
    >>> files = imgindex.scan(os.path.join(example_dir, "STS_001", "CT", "dicom"))
    >>> files = files.assign(role=files["dicom_modality"].map({"CT": "image", "RTSTRUCT": "mask", "SEG": "mask"}),
    ...                      modality=files["dicom_modality"].str.lower(), sample_name="STS_001")
    >>> objects = stack(files)
    >>> objects[["object_id", "modality", "n_files", "size_z", "spacing_z"]].values.tolist()
    [['image_0', 'ct', 8, 8, 3.0], ['mask_0', 'rtstruct', 1, <NA>, nan], ['mask_1', 'seg', 1, 5, 3.0]]
    """
    options = options or ImportOptions()
    stacking = {"image": options.image.stack, "mask": options.mask.stack}
    patterns = {role: list(options.role(role).name or ()) for role in ("image", "mask")}
    # Only the columns used, and each part's rows copied once: the files table may have 10^5 rows.
    f = ensure_columns(files, USED_COLUMNS)[USED_COLUMNS]
    if headers is None:  # the attributes that tell volumes apart, from the files themselves
        headers = ensure_columns(files, ["file_path", *schema.VOLUME_COLUMNS])
    kinds = _kinds(f, stacking)
    messages: list[str] = []
    parts = [
        dicom_series(
            f,
            np.flatnonzero(kinds["series"]),
            messages,
            np.flatnonzero(kinds["framed"]),
            headers=headers,
        ),
        beam_sums(_rows(f, kinds["beams"])),
        slice_stacks(_rows(f, kinds["numpy_slices"]), patterns, messages),
        slice_stacks(_rows(f, kinds["itk_slices"]), patterns, messages),
        _singles(_rows(f, kinds["single"])),
        _singles(_rows(f, kinds["array"])),
    ]
    for message in sorted(messages):
        warn(message)
    # Member tuples hold values of these columns only: when they are text, the tuples need no check.
    checked = all(isinstance(f[c].dtype, pd.StringDtype) for c in ("file_path", "SOPInstanceUID"))
    return _finish([p for p in parts if len(p)], text_members=checked)


#: The columns that decide how a file is stacked; only whether the others are missing counts.
_KIND_VALUES = ["role", "file_type", "dicom_modality", "modality", "multiframe", "NumberOfFrames"]
_KIND_VALUES += ["DoseSummationType", "ndim", "size_z"]
_KIND_PRESENT = ["error", "array_index", "Rows", "frame_positions"]


def _kinds(f: pd.DataFrame, stacking: dict[str, str]) -> dict[str, NDArray[np.bool_]]:
    """Which kept rows of ``f`` go to which kind of stack (and ``array``: in-memory arrays).

    Decided once per distinct combination of the columns that matter (a few dozen among 10^5
    files), then spread back to the rows: each test on a text column of every row costs ~1-2 ms.
    """
    code = row_codes([f[c] for c in _KIND_VALUES] + [f[c].isna() for c in _KIND_PRESENT])
    first = np.flatnonzero(code > np.maximum.accumulate(np.r_[-1, code[:-1]]))  # codes appear in order
    d = f[_KIND_VALUES + _KIND_PRESENT].iloc[first].reset_index(drop=True)
    role = d["role"].fillna("")
    kept = d["error"].isna() & role.isin(["image", "mask"])
    is_array = d["array_index"].notna()
    file_type = d["file_type"].fillna("")
    dicom = (file_type == "dicom") & ~is_array
    own = d["dicom_modality"].astype(schema.TEXT).str.lower()
    mods = d["modality"].astype(schema.TEXT).str.lower().fillna(own).fillna("")
    own = own.fillna("")
    multiframe = d["multiframe"].fillna(False).astype(bool) | (d["NumberOfFrames"].fillna(1) > 1)
    rtdose = dicom & ((mods == "rtdose") | (own == "rtdose"))
    series = (
        dicom
        & (role == "image")
        & ~multiframe
        & ~rtdose
        & d["Rows"].notna()
        & ~mods.isin(NOT_SLICES)
        & ~own.isin(NOT_SLICES)
    )
    enhanced = d["multiframe"].fillna(False).astype(bool)  # an RTDOSE's frames are its grid
    # Enhanced multi-frame images with per-frame positions are stacked (and split) from their frames.
    framed = (
        dicom
        & (role == "image")
        & enhanced
        & ~rtdose
        & d["frame_positions"].notna()
        & d["Rows"].notna()
        & ~mods.isin(NOT_SLICES)
        & ~own.isin(NOT_SLICES)
    )
    beams = rtdose & ~enhanced & (d["DoseSummationType"].astype(schema.TEXT).str.upper() == "BEAM")
    beams = beams.fillna(False).astype(bool)
    ndim, size_z = d["ndim"], d["size_z"]
    flat = (((ndim >= 1) & (ndim <= 2)) | ((ndim == 3) & (size_z == 1))).fillna(False) & ~is_array
    role_option = role.astype(schema.TEXT).map(stacking).astype(object)
    numpy_slices = flat & (file_type == "numpy") & role_option.isin(["auto", "yes"])
    itk_slices = flat & file_type.isin(["nifti", "nrrd"]) & (role_option == "yes")
    single = ~(series | framed | beams | numpy_slices | itk_slices)
    kinds = {
        "series": kept & series,
        "framed": kept & framed,
        "beams": kept & beams,
        "numpy_slices": kept & numpy_slices,
        "itk_slices": kept & itk_slices,
        "single": kept & single & ~is_array,
        "array": kept & is_array,
    }
    return {name: mask.to_numpy(dtype=bool)[code] for name, mask in kinds.items()}


def _rows(f: pd.DataFrame, mask: NDArray[np.bool_]) -> pd.DataFrame:
    """The rows of ``f`` where ``mask`` (none: no take of every column)."""
    return f[mask] if mask.any() else f.iloc[:0]


def in_input_order(objects: pd.DataFrame, files: pd.DataFrame) -> pd.DataFrame:
    """Objects in the order of the input, images first, renumbered ``image_0, ...`` / ``mask_0, ...``.

    ``files`` is the files table in input order (list order, then directory walk order); an
    object takes the position of its first member in it, and the volumes of one series
    (``volume_group``) that of the series, in volume order. MIRP keeps the order of a list (spec 4.4).

    Examples
    --------
    >>> objects = schema.coerce(pd.DataFrame({"object_id": ["image_0", "image_1"], "role": "image",
    ...     "file_paths": [("/d/b.nii",), ("/d/a.nii",)]}), "objects")
    >>> files = schema.coerce(pd.DataFrame({"file_path": ["/d/a.nii", "/d/b.nii"]}), "files")
    >>> in_input_order(objects, files)["file_paths"].str[0].tolist()
    ['/d/a.nii', '/d/b.nii']
    """
    # A dict of the files' keys (first position of each), looked up by the objects' members: no
    # string index, no exploded Series (a files table may have 10^5 rows). A dict hashes each str
    # once (Python caches it); pandas' factorize re-encodes every string to hash its bytes: 10x slower.
    keys = files["file_path"].to_numpy(dtype=object)  # text: the stored objects, not copied
    null = files["file_path"].isna().to_numpy()
    arrays = files["array_index"].notna().to_numpy()
    if null.any() or arrays.any():
        keys = keys.copy()
        keys[null] = None
        keys[arrays] = ("array:" + files["array_index"][arrays].astype("int64").astype(str)).to_numpy()
    n = len(keys)
    position = dict(zip(keys[::-1].tolist(), range(n - 1, -1, -1), strict=True))  # the first one wins
    position.pop(None, None)
    paths = [p if isinstance(p, tuple) else () for p in objects["file_paths"].tolist()]
    lengths = np.fromiter(map(len, paths), dtype=np.int64, count=len(paths))
    own = objects["array_index"].notna().to_numpy()
    members = list(chain.from_iterable(paths))
    if own.any():
        members += ("array:" + objects["array_index"][own].astype("int64").astype(str)).tolist()
    found = np.fromiter(map(position.get, members, repeat(n)), dtype=np.int64, count=len(members))  # C-level
    first = np.full(len(objects), len(files), dtype=np.int64)
    has = lengths > 0
    if has.any():  # the smallest position of each object's members
        member_positions = found[: int(lengths.sum())]
        first[has] = np.minimum.reduceat(member_positions, np.r_[0, np.cumsum(lengths)[:-1]][has])
    if own.any():
        first[own] = np.minimum(first[own], found[int(lengths.sum()) :])
    volume = objects["volume_index"].astype("float64").fillna(0).to_numpy() if "volume_index" in objects else 0
    if "volume_group" in objects and objects["volume_group"].notna().any():
        grouped = objects["volume_group"].notna()
        shared = pd.Series(first, index=objects.index)[grouped]
        shared = shared.groupby([objects["role"][grouped], objects["volume_group"][grouped]]).transform("min")
        first[grouped.to_numpy()] = shared.to_numpy()
    # A stable sort of (images first, first position, volume), as sort_values(kind="stable") (a null role last).
    is_mask = objects["role"] != "image"
    rank = np.where(is_mask.isna().to_numpy(), 2, is_mask.to_numpy(dtype=bool, na_value=True).astype(np.int64))
    ordered = objects.take(np.lexsort((np.broadcast_to(volume, len(objects)), first, rank)))
    ordered.index = pd.RangeIndex(len(ordered))  # our own frame: relabelled in place, no copy
    role = ordered["role"]
    object_id = _numbered(role)
    if object_id is None:
        object_id = role + "_" + ordered.groupby("role").cumcount().astype(str)
    return ordered.assign(object_id=object_id)


def _numbered(role: pd.Series) -> pd.Series | None:
    """``image_0, image_1, ..., mask_0, ...``: each row numbered within its role, in row order.

    Counted in Python (no groupby, no string concatenation of Series); ``None`` when a role is
    missing or the roles are not text, for the caller's groupby to number.
    """
    if not isinstance(role.dtype, pd.StringDtype) or role.isna().any():
        return None
    seen: dict[str, int] = {}
    numbered = []
    for r in role.tolist():
        seen[r] = k = seen.get(r, -1) + 1
        numbered.append(f"{r}_{k}")
    return pd.Series(numbered, index=role.index, dtype=role.dtype)


def volume_of_files(files: pd.DataFrame, objects: pd.DataFrame) -> pd.DataFrame:
    """``files`` with ``volume_index`` filled: the volume of the object each single-frame file went to.

    Only the files of series split into volumes get one (the others stay null, as their objects'
    ``volume_index``). ``files`` is not modified.

    Examples
    --------
    >>> objects = schema.coerce(pd.DataFrame({"object_id": ["image_0", "image_1"], "role": "image",
    ...     "file_paths": [("/d/1.dcm",), ("/d/2.dcm",)], "volume_index": [0, 1]}), "objects")
    >>> files = schema.coerce(pd.DataFrame({"file_path": ["/d/2.dcm", "/d/1.dcm", "/d/x.nii"]}), "files")
    >>> volume_of_files(files, objects)["volume_index"].tolist()
    [1, 0, <NA>]
    """
    split = objects[objects["volume_index"].notna() & objects["frames"].isna()]
    out = files.copy(deep=False)
    values = np.full(len(files), np.nan)
    if len(split):
        members = split["file_paths"].explode()
        volumes = split["volume_index"].astype("int64").reindex(members.index).to_numpy()
        at = pd.Index(files["file_path"].astype(object)).get_indexer(members.to_numpy(dtype=object))
        values[at[at >= 0]] = volumes[at >= 0]
    out["volume_index"] = pd.array(values, dtype="Float64").astype("Int64")
    return out


def _singles(members: pd.DataFrame) -> pd.DataFrame:
    """One object per file (or array), geometry from its row."""
    members = members.sort_values(["file_path", "array_index"], kind="mergesort")
    out = collect(members, np.arange(len(members)))
    rtdose_spacing(out, members)
    return out


def _finish(parts: list[pd.DataFrame], *, text_members: bool = False) -> pd.DataFrame:
    """Concatenate, fill the derived columns, sort, number and coerce to the objects schema.

    ``text_members``: the ``file_paths`` and ``SOPInstanceUID`` tuples hold only text (and None),
    as the schema wants them, so coercing them would only check every member (~2 ms each).
    """
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
    fill_geometry(out)
    out["n_volumes"] = out["n_volumes"].fillna(1) if "n_volumes" in out else 1
    out["file_type"] = out["file_type"].where(out["array_index"].isna(), None)
    if "frames" in out:  # parts without the column left NaN: None, as coercing would make it (cell by cell)
        out["frames"] = out["frames"].where(out["frames"].notna(), None)
    out["_rank"] = (out["role"] != "image").astype(int)
    first = pd.Series([p[0] if p else None for p in out["file_paths"]], index=out.index, dtype=object)
    if "volume_group" in out and out["volume_group"].notna().any():  # the volumes of a series together, in order
        group = out["volume_group"].astype(object)
        shared = first[group.notna()].groupby([out["role"][group.notna()], group[group.notna()]]).transform("min")
        first[group.notna()] = shared
    out["_first"] = first
    out["_volume"] = out["volume_index"].astype("float64") if "volume_index" in out else 0.0
    out = out.sort_values(
        ["_rank", "sample_name", "_first", "_volume", "array_index"],
        kind="mergesort",
        na_position="last",
        ignore_index=True,
    )
    object_id = _numbered(out["role"])
    if object_id is None:
        object_id = out["role"].astype(str) + "_" + out.groupby("role").cumcount().astype(str)
    out["object_id"] = object_id
    names = schema.names("objects")
    known = ("file_paths", "SOPInstanceUID") if text_members else ()
    out = schema.coerce(out, "objects", only=[c for c in names if c not in known])
    return out[names]
