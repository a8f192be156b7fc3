"""Filters over the files table: pure ``DataFrame -> DataFrame`` steps (the input is never changed).

Each filter keeps the rows that satisfy one of MIRP's curation arguments (``*_file_type``,
``*_name``, ``*_sub_folder``, ``*_modality``, ``sample_name``) and raises a
:class:`~imgindex.errors.NotFoundError` with MIRP's wording when nothing is left. ``where``
describes the searched input for those messages, e.g. ``"The /data directory (and its
subdirectories)"``, and ``role`` is ``"image"`` or ``"mask"``. Argument checks
(``validate_*``) and ROI-name selection live here too.

Differences from MIRP 2.7.0, on purpose: sub-folders are matched by path components, not as a
string suffix (spec 18.13); modality synonyms are canonicalised for every file type (18.5); a
pattern is quoted whole in the "name pattern" error; messages say "were", not "where".
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence

import pandas as pd

from ._distinct import per_distinct
from .errors import InputError, InputTypeError, NotFoundError
from .formats import FILE_TYPE_ALIASES, FILE_TYPES, SUFFIXES
from .patterns import bare_names, match
from .schema import TEXT

__all__ = [
    "IMAGE_MODALITIES",
    "MASK_MODALITIES",
    "MODALITY_SYNONYMS",
    "by_file_type",
    "by_modality",
    "by_name",
    "by_sample_name",
    "by_sub_folder",
    "canonical_modality",
    "dicom_modality",
    "roi_selection",
    "select_rois",
    "validate_file_type",
    "validate_modality",
    "validate_stack",
]

#: Canonical image modalities, in MIRP's order.
IMAGE_MODALITIES = ("ct", "pt", "mr", "rtdose", "cr", "dx", "mg", "generic", "adc", "dce")
#: Canonical mask modalities.
MASK_MODALITIES = ("rtstruct", "seg", "generic_mask")
#: Accepted synonyms and the canonical code each stands for.
MODALITY_SYNONYMS = {
    "pet": "pt",
    "mri": "mr",
    "computed_radiography": "cr",
    "digital_xray": "dx",
    "mammography": "mg",
    "digital_mammography": "mg",
}
_STACK_VALUES = ("yes", "auto", "no")
_LABEL_REGION = re.compile(r"region_(-?\d+)")


def _lead(where: str) -> str:
    return where[:1].lower() + where[1:]


def _some(values: pd.Series, limit: int = 5) -> str:
    found = values.dropna().astype(str).drop_duplicates()
    shown = ", ".join(found.head(limit))
    return (shown + (", ..." if len(found) > limit else "")) or "none"


def _suffixes(file_types: Sequence[str]) -> str:
    order = {t: i for i, t in enumerate(FILE_TYPES)}
    chosen = sorted((order[t], len(s), k, s) for k, (s, t) in enumerate(SUFFIXES.items()) if t in set(file_types))
    return ", ".join(s for *_, s in chosen)


def _role(role: str) -> str:
    if role not in ("image", "mask"):
        raise InputError(f"The role is expected to be 'image' or 'mask'. Found: {role!r}.")
    return role


def canonical_modality(value: str) -> str:
    """The canonical code of a modality or synonym (lower-cased), image and mask codes alike.

    Raises :class:`~imgindex.errors.InputError` for an unknown value.

    Examples
    --------
    >>> canonical_modality("PET"), canonical_modality("MRI"), canonical_modality("rtstruct")
    ('pt', 'mr', 'rtstruct')
    """
    if not isinstance(value, str):
        raise InputTypeError(f"A modality is expected to be a single character string. Found: {value!r}.")
    lower = value.lower()
    if lower in IMAGE_MODALITIES or lower in MASK_MODALITIES:
        return lower
    if lower in MODALITY_SYNONYMS:
        return MODALITY_SYNONYMS[lower]
    raise InputError(
        f"Encountered an unknown modality: {value}. The following modalities are supported: "
        f"{', '.join(IMAGE_MODALITIES + MASK_MODALITIES)} (and the synonyms "
        f"{', '.join(MODALITY_SYNONYMS)})."
    )


def validate_modality(value: str | None, role: str = "image") -> str | None:
    """Check an ``image_modality`` / ``mask_modality`` argument; return its canonical code.

    Examples
    --------
    >>> validate_modality("PET"), validate_modality(None), validate_modality("SEG", "mask")
    ('pt', None, 'seg')
    """
    _role(role)
    if value is None:
        return None
    if not isinstance(value, str):
        raise InputTypeError(
            f"The {role}_modality argument is expected to be a single character string or None. "
            f"Found: {value!r} ({type(value).__name__}). Pass for example 'ct'."
        )
    lower = value.lower()
    allowed = IMAGE_MODALITIES if role == "image" else MASK_MODALITIES
    if lower in allowed or (role == "image" and lower in MODALITY_SYNONYMS):
        return canonical_modality(lower)
    extra = f" (or a synonym: {', '.join(MODALITY_SYNONYMS)})" if role == "image" else ""
    raise InputError(
        f"Encountered an unknown {role} modality: {value}. The following {role} modalities are "
        f"supported: {', '.join(allowed)}. Pass one of these{extra}, in any case, or None."
    )


def validate_file_type(value: str | None) -> str | None:
    """Check an ``image_file_type`` / ``mask_file_type`` argument; return it lower-cased.

    Examples
    --------
    >>> validate_file_type("NIfTI"), validate_file_type(None)
    ('nifti', None)
    """
    supported = ", ".join((*FILE_TYPES, *FILE_TYPE_ALIASES))
    if value is None:
        return None
    if not isinstance(value, str):
        raise InputTypeError(
            f"Encountered an unknown file type argument: {value!r} ({type(value).__name__}). "
            f"The following file types are supported: {supported}. Pass one of these as a string, "
            "or None for every type."
        )
    lower = value.lower()
    if lower not in FILE_TYPES and lower not in FILE_TYPE_ALIASES:
        raise InputError(
            f"Encountered an unknown file type argument: {value}. The following file types are "
            f"supported: {supported}. Pass one of these (in any case), or None for every type."
        )
    return lower


def validate_stack(value: str, argument_name: str = "stack_images") -> str:
    """Check a ``stack_images`` / ``stack_masks`` argument (``"yes"``, ``"auto"`` or ``"no"``, case-sensitive).

    Examples
    --------
    >>> validate_stack("auto", "stack_masks")
    'auto'
    """
    if not isinstance(value, str) or value not in _STACK_VALUES:
        raise InputError(f"The {argument_name} argument is expected to be one of yes, auto, or no. Found: {value}.")
    return value


def dicom_modality(files: pd.DataFrame) -> pd.Series:
    """Canonical modality of the DICOM rows, from ``Modality`` and ``ImageType``; ``<NA>`` elsewhere.

    The ``Modality`` value is lower-cased; MR becomes ``adc`` or ``dce`` when one of the
    ``ImageType`` values is ``ADC`` or ``DCE`` (case-insensitive), as in MIRP.

    Examples
    --------
    >>> files = pd.DataFrame({"file_type": ["dicom", "dicom", "nifti"], "Modality": ["MR", "PT", None],
    ...                       "ImageType": [("DERIVED", "adc"), ("ORIGINAL",), None]})
    >>> dicom_modality(files).tolist()
    ['adc', 'pt', <NA>]
    """
    column = lambda name: (
        files[name] if name in files else pd.Series([None] * len(files), index=files.index, dtype=object)
    )
    keys = pd.DataFrame({name: column(name) for name in ("file_type", "Modality", "ImageType")}, index=files.index)
    return per_distinct(keys, _dicom_modality)  # a few distinct combinations among 10^5 files


def _dicom_modality(files: pd.DataFrame) -> pd.Series:
    n = len(files)
    column = files.__getitem__
    is_dicom = column("file_type").astype(TEXT).eq("dicom").fillna(False).to_numpy(bool)
    modality = column("Modality").astype(TEXT).str.strip().str.lower().reset_index(drop=True)
    values = column("ImageType").reset_index(drop=True).explode().astype(TEXT).str.upper()
    for code in ("dce", "adc"):  # ADC wins when both are present
        has = values.eq(code.upper()).fillna(False).groupby(level=0).any().reindex(range(n), fill_value=False)
        modality = modality.mask(modality.eq("mr").fillna(False) & has, code)
    modality = modality.where(is_dicom)
    modality.index = files.index
    return modality.astype(TEXT)


def by_file_type(
    files: pd.DataFrame, file_type: str | None, *, role: str = "image", where: str = "The input"
) -> pd.DataFrame:
    """Keep the files of one type (``itk`` = NIfTI or NRRD; ``None`` = every supported type).

    Examples
    --------
    >>> files = pd.DataFrame({"file_type": ["dicom", "nifti", "nrrd"]})
    >>> by_file_type(files, "itk")["file_type"].tolist()
    ['nifti', 'nrrd']
    """
    _role(role)
    requested = validate_file_type(file_type)
    types = FILE_TYPES if requested is None else FILE_TYPE_ALIASES.get(requested, (requested,))
    found = files["file_type"].astype(TEXT)
    out = files.loc[found.isin(types).fillna(False).to_numpy(bool)].copy(deep=False)
    if out.empty:
        raise NotFoundError(
            f"{where} did not contain any supported {role} files ({_suffixes(types)}). "
            f"File types found: {_some(found)}. Check the path, or pass another {role}_file_type "
            "(or None for every type)."
        )
    return out


def by_name(
    files: pd.DataFrame, patterns: str | Sequence[str] | None, *, role: str = "image", where: str = "The input"
) -> pd.DataFrame:
    """Keep the files whose bare name matches a pattern (``*``, ``?``, ``[seq]``, ``#``; whole name).

    Examples
    --------
    >>> files = pd.DataFrame({"file_name": ["a_CT_image.nii.gz", "a_CT_mask.nii.gz"], "file_type": "nifti"})
    >>> by_name(files, "#_CT_image")["file_name"].tolist()
    ['a_CT_image.nii.gz']
    """
    _role(role)
    if patterns is None:
        return files.copy(deep=False)
    names = bare_names(files["file_name"])
    out = files.loc[match(names, patterns).to_numpy(bool)].copy(deep=False)
    if out.empty:
        shown = patterns if isinstance(patterns, str) else ", ".join(patterns)
        first = patterns if isinstance(patterns, str) else (list(patterns) or [""])[0]
        example = first if first.startswith("*") else f"*{first}"
        types = files["file_type"].dropna().unique().tolist() or FILE_TYPES
        raise NotFoundError(
            f"{where} did not contain any supported {role} files ({_suffixes(types)}) that contain "
            f"the name pattern ({shown}). The name must match exactly. Use wildcard symbol (*) for "
            f"partial matching, e.g. {example}. Patterns are compared with the file name without "
            f"its suffix, case-sensitively; names found: {_some(names)}."
        )
    return out


def _normalise_dirs(paths: pd.Series) -> pd.Series:
    out = paths.astype(TEXT).str.replace("\\", "/", regex=False)
    out = out.str.replace(r"/(?:\./)+", "/", regex=True).str.replace(r"/+", "/", regex=True)
    return out.str.replace(r"(.)/\.?\Z", r"\1", regex=True)


def _normalise_sub_folder(sub_folder: str) -> str:
    if not isinstance(sub_folder, str):
        raise InputTypeError(f"A sub-folder is expected to be a string. Found: {sub_folder!r}.")
    parts = [p for p in sub_folder.replace("\\", "/").split("/") if p not in ("", ".")]
    if not parts:
        raise InputError(
            f"The sub-folder {sub_folder!r} has no directory names. Pass for example 'CT/nifti/image', "
            "or None to keep every directory."
        )
    return ("/" if sub_folder.replace("\\", "/").startswith("/") else "") + "/".join(parts)


def in_sub_folder(files: pd.DataFrame, sub_folder: str) -> pd.Series:
    """Boolean Series: the file sits directly in a directory ending with the sub-folder's components.

    Examples
    --------
    >>> files = pd.DataFrame({"dir_path": ["/d/STS_001/CT/nifti/image", "/d/STS_001/XCT/nifti/image"]})
    >>> in_sub_folder(files, "CT/nifti/image").tolist()
    [True, False]
    """
    sub = _normalise_sub_folder(sub_folder)
    dirs = _normalise_dirs(files["dir_path"])
    keep = dirs.eq(sub) | (False if sub.startswith("/") else dirs.str.endswith("/" + sub))
    return keep.fillna(False).astype(bool).set_axis(files.index)


def by_sub_folder(
    files: pd.DataFrame, sub_folder: str | None, *, role: str = "image", where: str = "The input"
) -> pd.DataFrame:
    """Keep the files that sit directly in a directory ending with the sub-folder's components.

    ``CT/nifti/image`` matches ``/data/STS_001/CT/nifti/image`` but not ``.../XCT/nifti/image``
    (MIRP compared strings) nor ``.../CT/nifti/image/extra``. Both ``/`` and ``\\`` separate
    components; trailing separators do not matter. An absolute sub-folder must be the directory.

    Examples
    --------
    >>> files = pd.DataFrame({"dir_path": ["/d/STS_001/CT/nifti/image", "/d/STS_001/XCT/nifti/image"]})
    >>> by_sub_folder(files, "CT/nifti/image/")["dir_path"].tolist()
    ['/d/STS_001/CT/nifti/image']
    """
    _role(role)
    if sub_folder is None:
        return files.copy(deep=False)
    out = files.loc[in_sub_folder(files, sub_folder).to_numpy(bool)].copy(deep=False)
    if out.empty:
        dirs = _normalise_dirs(files["dir_path"])
        raise NotFoundError(
            f"No directories were found in {_lead(where)} that contained the directory "
            f"substructure {sub_folder}. The sub-folder is compared with the last directory names of "
            f"each file's path, and the files must sit directly in it. Directories found: "
            f"{_some(dirs)}."
        )
    return out


#: Modalities only a DICOM file can have: never assigned to NIfTI, NRRD or numpy files.
DICOM_ONLY_MODALITIES = frozenset({"rtstruct"})


def by_modality(
    files: pd.DataFrame, modality: str | None, *, role: str = "image", where: str = "The input"
) -> pd.DataFrame:
    """Keep the files of the requested modality (synonyms allowed; ``mr`` excludes ``adc``/``dce``).

    The ``modality`` column is completed first: DICOM rows without one get
    :func:`dicom_modality`; other rows without one, or with ``generic`` / ``generic_mask`` (their
    content says no modality), take the requested one and are kept, as in MIRP (but
    canonicalised: ``pet`` gives ``pt``). The returned frame carries the completed column.

    Examples
    --------
    >>> files = pd.DataFrame({"file_type": ["dicom", "dicom", "nifti"], "Modality": ["PT", "CT", None]})
    >>> by_modality(files, "PET")[["file_type", "modality"]].values.tolist()
    [['dicom', 'pt'], ['nifti', 'pt']]
    """
    _role(role)
    if modality is None:
        return files.copy(deep=False)
    requested = canonical_modality(modality)
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
        raise NotFoundError(
            f"{where} did not contain any {role}s with the required modality ({modality.lower()}). "
            f"Modalities found: {_some(current)}. Pass one of those, or None to keep every modality."
        )
    return out


def by_sample_name(
    files: pd.DataFrame, names: str | Sequence[str] | None, *, role: str = "image", where: str = "The input"
) -> pd.DataFrame:
    """Keep the files of the requested samples; every requested sample must be found.

    Names are compared as exact strings with the ``sample_name`` column (fill it with
    :func:`imgindex.samples.assign_sample_names` first). Files without a sample name are left out.
    They only cause the "could not be linked to a sample name" error when a requested name is
    missing, since only then could they matter (MIRP raised it whenever any file was unnamed).

    Examples
    --------
    >>> files = pd.DataFrame({"sample_name": ["STS_001", "STS_002", None]})
    >>> by_sample_name(files, ["STS_002"])["sample_name"].tolist()
    ['STS_002']
    """
    _role(role)
    if names is None:
        return files.copy(deep=False)
    wanted = [names] if isinstance(names, str) else list(names)
    if not all(isinstance(n, str) for n in wanted):
        raise InputTypeError(f"Sample names are expected to be a string or a list of strings. Found: {names!r}.")
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
            f"One or more files ({_some(paths, 3)}; {len(unnamed)} in all) could not be linked to a "
            f"sample name for checking, and these sample names were not found: {', '.join(missing)}. "
            f"You may specify an {role} file name pattern using the {role}_name argument, e.g. "
            f"{role}_name = '#_*_{role}', where # marks the sample name, or place the files in "
            "folders named after the samples."
        )
    if not keep.any():
        raise NotFoundError(
            f"{where} did not contain any {role}s with the specified sample names ({shown}). "
            f"Sample names found: {_some(current)}."
        )
    if missing:
        raise NotFoundError(
            f"{where} did not contain all the {role}s with the required sample names. Missing: "
            f"{', '.join(missing)}. Sample names found: {_some(current)}."
        )
    return files.loc[keep].copy(deep=False)


def roi_selection(roi_name: str | Sequence[str] | Mapping[str, str] | None) -> dict[str, str] | None:
    """Check a ``roi_name`` argument; return ``{requested name: output name}`` or ``None`` (every ROI).

    A string or a list of strings keeps the names; a dict renames (key: ROI, value: new name).

    Examples
    --------
    >>> roi_selection("GTV_Mass"), roi_selection({"1": "tumour"}), roi_selection(None)
    ({'GTV_Mass': 'GTV_Mass'}, {'1': 'tumour'}, None)
    """
    if roi_name is None:
        return None
    if isinstance(roi_name, str):
        return {roi_name: roi_name}
    ok_list = isinstance(roi_name, list | tuple) and all(isinstance(r, str) for r in roi_name)
    ok_dict = isinstance(roi_name, Mapping) and all(
        isinstance(k, str) and isinstance(v, str) for k, v in roi_name.items()
    )
    if not (ok_list or ok_dict):
        raise InputTypeError(
            f"ROI names are expected to be a string, a list of strings, or a dictionary of strings. "
            f"Found: {roi_name!r}. Pass for example 'GTV_Mass', ['GTV_Mass', 'GTV_2'] or "
            "{'GTV_Mass': 'tumour'}."
        )
    if not roi_name:
        raise InputError(
            f"ROI names are expected to be a string, a list of strings, or a dictionary of strings. "
            f"Found an empty {type(roi_name).__name__}. Pass None to select every ROI."
        )
    return dict(roi_name) if ok_dict else {r: r for r in roi_name}


def select_rois(available: Sequence[str], roi_name: str | Sequence[str] | Mapping[str, str] | None) -> dict[str, str]:
    """Map each selected available ROI name to its output name, in the order of ``available``.

    Label maps name their regions ``region_<value>``: a request ``"1"`` selects ``region_1``
    (and names it ``"1"``), as MIRP does. Requested names that are not available are ignored;
    an empty result means nothing matched.

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
