"""Image or mask? The role of every file, with the reason.

- DICOM files by their Modality: RTSTRUCT and SEG are masks; CT, PT, MR, RTDOSE, CR, DX, MG,
  NM and other image modalities are images; anything else (RTPLAN, SR, REG, ...) is neither, and
  so is a DICOMDIR and an image without pixel data (no Rows and Columns: a header-only file).
- Other files by the caller's hints first: the root they were found under (when images and
  masks come from different places), the sub-folder and the name pattern of each role.
- Where no hint decides, by evidence, cheapest first: mask-like or image-like words in the file
  name, then in the folder names from the nearest one up to the root (`mask`, `seg`, `label`,
  `roi`, `gtv` ... versus `image`, `img`, `volume`, `scan`); then the pixel type (floating point
  is an image, boolean a mask); and only for files still ambiguous after that, a look at the
  voxels: an integer array with at most :data:`MAX_MASK_LABELS` distinct non-negative values is a
  mask.
"""

from __future__ import annotations

import os
import re
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from ._distinct import per_distinct, per_value
from .filters import dicom_modality, in_sub_folder, named_modality
from .folders import normalise_dirs, relative_dirs
from .options import RoleOptions
from .patterns import bare_names, match
from .schema import TEXT

#: DICOM modalities that are masks, and those that are neither image nor mask.
MASK_DICOM = {"RTSTRUCT": "rtstruct", "SEG": "seg"}
NOT_IMAGING_DICOM = frozenset(
    ["RTPLAN", "RTRECORD", "SR", "KO", "PR", "REG", "FID", "RWV", "ECG", "HD", "AU", "DOC", "PLAN"]
)

MASK_WORDS = (
    "mask",
    "masks",
    "seg",
    "segs",
    "segmentation",
    "segmentations",
    "label",
    "labels",
    "labelmap",
    "labelmaps",
    "roi",
    "rois",
    "gtv",
    "ctv",
    "ptv",
    "contour",
    "contours",
    "rtstruct",
    "annotation",
    "annotations",
    "delineation",
    "delineations",
)
IMAGE_WORDS = ("image", "images", "img", "imgs", "volume", "volumes", "scan", "scans")

#: An integer array with at most this many distinct values (all >= 0) looks like a label map.
MAX_MASK_LABELS = 16

_MASK_RE = re.compile(r"(?<![a-z])(?:" + "|".join(MASK_WORDS) + r")(?![a-z])")
_IMAGE_RE = re.compile(r"(?<![a-z])(?:" + "|".join(IMAGE_WORDS) + r")(?![a-z])")


def _words(text: pd.Series) -> pd.Series:
    """``'mask'``, ``'image'`` or NA from the words of each text (both or neither: NA)."""
    lower = text.fillna("").str.lower()
    has_mask = lower.str.contains(_MASK_RE)
    has_image = lower.str.contains(_IMAGE_RE)
    out = pd.Series(pd.NA, index=text.index, dtype=TEXT)
    out[has_mask & ~has_image] = "mask"
    out[has_image & ~has_mask] = "image"
    return out


def _relative_dirs(files: pd.DataFrame) -> pd.Series:
    """Each file's directory below its root (the whole directory when there is no root)."""
    dirs = files["dir_path"].astype(TEXT).fillna("")
    roots = files["root"] if "root" in files else pd.Series(pd.NA, index=files.index, dtype=TEXT)
    return relative_dirs(dirs, roots.astype(TEXT)).fillna(dirs)


def name_evidence(files: pd.DataFrame) -> tuple[pd.Series, pd.Series]:
    """Role suggested by words in the file name, then in folder names (nearest first).

    Returns ``(role, reason)`` Series; NA where the names say nothing.

    Examples
    --------
    >>> df = pd.DataFrame({"file_name": ["STS_001_CT_mask.nii.gz", "image.nrrd", "a.npy"],
    ...                    "dir_path": ["/d", "/d", "/d/labels"], "root": ["/d"] * 3})
    >>> name_evidence(df)[0].tolist()
    ['mask', 'image', 'mask']
    """
    role = _words(files["file_name"])
    reason = pd.Series(pd.NA, index=files.index, dtype=TEXT)
    reason[role.notna()] = "file name"
    relative = _relative_dirs(files)  # never NA
    parts = relative.str.split(os.sep)
    depth = int(relative.str.count(re.escape(os.sep)).max()) + 1 if len(parts) else 0  # the most components
    for level in range(1, depth + 1):
        todo = role.isna()
        if not todo.any():
            break
        component = parts[todo].str[-level]
        found = _words(component)
        hit = found.notna()
        role[found[hit].index] = found[hit]
        reason[found[hit].index] = "folder name " + component[hit].astype(TEXT)
    return role, reason


