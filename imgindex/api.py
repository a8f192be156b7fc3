"""The MIRP-compatible functions, each a short pipe of the steps.

``build_index`` reads like the data flow: requests → scan → roles, filters and sample names per
request → stacking → final sample names → association → :class:`~imgindex.index.Index`.
``import_image_and_mask`` is ``build_index`` followed by materialising ``ImageFile`` objects.

Differences from MIRP 2.7.0 (spec section 18), on purpose:

- Every input form works: ``pathlib.Path`` and tuples, csv files and DataFrames (one request per
  group of rows; a ``mask`` column asks for masks), imgindex files tables and saved indexes.
- Images and masks are told apart by DICOM Modality or by evidence, so with ``mask=None`` no
  mask file becomes an image, and RTSTRUCT/SEG are never images (a lone RTSTRUCT passed as
  image gives "No images were found", not a crash).
- Unreadable files are error rows of the files table; they never stop an import.
- Objects come back in input order (list order, then sorted directory walk), images first.
- Sample names are found before association; a ``sample_name`` list filters the union of a list
  of inputs (MIRP: every element); files and arrays that nothing names take a list of names by
  position, and a list of another length is an error for files ("could not be linked").
- A ``#`` pattern that names no file raises (E13) instead of falling back silently.
- ``roi_name`` drops RTSTRUCT/SEG masks that hold none of the ROIs (header only), and a csv row or
  xml ``<data>`` element may carry its own ``roi_name``.
- In-memory arrays have no position: they pair by list order or single image, never by their
  default grid; arrays left over in a list that mixes files and arrays pair by list order.
- An image whose masks were asked for but not found keeps ``associated_masks=None`` and is
  flagged ``missing`` (with a warning); the whole-image placeholder is only for ``mask=None``.
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np
import pandas as pd

from . import _memory, association, filters, patterns, roles, samples, schema, stacking
from .errors import InputError, NotFoundError
from .files import ImageFile, MaskFile
from .index import Index, read_index
from .requests import Request, Source, expand, table_wants_masks
from .scan import scan

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
]
#: What the curation decides for each selected file (copied into the files table at the end).
_CURATED = ["role", "role_reason", "modality", "sample_name", "sample_name_source", "request"]
#: The columns of the selected files: what stacking reads and what the files table takes back.
_SELECTED = list(dict.fromkeys([*stacking.USED_COLUMNS, *_CURATED, "_source_sample"]))


class _Scanner:
    """Scans each source once per build (images and masks share the table) and numbers arrays."""

    def __init__(self, *, previous, workers, progress) -> None:
        self.previous, self.workers, self.progress = previous, workers, progress
        self.cache: dict[str, pd.DataFrame] = {}
        self.reports: list[dict] = []
        self.arrays: list[np.ndarray] = []
        self.array_ids: dict[int, int] = {}

    def _path(self, path: str, role: str) -> pd.DataFrame:
        if path not in self.cache:
            if not os.path.exists(path):
                raise NotFoundError(
                    f"The {role} path {path!r} does not point to a xml file, a csv file, a valid {role} file or "
                    "a directory containing imaging. Check the path."
                )
            files = scan(path, previous=self.previous, workers=self.workers, progress=self.progress)
            if os.path.isdir(path) and files.attrs["scan"]["n_paths"] == 0:
                raise NotFoundError(
                    f"All directories within the {path} directory are empty, and no {role}s could "
                    "be found. Point imgindex at the folder that holds the files."
                )
            self.reports.append(files.attrs.get("scan", {}))
            root = np.full(len(files), path if os.path.isdir(path) else pd.NA, dtype=object)  # one shared str
            self.cache[path] = files.assign(root=pd.array(root, dtype=schema.TEXT))
        return self.cache[path]

    def report(self) -> dict:
        """The scan reports of every scanned path, added up."""
        total: dict = {}
        for report in self.reports:
            for key, value in report.items():
                if isinstance(value, list):
                    total[key] = (total.get(key, []) + value)[:100]
                elif isinstance(value, (int, float)):
                    total[key] = total.get(key, 0) + value
        return total

    def _array(self, array: np.ndarray) -> pd.DataFrame:
        index = self.array_ids.setdefault(id(array), len(self.arrays))
        if index == len(self.arrays):
            self.arrays.append(array)
        return scan(array).assign(array_index=index)

    def files(self, sources: list[Source], role: str) -> pd.DataFrame:
        parts = []
        for source in sources:
            if source.files is not None:
                part = schema.coerce(source.files, "files")
            elif source.array is not None:
                part = self._array(source.array)
            else:
                part = self._path(source.path, role)
            parts.append(part.assign(_source_sample=source.sample_name))
        if not parts:
            return schema.empty("files").assign(_source_sample=pd.Series([], dtype=object))
        files = pd.concat(parts, ignore_index=True)
        return files[~files.duplicated("file_path") | files["file_path"].isna()]


def _key(files: pd.DataFrame) -> pd.Series:
    return (
        files["file_path"]
        .astype(object)
        .where(files["file_path"].notna(), "array:" + files["array_index"].astype(schema.TEXT))
    )


def _where(sources: list[Source], role: str) -> str:
    paths = [s.path for s in sources if s.path]
    if len(paths) == 1 and os.path.isdir(paths[0]):
        return f"The {paths[0]} directory (and its subdirectories)"
    return f"The {role} input"


def _hint(files: pd.DataFrame, sub_folder: str | None, name: Any) -> pd.Series:
    """Rows matching the caller's sub-folder and name pattern for ``role``."""
    hit = pd.Series(True, index=files.index)
    if sub_folder:
        hit &= filters.in_sub_folder(files, sub_folder)
    if name:
        hit &= patterns.match(patterns.bare_names(files["file_name"].fillna("")), name).fillna(False)
    return hit


