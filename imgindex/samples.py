"""Sample names for the files table, from name patterns, folders and DICOM identifiers, vectorised.

:func:`assign_sample_names` fills ``sample_name`` and ``sample_name_source`` per file before
stacking, and :func:`names_from_file_names` where folders cannot be sample names. After stacking,
:func:`name_objects` names the objects still without one (a list of names by position, file
names, generated names; MIRP's final naming, spec 8.4) and :func:`inherit_mask_names` gives masks
their image's name after association; :func:`generated_names` gives the last-resort names in
MIRP's format, but deterministic.
"""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from ._distinct import per_distinct, per_value
from .errors import NotFoundError
from .filters import MODALITY_WORDS
from .folders import normalise_dirs, relative_dirs
from .patterns import bare_names, extract_sample_names
from .schema import TEXT

if TYPE_CHECKING:
    from pandas.api.typing import NAType

    from .options import ImportOptions

__all__ = [
    "DICOM_NAME_TAGS",
    "assign_sample_names",
    "dicom_names",
    "generated_names",
    "inherit_mask_names",
    "name_objects",
    "names_from_file_names",
    "relative_dirs",
]

#: DICOM identifiers that can name a sample, in MIRP's order of preference.
DICOM_NAME_TAGS = ("PatientID", "StudyID", "PatientName", "StudyDescription", "SeriesDescription")
#: Precedence of an existing ``sample_name_source`` (lower wins); other sources (``argument``, or
#: none, e.g. names filled in by the user) rank above every inferred source and are kept.
_EXISTING_RANK = {"pattern": 1, "dicom": 3, "folder": 4, "list": 9, "file_name": 9, "generated": 9}
_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"


def _strings(files: pd.DataFrame, column: str) -> pd.Series:
    if column not in files:
        return pd.Series(pd.NA, index=files.index, dtype=TEXT)
    return files[column].astype(TEXT)


def _texts(files: pd.DataFrame, columns: list[str]) -> pd.DataFrame:
    return pd.DataFrame({c: _strings(files, c) for c in columns}, index=files.index)


def _folder_of_request(rel: pd.Series, wanted: list[str], sub: str | None) -> pd.Series:
    """The requested name that equals a directory name below the root (outside the sub-folder)."""
    padded = "/" + rel + "/"
    if sub is not None:
        padded = padded.str.replace("/" + sub.strip("/") + "/", "/", n=1, regex=False)
    parts = padded.reset_index(drop=True).str.split("/").explode()
    hits = parts[parts.isin(wanted).fillna(False).to_numpy(bool)]
    per_row = hits.groupby(level=0).agg(["first", "nunique"])
    unique = per_row.loc[per_row["nunique"] == 1, "first"]  # two different names: ambiguous, skip
    out = pd.Series(pd.NA, index=range(len(rel)), dtype=TEXT)
    out[unique.index] = unique.astype(TEXT)
    out.index = rel.index
    return out


def dicom_names(files: pd.DataFrame, wanted: list[str] | None = None) -> pd.Series:
    """First non-empty DICOM identifier (or the one that equals a requested name) of DICOM rows.

    Examples
    --------
    >>> files = pd.DataFrame({"file_type": ["dicom", "nifti"], "PatientID": ["", None], "StudyID": ["S1", None]})
    >>> dicom_names(files).tolist()
    ['S1', <NA>]
    """
    # The identifiers repeat over every file of a series: each distinct combination is looked at once.
    keys = _texts(files, ["file_type", *DICOM_NAME_TAGS])
    return per_distinct(keys, lambda distinct: _dicom_names(distinct, wanted))


def _dicom_names(files: pd.DataFrame, wanted: list[str] | None) -> pd.Series:
    # Row by row over the distinct identifiers: a few str methods each, not a dozen frame passes.
    tags = [_strings(files, tag).to_numpy(dtype=object) for tag in DICOM_NAME_TAGS]
    is_dicom = _strings(files, "file_type").eq("dicom").fillna(False).to_numpy(bool)
    chosen = set(wanted) if wanted else None
    rows = zip(is_dicom, zip(*tags, strict=True), strict=True)
    values = [_dicom_name(row, chosen) if dicom else pd.NA for dicom, row in rows]
    return pd.Series(pd.array(values, dtype=TEXT), index=files.index, name=DICOM_NAME_TAGS[0])


