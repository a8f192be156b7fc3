r"""Step 0: the keyword arguments of the public functions, checked and normalised once.

:class:`ImportOptions` is built by :meth:`ImportOptions.from_arguments` from the arguments of
:func:`imgindex.build_index` (and of the narrower import functions) before any file is read. Every
check and every normalisation of an argument lives here: modalities become their canonical code
(``PET`` gives ``pt``), sub-folders their components (``CT\nifti/image/`` gives
``CT/nifti/image``), name patterns and sample names tuples, ``roi_name`` a
:class:`RoiSelection`, ``association_strategy`` a tuple of known strategies; ``stack_*``,
``workers``, ``previous`` and ``progress`` are checked. A csv row or a data-xml ``<data>`` element
merges into the options with :meth:`ImportOptions.merge`, which checks its values the same way and
names the row in its errors. The steps downstream read the fields and never check them again;
``options.image`` and ``options.mask`` are the per-role views (:class:`RoleOptions`).

Wrong types raise :class:`~imgindex.errors.InputTypeError` (a ``TypeError``), wrong values
:class:`~imgindex.errors.InputError` (a ``ValueError``), with MIRP's wording where MIRP has one.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import pandas as pd

from .arguments import (
    HasFiles,
    ProgressCallback,
    RoiSelection,
    Role,
    check_names,
    check_previous,
    check_progress,
    check_role,
    check_strategies,
    check_workers,
    validate_file_type,
    validate_modality,
    validate_stack,
    validate_sub_folder,
)
from .errors import InputError, InputTypeError
from .formats import FILE_TYPE_ALIASES, FILE_TYPES

__all__ = ["REQUEST_ARGUMENTS", "ArgumentValue", "ImportOptions", "RoleOptions"]

#: The value of an import argument as :meth:`ImportOptions.arguments` gives it back (JSON-friendly).
ArgumentValue = str | list[str] | dict[str, str] | None


@dataclass(frozen=True, slots=True)
class RoleOptions:
    """What the caller asked of one role (``image`` or ``mask``), checked and normalised.

    ``name`` are the name patterns, ``file_type`` the requested type as given (``itk`` kept; see
    :attr:`file_types`), ``modality`` the canonical code and ``modality_text`` the caller's spelling
    (for messages), ``sub_folder`` the normalised components and ``sub_folder_text`` as given,
    ``stack`` the ``stack_images`` / ``stack_masks`` value.
    """

    role: Role
    name: tuple[str, ...] | None = None
    file_type: str | None = None
    modality: str | None = None
    modality_text: str | None = None
    sub_folder: str | None = None
    sub_folder_text: str | None = None
    stack: str = "auto"

    @classmethod
    def of(
        cls,
        role: str,
        *,
        name: str | Sequence[str] | None = None,
        file_type: str | None = None,
        modality: str | None = None,
        sub_folder: str | None = None,
        stack: str = "auto",
    ) -> RoleOptions:
        """Check the arguments of one role.

        Examples
        --------
        >>> RoleOptions.of("image", modality="PET", sub_folder="PET/dicom/image/").sub_folder
        'PET/dicom/image'
        """
        checked = check_role(role)
        return cls(
            role=checked,
            name=check_names(name, f"{role}_name", f"'#_{'CT' if role == 'image' else 'RS'}*'"),
            file_type=validate_file_type(file_type),
            modality=validate_modality(modality, role),
            modality_text=modality,
            sub_folder=validate_sub_folder(sub_folder, f"{role}_sub_folder"),
            sub_folder_text=sub_folder,
            stack=validate_stack(stack, f"stack_{role}s"),
        )

    @property
    def file_types(self) -> tuple[str, ...]:
        """The file types the role keeps (``itk`` stands for NIfTI and NRRD; ``None`` for every type)."""
        if self.file_type is None:
            return FILE_TYPES
        return FILE_TYPE_ALIASES.get(self.file_type, (self.file_type,))

    @property
    def default_modality(self) -> str:
        """The modality of a file whose content names none: ``generic`` or ``generic_mask``."""
        return "generic" if self.role == "image" else "generic_mask"

    @property
    def hinted(self) -> bool:
        """Whether a sub-folder or a name pattern tells which files have this role."""
        return self.sub_folder is not None or self.name is not None

    @property
    def selects(self) -> bool:
        """Whether any argument of the role selects files."""
        return any(v is not None for v in (self.name, self.file_type, self.modality, self.sub_folder))

    def arguments(self) -> dict[str, ArgumentValue]:
        """The role's arguments by their public names (``image_name`` ...), as the caller could pass them."""
        role = self.role
        return {
            f"{role}_name": None if self.name is None else (self.name[0] if len(self.name) == 1 else list(self.name)),
            f"{role}_file_type": self.file_type,
            f"{role}_modality": self.modality_text,
            f"{role}_sub_folder": self.sub_folder_text,
            f"stack_{role}s": self.stack,
        }


#: Arguments a csv row or a data-xml ``<data>`` element may set for its own request.
REQUEST_ARGUMENTS = (
    "sample_name",
    "image_name",
    "image_file_type",
    "image_modality",
    "image_sub_folder",
    "mask_name",
    "mask_file_type",
    "mask_modality",
    "mask_sub_folder",
    "roi_name",
)


