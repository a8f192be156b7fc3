r"""The values each argument of the import functions takes: one check (and normalisation) per argument.

:class:`~imgindex.options.ImportOptions` is built from these checks; they never touch a file.
The checks take ``object``: an argument may be anything until it is checked.
Modalities become their canonical code (``PET`` gives ``pt``), sub-folders their components
(``CT\nifti/image/`` gives ``CT/nifti/image``), ``roi_name`` a :class:`RoiSelection`. Wrong
types raise :class:`~imgindex.errors.InputTypeError` (a ``TypeError``), wrong values
:class:`~imgindex.errors.InputError` (a ``ValueError``), with MIRP's wording where MIRP has one.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Literal, Protocol, cast

import pandas as pd

from .errors import InputError, InputTypeError
from .formats import FILE_TYPE_ALIASES, FILE_TYPES

__all__ = [
    "DEFAULT_STEPS",
    "IMAGE_MODALITIES",
    "MASK_MODALITIES",
    "MODALITY_SYNONYMS",
    "ROLES",
    "STACK_VALUES",
    "STEPS",
    "STRATEGIES",
    "HasFiles",
    "ProgressCallback",
    "RoiSelection",
    "Role",
    "canonical_modality",
    "check_names",
    "check_previous",
    "check_progress",
    "check_role",
    "check_strategies",
    "check_workers",
    "roi_selection",
    "validate_file_type",
    "validate_modality",
    "validate_stack",
    "validate_sub_folder",
]

Role = Literal["image", "mask"]
ProgressCallback = Callable[[int, int], None]


class HasFiles(Protocol):
    """Anything that carries a files table, such as an :class:`~imgindex.index.Index` (a ``previous``)."""

    @property
    def files(self) -> pd.DataFrame:
        """The files table."""
        ...


#: The two roles of a file or object.
ROLES: tuple[Role, Role] = ("image", "mask")
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
#: The values of ``stack_images`` / ``stack_masks`` (case-sensitive, as in MIRP).
STACK_VALUES = ("yes", "auto", "no")
#: Narrowing steps of the association, in the fixed order in which they are applied.
STEPS: tuple[str, ...] = (
    "reference",
    "frame_of_reference",
    "sample_name",
    "file_distance",
    "file_name_similarity",
    "position",
)
#: The steps of the default association (``association_strategy=None``).
DEFAULT_STEPS: tuple[str, ...] = (
    "reference",
    "frame_of_reference",
    "sample_name",
    "file_distance",
    "position",
    "file_name_similarity",
)
#: Every strategy name ``association_strategy`` accepts.
STRATEGIES: tuple[str, ...] = (*STEPS, "list_order", "single_image")


def _kind(value: object) -> str:
    return type(value).__name__


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


def check_role(role: str) -> Role:
    """Check a role name: ``"image"`` or ``"mask"``.

    Examples
    --------
    >>> check_role("mask")
    'mask'
    """
    if role not in ROLES:
        raise InputError(f"The role is expected to be 'image' or 'mask'. Found: {role!r}.")
    return role


def validate_modality(value: object, role: str = "image") -> str | None:
    """Check an ``image_modality`` / ``mask_modality`` argument; return its canonical code.

    Examples
    --------
    >>> validate_modality("PET"), validate_modality(None), validate_modality("SEG", "mask")
    ('pt', None, 'seg')
    """
    check_role(role)
    if value is None:
        return None
    if not isinstance(value, str):
        raise InputTypeError(
            f"The {role}_modality argument is expected to be a single character string or None. "
            f"Found: {value!r} ({_kind(value)}). Pass for example 'ct'."
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


def validate_file_type(value: object) -> str | None:
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
            f"Encountered an unknown file type argument: {value!r} ({_kind(value)}). "
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


def validate_stack(value: object, argument_name: str = "stack_images") -> str:
    """Check a ``stack_images`` / ``stack_masks`` argument (``"yes"``, ``"auto"`` or ``"no"``, case-sensitive).

    Examples
    --------
    >>> validate_stack("auto", "stack_masks")
    'auto'
    """
    if not isinstance(value, str) or value not in STACK_VALUES:
        raise InputError(f"The {argument_name} argument is expected to be one of yes, auto, or no. Found: {value}.")
    return value


def validate_sub_folder(value: object, argument_name: str = "image_sub_folder") -> str | None:
    r"""Check a ``*_sub_folder`` argument; return its components joined by ``/``.

    Both ``/`` and ``\`` separate components; empty and ``.`` components and trailing separators
    are dropped; a leading separator is kept (an absolute sub-folder must be the directory itself).

    Examples
    --------
    >>> validate_sub_folder("CT\\nifti/./image/"), validate_sub_folder("/data/CT"), validate_sub_folder(None)
    ('CT/nifti/image', '/data/CT', None)
    """
    if value is None:
        return None
    if not isinstance(value, str):
        raise InputTypeError(
            f"The {argument_name} argument is expected to be a string or None. Found: {value!r} ({_kind(value)}). "
            "Pass for example 'CT/nifti/image'."
        )
    unified = value.replace("\\", "/")
    parts = [p for p in unified.split("/") if p not in ("", ".")]
    if not parts:
        raise InputError(
            f"The sub-folder {value!r} has no directory names. Pass for example 'CT/nifti/image', "
            "or None to keep every directory."
        )
    return ("/" if unified.startswith("/") else "") + "/".join(parts)


def check_names(value: object, argument_name: str, example: str) -> tuple[str, ...] | None:
    """Check a name argument (``sample_name``, ``image_name``, ``mask_name``): a str or a list of str.

    Returns the names as a tuple; ``None`` stays ``None``. ``example`` is shown in the error message.

    Examples
    --------
    >>> check_names("STS_001", "sample_name", "'STS_001'"), check_names(None, "image_name", "'CT*'")
    (('STS_001',), None)
    """
    if value is None:
        return None
    items = [value] if isinstance(value, str) else value
    if not isinstance(items, (list, tuple)) or not all(isinstance(v, str) for v in items):
        raise InputTypeError(
            f"The {argument_name} argument is expected to be a string or a list of strings. Found: {value!r} "
            f"({_kind(value)}). Pass for example {example}."
        )
    if not items or any(not v.strip() for v in items):
        raise InputError(
            f"The {argument_name} argument holds an empty name ({value!r}). Pass for example {example}, or None "
            "to keep everything."
        )
    return tuple(items)


@dataclass(frozen=True, slots=True)
class RoiSelection:
    """A checked ``roi_name``: which ROIs to keep and the name each is given.

    ``pairs`` maps requested names to output names, in order; ``form`` remembers how the caller
    wrote it (``"str"``, ``"list"`` or ``"dict"``), so :attr:`value` gives it back unchanged.

    Examples
    --------
    >>> RoiSelection.parse({"GTV_Mass": "tumour"}).mapping
    {'GTV_Mass': 'tumour'}
    >>> RoiSelection.parse(["GTV_Mass", "GTV_2"]).value
    ['GTV_Mass', 'GTV_2']
    """

    pairs: tuple[tuple[str, str], ...]
    form: Literal["str", "list", "dict"]

    @classmethod
    def parse(cls, roi_name: object) -> RoiSelection | None:
        """Check a ``roi_name`` argument (a str, a list of str or a dict of str to str); ``None`` keeps every ROI."""
        if roi_name is None:
            return None
        if isinstance(roi_name, RoiSelection):
            return roi_name
        if isinstance(roi_name, str):
            return cls(((roi_name, roi_name),), "str")
        pairs: dict[str, str] | None = None  # requested name -> output name
        form: Literal["list", "dict"] = "list"
        if isinstance(roi_name, (list, tuple)) and all(isinstance(r, str) for r in roi_name):
            pairs = {r: r for r in roi_name}  # duplicates dropped, first place kept
        elif isinstance(roi_name, Mapping) and all(
            isinstance(k, str) and isinstance(v, str) for k, v in roi_name.items()
        ):
            pairs, form = dict(roi_name), "dict"
        if pairs is None:
            raise InputTypeError(
                "ROI names are expected to be a string, a list of strings, or a dictionary of strings. "
                f"Found: {roi_name!r}. Pass for example 'GTV_Mass', ['GTV_Mass', 'GTV_2'] or "
                "{'GTV_Mass': 'tumour'}."
            )
        if not pairs:
            raise InputError(
                "ROI names are expected to be a string, a list of strings, or a dictionary of strings. "
                f"Found an empty {_kind(roi_name)}. Pass None to select every ROI."
            )
        return cls(tuple(pairs.items()), form)

    @property
    def mapping(self) -> dict[str, str]:
        """``{requested name: output name}``."""
        return dict(self.pairs)

    @property
    def names(self) -> tuple[str, ...]:
        """The requested names."""
        return tuple(k for k, _ in self.pairs)

    @property
    def value(self) -> str | list[str] | dict[str, str]:
        """The selection as the caller wrote it (the ``roi_name`` of a ``MaskFile``)."""
        if self.form == "str":
            return self.pairs[0][0]
        if self.form == "list":
            return [k for k, _ in self.pairs]
        return self.mapping


def roi_selection(roi_name: object) -> dict[str, str] | None:
    """Check a ``roi_name`` argument; return ``{requested name: output name}`` or ``None`` (every ROI).

    A string or a list of strings keeps the names; a dict renames (key: ROI, value: new name).

    Examples
    --------
    >>> roi_selection("GTV_Mass"), roi_selection({"1": "tumour"}), roi_selection(None)
    ({'GTV_Mass': 'GTV_Mass'}, {'1': 'tumour'}, None)
    """
    selection = RoiSelection.parse(roi_name)
    return None if selection is None else selection.mapping


def check_strategies(value: object) -> tuple[str, ...] | None:
    """Check an ``association_strategy`` argument: names of :data:`STRATEGIES`, duplicates dropped.

    Examples
    --------
    >>> check_strategies("frame_of_reference"), check_strategies(None)
    (('frame_of_reference',), None)
    """
    if value is None:
        return None
    if isinstance(value, str):
        value = [value]
    elif not isinstance(value, Iterable) or isinstance(value, Mapping):
        raise InputTypeError(
            f"The association strategy must be a str, a list of str or None, not {_kind(value)}. Pass for "
            "example 'frame_of_reference'."
        )
    names = list(dict.fromkeys(value))
    unknown = [s for s in names if s not in STRATEGIES]
    if unknown or not names:
        what = f"Unknown association strategy {unknown!r}" if unknown else "An empty list of association strategies"
        raise InputError(f"{what}. Valid strategies are: {', '.join(STRATEGIES)}; or None for the default.")
    return tuple(names)


def check_workers(value: object) -> int | None:
    """Check a ``workers`` argument: a whole number of processes, at least 1, or ``None`` (one per CPU).

    Examples
    --------
    >>> check_workers(2), check_workers(None)
    (2, None)
    """
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise InputTypeError(
            f"The workers argument is expected to be a whole number of processes or None. Found: {value!r} "
            f"({_kind(value)}). Pass for example 2, or None for one per CPU."
        )
    if value < 1:
        raise InputError(
            f"The workers argument is expected to be at least 1. Found: {value}. Pass the number of processes "
            "to read with, or None for one per CPU."
        )
    return value


def check_previous(value: object) -> pd.DataFrame | str | None:
    """Check a ``previous`` argument: an :class:`~imgindex.index.Index`, a files table or a saved path.

    An index gives its files table; a path is returned as a string (it is read later).

    Examples
    --------
    >>> check_previous("index.parquet"), check_previous(None)
    ('index.parquet', None)
    """
    if value is None or isinstance(value, pd.DataFrame):
        return value
    files = getattr(value, "files", None)  # an Index: its files table
    if isinstance(files, pd.DataFrame):
        return files
    if isinstance(value, (str, os.PathLike)):
        path = os.fspath(value)
        if not path.strip():
            raise InputError(
                "The previous argument is an empty path. Pass the saved index (or files table) of an earlier "
                "scan, or None."
            )
        return str(path)
    raise InputTypeError(
        f"The previous argument is expected to be an earlier index: an imgindex.Index, a files table "
        f"(DataFrame) or the path of a saved one. Found: {value!r} ({_kind(value)}). Pass one of these, or None."
    )


def check_progress(value: object) -> bool | ProgressCallback:
    """Check a ``progress`` argument: ``True``, ``False`` or a ``callback(done, total)``.

    Examples
    --------
    >>> check_progress(True)
    True
    """
    if isinstance(value, bool) or callable(value):
        return cast("bool | ProgressCallback", value)
    raise InputTypeError(
        f"The progress argument is expected to be True, False or a callable(done, total). Found: {value!r} "
        f"({_kind(value)})."
    )
