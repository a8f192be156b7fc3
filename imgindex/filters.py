"""Filters over the files table: pure ``DataFrame -> DataFrame`` steps (the input is never changed).

Each filter keeps the rows that satisfy one of MIRP's curation arguments (``*_file_type``,
``*_name``, ``*_sub_folder``, ``*_modality``, ``sample_name``, ``roi_name``) and raises a
:class:`~imgindex.errors.NotFoundError` with MIRP's wording when nothing is left. The filters take
the arguments as :class:`~imgindex.options.ImportOptions` checked them (a role's
:class:`~imgindex.options.RoleOptions`, the tuple of sample names, a
:class:`~imgindex.arguments.RoiSelection`) and never check them again. ``where`` describes the
searched input for the messages, e.g. ``"The /data directory (and its subdirectories)"``.

Differences from MIRP 2.7.0, on purpose: sub-folders are matched by path components, not as a
string suffix (spec 18.13); modality synonyms are canonicalised for every file type (18.5); a
pattern is quoted whole in the "name pattern" error; messages say "were", not "where".
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence

import pandas as pd

from ._distinct import per_distinct
from .arguments import RoiSelection, roi_selection
from .errors import NotFoundError, warn
from .folders import normalise_dirs
from .formats import FILE_TYPES, SUFFIXES
from .options import RoleOptions
from .patterns import bare_names, extract_sample_names, match, sample_patterns
from .schema import TEXT

__all__ = [
    "DICOM_ONLY_MODALITIES",
    "MODALITY_WORDS",
    "by_file_type",
    "by_modality",
    "by_name",
    "by_roi_name",
    "by_sample_name",
    "by_sub_folder",
    "check_pattern_names",
    "dicom_modality",
    "in_sub_folder",
    "inside_sub_folder",
    "named_modality",
    "normalise_dirs",
    "select_rois",
    "some",
]

_LABEL_REGION = re.compile(r"region_(-?\d+)")


def _lead(where: str) -> str:
    return where[:1].lower() + where[1:]


def some(values: pd.Series, limit: int = 5) -> str:
    """Up to ``limit`` distinct values, comma-separated (``...`` when there are more): for messages.

    Examples
    --------
    >>> some(pd.Series(["a", "b", "a", None]))
    'a, b'
    """
    found = values.dropna().astype(str).drop_duplicates()
    shown = ", ".join(found.head(limit))
    return (shown + (", ..." if len(found) > limit else "")) or "none"


def _suffixes(file_types: Sequence[str]) -> str:
    order = {t: i for i, t in enumerate(FILE_TYPES)}
    chosen = sorted((order[t], len(s), k, s) for k, (s, t) in enumerate(SUFFIXES.items()) if t in set(file_types))
    return ", ".join(s for *_, s in chosen)


def dicom_modality(files: pd.DataFrame) -> pd.Series:
    """Canonical modality of the DICOM rows, from ``Modality`` and ``ImageType``; ``<NA>`` elsewhere.

    The ``dicom_modality`` value is lower-cased; MR becomes ``adc`` or ``dce`` when one of the
    ``ImageType`` values is ``ADC`` or ``DCE`` (case-insensitive), as in MIRP.

    Examples
    --------
    >>> files = pd.DataFrame({"file_type": ["dicom", "dicom", "nifti"], "dicom_modality": ["MR", "PT", None],
    ...                       "ImageType": [("DERIVED", "adc"), ("ORIGINAL",), None]})
    >>> dicom_modality(files).tolist()
    ['adc', 'pt', <NA>]
    """
    column: Callable[[str], pd.Series] = lambda name: (
        files[name] if name in files else pd.Series([None] * len(files), index=files.index, dtype=object)
    )
    keys = pd.DataFrame(
        {name: column(name) for name in ("file_type", "dicom_modality", "ImageType")}, index=files.index
    )
    return per_distinct(keys, _dicom_modality)  # a few distinct combinations among 10^5 files


def _dicom_modality(files: pd.DataFrame) -> pd.Series:
    n = len(files)
    column = files.__getitem__
    is_dicom = column("file_type").astype(TEXT).eq("dicom").fillna(False).to_numpy(bool)
    modality = column("dicom_modality").astype(TEXT).str.strip().str.lower().reset_index(drop=True)
    values = column("ImageType").reset_index(drop=True).explode().astype(TEXT).str.upper()
    for code in ("dce", "adc"):  # ADC wins when both are present
        has = values.eq(code.upper()).fillna(False).groupby(level=0).any().reindex(range(n), fill_value=False)
        modality = modality.mask(modality.eq("mr").fillna(False) & has, code)
    modality = modality.where(is_dicom)
    modality.index = files.index
    return modality.astype(TEXT)


def by_file_type(files: pd.DataFrame, options: RoleOptions, *, where: str = "The input") -> pd.DataFrame:
    """Keep the files of the role's file types (``itk`` = NIfTI or NRRD; none requested = every supported type).

    Examples
    --------
    >>> files = pd.DataFrame({"file_type": ["dicom", "nifti", "nrrd"]})
    >>> by_file_type(files, RoleOptions.of("image", file_type="itk"))["file_type"].tolist()
    ['nifti', 'nrrd']
    """
    role, types = options.role, options.file_types
    found = files["file_type"].astype(TEXT)
    out = files.loc[found.isin(types).fillna(False).to_numpy(bool)].copy(deep=False)
    if out.empty:
        raise NotFoundError(
            f"{where} did not contain any supported {role} files ({_suffixes(types)}). "
            f"File types found: {some(found)}. Check the path, or pass another {role}_file_type "
            "(or None for every type)."
        )
    return out


def by_name(files: pd.DataFrame, options: RoleOptions, *, where: str = "The input") -> pd.DataFrame:
    """Keep the files whose bare name matches one of the role's patterns (``*``, ``?``, ``[seq]``, ``#``; whole name).

    Examples
    --------
    >>> files = pd.DataFrame({"file_name": ["a_CT_image.nii.gz", "a_CT_mask.nii.gz"], "file_type": "nifti"})
    >>> by_name(files, RoleOptions.of("image", name="#_CT_image"))["file_name"].tolist()
    ['a_CT_image.nii.gz']
    """
    patterns, role = options.name, options.role
    if patterns is None:
        return files.copy(deep=False)
    names = bare_names(files["file_name"])
    out = files.loc[match(names, list(patterns)).to_numpy(bool)].copy(deep=False)
    if out.empty:
        first = patterns[0]
        example = first if first.startswith("*") else f"*{first}"
        types = files["file_type"].dropna().unique().tolist() or FILE_TYPES
        raise NotFoundError(
            f"{where} did not contain any supported {role} files ({_suffixes(types)}) that contain "
            f"the name pattern ({', '.join(patterns)}). The name must match exactly. Use wildcard symbol (*) for "
            f"partial matching, e.g. {example}. Patterns are compared with the file name without "
            f"its suffix, case-sensitively; names found: {some(names)}."
        )
    return out


def check_pattern_names(files: pd.DataFrame, options: RoleOptions, *, where: str = "The input") -> None:
    """MIRP's E13: a ``#`` pattern that names no file at all is an error, not a silent fallback.

    Examples
    --------
    >>> files = pd.DataFrame({"file_name": ["image.nii.gz"]})
    >>> check_pattern_names(files, RoleOptions.of("image", name="#image"))
    Traceback (most recent call last):
    ...
    imgindex.errors.NotFoundError: The file name pattern did not yield any sample names: #image. ...
    """
    patterns = options.name
    if not patterns or not sample_patterns(list(patterns)) or files["file_name"].isna().all():
        return
    found = extract_sample_names(bare_names(files["file_name"].fillna("")), list(patterns))
    if found.isna().all():
        shown = patterns[0] if len(patterns) == 1 else list(patterns)
        raise NotFoundError(
            f"The file name pattern did not yield any sample names: {shown}. {where} has {options.role} files "
            f"whose names match it ({some(bare_names(files['file_name']))}), but the part at # is empty. "
            "Put # where the sample name sits in the file name, e.g. '#_CT_image' for STS_001_CT_image.nii.gz."
        )


def in_sub_folder(files: pd.DataFrame, sub_folder: str) -> pd.Series:
    """Boolean Series: the file sits directly in a directory ending with the sub-folder's components.

    ``sub_folder`` is normalised as :func:`imgindex.arguments.validate_sub_folder` gives it.

    Examples
    --------
    >>> files = pd.DataFrame({"dir_path": ["/d/STS_001/CT/nifti/image", "/d/STS_001/XCT/nifti/image"]})
    >>> in_sub_folder(files, "CT/nifti/image").tolist()
    [True, False]
    """
    dirs = normalise_dirs(files["dir_path"])
    keep = dirs.eq(sub_folder) | (False if sub_folder.startswith("/") else dirs.str.endswith("/" + sub_folder))
    return keep.fillna(False).astype(bool).set_axis(files.index)


def inside_sub_folder(where: str, options: RoleOptions) -> str:
    """``where`` narrowed to the role's sub-folder, for the messages of the filters after it.

    Examples
    --------
    >>> inside_sub_folder("The /d directory (and its subdirectories)", RoleOptions.of("image", sub_folder="CT/image"))
    'The CT/image sub-folders of the /d directory (and its subdirectories)'
    """
    if options.sub_folder is None:
        return where
    return f"The {options.sub_folder_text} sub-folders of {_lead(where)}"


def by_sub_folder(files: pd.DataFrame, options: RoleOptions, *, where: str = "The input") -> pd.DataFrame:
    r"""Keep the files that sit directly in a directory ending with the role's sub-folder components.

    ``CT/nifti/image`` matches ``/data/STS_001/CT/nifti/image`` but not ``.../XCT/nifti/image``
    (MIRP compared strings) nor ``.../CT/nifti/image/extra``. Both ``/`` and ``\`` separate
    components; trailing separators do not matter. An absolute sub-folder must be the directory.

    Examples
    --------
    >>> files = pd.DataFrame({"dir_path": ["/d/STS_001/CT/nifti/image", "/d/STS_001/XCT/nifti/image"]})
    >>> by_sub_folder(files, RoleOptions.of("image", sub_folder="CT/nifti/image/"))["dir_path"].tolist()
    ['/d/STS_001/CT/nifti/image']
    """
    if options.sub_folder is None:
        return files.copy(deep=False)
    out = files.loc[in_sub_folder(files, options.sub_folder).to_numpy(bool)].copy(deep=False)
    if out.empty:
        dirs = normalise_dirs(files["dir_path"])
        raise NotFoundError(
            f"No directories were found in {_lead(where)} that contained the directory "
            f"substructure {options.sub_folder_text}. The sub-folder is compared with the last directory names of "
            f"each file's path, and the files must sit directly in it. Directories found: "
            f"{some(dirs)}."
        )
    return out


#: Modalities only a DICOM file can have: never assigned to NIfTI, NRRD or numpy files.
DICOM_ONLY_MODALITIES = frozenset({"rtstruct"})

#: Words that name an image modality in a folder or file name (whole words, any case).
MODALITY_WORDS: dict[str, str] = {
    **dict.fromkeys(("ct", "cect", "ncct", "cbct"), "ct"),
    **dict.fromkeys(("pt", "pet", "fdg"), "pt"),
    **dict.fromkeys(
        ("mr", "mri", "t1", "t2", "t1w", "t2w", "t1c", "t1ce", "t1gd", "flair", "dwi", "mprage", "pdw", "swi"), "mr"
    ),
    "adc": "adc",
    "dce": "dce",
}
_WORD = re.compile(r"[a-z0-9]+")


def named_modality(text: str | None) -> str | None:
    """The one modality the words of ``text`` name (``None`` for none, or for words naming several)."""
    found = {MODALITY_WORDS[w] for w in _WORD.findall((text or "").lower()) if w in MODALITY_WORDS}
    return found.pop() if len(found) == 1 else None


def by_modality(files: pd.DataFrame, options: RoleOptions, *, where: str = "The input") -> pd.DataFrame:
    """Keep the files of the role's modality (``mr`` excludes ``adc``/``dce``).

    The ``modality`` column is completed first: DICOM rows without one get
    :func:`dicom_modality`; other rows without one, or with ``generic`` / ``generic_mask`` (their
    content says no modality), take the requested one and are kept, as in MIRP (but
    canonicalised: ``pet`` gives ``pt``). The returned frame carries the completed column.

    Examples
    --------
    >>> files = pd.DataFrame({"file_type": ["dicom", "dicom", "nifti"], "dicom_modality": ["PT", "CT", None]})
    >>> by_modality(files, RoleOptions.of("image", modality="PET"))[["file_type", "modality"]].values.tolist()
    [['dicom', 'pt'], ['nifti', 'pt']]
    """
    requested = options.modality
    if requested is None:
        return files.copy(deep=False)
    from_dicom = dicom_modality(files).reset_index(drop=True)
    current = from_dicom
    if "modality" in files:
        current = files["modality"].astype(TEXT).reset_index(drop=True).fillna(from_dicom)
    unknown = current.isna() | current.isin(["generic", "generic_mask"])
    is_dicom = files["file_type"].astype(TEXT).eq("dicom").fillna(False).to_numpy(bool)
    if requested not in DICOM_ONLY_MODALITIES:  # an RTSTRUCT is DICOM by definition
        current = current.mask(unknown.to_numpy(bool) & ~is_dicom, requested)
    keep = current.eq(requested).fillna(False).to_numpy(bool)
    out = files.loc[keep].assign(modality=current[keep].array)
    if out.empty:
        shown = (options.modality_text or requested).lower()
        raise NotFoundError(
            f"{where} did not contain any {options.role}s with the required modality ({shown}). "
            f"Modalities found: {some(current)}. Pass one of those, or None to keep every modality."
        )
    return out


def by_sample_name(
    files: pd.DataFrame, names: Sequence[str] | None, *, role: str = "image", where: str = "The input"
) -> pd.DataFrame:
    """Keep the files of the requested samples; every requested sample must be found.

    Names are compared as exact strings with the ``sample_name`` column (fill it with
    :func:`imgindex.samples.assign_sample_names` first); ``names`` is the checked ``sample_name``
    of :class:`~imgindex.options.ImportOptions`. Files without a sample name are left out.
    They only cause the "could not be linked to a sample name" error when a requested name is
    missing, since only then could they matter (MIRP raised it whenever any file was unnamed).

    Examples
    --------
    >>> files = pd.DataFrame({"sample_name": ["STS_001", "STS_002", None]})
    >>> by_sample_name(files, ("STS_002",))["sample_name"].tolist()
    ['STS_002']
    """
    if names is None:
        return files.copy(deep=False)
    wanted = list(names)
    shown = ", ".join(wanted)
    if files.empty:
        raise NotFoundError(
            f"{where} did not contain any {role}s with the specified sample names ({shown}): "
            f"no {role} files were left to check. Check the other arguments and the path."
        )
    current = files["sample_name"].astype(TEXT)
    keep = current.isin(wanted).fillna(False).to_numpy(bool)
    missing = [n for n in dict.fromkeys(wanted) if n not in set(current[keep])]
    unnamed = files.loc[current.isna().to_numpy(bool)]
    if missing and not unnamed.empty:
        paths = unnamed["file_path"] if "file_path" in unnamed else unnamed["file_name"]
        raise NotFoundError(
            f"One or more files ({some(paths, 3)}; {len(unnamed)} in all) could not be linked to a "
            f"sample name for checking, and these sample names were not found: {', '.join(missing)}. "
            f"You may specify an {role} file name pattern using the {role}_name argument, e.g. "
            f"{role}_name = '#_*_{role}', where # marks the sample name, or place the files in "
            "folders named after the samples."
        )
    if not keep.any():
        raise NotFoundError(
            f"{where} did not contain any {role}s with the specified sample names ({shown}). "
            f"Sample names found: {some(current)}."
        )
    if missing:
        raise NotFoundError(
            f"{where} did not contain all the {role}s with the required sample names. Missing: "
            f"{', '.join(missing)}. Sample names found: {some(current)}."
        )
    return files.loc[keep].copy(deep=False)


def by_roi_name(masks: pd.DataFrame, selections: Mapping[int, RoiSelection | None]) -> pd.DataFrame:
    """Leave out the RTSTRUCT/SEG mask objects that hold none of the requested ROIs, saying so.

    Label maps (ROI names unknown until read: ``region_<value>``) are kept. ``selections`` gives
    the ``roi_name`` of each request number (a csv row or an xml ``<data>`` element may ask for
    other ROIs than the function argument); a request without one keeps every mask. The masks
    left out are named in one warning with the ROI names found (a name that matches nothing is
    a typo more often than a wish); when no mask is left, :class:`~imgindex.errors.NotFoundError`
    says the same.

    Examples
    --------
    >>> import warnings
    >>> masks = pd.DataFrame({"roi_names": [("GTV",), ("Lung",), None], "request": [0, 0, 0],
    ...                       "object_id": ["mask_0", "mask_1", "mask_2"], "file_path": ["a", "b", "c"]})
    >>> with warnings.catch_warnings(record=True) as caught:
    ...     warnings.simplefilter("always")
    ...     kept = by_roi_name(masks, {0: RoiSelection.parse("GTV")})
    >>> kept.index.tolist(), "ROI names found: GTV, Lung" in str(caught[0].message)
    ([0, 2], True)
    """
    if masks.empty or all(s is None for s in selections.values()):  # no request asks for ROIs: every mask stays
        return masks
    keep: list[bool] = []
    found: list[str] = []
    wanted: list[str] = []
    for names, request in zip(masks["roi_names"], masks["request"], strict=True):
        selection = selections.get(int(request)) if pd.notna(request) else None
        keep.append(selection is None or names is None or bool(set(selection.names) & set(names)))
        if selection is not None and names is not None:
            found.extend(names)
            wanted.extend(selection.names)
    kept, out = masks[keep], masks[[not k for k in keep]]
    if out.empty:
        return kept
    where = out["file_path"] if "file_path" in out else pd.Series(pd.NA, index=out.index)
    if "dir_path" in out:
        where = where.fillna(out["dir_path"])
    shown = some(out["object_id"].astype(str) + " (" + where.fillna("in memory").astype(str) + ")", 5)
    what = (
        f"roi_name {', '.join(dict.fromkeys(wanted))} matches no ROI of {len(out)} RTSTRUCT/SEG masks ({shown}). "
        f"ROI names found: {', '.join(sorted(set(found))) or 'none'}. roi_name is compared exactly: pass names "
        "from that list"
    )
    if kept.empty:
        raise NotFoundError(f"No masks were found with the requested ROIs: {what}, or leave roi_name unset.")
    warn(f"{what}. These masks are left out.")
    return kept


def select_rois(available: Sequence[str], roi_name: str | Sequence[str] | Mapping[str, str] | None) -> dict[str, str]:
    """Map each selected available ROI name to its output name, in the order of ``available``.

    Label maps name their regions ``region_<value>``: a request ``"1"`` selects ``region_1``
    (and names it ``"1"``), as MIRP does. Requested names that are not available are ignored;
    an empty result means nothing matched. ``roi_name`` is a ``roi_name`` argument or a
    :class:`~imgindex.arguments.RoiSelection`.

    Examples
    --------
    >>> select_rois(["region_1", "region_2"], ["2"])
    {'region_2': '2'}
    >>> select_rois(["GTV_Mass", "GTV_2"], {"GTV_Mass": "tumour"})
    {'GTV_Mass': 'tumour'}
    """
    selection = roi_selection(roi_name)
    if selection is None:
        return {name: name for name in available}
    out: dict[str, str] = {}
    for name in available:
        label = _LABEL_REGION.fullmatch(name)
        for key in (name, label.group(1) if label else None):
            if key is not None and key in selection:
                out[name] = selection[key]
                break
    return out
