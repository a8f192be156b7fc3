"""Image-to-mask association: objects → pairs, as step-by-step narrowing over key merges.

Every image starts with all masks as candidates. Each step of a fixed chain narrows that set,
and is skipped for an image when it would leave no candidate:

1. ``reference``: DICOM masks whose referenced series or instances are the image's;
2. ``frame_of_reference``: DICOM masks in the image's frame of reference;
3. ``sample_name``: masks with the image's sample name;
4. ``file_distance``: masks in the nearest directory (MIRP's measure);
5. ``file_name_similarity`` (explicit requests only): masks whose file name shares most words;
6. ``position``: masks on the image's voxel grid (by default: label maps only, a tie-breaker).

When nothing tells an image's masks apart, ``single_image`` (one image) or ``list_order`` (as many
images as masks, all undecided) pair them, as MIRP does; in-memory arrays left over after the
files found their masks pair by list order too (as many image as mask arrays); otherwise the
image is ``missing``.

Differences from MIRP 2.7.0 (spec section 13): the steps narrow one another instead of the
first match winning, so images sharing a frame of reference (CT, PET and MR of one patient) get
only their own masks; ``file_distance`` is available with a single mask directory;
``file_name_similarity`` and ``position`` are implemented; a ``reference`` step is added; mixed
DICOM and non-DICOM masks never crash (E32); when nothing at all is available, E31 is raised
even for explicit requests (MIRP raises E30 first).
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import pandas as pd

from .. import schema
from ..arguments import DEFAULT_STEPS, STEPS, STRATEGIES
from ..errors import InputError, InputTypeError, warn
from ..options import ImportOptions
from .evidence import Flags, Objects, Positions, can_apply, dense_step, dir_distance, flags, key_codes, nonempty

__all__ = ["DEFAULT_STEPS", "STEPS", "STRATEGIES", "associate", "available_strategies", "without_array_geometry"]

_KEY_STEPS = frozenset({"reference", "frame_of_reference", "sample_name"})
_WEAK_STEPS = frozenset({"sample_name", "file_distance", "file_name_similarity"})
_NEEDS = {
    "reference": "a DICOM image with UIDs and a DICOM mask with referenced series or instances",
    "frame_of_reference": "a DICOM image and a DICOM mask with frames of reference",
    "sample_name": "a named image and a named mask",
    "file_distance": "directories of images and masks",
    "file_name_similarity": "file names of images and masks",
    "position": "geometry (size, spacing, origin) of an image and a mask",
    "list_order": "as many masks as images",
    "single_image": "exactly one image",
}
_MAX_NAMES = 10


def _prepare(df: pd.DataFrame, what: str) -> pd.DataFrame:
    if not isinstance(df, pd.DataFrame):
        raise InputTypeError(
            f"The {what} must be a pandas DataFrame (rows of the objects table), not {type(df).__name__}."
        )
    if "object_id" not in df.columns:
        raise InputError(
            f"The {what} table has no 'object_id' column. Pass rows of the objects table, "
            "or build one with imgindex.schema.coerce(df, 'objects')."
        )
    out = schema.coerce(df, "objects").reset_index(drop=True)
    ids = out["object_id"]
    if ids.isna().any() or ids.duplicated().any():
        bad = ids[ids.isna() | ids.duplicated(keep=False)].astype(object).unique()[:_MAX_NAMES]
        raise InputError(f"The {what} table needs a unique, non-null object_id per row; found {list(bad)}.")
    return out


_GEOMETRY = [f"{k}_{a}" for k in ("size", "spacing", "origin") for a in "xyz"] + ["direction"]


def without_array_geometry(objects: pd.DataFrame) -> pd.DataFrame:
    """The objects with the geometry of in-memory arrays hidden (what the import associates).

    In-memory arrays have a default grid (origin 0, spacing 1), not a position: without it,
    arrays pair by list order or single image, as in MIRP (13.4).

    Examples
    --------
    >>> objs = schema.coerce(pd.DataFrame({"object_id": ["a"], "array_index": [0], "size_x": [4]}), "objects")
    >>> without_array_geometry(objs)["size_x"].isna().tolist()
    [True]
    """
    arrays = objects["array_index"].notna()
    if not arrays.any():
        return objects
    out = objects.copy(deep=False)  # copy-on-write: columns are replaced, never edited in place
    for column in _GEOMETRY:
        out[column] = out[column].mask(arrays)
    return out


def _available(img: Objects, msk: Objects) -> set[str]:
    if img.n == 0 or msk.n == 0:
        return set()
    i, m = img.df, msk.df
    found = set()
    if (img.dicom & (flags(i["SeriesInstanceUID"].notna()) | nonempty(i["SOPInstanceUID"]))).any() and (
        msk.dicom & (nonempty(m["ReferencedSeriesInstanceUID"]) | nonempty(m["ReferencedSOPInstanceUID"]))
    ).any():
        found.add("reference")
    mask_frames = flags(m["FrameOfReferenceUID"].notna()) | nonempty(m["ReferencedFrameOfReferenceUID"])
    if (img.dicom & flags(i["FrameOfReferenceUID"].notna())).any() and (msk.dicom & mask_frames).any():
        found.add("frame_of_reference")
    if i["sample_name"].notna().any() and m["sample_name"].notna().any():
        found.add("sample_name")
    if i["dir_path"].notna().any() and m["dir_path"].notna().any():
        found.add("file_distance")
    if any(img.names) and any(msk.names):
        found.add("file_name_similarity")
    if img.geometry["valid"].any() and msk.geometry["valid"].any():
        found.add("position")
    if img.n == msk.n:
        found.add("list_order")
    if img.n == 1:
        found.add("single_image")
    return found


def available_strategies(images: pd.DataFrame, masks: pd.DataFrame) -> set[str]:
    """The association strategies the data allows (MIRP's ``set_association_strategy``, adapted).

    Parameters
    ----------
    images, masks : pandas.DataFrame
        Rows of the objects table (see :data:`imgindex.schema.OBJECTS`).

    Returns
    -------
    set of str
        Names from :data:`STRATEGIES`; empty when either table is empty.

    Examples
    --------
    >>> objs = schema.coerce(pd.DataFrame({"object_id": ["i", "m"], "sample_name": ["A", "A"]}), "objects")
    >>> sorted(available_strategies(objs[:1], objs[1:]))
    ['list_order', 'sample_name', 'single_image']
    """
    return _available(Objects(_prepare(images, "images")), Objects(_prepare(masks, "masks")))


def _narrow(
    img: Objects, msk: Objects, steps: list[str], evidence: set[str], default: bool
) -> tuple[Positions, Positions, Positions, Positions, Flags]:
    """Run the chain of steps.

    Returns the candidate rows (ci, cm) and per image: the last narrowing step, the first
    matching evidence step (indices into STRATEGIES, -1 for none) and whether a DICOM link or
    the grid confirmed the masks.
    """
    n_i, n_m = img.n, msk.n
    ci, cm = np.empty(0, np.int64), np.empty(0, np.int64)
    is_all = np.ones(n_i, bool)  # candidates still "every mask", kept implicit until a dense step
    last, first = np.full(n_i, -1), np.full(n_i, -1)
    confirmed = np.zeros(n_i, bool)
    reference_codes = np.empty(0, np.int64)
    for step in steps:
        code = STRATEGIES.index(step)
        if step in _KEY_STEPS:
            codes = key_codes(step, img, msk)
            hit = np.isin(ci * n_m + cm, codes)
            ki, km = np.divmod(codes, n_m)
            ki, km = ki[is_all[ki]], km[is_all[ki]]
            n_cand = np.where(is_all, n_m, np.bincount(ci, minlength=n_i))
            n_hit = np.bincount(ci[hit], minlength=n_i) + np.bincount(ki, minlength=n_i)
            applied = n_hit > 0
            keep = hit | ~applied[ci]
            ci, cm = np.concatenate([ci[keep], ki]), np.concatenate([cm[keep], km])
            is_all &= ~applied
            if step == "reference":
                reference_codes = codes
        else:
            if default and step == "position" and not (~msk.dicom & msk.geometry["valid"]).any():
                continue
            expand = np.flatnonzero(is_all & can_apply(step, img))
            ci = np.concatenate([ci, np.repeat(expand, n_m)])
            cm = np.concatenate([cm, np.tile(np.arange(n_m), len(expand))])
            is_all[expand] = False
            n_cand = np.where(is_all, n_m, np.bincount(ci, minlength=n_i))
            match, decides = dense_step(step, img, msk, ci, cm, tie_breaker=default)
            applied = np.bincount(ci[decides], minlength=n_i) > 0
            n_hit = np.bincount(ci[match], minlength=n_i)
            keep = match | ~applied[ci]
            ci, cm = ci[keep], cm[keep]
        narrowed = applied & (n_hit < n_cand)
        last[narrowed] = code
        if step in evidence:
            first[applied & (first < 0)] = code
        if step == "reference":
            confirmed |= applied
        elif step in ("frame_of_reference", "position"):
            confirmed |= narrowed
    if reference_codes.size:
        # A mask that refers to an image of this index belongs to that image: weaker steps must
        # not hand a CT's RTSTRUCT to another series of the same patient and frame of reference.
        claimed = np.zeros(n_m, bool)
        claimed[reference_codes % n_m] = True
        drop = claimed[cm] & ~np.isin(ci * n_m + cm, reference_codes)
        ci, cm = ci[~drop], cm[~drop]
    return ci, cm, last, first, confirmed


def _leftover_arrays(
    img: Objects, msk: Objects, unassociated: Positions, taken: Positions
) -> tuple[Positions, Positions]:
    """In-memory image and mask arrays that nothing paired, as many of each: pair them in order.

    Arrays carry nothing but their position in the input, so a list that mixes files and arrays
    (``[path, array]`` with ``mask=[mask_path, mask_array]``) pairs the arrays by list order
    once the files found their masks.
    """
    free_i = unassociated[flags(img.df["array_index"].notna())[unassociated]]
    claimed = np.zeros(msk.n, bool)
    claimed[taken[taken >= 0]] = True
    free_m = np.flatnonzero(~claimed & flags(msk.df["array_index"].notna()))
    if len(free_i) == 0 or len(free_i) != len(free_m):
        return free_i[:0], free_m[:0]
    return free_i, free_m


def _describe(img: Objects, positions: Iterable[int]) -> str:
    positions = list(positions)
    df = img.df
    is_array = df["array_index"].notna().to_numpy()
    names = []
    for p in positions[:_MAX_NAMES]:
        where = next((v for v in (df["file_path"].iat[p], df["dir_path"].iat[p]) if isinstance(v, str)), None)
        where = where or (f"array {df['array_index'].iat[p]}" if is_array[p] else "in memory")
        names.append(f"{df['object_id'].iat[p]} ({where})")
    more = f" and {len(positions) - _MAX_NAMES} more" if len(positions) > _MAX_NAMES else ""
    return ", ".join(names) + more


def associate(images: pd.DataFrame, masks: pd.DataFrame, options: ImportOptions | None = None) -> pd.DataFrame:
    """Pair images with masks: the pairs table (MIRP's association, as narrowing steps).

    Parameters
    ----------
    images, masks : pandas.DataFrame
        Rows of the objects table (:data:`imgindex.schema.OBJECTS`); never modified.
    options : ImportOptions, optional
        Its ``association_strategy``: ``None`` (default) narrows each image's candidates by ``reference``,
        ``frame_of_reference``, ``sample_name``, ``file_distance`` and ``position`` (same grid,
        label maps only), skipping a step that would leave nothing, then falls back to
        ``single_image`` or ``list_order``. Named strategies narrow with only those steps, in the
        order of :data:`STEPS` (``frame_of_reference`` includes ``reference``); ``list_order`` or
        ``single_image`` alone pair by position or give the one image every mask.

    Returns
    -------
    pandas.DataFrame
        The pairs table (:data:`imgindex.schema.PAIRS`): one row per image and mask, ordered as
        the inputs; an image without a mask has one row with a null ``mask_id`` and status
        ``missing``. Status ``ambiguous``: the mask also went to another image, or the image's
        masks come from different folders at the same distance and neither a DICOM reference,
        a narrowing frame of reference nor the voxel grid confirmed them. One ``UserWarning``
        names the ambiguous and missing images.

    Raises
    ------
    InputError
        A requested strategy the data does not allow (E30); no strategy possible at all (E31).

    Examples
    --------
    >>> objs = schema.coerce(pd.DataFrame({"object_id": ["ct_A", "ct_B", "mask_B", "mask_A"],
    ...                                    "sample_name": ["A", "B", "B", "A"]}), "objects")
    >>> associate(objs[:2], objs[2:])[["image_id", "mask_id", "strategy"]].to_numpy().tolist()
    [['ct_A', 'mask_A', 'sample_name'], ['ct_B', 'mask_B', 'sample_name']]
    """
    options = options or ImportOptions()
    requested = None if options.association_strategy is None else list(options.association_strategy)
    img, msk = Objects(_prepare(images, "images")), Objects(_prepare(masks, "masks"))
    n_i, n_m = img.n, msk.n
    if n_i == 0 or n_m == 0:  # nothing to pair: every image is missing its mask
        return schema.coerce(
            pd.DataFrame({"image_id": img.df["object_id"], "mask_id": pd.NA, "strategy": pd.NA, "status": "missing"}),
            "pairs",
        )
    available = _available(img, msk)
    if not available:
        raise InputError(
            "No strategies for associating images and masks are available, indicating that there is no "
            f"clear way to establish an association. Found {n_i} images and {n_m} masks without DICOM links, "
            "sample names, folders, file names or geometry; give sample names to both (for example with a "
            "'#' name pattern) or pass as many masks as images."
        )
    if requested is not None:
        bad = [s for s in requested if s not in available]
        if bad:
            raise InputError(
                "One or more strategies for associating images and masks are not available for the provided "
                f"image and mask set: {', '.join(bad)}. Only the following strategies are available: "
                f"{', '.join(s for s in STRATEGIES if s in available)}. ("
                + "; ".join(f"{s} needs {_NEEDS[s]}" for s in bad)
                + "). Request available strategies, or leave the strategy unset to narrow step by step."
            )
    chosen = set(requested) if requested is not None else set(DEFAULT_STEPS) | {"list_order", "single_image"}
    if "frame_of_reference" in chosen:
        chosen.add("reference")
    order = STEPS if requested is not None else DEFAULT_STEPS
    steps = [s for s in order if s in chosen and s in available]
    evidence = set(steps) if requested is not None else set(_KEY_STEPS)
    ci, cm, last, first, confirmed = _narrow(img, msk, steps, evidence, default=requested is None)

    chosen_code = np.where(last >= 0, last, first)
    associated = chosen_code >= 0
    keep = associated[ci]
    pi, pm, code = ci[keep], cm[keep], chosen_code[ci[keep]]
    unassociated = np.flatnonzero(~associated)
    # associated by a step, but every candidate was another image's by reference: no mask
    missing, by_order = np.setdiff1d(np.flatnonzero(associated), pi), False
    pi, pm = np.concatenate([pi, missing]), np.concatenate([pm, np.full(len(missing), -1)])
    code = np.concatenate([code, np.full(len(missing), -1)])
    if len(unassociated):
        fallback = chosen & available
        if "single_image" in fallback:
            add_i, add_m, add_code = np.zeros(n_m, np.int64), np.arange(n_m), STRATEGIES.index("single_image")
        elif "list_order" in fallback and len(unassociated) == n_i:
            add_i, add_m, add_code = np.arange(n_i), np.arange(n_m), STRATEGIES.index("list_order")
            by_order = requested is None and bool(img.df["dir_path"].notna().any() or msk.df["dir_path"].notna().any())
        else:
            add_i, add_m = _leftover_arrays(img, msk, unassociated, pm) if requested is None else (pm[:0], pm[:0])
            add_code = STRATEGIES.index("list_order")
            missing = np.concatenate([missing, np.setdiff1d(unassociated, add_i)])
        extra = np.setdiff1d(missing, pi)
        pi, pm = np.concatenate([pi, add_i, extra]), np.concatenate([pm, add_m, np.full(len(extra), -1)])
        code = np.concatenate([code, np.full(len(add_i), add_code), np.full(len(extra), -1)])
    by_pair = np.lexsort((pm, pi))
    pi, pm, code = pi[by_pair], pm[by_pair], code[by_pair]
    names = np.array([*STRATEGIES, None], dtype=object)[code]  # code -1 → None

    has_mask = pm >= 0
    shared = has_mask & (np.bincount(pm[has_mask], minlength=n_m)[np.maximum(pm, 0)] > 1)
    shared &= names != "single_image"
    weak = has_mask & pd.Series(names).isin(_WEAK_STEPS).to_numpy() & ~confirmed[pi]
    spread = pd.DataFrame(
        {
            "i": pi[weak],
            "dir": pd.factorize(msk.df["dir_path"])[0][pm[weak]],
            "d": dir_distance(img, msk, pi[weak], pm[weak]),
        }
    )
    spread = spread[spread["dir"] >= 0].groupby("i").agg(n=("dir", "nunique"), lo=("d", "min"), hi=("d", "max"))
    unsure = spread.index[(spread["n"] > 1) & (spread["lo"] == spread["hi"])].to_numpy()
    ambiguous = shared | np.isin(pi, unsure)
    status = np.where(~has_mask, "missing", np.where(ambiguous, "ambiguous", "ok"))

    problems = []
    if len(missing):
        problems.append(f"{len(missing)} of {n_i} images have no mask: {_describe(img, missing)}")
    amb_images = pd.unique(pi[ambiguous])
    if len(amb_images):
        problems.append(
            f"{len(amb_images)} images have ambiguous masks (shared with another image, or from "
            f"different folders at the same distance): {_describe(img, amb_images)}"
        )
    if by_order:
        problems.append(f"{n_i} images were paired with masks by list order only, as nothing else told them apart")
    if problems:
        warn(
            "Association of images and masks: " + "; ".join(problems) + ". See the status column of "
            "the pairs table; check the sample names and folders, or choose a strategy explicitly."
        )
    ids_i, ids_m = img.df["object_id"].to_numpy(object), msk.df["object_id"].to_numpy(object)
    mask_ids = ids_m[np.maximum(pm, 0)]  # a new array (fancy indexing)
    mask_ids[~has_mask] = None
    return schema.coerce(
        pd.DataFrame(
            {
                "image_id": ids_i[pi],
                "mask_id": mask_ids,
                "strategy": names,
                "status": status,
            }
        ),
        "pairs",
    )