def _select(files: pd.DataFrame, request: Request, role: str, where: str, known_names: list[str]) -> pd.DataFrame:
    """Apply the filters of one role and name the samples."""
    opt = request.options
    sub_folder, name = opt.get(f"{role}_sub_folder"), opt.get(f"{role}_name")
    file_type, modality = opt.get(f"{role}_file_type"), opt.get(f"{role}_modality")
    default = "generic" if role == "image" else "generic_mask"
    non_dicom = files["file_type"] != "dicom"
    assigned = filters.canonical_modality(modality) if modality else default
    if assigned in filters.DICOM_ONLY_MODALITIES:
        assigned = default
    files = files.assign(modality=files["modality"].astype(schema.TEXT).mask(non_dicom.fillna(True), assigned))
    if file_type:
        files = filters.by_file_type(files, file_type, role=role, where=where)
    if sub_folder:
        files = filters.by_sub_folder(files, sub_folder, role=role, where=where)
    if name:
        files = filters.by_name(files, name, role=role, where=where)
        _check_pattern_names(files, name, role=role, where=where)
    if modality:
        files = filters.by_modality(files, modality, role=role, where=where)
    sample_name = opt.get("sample_name")
    files = samples.assign_sample_names(files, name_patterns=name, sample_name=sample_name, sub_folder=sub_folder)
    files = samples.names_from_file_names(files, known=known_names)
    given = files["_source_sample"].notna()
    if given.any():
        files.loc[given, "sample_name"] = files.loc[given, "_source_sample"].astype(schema.TEXT)
        files.loc[given, "sample_name_source"] = "argument"
    is_array = files["array_index"].notna()
    single = (
        sample_name
        if isinstance(sample_name, str)
        else (sample_name[0] if isinstance(sample_name, list | tuple) and len(sample_name) == 1 else None)
    )
    if single is not None:  # a file given by itself, or an array: the name is assigned (MIRP 4.2, 4.3)
        loose = files["sample_name"].isna() & (files["root"].isna() | is_array)
        files.loc[loose, "sample_name"], files.loc[loose, "sample_name_source"] = single, "argument"
    if sample_name is not None:
        # Arrays, and files given one by one that nothing names, are named, not filtered: a list
        # of names is matched to them by position after stacking (MIRP 8.4, see _final_names).
        loose = files["sample_name"].isna() & files["root"].isna() & (not isinstance(sample_name, str))
        checked = ~given & ~is_array & ~loose
        if checked.any():
            names = [sample_name] if isinstance(sample_name, str) else list(sample_name)
            kept = filters.by_sample_name(files[checked], names, role=role, where=where)
            files = pd.concat([files[~checked], kept])
    return _selected_columns(files.assign(request=request.number))