def _dicom_name(row: tuple[object, ...], wanted: set[str] | None) -> str | NAType:
    """The first identifier that is not empty once stripped (or the first that is a requested name)."""
    stripped = [v.strip() for v in row if isinstance(v, str)]
    present = [v for v in stripped if v]
    if wanted:
        for value in present:
            if value in wanted:
                return value
    return present[0] if present else pd.NA


#: Folder names that say which role a folder holds, never whose it is: skipped as sample names.
NOT_SAMPLE_FOLDERS = frozenset(
    {
        "image",
        "images",
        "img",
        "imgs",
        "mask",
        "masks",
        "label",
        "labels",
        "labelmap",
        "labelmaps",
        "seg",
        "segmentation",
        "segmentations",
        "roi",
        "rois",
    }
)


def _folder_names(dirs: pd.Series, rel: pd.Series, sub: str | None) -> pd.Series:
    if sub is not None:
        above = dirs.str.extract(r"(?:^|/)([^/]+)/" + re.escape(sub) + r"\Z", expand=False)
        return above.astype(TEXT)
    # The first folder below the root that is not a role word ("image", "mask", "labels").
    values = [_first_folder(r) if isinstance(r, str) else pd.NA for r in rel.to_numpy(dtype=object)]
    return pd.Series(pd.array(values, dtype=TEXT), index=rel.index)


def _first_folder(rel: str) -> str | NAType:
    """The first part of ``rel`` that is a folder name and not a role word (:data:`NOT_SAMPLE_FOLDERS`)."""
    for part in rel.split("/"):
        if part and part.lower() not in NOT_SAMPLE_FOLDERS:
            return part
    return pd.NA


