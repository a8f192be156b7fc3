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

import numpy as np
import pandas as pd

from .. import schema
from ..errors import warn
from ..options import ImportOptions
from ._objects import NOT_SLICES, SERIES_KEY, SLICE_KEY, USED_COLUMNS, collect, ensure_columns, fill_geometry
from .dicom import beam_sums, dicom_series, rtdose_spacing
from .slices import order_by_name_number, slice_stacks

__all__ = ["SERIES_KEY", "SLICE_KEY", "USED_COLUMNS", "in_input_order", "order_by_name_number", "stack"]


def stack(files: pd.DataFrame, options: ImportOptions | None = None) -> pd.DataFrame:
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
    The CT slices of one sample with its RTSTRUCT and SEG, curated by hand:

    >>> import imgindex, os
    >>> files = imgindex.scan(os.path.join(example_dir, "STS_001", "CT", "dicom"))
    >>> files = files.assign(role=files["Modality"].map({"CT": "image", "RTSTRUCT": "mask", "SEG": "mask"}),
    ...                      modality=files["Modality"].str.lower(), sample_name="STS_001")
    >>> objects = stack(files)
    >>> objects[["object_id", "modality", "n_files", "size_z", "spacing_z"]].values.tolist()
    [['image_0', 'ct', 8, 8, 3.0], ['mask_0', 'rtstruct', 1, <NA>, nan], ['mask_1', 'seg', 1, 5, 3.0]]
    """
    options = options or ImportOptions()
    stacking = {"image": options.image.stack, "mask": options.mask.stack}
    patterns = {role: list(options.role(role).name or ()) for role in ("image", "mask")}
    # Only the columns used, and each part's rows copied once: the files table may have 10^5 rows.
    f = ensure_columns(files, USED_COLUMNS)[USED_COLUMNS]
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
        & ~mods.isin(NOT_SLICES)
        & ~own.isin(NOT_SLICES)
    )
    enhanced = f["multiframe"].fillna(False).astype(bool)  # an RTDOSE's frames are its grid
    beams = rtdose & ~enhanced & (f["DoseSummationType"].str.upper() == "BEAM").fillna(False)
    ndim, size_z = f["ndim"], f["size_z"]
    flat = (((ndim >= 1) & (ndim <= 2)) | ((ndim == 3) & (size_z == 1))).fillna(False) & ~is_array
    role_option = role.map(stacking)
    numpy_slices = flat & (file_type == "numpy") & role_option.isin(["auto", "yes"])
    itk_slices = flat & file_type.isin(["nifti", "nrrd"]) & (role_option == "yes")
    single = ~(series | beams | numpy_slices | itk_slices)

    messages: list[str] = []
    parts = [
        dicom_series(f, np.flatnonzero((kept & series).to_numpy(bool)), messages),
        beam_sums(f[kept & beams]),
        slice_stacks(f[kept & numpy_slices], patterns, messages),
        slice_stacks(f[kept & itk_slices], patterns, messages),
        _singles(f[kept & single & ~is_array]),
        _singles(f[kept & is_array]),
    ]
    for message in sorted(messages):
        warn(message)
    return _finish([p for p in parts if len(p)])


def in_input_order(objects: pd.DataFrame, files: pd.DataFrame) -> pd.DataFrame:
    """Objects in the order of the input, images first, renumbered ``image_0, ...`` / ``mask_0, ...``.

    ``files`` is the files table in input order (list order, then directory walk order); an
    object takes the position of its first member. MIRP keeps the order of a list (spec 4.4).

    Examples
    --------
    >>> objects = schema.coerce(pd.DataFrame({"object_id": ["image_0", "image_1"], "role": "image",
    ...     "file_paths": [("/d/b.nii",), ("/d/a.nii",)]}), "objects")
    >>> files = schema.coerce(pd.DataFrame({"file_path": ["/d/a.nii", "/d/b.nii"]}), "files")
    >>> in_input_order(objects, files)["file_paths"].str[0].tolist()
    ['/d/a.nii', '/d/b.nii']
    """
    members = objects["file_paths"].map(lambda p: list(p) if p else []).explode().dropna()
    arrays = objects["array_index"].dropna()
    keys = pd.concat([members, "array:" + arrays.astype("int64").astype(str)])
    # One hash of the keys of the files and of the members (no index of every file, no map): the
    # first position of each key in the files table, then each object's earliest member.
    n = len(files)
    codes, uniques = pd.factorize(np.concatenate([schema.row_keys(files).to_numpy(object), keys.to_numpy(object)]))
    first_of = np.full(len(uniques), n, dtype=np.int64)
    np.minimum.at(first_of, codes[:n][codes[:n] >= 0], np.flatnonzero(codes[:n] >= 0))
    where = first_of[codes[n:]]
    first = pd.Series(where, index=keys.index).groupby(level=0).min().reindex(objects.index).fillna(n)
    ordered = objects.assign(_order=first.to_numpy(), _image=objects["role"] != "image")
    ordered = ordered.sort_values(["_image", "_order"], kind="stable").drop(columns=["_order", "_image"])
    ordered = ordered.reset_index(drop=True)
    number = ordered.groupby("role").cumcount().astype(str)
    return ordered.assign(object_id=ordered["role"] + "_" + number)


def _singles(members: pd.DataFrame) -> pd.DataFrame:
    """One object per file (or array), geometry from its row."""
    members = members.sort_values(["file_path", "array_index"], kind="mergesort")
    out = collect(members, np.arange(len(members)))
    rtdose_spacing(out, members)
    return out


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
    fill_geometry(out)
    out["file_type"] = out["file_type"].where(out["array_index"].isna(), None)
    out["_rank"] = (out["role"] != "image").astype(int)
    out["_first"] = [p[0] if p else None for p in out["file_paths"]]
    out = out.sort_values(
        ["_rank", "sample_name", "_first", "array_index"], kind="mergesort", na_position="last", ignore_index=True
    )
    out["object_id"] = out["role"].astype(str) + "_" + out.groupby("role").cumcount().astype(str)
    out = schema.coerce(out, "objects")
    return out[schema.names("objects")]
