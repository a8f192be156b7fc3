"""Step 3: per request, the files it selects: scan, roles, per-role filters and sample names.

:func:`curate` runs every request of an import (:mod:`imgindex.inputs`) through the same steps:

1. scan its sources (each path once per import, so images and masks from one folder share the
   table; arrays are numbered in order of appearance) — :class:`Scanner`;
2. tell images from masks (:func:`imgindex.roles.assign_roles`), with the caller's sub-folders,
   name patterns and separate image/mask sources as hints;
3. per role, the filters of MIRP's arguments in MIRP's order — file type, sub-folder, name
   pattern, modality — then sample names (:mod:`imgindex.samples`) and the ``sample_name`` filter.

It returns a :class:`Curated`: the files table of every scanned file with the curation of the
first request that selected it, the selected files (what stacking reads), the arrays and the
scan report. Options come checked from :class:`~imgindex.options.ImportOptions`.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from . import _memory, filters, roles, samples, schema
from .errors import NotFoundError
from .inputs import Request, Source
from .options import ImportOptions, RoleOptions
from .scanner import Scanner

__all__ = ["CURATED", "Curated", "Scanner", "curate"]

#: Files columns that curation, stacking and association never read: they stay in the files table
#: but are left behind before the curation copies rows (a 155,000-file table has 10^5 rows to copy).
_NOT_CURATED = [
    "file_size",
    "mtime",
    "n_components",
    "SeriesNumber",
    "SOPClassUID",
    "TransferSyntaxUID",
    "PixelSpacing",
    "SpacingBetweenSlices",
    "BitsAllocated",
    "PixelRepresentation",
    "RescaleSlope",
    "RescaleIntercept",
    "ROINumber",
    "SegmentNumber",
    "SegmentDescription",
    "SegmentationType",
    "ImagerPixelSpacing",  # issue 12: read into the geometry columns by the header reader
    "EstimatedRadiographicMagnificationFactor",
    "GantryDetectorTilt",
    "PhotometricInterpretation",
    *schema.VOLUME_COLUMNS,  # stacking reads them from the files table
]
#: Columns stacking reads that the curation never looks at: they are not copied per role and
#: again when the roles are put together, but taken once for the selected rows (a 155,000-file
#: table: two copies of 30 columns, most of them UIDs and tuples, cost more than the curation).
# fmt: off
_PASSED = [
    "StudyInstanceUID", "SeriesInstanceUID", "StructureSetLabel", "FrameOfReferenceUID",
    "ReferencedSeriesInstanceUID", "ReferencedSOPInstanceUID", "ReferencedFrameOfReferenceUID", "size_x", "size_y",
    "spacing_x", "spacing_y", "spacing_z", "origin_x", "origin_y", "origin_z", "direction", "multiframe",
    "NumberOfFrames", "Rows", "Columns", "DoseSummationType", "ImageOrientationPatient", "ImagePositionPatient",
    "InstanceNumber", "SliceThickness", "GridFrameOffsetVector", "ROIName", "SegmentLabel", "SOPInstanceUID",
    "frame_positions",
]
# fmt: on
#: What the curation decides for each selected file (copied into the files table at the end).
CURATED = ["role", "role_reason", "modality", "sample_name", "sample_name_source", "request"]


def _where(sources: list[Source], role: str) -> str:
    paths = [s.path for s in sources if s.path]
    if len(paths) == 1 and os.path.isdir(paths[0]):
        return f"The {paths[0]} directory (and its subdirectories)"
    return f"The {role} input"


def _select(
    files: pd.DataFrame,
    request: Request,
    role: RoleOptions,
    where: str,
    known: list[str],
    columns: list[str],
    dicom: pd.Series | None = None,
) -> pd.DataFrame:
    """Apply the filters of one role and name the samples (MIRP's order: sub-folder, file type, name, modality).

    ``dicom``: :func:`imgindex.samples.dicom_names` of the request's files (by label), if known.
    """
    options = request.options
    non_dicom = files["file_type"] != "dicom"
    assigned = role.modality or role.default_modality
    if assigned in filters.DICOM_ONLY_MODALITIES:  # an RTSTRUCT is DICOM by definition
        assigned = role.default_modality
    files = files.assign(modality=files["modality"].astype(schema.TEXT).mask(non_dicom.fillna(True), assigned))
    files = filters.by_sub_folder(files, role, where=where)
    if role.file_type is not None:
        files = filters.by_file_type(files, role, where=filters.inside_sub_folder(where, role))
    if role.name is not None:
        files = filters.by_name(files, role, where=where)
        filters.check_pattern_names(files, role, where=where)
    files = _name_samples(files, request, role, known, dicom)
    if role.role == "image":
        files = image_modalities(files, role)
    files = filters.by_modality(files, role, where=where)
    names = options.sample_name
    if names is not None:
        # Arrays, and files given one by one that nothing names, are named, not filtered: a list
        # of names is matched to them by position after stacking (samples.name_objects).
        given = files["_source_sample"].notna()
        is_array = files["array_index"].notna()
        loose = files["sample_name"].isna() & files["root"].isna() & (not options.single_sample)
        checked = ~given & ~is_array & ~loose
        if checked.any():
            kept = filters.by_sample_name(files[checked], names, role=role.role, where=where)
            files = pd.concat([files[~checked], kept])
    return _columns(files.assign(request=request.number), columns)


def _name_samples(
    files: pd.DataFrame, request: Request, role: RoleOptions, known: list[str], dicom: pd.Series | None = None
) -> pd.DataFrame:
    """Sample names from patterns, folders, DICOM identifiers, file names and the caller's names."""
    options = request.options
    names = options.sample_name
    # The DICOM names without requested names are those the request's files were given already.
    given = dicom.reindex(files.index) if dicom is not None and names is None else None
    files = samples.assign_sample_names(
        files, name_patterns=role.name, sample_name=names, sub_folder=role.sub_folder, dicom=given
    )
    files = samples.names_from_file_names(files, known=known)
    given = files["_source_sample"].notna()
    if given.any():
        files.loc[given, "sample_name"] = files.loc[given, "_source_sample"].astype(schema.TEXT)
        files.loc[given, "sample_name_source"] = "argument"
    is_array = files["array_index"].notna()
    single = names[0] if names is not None and (options.single_sample or len(names) == 1) else None
    if single is not None:  # a file given by itself, or an array: the name is assigned (MIRP 4.2, 4.3)
        loose = files["sample_name"].isna() & (files["root"].isna() | is_array)
        files.loc[loose, "sample_name"], files.loc[loose, "sample_name_source"] = single, "argument"
    return files


def image_modalities(files: pd.DataFrame, role: RoleOptions) -> pd.DataFrame:
    """The modality of non-DICOM images from evidence, before the requested one is assumed.

    In order: a modality word in the file name, else in the nearest folder name below the root
    (:func:`imgindex.roles.path_modality`: ``CT``, ``PET``, ``MR_T1``, ``FLAIR`` ...); else the
    one modality of the DICOM images in the same folder, else of the same sample; else the
    requested ``image_modality`` (assumed), else ``generic``. ``role_reason`` says which.

    Examples
    --------
    >>> files = pd.DataFrame({"file_type": ["nifti", "nifti", "dicom"], "file_name": ["pet.nii", "x.nii", "1.dcm"],
    ...     "dir_path": ["/d/P1", "/d/P1", "/d/P1"], "root": ["/d"] * 3, "modality": ["generic", "generic", "ct"],
    ...     "sample_name": ["P1"] * 3, "role_reason": ["file name", "voxels", "DICOM Modality CT"]})
    >>> image_modalities(files, RoleOptions.of("image"))["modality"].tolist()
    ['pt', 'ct', 'ct']
    """
    is_array = files["array_index"].notna() if "array_index" in files else pd.Series(False, index=files.index)
    other = (files["file_type"] != "dicom").fillna(True) & ~is_array
    if not other.any():
        return files
    found, where = roles.path_modality(files)
    dicom = files.loc[~other & files["modality"].notna()]
    for key, label in (("dir_path", "DICOM images in its folder"), ("sample_name", "DICOM images of its sample")):
        if dicom.empty or key not in files:
            break
        counts = dicom.groupby(key)["modality"].agg(["first", "nunique"])
        one = counts.loc[counts["nunique"] == 1, "first"]
        sibling = files[key].map(one).astype(schema.TEXT)
        take = found.isna() & sibling.notna()
        found, where = found.mask(take, sibling), where.mask(take, label)
    found, where = found.where(other), where.where(other)
    evidence = found.notna()
    assumed = other & ~evidence & (role.modality is not None)
    modality = files["modality"].astype(schema.TEXT).mask(evidence, found)
    why = ("; modality " + found + " from " + where).where(evidence)
    if role.modality is not None:
        why = why.mask(assumed, f"; modality {role.modality} assumed (image_modality, nothing in the path says)")
    reason = files["role_reason"].astype(schema.TEXT) if "role_reason" in files else pd.Series("", index=files.index)
    return files.assign(modality=modality, role_reason=reason.fillna("").str.cat(why, na_rep="").str.lstrip("; "))


def _columns(files: pd.DataFrame, columns: list[str]) -> pd.DataFrame:
    """The columns the next step reads (all of them when none are named)."""
    return files[[c for c in columns if c in files.columns]] if columns else files


def _known_names(files: pd.DataFrame, options: ImportOptions, dicom: pd.Series | None = None) -> list[str]:
    """Sample names the import already knows: requested ones and DICOM PatientIDs (or fallbacks).

    ``dicom``: :func:`imgindex.samples.dicom_names` of ``files``, when already worked out.
    """
    known = list(options.sample_name or ())
    known += (samples.dicom_names(files) if dicom is None else dicom).dropna().unique().tolist()
    return known


def _curate_request(
    request: Request, scanner: Scanner, *, want_images: bool, want_masks: bool, columns: list[str]
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Roles, filters and sample names for one request: (all files, images, masks)."""
    options = request.options
    image_files = scanner.files(request.images, "image") if want_images else None
    mask_files = scanner.files(request.masks or [], "mask") if want_masks else None
    parts = [f for f in (image_files, mask_files) if f is not None]
    keys_of = schema.row_keys
    same = len(parts) == 2 and (parts[0] is parts[1] or keys_of(parts[0]).equals(keys_of(parts[1])))
    if len(parts) == 1 or same:  # one source table (images and masks from the same place): no copy
        files = parts[0].reset_index(drop=True)
        inside = pd.Series(True, index=files.index)
        in_image = inside if image_files is not None else ~inside
        in_mask = inside if mask_files is not None else ~inside
    else:
        assert image_files is not None and mask_files is not None
        files = pd.concat(parts, ignore_index=True)
        files = files[~keys_of(files).duplicated()].reset_index(drop=True)
        keys = keys_of(files)
        in_image = keys.isin(set(keys_of(image_files)))
        in_mask = keys.isin(set(keys_of(mask_files)))
    role_names = [r for r, want in (("image", want_images), ("mask", want_masks)) if want]
    where = {r: _where(request.images if r == "image" else (request.masks or []), r) for r in role_names}
    usable = (files["file_type"].notna() | files["array_index"].notna()) & files["error"].isna()
    if not usable.any():
        role = role_names[0]
        errors = files["error"].dropna()
        found = (
            f" The {len(errors)} imaging files found could not be read, e.g.: {errors.iloc[0]}" if len(errors) else ""
        )
        raise NotFoundError(
            f"{where[role]} did not contain any supported {role} files (DICOM, NIfTI .nii/.nii.gz, "
            "NRRD .nrrd, numpy .npy)." + found + " Check the path, or run imgindex.scan(path) (imgindex scan PATH "
            "on the command line) to see what was found."
        )
    hints = {}
    for role, inside, outside in (("image", in_image, in_mask), ("mask", in_mask, in_image)):
        role_options = options.role(role)
        if role_options.hinted:
            hints[role] = inside & roles.matches_hints(files, role_options)
        elif want_images and want_masks:  # separate image and mask sources are a hint too
            hints[role] = inside & ~outside
        else:
            hints[role] = inside & False
    files = roles.assign_roles(files, image_hint=hints["image"], mask_hint=hints["mask"], arrays=scanner.arrays)
    dicom = samples.dicom_names(files)  # once for the request: known names, then each role's names
    known = _known_names(files, options, dicom)
    chosen = {}
    # no copy (copy-on-write); the passed-through columns are added to the selected rows by curate()
    curated = files.drop(columns=[*_NOT_CURATED, *_PASSED], errors="ignore")
    for role, inside in (("image", in_image), ("mask", in_mask)):
        if role in role_names:
            rows = curated[inside & (files["role"] == role)]
            chosen[role] = _select(rows, request, options.role(role), where[role], known, columns, dicom)
        else:
            chosen[role] = _columns(curated.iloc[[]], columns)
    return files, chosen["image"], chosen["mask"]


@dataclass
class Curated:
    """What :func:`curate` found: every file, the selected ones, the arrays and the scan report."""

    files: pd.DataFrame
    selected: pd.DataFrame
    arrays: list[NDArray[Any]] = field(default_factory=list)
    report: dict[str, Any] = field(default_factory=dict)


def curate(
    requests: list[Request],
    options: ImportOptions,
    *,
    want_images: bool,
    want_masks: bool,
    columns: Sequence[str] = (),
) -> Curated:
    """Scan, assign roles, filter and name the files of every request.

    Parameters
    ----------
    requests : list of Request
        From :func:`imgindex.inputs.expand`; each carries its own options.
    options : ImportOptions
        The import's options (how to scan: ``previous``, ``workers``, ``progress``).
    want_images, want_masks : bool
        Which roles the import asks for.
    columns : sequence of str
        The files columns the next step reads (:data:`imgindex.stacking.USED_COLUMNS`): the
        selected files keep only these (and the curation's), so that fewer rows are copied.

    Returns
    -------
    Curated
        ``files``: every scanned file once (schema ``files``), with the curation of the first
        request that selected it; ``selected``: the selected files of every request, images then
        masks, with the columns stacking reads; ``arrays``: the in-memory arrays by
        ``array_index``; ``report``: the scan reports added up.

    Examples
    --------
    >>> from imgindex.inputs import expand
    >>> options = ImportOptions.from_arguments(image_sub_folder="CT/nifti/image", mask_sub_folder="CT/nifti/mask")
    >>> found = curate(expand(example_dir, None, options), options, want_images=True, want_masks=True)
    >>> found.selected[["sample_name", "role"]].values.tolist()
    [['STS_001', 'image'], ['STS_002', 'image'], ['STS_001', 'mask'], ['STS_002', 'mask']]
    >>> found.selected["file_name"].tolist()
    ['image.nii.gz', 'image.nii.gz', 'mask.nii.gz', 'mask.nii.gz']
    >>> len(found.files)  # every file of the folder, each with its role
    188
    """
    scanner = Scanner(options)
    kept = list(dict.fromkeys([*columns, *CURATED, "_source_sample"])) if columns else None
    curated = [
        _curate_request(r, scanner, want_images=want_images, want_masks=want_masks, columns=kept or [])
        for r in requests
    ]
    every = pd.concat([c[0] for c in curated], ignore_index=True)
    chosen = [c[1] for c in curated] + [c[2] for c in curated]
    labels = np.concatenate([c.index.to_numpy() for c in chosen])  # rows of their request's files table
    offsets = np.cumsum([0] + [len(c[0]) for c in curated])[:-1].tolist() * 2  # of each request's rows in every
    at = np.concatenate([c.index.to_numpy() + o for c, o in zip(chosen, offsets, strict=True)]).astype(np.intp)
    selected = _with_passed(pd.concat(chosen, ignore_index=True), every, at, kept)
    del chosen
    del curated  # the per-request frames and the scan cache are not needed any more: free them
    scanner.cache.clear()
    scanner.tables.clear()
    _memory.trim()
    files = _files_table(every, selected, labels if len(requests) == 1 else None)
    files.attrs["scan"] = scanner.report()
    return Curated(files, selected.drop(columns=["_source_sample"]), scanner.arrays, files.attrs["scan"])


def _with_passed(
    selected: pd.DataFrame, every: pd.DataFrame, at: NDArray[np.intp], kept: list[str] | None
) -> pd.DataFrame:
    """``selected`` with the passed-through columns of its files (rows ``at`` of ``every``), in ``kept``'s order."""
    passed = [c for c in _PASSED if c in every.columns and (kept is None or c in kept)]
    if not passed:
        return selected
    rows = pd.RangeIndex(len(selected))
    columns = {c: every[c].take(at).set_axis(rows) for c in passed}  # column by column: no consolidated copy
    out = pd.concat([selected.set_axis(rows), pd.DataFrame(columns, index=rows, copy=False)], axis=1)
    if kept is None:  # every column: the files table's order, then what the curation added
        kept = [c for c in every.columns if c in out.columns] + [c for c in out.columns if c not in every.columns]
    return out[[c for c in kept if c in out.columns]]


def _selected_rows(
    every: pd.DataFrame, keys: pd.Series | None, selected: pd.DataFrame, labels: NDArray[np.integer] | None
) -> tuple[NDArray[np.intp], NDArray[np.intp]]:
    """``(first, at)``: the first selected row of each file and its row in ``every`` (positions).

    One request's selected rows keep the labels of its files table (positions in ``every``):
    taken as they are when the paths there agree; else (several requests) found by key.
    """
    if (
        labels is not None
        and len(labels)
        and labels.dtype.kind == "i"
        and labels.min() >= 0
        and labels.max() < len(every)
    ):
        paths = every["file_path"].to_numpy(dtype=object, na_value="")[labels]
        chosen = selected["file_path"].to_numpy(dtype=object, na_value="")
        same = paths == chosen
        arrays = chosen == ""
        if arrays.any():  # arrays have no path: their array_index must agree
            index_of = every["array_index"].to_numpy(dtype="float64", na_value=-1.0)
            same[arrays] &= (
                index_of[labels[arrays]] == (selected["array_index"].to_numpy(dtype="float64", na_value=-1.0)[arrays])
            )
        if same.all():
            first = np.flatnonzero(~pd.Index(labels).duplicated())
            return first, labels[first].astype(np.intp)
    keys = schema.row_keys(every) if keys is None else keys
    chosen_keys = schema.row_keys(selected)
    first = np.flatnonzero(~chosen_keys.duplicated().to_numpy())
    at = pd.Index(keys.to_numpy()).get_indexer(chosen_keys.to_numpy()[first])  # rows of every, by position
    found = at >= 0
    return first[found], at[found]


def _is_permutation(at: NDArray[np.intp]) -> bool:
    """Whether ``at`` holds every position ``0..len(at)-1`` once."""
    seen = np.zeros(len(at), dtype=bool)
    if len(at) and (at.min() < 0 or at.max() >= len(at)):
        return False
    seen[at] = True
    return bool(seen.all())


def _files_table(
    every: pd.DataFrame, selected: pd.DataFrame, labels: NDArray[np.integer] | None = None
) -> pd.DataFrame:
    """Every scanned file once, with the curation of the first request that selected it.

    ``labels``: with one request, the rows of ``every`` the selected rows are (each file once in
    ``every``: no keys to compare).
    """
    keys, repeated = None, False
    if labels is None:
        keys = schema.row_keys(every)
        duplicated = keys.duplicated()
        if repeated := bool(duplicated.any()):
            every, keys = every[~duplicated], keys[~duplicated]
    first, at = _selected_rows(every, keys, selected, labels if not repeated else None)
    columns = {}
    n = len(every)
    if len(at) == n == len(selected) and _is_permutation(at):
        # every file selected once (one request that kept all, images then masks): the selected
        # rows, put back in the files' order, are the curation; no object round trip
        order = np.empty(n, dtype=np.intp)
        order[at] = first
        in_order = np.array_equal(order, np.arange(n))
        for name in CURATED:
            dtype = schema.pandas_dtype(schema.column("files", name).type)
            column = selected[name].array
            taken = column if in_order else column.take(order)
            columns[name] = pd.Series(taken, index=every.index, copy=False).astype(dtype)
        at = first = at[:0]
    for name in [] if columns else CURATED:  # column by column and by position: no aligned copy of the whole table
        column = every[name] if name in every.columns else pd.Series(pd.NA, index=every.index)
        values = column.astype(object).to_numpy(copy=True)
        if name == "request":
            values[:] = pd.NA  # files no request selected have none
        values[at] = selected[name].astype(object).to_numpy()[first]
        # pd.array keeps the objects: an object array assigned as is would be inferred as pandas'
        # pyarrow strings and turned back into one new str per row by the coercion below.
        columns[name] = pd.Series(
            values, index=every.index, dtype=schema.pandas_dtype(schema.column("files", name).type)
        )
    every = every.assign(**columns).reset_index(drop=True).drop(columns=["_source_sample"], errors="ignore")
    # The scan's (or the given) files table already followed the schema: only the curated
    # columns, rebuilt above as objects, need their dtype back.
    return schema.coerce(every, "files", only=CURATED)