def assign_sample_names(
    files: pd.DataFrame,
    *,
    name_patterns: Sequence[str] | None = None,
    sample_name: Sequence[str] | None = None,
    sub_folder: str | None = None,
    dicom: pd.Series | None = None,
) -> pd.DataFrame:
    """Fill ``sample_name`` and ``sample_name_source`` where the files tell a sample name.

    Sources, highest precedence first (``sample_name_source`` in brackets):

    1. ``pattern``: a ``#`` in ``name_patterns``, isolated from the bare file name as MIRP does
       (:func:`imgindex.patterns.extract_sample_names`).
    2. ``folder``, when ``sample_name`` is given: a directory name between the file's ``root``
       and the file that *equals* a requested name (the ``sub_folder`` components excluded;
       two different requested names on one path count as none). Unlike MIRP, DICOM files whose
       identifiers differ from that folder name keep it instead of being dropped.
    3. ``dicom``: for DICOM files, the first non-empty of PatientID, StudyID, PatientName,
       StudyDescription, SeriesDescription; when ``sample_name`` is given and one of these equals
       a requested name, that one.
    4. ``folder``: with ``sub_folder``, the directory name just above the sub-folder's components
       (any file whose directory ends with them, root or not); without, the first directory name
       below ``root`` that is not a role word (:data:`NOT_SAMPLE_FOLDERS`: ``image``, ``mask``,
       ``labels`` ... say what a folder holds, not whose); files directly in ``root``, or
       without one, get none.
    5. Otherwise ``<NA>``: naming by list position, file name or generated name needs the stacked
       objects and is left to the caller.

    A name already present is replaced only by a source of the same or higher precedence than its
    own ``sample_name_source`` (``pattern`` > ``dicom`` > ``folder``, so an inferred name is
    recomputed; ``list``, ``file_name`` and ``generated`` rank below all four). Names with any
    other source (``argument``) or with no source are kept: they came from the user.

    Parameters
    ----------
    files : pandas.DataFrame
        The files table; uses ``file_name``, ``dir_path``, ``root``, ``file_type`` and the DICOM
        identifier columns, when present. It is not modified.
    name_patterns : sequence of str, optional
        The ``image_name`` / ``mask_name`` patterns.
    sample_name : sequence of str, optional
        The requested sample names.
    sub_folder : str, optional
        The ``image_sub_folder`` / ``mask_sub_folder``, normalised as
        :func:`imgindex.arguments.validate_sub_folder` gives it.
    dicom : pandas.Series, optional
        ``dicom_names(files, sample_name)`` when the caller has it (row for row); else worked out.

    Returns
    -------
    pandas.DataFrame
        A copy of ``files`` with ``sample_name`` and ``sample_name_source`` filled.

    Examples
    --------
    >>> files = pd.DataFrame({"file_name": ["P1_CT.nii.gz", "image.nii.gz", "1.dcm"],
    ...     "dir_path": ["/d", "/d/P2/CT", "/d/x"], "root": "/d", "file_type": ["nifti", "nifti", "dicom"],
    ...     "PatientID": [None, None, "P3"]})
    >>> out = assign_sample_names(files, name_patterns=["#_CT", "image"])
    >>> out[["sample_name", "sample_name_source"]].values.tolist()
    [['P1', 'pattern'], ['P2', 'folder'], ['P3', 'dicom']]
    """
    wanted = None if sample_name is None else list(sample_name)
    sub = sub_folder
    result, files = files, files.reset_index(drop=True)  # work by position: the index may repeat
    index = files.index

    def by_folder(distinct: pd.DataFrame) -> pd.DataFrame:
        dirs = normalise_dirs(distinct["dir_path"])
        rel = relative_dirs(dirs, normalise_dirs(distinct["root"]))
        found = {"folder": _folder_names(dirs, rel, sub)}
        if wanted:
            found["requested"] = _folder_of_request(rel, wanted, sub)
        return pd.DataFrame(found)

    # Folders repeat over thousands of files: each distinct one is looked at once.
    folders = per_distinct(_texts(files, ["dir_path", "root"]), by_folder)
    dicom = dicom_names(files, wanted) if dicom is None else pd.Series(dicom.array, index=index)
    # numpy, not Series.mask: four candidates on 10^5 rows, each a handful of whole-column passes
    name = _strings(files, "sample_name").to_numpy(dtype=object, copy=True)
    source = _strings(files, "sample_name_source").to_numpy(dtype=object, copy=True)
    rank = np.full(len(files), np.inf)  # no name yet: any source may give one
    named = pd.notna(name)
    if named.any():
        ranks = per_value(pd.Series(source[named], dtype=TEXT), lambda u: u.map(_EXISTING_RANK, na_action="ignore"))
        rank[named] = ranks.astype("float64").fillna(0.0).to_numpy()
    candidates = []
    if name_patterns is not None:
        candidates.append(
            (1, "pattern", extract_sample_names(bare_names(_strings(files, "file_name")), list(name_patterns)))
        )
    if wanted:
        candidates.append((2, "folder", folders["requested"]))
    candidates += [(3, "dicom", dicom), (4, "folder", folders["folder"])]
    for level, label, found in candidates:
        values = found.to_numpy(dtype=object)
        take = pd.notna(values) & (rank >= level)
        name[take], source[take], rank[take] = values[take], label, level
    return result.assign(sample_name=pd.array(name, dtype=TEXT), sample_name_source=pd.array(source, dtype=TEXT))


def generated_names(keys: Sequence[str]) -> list[str]:
    """Names in MIRP's format ``"{i + 1}_{16 characters A-Z0-9}"``, derived from a hash of each key.

    The same keys give the same names (MIRP draws random characters).

    Examples
    --------
    >>> names = generated_names(["STS_001/CT", "STS_002/CT"])
    >>> [len(n) for n in names], names == generated_names(["STS_001/CT", "STS_002/CT"])
    ([18, 18], True)
    >>> names[0][:2]
    '1_'
    """
    out = []
    for i, key in enumerate(keys):
        value = int.from_bytes(hashlib.sha256(str(key).encode("utf-8")).digest(), "big")
        chars = []
        for _ in range(16):
            value, digit = divmod(value, len(_ALPHABET))
            chars.append(_ALPHABET[digit])
        out.append(f"{i + 1}_{''.join(chars)}")
    return out


_ROLE_WORDS = re.compile(
    r"(?i)(?:^|(?<=[_\-. ]))(?:image|images|img|mask|masks|label|labels|labelmap|seg|segmentation|roi|"
    + "|".join(sorted(MODALITY_WORDS, key=len, reverse=True))
    + r")(?=$|[_\-. ])"
)


def _stems(bare: pd.Series) -> pd.Series:
    """Bare names without role words (image, mask, label ...), modality words (CT, PET ...), channel suffixes."""
    stems = bare.str.replace(r"_\d{4}$", "", regex=True)
    for _ in range(2):  # adjacent words share their separator: "ct_image" needs two passes
        stems = stems.str.replace(_ROLE_WORDS, "", regex=True)
    return stems.str.replace(r"[_\-. ]{2,}", "_", regex=True).str.strip("_-. ")