@dataclass(frozen=True, slots=True)
class ImportOptions:
    """Every argument of an import, checked once (see the module docstring).

    Build it with :meth:`from_arguments`; ``ImportOptions()`` is the default import.

    Examples
    --------
    >>> options = ImportOptions.from_arguments(image_modality="PET", sample_name="STS_001", roi_name=["GTV_Mass"])
    >>> options.image.modality, options.sample_name, options.roi_name.mapping
    ('pt', ('STS_001',), {'GTV_Mass': 'GTV_Mass'})
    >>> ImportOptions.from_arguments(workers=0)
    Traceback (most recent call last):
    ...
    imgindex.errors.InputError: The workers argument is expected to be at least 1. Found: 0. ...
    """

    image: RoleOptions = RoleOptions("image")
    mask: RoleOptions = RoleOptions("mask")
    sample_name: tuple[str, ...] | None = None
    #: ``sample_name`` was one str: files given one by one and arrays take it (MIRP 4.2, 4.3).
    single_sample: bool = False
    roi_name: RoiSelection | None = None
    association_strategy: tuple[str, ...] | None = None
    previous: pd.DataFrame | str | None = field(default=None, compare=False, repr=False)
    workers: int | None = None
    progress: bool | ProgressCallback = field(default=False, compare=False)

    @classmethod
    def from_arguments(
        cls,
        *,
        sample_name: str | Sequence[str] | None = None,
        image_name: str | Sequence[str] | None = None,
        image_file_type: str | None = None,
        image_modality: str | None = None,
        image_sub_folder: str | None = None,
        mask_name: str | Sequence[str] | None = None,
        mask_file_type: str | None = None,
        mask_modality: str | None = None,
        mask_sub_folder: str | None = None,
        roi_name: str | Sequence[str] | Mapping[str, str] | None = None,
        association_strategy: str | Sequence[str] | None = None,
        stack_images: str = "auto",
        stack_masks: str = "auto",
        previous: HasFiles | pd.DataFrame | str | os.PathLike[str] | None = None,
        workers: int | None = None,
        progress: bool | ProgressCallback = False,
    ) -> ImportOptions:
        """Check and normalise the arguments of the import functions (no file is touched).

        Raises
        ------
        InputTypeError
            An argument of a type imgindex does not accept.
        InputError
            An argument of the right type with a value imgindex cannot use.
        """
        return cls(
            image=RoleOptions.of(
                "image",
                name=image_name,
                file_type=image_file_type,
                modality=image_modality,
                sub_folder=image_sub_folder,
                stack=stack_images,
            ),
            mask=RoleOptions.of(
                "mask",
                name=mask_name,
                file_type=mask_file_type,
                modality=mask_modality,
                sub_folder=mask_sub_folder,
                stack=stack_masks,
            ),
            sample_name=check_names(sample_name, "sample_name", "'STS_001' or ['STS_001', 'STS_002']"),
            single_sample=isinstance(sample_name, str),
            roi_name=RoiSelection.parse(roi_name),
            association_strategy=check_strategies(association_strategy),
            previous=check_previous(previous),
            workers=check_workers(workers),
            progress=check_progress(progress),
        )

    def role(self, role: str) -> RoleOptions:
        """The options of ``role`` (``"image"`` or ``"mask"``)."""
        return self.image if check_role(role) == "image" else self.mask

    @property
    def mask_arguments(self) -> bool:
        """Whether a mask argument was given (then MIRP imports masks from the image source, spec 2.1)."""
        return self.mask.selects or self.roi_name is not None

    @property
    def selects(self) -> bool:
        """Whether any argument selects files or ROIs (a saved index is then curated again)."""
        return self.image.selects or self.mask.selects or self.sample_name is not None or self.roi_name is not None

    def arguments(self) -> dict[str, ArgumentValue]:
        """The import arguments by their public names, JSON-friendly: ``from_arguments(**arguments())`` is equal.

        ``previous``, ``workers`` and ``progress`` are left out: they say how to read, not what.

        Examples
        --------
        >>> ImportOptions.from_arguments(image_modality="ct", roi_name={"a": "b"}).arguments()["roi_name"]
        {'a': 'b'}
        """
        sample: str | list[str] | None = None
        if self.sample_name is not None:
            sample = self.sample_name[0] if self.single_sample else list(self.sample_name)
        return {
            "sample_name": sample,
            **self.image.arguments(),
            **self.mask.arguments(),
            "roi_name": None if self.roi_name is None else self.roi_name.value,
            "association_strategy": None if self.association_strategy is None else list(self.association_strategy),
        }

    @classmethod
    def from_saved(cls, arguments: Mapping[str, Any]) -> ImportOptions:
        """The options of :meth:`arguments` (as saved with an index); unknown keys are ignored."""
        known = {k: v for k, v in arguments.items() if k in _SAVED}
        return cls.from_arguments(**known)

    def merge(self, values: Mapping[str, Any], *, where: str) -> ImportOptions:
        """These options with the arguments of one request (a csv row, a data-xml ``<data>`` element).

        ``values`` maps argument names of :data:`REQUEST_ARGUMENTS` to their values; ``None`` keeps
        this object's value. Values are checked as :meth:`from_arguments` checks them, and an error
        names ``where`` (e.g. ``"row 3 of /data/cohort.csv"``).

        Examples
        --------
        >>> base = ImportOptions.from_arguments(image_modality="ct")
        >>> base.merge({"image_modality": "PET"}, where="row 1").image.modality
        'pt'
        """
        given = {k: v for k, v in values.items() if v is not None}
        unknown = sorted(set(given) - set(REQUEST_ARGUMENTS))
        if unknown:
            raise InputError(f"{where} sets {', '.join(unknown)}, which a request cannot set.")
        if not given:
            return self
        arguments = {**self.arguments(), **given}
        try:
            merged = ImportOptions.from_arguments(**arguments)
        except (InputError, InputTypeError) as exc:
            raise type(exc)(f"In {where}: {exc}") from None
        return replace(
            merged,
            association_strategy=self.association_strategy,
            previous=self.previous,
            workers=self.workers,
            progress=self.progress,
        )


_SAVED = frozenset(
    (*REQUEST_ARGUMENTS, "association_strategy", "stack_images", "stack_masks"),
)