def _distinct_values(path: str | None, file_type: str | None, array: NDArray[Any] | None) -> NDArray[Any] | None:
    """Distinct voxel values, or None when there are clearly more than a label map has."""
    if array is None:
        if path is None:
            raise TypeError("neither a file path nor an array")  # what np.load(None) raised
        if file_type == "numpy":
            array = np.load(path, mmap_mode="r", allow_pickle=False)
        else:
            import SimpleITK as sitk

            array = sitk.GetArrayViewFromImage(sitk.ReadImage(path))
    flat = np.asarray(array).reshape(-1)
    sample = flat[:: max(1, flat.size // 65536)]
    if np.unique(sample).size > MAX_MASK_LABELS:
        return None
    values = np.unique(flat)
    return None if values.size > MAX_MASK_LABELS else values


def voxel_evidence(row: pd.Series, arrays: list[NDArray[Any]] | None = None) -> tuple[str, str]:
    """Look at the voxels of one file or array: few non-negative integers make a mask."""
    array = None
    if pd.notna(row.get("array_index")) and arrays is not None:
        array = arrays[int(row["array_index"])]
    try:
        values = _distinct_values(row.get("file_path"), row.get("file_type"), array)
    except Exception as exc:
        return "image", f"voxels unreadable ({type(exc).__name__}); taken as image"
    if values is None:
        return "image", f"voxels: more than {MAX_MASK_LABELS} distinct values"
    if values.size and values.min() < 0:
        return "image", "voxels: negative values"
    return "mask", f"voxels: {values.size} distinct values"


def matches_hints(files: pd.DataFrame, options: RoleOptions) -> pd.Series:
    """Boolean Series: the file is in the role's sub-folder and matches its name patterns (when given).

    Examples
    --------
    >>> files = pd.DataFrame({"dir_path": ["/d/a/mask", "/d/a/image"], "file_name": ["x.nii", "x.nii"]})
    >>> matches_hints(files, RoleOptions.of("mask", sub_folder="mask")).tolist()
    [True, False]
    """
    hit = pd.Series(True, index=files.index)
    if options.sub_folder is not None:
        hit &= in_sub_folder(files, options.sub_folder)
    if options.name is not None:
        hit &= match(bare_names(files["file_name"].fillna("")), list(options.name)).fillna(False)
    return hit


def assign_roles(
    files: pd.DataFrame,
    *,
    image_hint: pd.Series | None = None,
    mask_hint: pd.Series | None = None,
    arrays: list[NDArray[Any]] | None = None,
) -> pd.DataFrame:
    """Fill ``role``, ``role_reason`` and, for DICOM, the canonical ``modality``.

    Parameters
    ----------
    files
        Files table (rows with an ``error`` get no role).
    image_hint, mask_hint
        Boolean Series over ``files``: the row matches the caller's image (mask) hints (root,
        sub-folder, name pattern). A row matching one role's hints only takes that role.
    arrays
        In-memory arrays referenced by ``array_index`` (for the voxel look).

    Examples
    --------
    >>> df = pd.DataFrame({"file_name": ["ct.nii.gz", "x.npy"], "dir_path": ["/d", "/d"],
    ...                    "file_type": ["nifti", "numpy"], "pixel_type": ["float32", "bool"],
    ...                    "dicom_modality": [None, None], "error": [None, None]})
    >>> assign_roles(df)["role"].tolist()
    ['image', 'mask']
    """
    out = files.copy(deep=False)  # copy-on-write: columns are replaced, never edited in place
    n = len(out)
    false = pd.Series(False, index=out.index)
    image_hint = false if image_hint is None else image_hint.reindex(out.index, fill_value=False)
    mask_hint = false if mask_hint is None else mask_hint.reindex(out.index, fill_value=False)
    # numpy by position: a few dozen whole-column steps on 10^5 rows, each a pandas call otherwise
    role = np.full(n, pd.NA, dtype=object)
    reason = np.full(n, pd.NA, dtype=object)
    ok = (out["error"].isna() if "error" in out else ~false).to_numpy(bool)

    # DICOM: the Modality tag decides (looked at once per distinct Modality).
    is_dicom = ok & (out["file_type"] == "dicom").fillna(False).to_numpy(bool)
    codes, uniques = pd.factorize(out["dicom_modality"].astype(TEXT), use_na_sentinel=False)
    tag = pd.Series(uniques, dtype=TEXT).str.upper()
    no_tag = tag.isna().to_numpy(bool)[codes]
    dicom_mask = is_dicom & tag.isin(list(MASK_DICOM)).to_numpy(bool)[codes]
    dicom_none = is_dicom & (no_tag | tag.isin(list(NOT_IMAGING_DICOM)).to_numpy(bool)[codes])
    names = out["file_name"].astype(TEXT)
    dicomdir = is_dicom & per_value(names, lambda u: u.str.upper() == "DICOMDIR").fillna(False).to_numpy(bool)
    no_pixels = is_dicom & ~dicom_mask & ~dicom_none & ~dicomdir
    if "Rows" in out and "Columns" in out:
        no_pixels &= (out["Rows"].isna() & out["Columns"].isna()).to_numpy(bool)
    else:
        no_pixels &= False
    dicom_image = is_dicom & ~dicom_mask & ~dicom_none & ~dicomdir & ~no_pixels
    role[dicom_mask], role[dicom_image] = "mask", "image"
    tagged = is_dicom & ~no_tag
    reason[tagged] = ("DICOM Modality " + tag).to_numpy(dtype=object)[codes[tagged]]  # one str per Modality
    reason[is_dicom & no_tag] = "DICOM file without Modality: neither image nor mask"
    reason[no_pixels] = [
        r + " without pixel data (no Rows or Columns: a header-only file): neither image nor mask"
        if isinstance(r, str)
        else pd.NA
        for r in reason[no_pixels]
    ]
    reason[dicomdir] = (
        "DICOMDIR (the directory of a DICOM file set; the files it lists are indexed): neither image nor mask"
    )
    if is_dicom.any():
        modality = out["modality"].astype(TEXT) if "modality" in out else pd.Series(pd.NA, index=out.index, dtype=TEXT)
        out["modality"] = modality.mask(is_dicom, dicom_modality(out).astype(TEXT))

    # Everything else: hints, then names, pixel type, voxels.
    other = ok & ~is_dicom
    image_hints, mask_hints = image_hint.fillna(False).to_numpy(bool), mask_hint.fillna(False).to_numpy(bool)
    only_image, only_mask = other & image_hints & ~mask_hints, other & mask_hints & ~image_hints
    role[only_image], reason[only_image] = "image", "matches the image hints"
    role[only_mask], reason[only_mask] = "mask", "matches the mask hints"
    todo = other & pd.isna(role)
    if todo.any():
        by_name, why = name_evidence(out[todo])
        at = np.flatnonzero(todo)
        found, said = by_name.to_numpy(dtype=object), why.to_numpy(dtype=object)
        hit, told = pd.notna(found), pd.notna(said)
        role[at[hit]], reason[at[told]] = found[hit], said[told]
    todo = other & pd.isna(role)
    if todo.any():
        pixel = out["pixel_type"].astype(TEXT)
        floats = todo & per_value(pixel, lambda u: u.str.startswith("float")).fillna(False).to_numpy(bool)
        bools = todo & (pixel == "bool").fillna(False).to_numpy(bool)
        role[floats], reason[floats] = "image", "floating-point voxels"
        role[bools], reason[bools] = "mask", "boolean voxels"
    for k in np.flatnonzero(other & pd.isna(role)).tolist():
        role[k], reason[k] = voxel_evidence(out.iloc[k], arrays)
    out["role"] = pd.Series(pd.array(role, dtype=TEXT), index=out.index)
    out["role_reason"] = pd.Series(pd.array(reason, dtype=TEXT), index=out.index)
    return out


def path_modality(files: pd.DataFrame) -> tuple[pd.Series, pd.Series]:
    """The modality the file name, else the nearest folder name below the root, names; and where.

    Words are whole (``CT``, ``PET``/``PT``, ``MR``/``MRI``/``T1``/``T2``/``FLAIR``/``DWI``...,
    ``ADC``, ``DCE``; ``MR_T1`` is MR, ``CTV`` is nothing). A name with words of two modalities
    (``PET_CT``) says nothing, and the next folder up is looked at. Returns ``(modality, reason)``
    Series, NA where the path names no modality.

    Examples
    --------
    >>> files = pd.DataFrame({"file_name": ["STS_001_PET_image.nii.gz", "image.nii.gz", "a.npy"],
    ...                       "dir_path": ["/d/nifti", "/d/P1/MR_T1/image", "/d/PET_CT/x"], "root": ["/d"] * 3})
    >>> path_modality(files)[0].tolist()
    ['pt', 'mr', <NA>]
    """
    names = files["file_name"].astype(TEXT) if "file_name" in files else pd.Series(pd.NA, index=files.index, dtype=TEXT)
    dirs = files["dir_path"].astype(TEXT).fillna("")
    roots = files["root"].astype(TEXT) if "root" in files else pd.Series(pd.NA, index=files.index, dtype=TEXT)
    relative = relative_dirs(normalise_dirs(dirs), normalise_dirs(roots)).fillna(normalise_dirs(dirs))
    keys = pd.DataFrame({"name": names, "dir": relative}, index=files.index)

    def look(distinct: pd.DataFrame) -> pd.DataFrame:
        modality, reason = [], []
        for name, folder in zip(distinct["name"], distinct["dir"], strict=True):
            found, why = named_modality(name if isinstance(name, str) else None), "file name"
            if found is None and isinstance(folder, str):
                for part in reversed([p for p in folder.split("/") if p]):
                    found, why = named_modality(part), f"folder name {part}"
                    if found is not None:
                        break
            modality.append(found)
            reason.append(why if found is not None else None)
        return pd.DataFrame({"modality": modality, "reason": reason}, index=distinct.index, dtype=object)

    found = per_distinct(keys, look)  # a folder's files share their folders: each distinct path once
    return found["modality"].astype(TEXT), found["reason"].astype(TEXT)