def names_from_file_names(files: pd.DataFrame, known: Sequence[str] = ()) -> pd.DataFrame:
    """Name non-DICOM files from their file names where folder names cannot be sample names.

    Applies to files named by a ``folder`` (or not at all):

    1. a known sample name (from DICOM files of the same import, or requested names) that
       appears in the file name as a whole token (the longest one wins);
    2. otherwise, when one folder directly holds several volumes (3D files) of the same role and
       type, as in ``imagesTr/case_001.nii.gz`` or a flat folder of ``STS_001_CT_image.nii.gz``,
       the folder is not a sample: the file name without role words (``image``, ``mask``,
       ``label`` ...) and nnU-Net channel suffixes (``_0000``) is.

    Examples
    --------
    >>> df = pd.DataFrame({"file_name": ["STS_001_CT_image.nii.gz", "p7_image.nii.gz", "p8_image.nii.gz"],
    ...     "dir_path": ["/d/nifti"] * 3, "file_path": ["/d/nifti/a", "/d/nifti/b", "/d/nifti/c"],
    ...     "file_type": ["nifti"] * 3, "role": ["image"] * 3, "ndim": [3] * 3, "size_z": [8] * 3,
    ...     "sample_name": ["nifti"] * 3, "sample_name_source": ["folder"] * 3})
    >>> names_from_file_names(df, known=["STS_001"])["sample_name"].tolist()
    ['STS_001', 'p7', 'p8']
    """
    out = files.copy(deep=False)  # copy-on-write: columns are replaced, never edited in place
    source = _strings(out, "sample_name_source")
    todo = (
        (out["file_type"] != "dicom").fillna(False) & out["file_path"].notna() & (source.isna() | (source == "folder"))
    )
    if not todo.any():
        return out
    bare = bare_names(out.loc[todo, "file_name"].astype(TEXT))
    names = pd.Series(pd.NA, index=bare.index, dtype=TEXT)
    known = sorted({k for k in known if isinstance(k, str) and k}, key=len, reverse=True)
    if known:  # a folder named like a known sample (DICOM PatientID beside it) is that sample
        rel = relative_dirs(_strings(out.loc[todo], "dir_path"), _strings(out.loc[todo], "root"))
        parts = rel.fillna("").str.split(r"[/\\]", regex=True)
        wanted = set(known)
        in_path = [next((p for p in reversed(ps) if p in wanted), None) for ps in parts]
        folder_hit = pd.Series(in_path, index=bare.index, dtype=TEXT)
        hit = folder_hit.notna()
        out.loc[hit[hit].index, "sample_name"] = folder_hit[hit]
        out.loc[hit[hit].index, "sample_name_source"] = "folder"
        names = names.mask(hit, pd.NA)
        bare = bare[~hit]
        names = names[~hit]
    if known:
        alternation = "|".join(re.escape(k) for k in known)
        found = bare.str.extract(f"(?<![A-Za-z0-9])({alternation})(?![A-Za-z0-9])", expand=False)
        names = names.fillna(found.astype(TEXT))
    volume = (out.loc[todo, "ndim"].astype("Float64") >= 3) & (out.loc[todo, "size_z"].astype("Float64") > 1)
    keys = [out.loc[todo, c].astype(object) for c in ("dir_path", "role", "file_type")]
    crowded = volume.fillna(False).groupby(keys, dropna=False).transform("sum") >= 2
    use_stem = names.isna() & crowded.reindex(names.index) & volume.fillna(False).reindex(names.index)
    stems = _stems(bare[use_stem])
    names[use_stem] = stems.where(stems.str.len() > 0)
    hit = names.notna()
    out.loc[hit[hit].index, "sample_name"] = names[hit]
    out.loc[hit[hit].index, "sample_name_source"] = "file_name"
    # A folder whose files are named by their stems holds several samples: it names none of them,
    # so its other files (a lone mask.nii.gz beside a_image and b_image) are left unnamed, not
    # given the folder's name, which would set them apart from both.
    by_stem = pd.Series(False, index=out.index)
    by_stem[use_stem[use_stem].index] = hit[use_stem[use_stem].index]
    shared_dirs = out.loc[by_stem[by_stem].index, "dir_path"].dropna().unique()
    left = todo & out["dir_path"].isin(shared_dirs) & (_strings(out, "sample_name_source") == "folder").fillna(False)
    if left.any():
        out.loc[left, "sample_name"] = pd.NA
        out.loc[left, "sample_name_source"] = pd.NA
    return out