def _selected_columns(files: pd.DataFrame) -> pd.DataFrame:
    return files[[c for c in _SELECTED if c in files.columns]]


def _check_pattern_names(files: pd.DataFrame, name: Any, *, role: str, where: str) -> None:
    """MIRP's E13: a ``#`` pattern that names no file at all is an error, not a silent fallback."""
    if not patterns.sample_patterns(name) or files["file_name"].isna().all():
        return
    found = patterns.extract_sample_names(patterns.bare_names(files["file_name"].fillna("")), name)
    if found.isna().all():
        raise NotFoundError(
            f"The file name pattern did not yield any sample names: {name}. {where} has {role} files whose names "
            f"match it ({filters._some(patterns.bare_names(files['file_name']))}), but the part at # is empty. "
            "Put # where the sample name sits in the file name, e.g. '#_CT_image' for STS_001_CT_image.nii.gz."
        )


def _curate(
    request: Request, scanner: _Scanner, *, want_images: bool, want_masks: bool, options: dict
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Roles, filters and sample names for one request: (all files, images, masks)."""
    image_files = scanner.files(request.images, "image") if want_images else None
    mask_files = scanner.files(request.masks, "mask") if want_masks else None
    parts = [f for f in (image_files, mask_files) if f is not None]
    same = len(parts) == 2 and _key(parts[0]).equals(_key(parts[1]))
    if len(parts) == 1 or same:  # one source table (images and masks from the same place): no copy
        files = parts[0].reset_index(drop=True)
        inside = pd.Series(True, index=files.index)
        in_image = inside if image_files is not None else ~inside
        in_mask = inside if mask_files is not None else ~inside
    else:
        files = pd.concat(parts, ignore_index=True)
        keys = _key(files)
        files = files[~keys.duplicated()].reset_index(drop=True)
        keys = _key(files)
        in_image = keys.isin(set(_key(image_files))) if image_files is not None else keys.map(lambda _: False)
        in_mask = keys.isin(set(_key(mask_files))) if mask_files is not None else keys.map(lambda _: False)
    role_names = [r for r, want in (("image", want_images), ("mask", want_masks)) if want]
    where = {r: _where(request.images if r == "image" else request.masks, r) for r in role_names}
    usable = (files["file_type"].notna() | files["array_index"].notna()) & files["error"].isna()
    if not usable.any():
        role = role_names[0]
        errors = files["error"].dropna()
        found = (
            f" The {len(errors)} imaging files found could not be read, e.g.: {errors.iloc[0]}" if len(errors) else ""
        )
        raise NotFoundError(
            f"{where[role]} did not contain any supported {role} files (DICOM, NIfTI .nii/.nii.gz, "
            "NRRD .nrrd, numpy .npy)." + found + " Check the path, or look at files.attrs['scan'] "
            "of imgindex.scan(path) to see what was found."
        )
    opt = request.options
    hints = {}
    for role, inside, outside in (("image", in_image, in_mask), ("mask", in_mask, in_image)):
        sub_folder, name = opt.get(f"{role}_sub_folder"), opt.get(f"{role}_name")
        if sub_folder or name:
            hints[role] = inside & _hint(files, sub_folder, name)
        elif want_images and want_masks:  # separate image and mask sources are a hint too
            hints[role] = inside & ~outside
        else:
            hints[role] = inside & False
    files = roles.assign_roles(files, image_hint=hints["image"], mask_hint=hints["mask"], arrays=scanner.arrays)
    known = _known_names(files, opt.get("sample_name"))
    chosen = {}
    curated = files.drop(columns=_NOT_CURATED, errors="ignore")  # no copy: copy-on-write
    for role, inside in (("image", in_image), ("mask", in_mask)):
        if role in role_names:
            chosen[role] = _select(curated[inside & (files["role"] == role)], request, role, where[role], known)
        else:
            chosen[role] = _selected_columns(curated.iloc[[]])
    return files, chosen["image"], chosen["mask"]


def _known_names(files: pd.DataFrame, sample_name: Any) -> list[str]:
    """Sample names the import already knows: requested ones and DICOM PatientIDs (or fallbacks)."""
    known = [sample_name] if isinstance(sample_name, str) else list(sample_name or [])
    known += samples.dicom_names(files).dropna().unique().tolist()
    return known


def _in_input_order(objects: pd.DataFrame, every: pd.DataFrame) -> pd.DataFrame:
    """Objects in the order of the input (list order, then directory walk order), images first,
    renumbered ``image_0, image_1, ...`` / ``mask_0, ...``; MIRP keeps the order of a list (4.4)."""
    position = pd.Series(range(len(every)), index=_key(every).to_numpy()).groupby(level=0).min()
    members = objects["file_paths"].map(lambda p: list(p) if p else []).explode()
    arrays = objects["array_index"].dropna()
    keys = pd.concat([members.dropna(), "array:" + arrays.astype("int64").astype(str)])
    first = keys.map(position).groupby(level=0).min().reindex(objects.index).fillna(len(every))
    ordered = objects.assign(_order=first.to_numpy(), _image=objects["role"] != "image")
    ordered = ordered.sort_values(["_image", "_order"], kind="stable").drop(columns=["_order", "_image"])
    ordered = ordered.reset_index(drop=True)
    number = ordered.groupby("role").cumcount().astype(str)
    return ordered.assign(object_id=ordered["role"] + "_" + number)


def _final_names(objects: pd.DataFrame, sample_name: Any) -> pd.DataFrame:
    """Name objects still without a sample name: argument, list by position, file name, generated."""
    objects = objects.copy(deep=False)  # copy-on-write: columns are replaced, never edited in place
    for role in ("image", "mask"):
        unnamed = (objects["role"] == role) & objects["sample_name"].isna()
        if not unnamed.any():
            continue
        n_role = int((objects["role"] == role).sum())
        if isinstance(sample_name, str):
            objects.loc[unnamed, "sample_name"] = sample_name
        elif isinstance(sample_name, list) and role == "image" and len(sample_name) == n_role:
            positions = objects.index[objects["role"] == role]
            named = pd.Series(sample_name, index=positions)
            objects.loc[unnamed, "sample_name"] = named[unnamed[unnamed].index]
        elif isinstance(sample_name, list) and role == "image" and objects.loc[unnamed, "n_files"].gt(0).any():
            paths = [p[0] for p in objects.loc[unnamed, "file_paths"] if len(p)]
            raise NotFoundError(
                f"One or more files ({', '.join(paths[:3])}{', ...' if len(paths) > 3 else ''}) could not be linked "
                f"to a sample name for checking: {len(sample_name)} sample names were given for {n_role} images. "
                "You may specify an image file name pattern using the image_name argument, e.g. image_name = "
                "'#_*_image', where # marks the sample name, or pass one sample name per image, in order."
            )
        else:
            bare = patterns.bare_names(objects.loc[unnamed, "file_path"].astype(schema.TEXT).str.rsplit(os.sep).str[-1])
            if role == "image" and bare.notna().all() and bare.is_unique:
                objects.loc[unnamed, "sample_name"] = bare
            elif role == "image":
                keys = [
                    str(p) if p else f"array:{a}"
                    for p, a in zip(
                        objects.loc[unnamed, "file_paths"], objects.loc[unnamed, "array_index"], strict=True
                    )
                ]
                objects.loc[unnamed, "sample_name"] = samples.generated_names(keys)
    return objects


def _filter_rois(masks: pd.DataFrame, roi_names: dict[str, Any]) -> pd.DataFrame:
    """Drop RTSTRUCT/SEG masks that hold none of the requested ROIs (label maps are kept).

    ``roi_names`` maps each request number (as str) to its ``roi_name`` (a csv row or an xml
    ``<data>`` element may ask for other ROIs than the function argument).
    """
    if masks.empty:
        return masks
    keep = []
    for names, request in zip(masks["roi_names"], masks["request"], strict=True):
        selection = filters.roi_selection(roi_names.get(str(request)))
        keep.append(not selection or names is None or bool(set(selection) & set(names)))
    return masks[keep]


def _request_roi_names(requests: list[Request], roi_name: Any) -> dict[str, Any]:
    """``roi_name`` of every request (validated), keyed by the request number as a str."""
    out = {}
    for request in requests:
        value = request.options.get("roi_name", roi_name)
        filters.roi_selection(value)
        out[str(request.number)] = value
    return out


def build_index(
    image: Any = None,
    mask: Any = None,
    *,
    sample_name: str | list[str] | None = None,
    image_name: str | list[str] | None = None,
    image_file_type: str | None = None,
    image_modality: str | None = None,
    image_sub_folder: str | None = None,
    mask_name: str | list[str] | None = None,
    mask_file_type: str | None = None,
    mask_modality: str | None = None,
    mask_sub_folder: str | None = None,
    roi_name: str | list[str] | dict[str, str] | None = None,
    association_strategy: str | list[str] | None = None,
    stack_images: str = "auto",
    stack_masks: str = "auto",
    previous: pd.DataFrame | str | os.PathLike | None = None,
    workers: int | None = None,
    progress: bool = False,
    _want: tuple[bool, bool] | None = None,
) -> Index:
    """Index images and masks: files, stacked objects and image-mask pairs, as DataFrames.

    Takes the arguments of MIRP's ``import_image_and_mask`` (see the README for every input form)
    plus ``previous`` (an earlier index or files table whose unchanged files are not read again),
    ``workers`` and ``progress`` (as :func:`imgindex.scan`).

    Examples
    --------
    >>> import imgindex, tempfile
    >>> root = tempfile.mkdtemp()
    >>> _ = imgindex.examples.write_example_dataset(root, n_samples=2, modalities=("CT",),
    ...                                             formats=("dicom",), extras=False)
    >>> index = imgindex.build_index(root, mask=root)
    >>> sorted(index.objects["modality"])
    ['ct', 'ct', 'rtstruct', 'rtstruct', 'seg', 'seg']
    >>> index.pairs["status"].unique().tolist()
    ['ok']
    """
    filters.validate_modality(image_modality, "image")
    filters.validate_modality(mask_modality, "mask")
    filters.validate_file_type(image_file_type)
    filters.validate_file_type(mask_file_type)
    filters.validate_stack(stack_images, "stack_images")
    filters.validate_stack(stack_masks, "stack_masks")
    filters.roi_selection(roi_name)
    options = dict(
        sample_name=sample_name,
        image_name=image_name,
        image_file_type=image_file_type,
        image_modality=image_modality,
        image_sub_folder=image_sub_folder,
        mask_name=mask_name,
        mask_file_type=mask_file_type,
        mask_modality=mask_modality,
        mask_sub_folder=mask_sub_folder,
        roi_name=roi_name,
    )
    mask_args = any(
        options[k] is not None for k in ("mask_name", "mask_sub_folder", "mask_modality", "mask_file_type", "roi_name")
    )
    is_xml = isinstance(image, (str, os.PathLike)) and os.fspath(image).lower().endswith(".xml")
    want_images, want_masks = _want or (True, mask is not None or mask_args or is_xml or table_wants_masks(image))
    if isinstance(image, Index) or _is_saved_index(image):
        saved = image if isinstance(image, Index) else read_index(image)
        if saved.objects.empty or any(v is not None for v in options.values()) or mask is not None:
            image = saved.files
        else:
            return saved
    if not want_images and mask is None:
        raise InputError("No mask source was given. Pass mask=<folder, file, list or array>.")
    if want_images:
        requests = expand(image, mask, options, want_masks=want_masks)
    else:  # masks only: the mask argument is the source (for a data xml, its <mask> paths)
        requests = expand(mask, None, options, want_masks=True)
        for request in requests:
            request.images = []
    scanner = _Scanner(previous=previous, workers=workers, progress=progress)
    curated = [_curate(r, scanner, want_images=want_images, want_masks=want_masks, options=options) for r in requests]
    every = pd.concat([c[0] for c in curated], ignore_index=True)
    selected = pd.concat([c[1] for c in curated] + [c[2] for c in curated], ignore_index=True)
    del curated  # the per-request frames and the scan cache are not needed any more: free them
    scanner.cache.clear()
    _memory.trim()

    objects = stacking.stack(
        selected.drop(columns=["_source_sample"]),
        stack_images=stack_images,
        stack_masks=stack_masks,
        name_patterns={"image": image_name, "mask": mask_name},
    )
    selected = selected[["file_path", "array_index", *_CURATED]]  # all the files table takes from it
    _memory.trim()
    objects = _in_input_order(objects, every)
    objects = _final_names(objects, sample_name)
    images = objects[objects["role"] == "image"]
    request_rois = _request_roi_names(requests, roi_name)
    masks = _filter_rois(objects[objects["role"] == "mask"], request_rois)
    objects = pd.concat([images, masks], ignore_index=True)
    if want_images and images.empty:
        raise NotFoundError(
            "No images were found. Possible reasons are lack of images with the preferred modality. "
            "Check image_modality, image_sub_folder and image_name, or scan the folder with "
            "imgindex.scan() to see which modalities it holds."
        )
    if want_masks and masks.empty:
        raise NotFoundError(
            "No masks were found. Possible reasons are lack of masks with the preferred modality "
            "or ROI names. Check mask_modality, mask_sub_folder, mask_name and roi_name."
        )
    pairs = schema.empty("pairs")
    if want_images and want_masks:
        pairs = association.associate(
            _without_array_geometry(images), _without_array_geometry(masks), strategy=association_strategy
        )
        objects = _inherit_mask_names(objects, pairs)
    files = _files_table(every, selected)
    files.attrs["scan"] = scanner.report()
    return Index(
        files,
        schema.coerce(objects, "objects"),
        schema.coerce(pairs, "pairs"),
        options={
            **_jsonable_options(options, association_strategy, stack_images, stack_masks),
            "request_roi_name": request_rois,
        },
        arrays=scanner.arrays,
    )


_GEOMETRY = [f"{k}_{a}" for k in ("size", "spacing", "origin") for a in "xyz"] + ["direction"]


def _without_array_geometry(objects: pd.DataFrame) -> pd.DataFrame:
    """In-memory arrays have a default grid (origin 0, spacing 1), not a position: hide it from
    association, so that arrays pair by list order or single image, as in MIRP (13.4)."""
    arrays = objects["array_index"].notna()
    if not arrays.any():
        return objects
    out = objects.copy(deep=False)  # copy-on-write: columns are replaced, never edited in place
    for column in _GEOMETRY:
        out[column] = out[column].mask(arrays)
    return out


def _is_saved_index(value: Any) -> bool:
    if not isinstance(value, (str, os.PathLike)):
        return False
    path = os.fspath(value)
    return (os.path.isdir(path) and os.path.exists(os.path.join(path, "objects.parquet"))) or (
        os.path.isfile(path) and path.lower().endswith(".parquet")
    )


def _inherit_mask_names(objects: pd.DataFrame, pairs: pd.DataFrame) -> pd.DataFrame:
    """Masks without a sample name take their image's (MIRP's final naming, spec 18.10)."""
    names = objects.set_index("object_id")["sample_name"]
    linked = pairs.dropna(subset=["mask_id"]).drop_duplicates("mask_id")
    inherited = pd.Series(names.reindex(linked["image_id"]).to_numpy(), index=linked["mask_id"].to_numpy())
    unnamed = (objects["role"] == "mask") & objects["sample_name"].isna()
    objects = objects.copy(deep=False)  # copy-on-write: columns are replaced, never edited in place
    found = objects.loc[unnamed, "object_id"].map(inherited).astype(schema.TEXT)
    objects.loc[unnamed, "sample_name"] = found
    return objects


def _files_table(every: pd.DataFrame, selected: pd.DataFrame) -> pd.DataFrame:
    """Every scanned file once, with the curation of the first request that selected it."""
    keys = _key(every)
    repeated = keys.duplicated()
    if repeated.any():
        every, keys = every[~repeated], keys[~repeated]
    chosen_keys = _key(selected)
    first = np.flatnonzero(~chosen_keys.duplicated().to_numpy())
    at = pd.Index(keys.to_numpy()).get_indexer(chosen_keys.to_numpy()[first])  # rows of every, by position
    found = at >= 0
    first, at = first[found], at[found]
    columns = {}
    for name in _CURATED:  # column by column and by position: no aligned copy of the whole table
        values = (every[name] if name in every.columns else pd.Series(pd.NA, index=every.index)).astype(object)
        values = values.to_numpy(copy=True)
        if name == "request":
            values[:] = pd.NA  # files no request selected have none
        values[at] = selected[name].astype(object).to_numpy()[first]
        columns[name] = values
    every = every.assign(**columns).reset_index(drop=True).drop(columns=["_source_sample"], errors="ignore")
    return schema.coerce(every, "files")


def _jsonable_options(options: dict, strategy, stack_images, stack_masks) -> dict:
    return {**options, "association_strategy": strategy, "stack_images": stack_images, "stack_masks": stack_masks}


def import_image_and_mask(image: Any, mask: Any = None, **options: Any) -> list[ImageFile]:
    """Import images and their masks: ``build_index`` then ``ImageFile`` objects.

    Every image has ``associated_masks`` (a whole-image placeholder when no mask was asked for).

    Examples
    --------
    >>> import imgindex, tempfile
    >>> root = tempfile.mkdtemp()
    >>> _ = imgindex.examples.write_example_dataset(root, n_samples=1, modalities=("CT",),
    ...                                             formats=("nifti",), extras=False)
    >>> image = imgindex.import_image_and_mask(root, mask_sub_folder="mask")[0]
    >>> image.modality, image.associated_masks[0].file_name
    ('generic', 'mask.nii.gz')
    """
    index = build_index(image, mask, **options)
    return index.materialise()


def import_image(image: Any, **options: Any) -> list[ImageFile]:
    """Import images only (no association): a list of ``ImageFile`` with ``associated_masks=None``.

    Examples
    --------
    >>> import imgindex, tempfile
    >>> root = tempfile.mkdtemp()
    >>> _ = imgindex.examples.write_example_dataset(root, n_samples=1, modalities=("PT",),
    ...                                             formats=("dicom",), extras=False)
    >>> [(i.modality, i.image_dimension) for i in imgindex.import_image(root)]
    [('pt', (8, 32, 32))]
    """
    index = build_index(image, _want=(True, False), **options)
    images = index.materialise()
    for item in images:
        item.associated_masks = None
    return images


def import_mask(mask: Any, **options: Any) -> list[MaskFile]:
    """Import masks only: a list of ``MaskFile``.

    Examples
    --------
    >>> import imgindex, tempfile
    >>> root = tempfile.mkdtemp()
    >>> _ = imgindex.examples.write_example_dataset(root, n_samples=1, modalities=("CT",),
    ...                                             formats=("dicom",), extras=False)
    >>> sorted(m.modality for m in imgindex.import_mask(root))
    ['rtstruct', 'seg']
    """
    index = build_index(None, mask, _want=(False, True), **options)
    return [
        MaskFile.from_row(row, roi_name=index.roi_name_of(row), arrays=index.arrays)
        for _, row in index.masks.iterrows()
    ]


def _labels_of(row: pd.Series, arrays: list[np.ndarray]) -> list[Any]:
    if row["file_type"] is not pd.NA and row["file_type"] == "dicom":
        return list(row["roi_names"] or [None])
    if pd.notna(row["array_index"]):
        data = np.asarray(arrays[int(row["array_index"])])
    elif row["file_type"] == "numpy":
        data = (
            np.stack([np.load(p, allow_pickle=False) for p in row["file_paths"]])
            if row["n_files"] > 1
            else np.load(row["file_path"], allow_pickle=False)
        )
    else:
        import SimpleITK as sitk

        data = np.stack([sitk.GetArrayFromImage(sitk.ReadImage(p)) for p in row["file_paths"]])
    values = [v.item() for v in np.unique(data) if v != 0]
    return values or [None]


def extract_mask_labels(
    mask: Any = None, *, write_dir: str | os.PathLike | None = None, **options: Any
) -> pd.DataFrame | None:
    """One row per ROI label of every mask (MIRP's ``extract_mask_labels``).

    Columns: ``sample_name``, ``modality``, ``dir_path``, ``file_name``, ``series_instance_uid``,
    ``frame_of_reference_uid``, ``roi_label``, ``mask_index``. RTSTRUCT labels are ROI names, SEG
    labels segment labels; label maps give their distinct non-zero voxel values (this reads the
    voxels). With ``write_dir`` the table goes to ``<write_dir>/mask_labels.csv`` and ``None`` is
    returned.

    Examples
    --------
    >>> import imgindex, tempfile
    >>> root = tempfile.mkdtemp()
    >>> _ = imgindex.examples.write_example_dataset(root, n_samples=1, modalities=("CT",),
    ...                                             formats=("nifti",), extras=False)
    >>> imgindex.extract_mask_labels(root)["roi_label"].tolist()
    [1, 2]
    """
    options.pop("roi_name", None)
    index = build_index(None, mask, _want=(False, True), **options)
    rows = []
    for mask_index, (_, row) in enumerate(index.masks.iterrows()):
        base = {
            "sample_name": row["sample_name"],
            "modality": row["modality"],
            "dir_path": row["dir_path"],
            "file_name": os.path.basename(row["file_path"]) if pd.notna(row["file_path"]) else None,
            "series_instance_uid": row["SeriesInstanceUID"],
            "frame_of_reference_uid": row["FrameOfReferenceUID"],
        }
        rows += [{**base, "roi_label": label, "mask_index": mask_index} for label in _labels_of(row, index.arrays)]
    table = pd.DataFrame(
        rows,
        columns=[
            "sample_name",
            "modality",
            "dir_path",
            "file_name",
            "series_instance_uid",
            "frame_of_reference_uid",
            "roi_label",
            "mask_index",
        ],
    )
    table = table.dropna(axis=1, how="all")
    if write_dir is None:
        return table
    os.makedirs(write_dir, exist_ok=True)
    table.to_csv(os.path.join(write_dir, "mask_labels.csv"))
    return None