def name_objects(objects: pd.DataFrame, options: ImportOptions) -> pd.DataFrame:
    """Name the stacked objects still without a sample name (MIRP's final naming, spec 8.4).

    In order: the ``sample_name`` argument when it is one name; a list of names by position when
    there are as many images as names; else, for images, their bare file names when these are
    unique, or generated names (:func:`generated_names`). A list of another length is an error
    when files are left unnamed ("could not be linked").

    Examples
    --------
    >>> from imgindex.options import ImportOptions
    >>> objects = pd.DataFrame({"role": ["image", "image"], "sample_name": [None, "B"], "n_files": [1, 1],
    ...     "file_path": ["/d/a.nii.gz", "/d/b.nii.gz"], "file_paths": [("/d/a.nii.gz",), ("/d/b.nii.gz",)],
    ...     "array_index": [None, None]})
    >>> name_objects(objects, ImportOptions())["sample_name"].tolist()
    ['a', 'B']
    """
    objects = objects.copy(deep=False)  # copy-on-write: columns are replaced, never edited in place
    names = options.sample_name
    for role in ("image", "mask"):
        unnamed = (objects["role"] == role) & objects["sample_name"].isna()
        if not unnamed.any():
            continue
        n_role = int((objects["role"] == role).sum())
        if names is not None and options.single_sample:
            objects.loc[unnamed, "sample_name"] = names[0]
        elif names is not None and role == "image" and len(names) == n_role:
            positions = objects.index[objects["role"] == role]
            named = pd.Series(list(names), index=positions)
            objects.loc[unnamed, "sample_name"] = named[unnamed[unnamed].index]
        elif names is not None and role == "image" and objects.loc[unnamed, "n_files"].gt(0).any():
            paths = [p[0] for p in objects.loc[unnamed, "file_paths"] if len(p)]
            raise NotFoundError(
                f"One or more files ({', '.join(paths[:3])}{', ...' if len(paths) > 3 else ''}) could not be linked "
                f"to a sample name for checking: {len(names)} sample names were given for {n_role} images. "
                "You may specify an image file name pattern using the image_name argument, e.g. image_name = "
                "'#_*_image', where # marks the sample name, or pass one sample name per image, in order."
            )
        elif role == "image":
            bare = bare_names(objects.loc[unnamed, "file_path"].astype(TEXT).str.rsplit(os.sep).str[-1])
            if bare.notna().all() and bare.is_unique:
                objects.loc[unnamed, "sample_name"] = bare
            else:
                members = zip(objects.loc[unnamed, "file_paths"], objects.loc[unnamed, "array_index"], strict=True)
                keys = [str(p) if p else f"array:{a}" for p, a in members]
                objects.loc[unnamed, "sample_name"] = generated_names(keys)
    return objects


def inherit_mask_names(objects: pd.DataFrame, pairs: pd.DataFrame) -> pd.DataFrame:
    """Masks without a sample name take their image's (MIRP's final naming, spec 18.10).

    Examples
    --------
    >>> objects = pd.DataFrame({"object_id": ["image_0", "mask_0"], "role": ["image", "mask"],
    ...                         "sample_name": ["A", None]})
    >>> pairs = pd.DataFrame({"image_id": ["image_0"], "mask_id": ["mask_0"]})
    >>> inherit_mask_names(objects, pairs)["sample_name"].tolist()
    ['A', 'A']
    """
    unnamed = (objects["role"] == "mask") & objects["sample_name"].isna()
    if not unnamed.any():  # every mask is named: nothing to look up
        return objects
    names = objects.set_index("object_id")["sample_name"]
    linked = pairs.dropna(subset=["mask_id"]).drop_duplicates("mask_id")
    inherited = pd.Series(names.reindex(linked["image_id"]).to_numpy(), index=linked["mask_id"].to_numpy())
    objects = objects.copy(deep=False)  # copy-on-write: columns are replaced, never edited in place
    found = objects.loc[unnamed, "object_id"].map(inherited).astype(TEXT)
    objects.loc[unnamed, "sample_name"] = found
    return objects
