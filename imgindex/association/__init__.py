"""Image-to-mask association: objects → pairs, strongest evidence first, vectorised.

Two views decide, each over joins on key codes and per-pair arrays, never a loop over pairs:

- **Each image** narrows its candidate masks by a chain of steps (:mod:`.chain`), a step being
  skipped for an image when it would leave no candidate:

  1. ``reference``: DICOM masks that refer to the image's instances (a SEG's referenced
     instances and frame sources, an RTSTRUCT's contour images), else to its series;
  2. ``frame_of_reference``: DICOM masks in the image's frame of reference;
  3. ``sample_name``: masks with the image's sample name;
  4. ``file_distance``: masks in the nearest directory (MIRP's measure);
  5. ``position``: masks on the image's voxel grid (by default: label maps only);
  6. ``file_name_similarity`` (explicit requests): masks whose names share most words, of the
     image's own file type where it has any.

- **Each mask** chosen by several images goes to the images with the strongest evidence
  (:mod:`.resolve`), compared level by level in the same order, and by default with the
  likeness of file names and DICOM descriptions (SeriesDescription, StructureSetLabel) as the
  last tie-breaker. A weaker rule never takes a mask that a stronger one gave to another image:
  an image left without a mask is ``missing``. Images still equal share the mask
  (``ambiguous``), except the volumes of one series, which a mask referring to the series as a
  whole fits alike (``ok``).

When nothing tells an image's masks apart, ``single_image`` (one image) or ``list_order`` (as many
images as masks, all undecided) pair them, as MIRP does; in-memory arrays left over after the
files found their masks pair by list order too (as many image as mask arrays). Otherwise (by
default) an undecided image that could compare folders or grids takes the masks nothing speaks
against (sample names and frames of reference agree, no image has stronger evidence) — shared,
they are ``ambiguous``, never silently unused — and an image with no such mask is ``missing``.

The pairs table records, per pair, the deciding ``strategy``, the ``evidence`` in words and the
other ``candidates``.

Differences from MIRP 2.7.0 (spec section 13): the steps narrow one another instead of the
first match winning, so images sharing a frame of reference (CT, PET and MR of one patient) get
only their own masks; ``file_distance`` is available with a single mask directory;
``file_name_similarity`` and ``position`` are implemented; a ``reference`` step is added; mixed
DICOM and non-DICOM masks never crash (E32); when nothing at all is available, E31 is raised
even for explicit requests (MIRP raises E30 first).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from .. import schema
from ..arguments import DEFAULT_STEPS, STEPS, STRATEGIES
from ..errors import InputError, InputTypeError
from ..options import ImportOptions
from . import report
from .chain import KEY_STEPS, Chain, narrow
from .evidence import Flags, Objects, Positions, dir_distance, flags, grid_score, nonempty
from .keys import group_range
from .resolve import compatible, compete, contested, levels_for, rank, score, step_of

__all__ = ["DEFAULT_STEPS", "STEPS", "STRATEGIES", "associate", "available_strategies", "without_array_geometry"]

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
_CODE = {name: k for k, name in enumerate(STRATEGIES)}
_WEAK_CODES = np.array(sorted(_CODE[s] for s in _WEAK_STEPS), np.int64)


def _prepare(df: pd.DataFrame, what: str, *, coerced: bool = False) -> pd.DataFrame:
    if not isinstance(df, pd.DataFrame):
        raise InputTypeError(
            f"The {what} must be a pandas DataFrame (rows of the objects table), not {type(df).__name__}."
        )
    if "object_id" not in df.columns:
        raise InputError(
            f"The {what} table has no 'object_id' column. Pass rows of the objects table, "
            "or build one with imgindex.schema.coerce(df, 'objects')."
        )
    out = (df if coerced else schema.coerce(df, "objects")).reset_index(drop=True)
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
        out[column] = out[column].mask(arrays, None)  # NaN in float columns, None in direction (the schema's null)
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
    if img.named.any() and msk.named.any():
        found.add("file_name_similarity")
    if img.valid.any() and msk.valid.any():
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


def associate(
    images: pd.DataFrame, masks: pd.DataFrame, options: ImportOptions | None = None, *, coerced: bool = False
) -> pd.DataFrame:
    """Pair images with masks: the pairs table (MIRP's association, as narrowing steps).

    Parameters
    ----------
    images, masks : pandas.DataFrame
        Rows of the objects table (:data:`imgindex.schema.OBJECTS`); never modified.
    options : ImportOptions, optional
        Its ``association_strategy``: ``None`` (default) narrows each image's candidates by ``reference``,
        ``frame_of_reference``, ``sample_name``, ``file_distance`` and ``position`` (same grid,
        label maps only), skipping a step that would leave nothing, gives a mask several images
        chose to those with the strongest evidence (names and descriptions last), then falls back
        to ``single_image`` or ``list_order``. Named strategies narrow and compete with only those
        steps, in the order of :data:`STEPS` (``frame_of_reference`` includes ``reference``);
        ``list_order`` or ``single_image`` alone pair by position or give the one image every mask.
    coerced : bool
        The frames follow the objects schema already (they come from :func:`imgindex.stacking.stack`,
        as in :func:`imgindex.build_index`): they are not coerced again (checking the UID tuples of
        10^5 files costs ~5 ms a table).

    Returns
    -------
    pandas.DataFrame
        The pairs table (:data:`imgindex.schema.PAIRS`): one row per image and mask, ordered as
        the inputs; an image without a mask has one row with a null ``mask_id`` and status
        ``missing``. Status ``ambiguous``: the mask fits other images equally (they are listed in
        ``candidates``), or the image's masks come from different folders at the same distance
        and neither a DICOM reference, a narrowing frame of reference nor the voxel grid
        confirmed them. ``evidence`` says in words why each pair was made. One ``UserWarning``
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
    img = Objects(_prepare(images, "images", coerced=coerced))
    msk = Objects(_prepare(masks, "masks", coerced=coerced))
    n_i, n_m = img.n, msk.n
    if n_i == 0 or n_m == 0:  # nothing to pair: every image is missing its mask
        return schema.coerce(
            pd.DataFrame(
                {
                    "image_id": img.df["object_id"],
                    "mask_id": pd.NA,
                    "strategy": pd.NA,
                    "status": "missing",
                    "evidence": "no masks to pair with",
                }
            ),
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
    default = requested is None
    chosen = set(requested) if requested is not None else set(DEFAULT_STEPS) | {"list_order", "single_image"}
    if "frame_of_reference" in chosen:
        chosen.add("reference")
    order = STEPS if requested is not None else DEFAULT_STEPS
    steps = [s for s in order if s in chosen and s in available]
    evidence = set(steps) if requested is not None else set(KEY_STEPS)
    chain = narrow(img, msk, steps, evidence, default)

    chain_code = np.where(chain.last >= 0, chain.last, chain.first)
    associated = chain_code >= 0
    keep = associated[chain.ci]
    ci, cm, base = chain.ci[keep], chain.cm[keep], chain_code[chain.ci[keep]]
    undecided = np.zeros(len(ci), bool)
    unassociated = np.flatnonzero(~associated)
    fallback = chosen & available
    add_i, add_m, add_code, by_order = ci[:0], cm[:0], -1, False
    if len(unassociated) and "single_image" in fallback:
        add_i, add_m, add_code = np.zeros(n_m, np.int64), np.arange(n_m), _CODE["single_image"]
    elif len(unassociated) == n_i and "list_order" in fallback:
        add_i, add_m, add_code = np.arange(n_i), np.arange(n_m), _CODE["list_order"]
        by_order = default and bool(img.df["dir_path"].notna().any() or msk.df["dir_path"].notna().any())
    elif len(unassociated) and default:
        # Undecided images that compared folders or grids take the masks nothing speaks against:
        # they compete for them like the others (and lose each to any image with stronger evidence).
        loose_rows = ~associated[chain.ci] & ~chain.blank[chain.ci]
        ui, um = chain.ci[loose_rows], chain.cm[loose_rows]
        fits = compatible(msk, chain, ui, um, img)
        ui, um = ui[fits], um[fits]
        ci, cm = np.concatenate([ci, ui]), np.concatenate([cm, um])
        grid = grid_score(img, msk, ui, um) == 2
        base = np.concatenate([base, np.where(grid & ~msk.dicom[um], _CODE["position"], _CODE["file_distance"])])
        undecided = np.concatenate([undecided, np.ones(len(ui), bool)])

    levels = levels_for(steps)
    rows = contested(cm, n_m)
    outcome = compete(cm, rows, score(img, msk, chain, levels, ci[rows], cm[rows], default))
    pre_i, pre_m = ci, cm
    won = outcome.keep
    ci, cm, base, undecided, level = ci[won], cm[won], base[won], undecided[won], outcome.level[won]
    # The strategy of a pair: its image's own step, or the later level that decided between images.
    later = level > rank(levels, base)
    level_code = np.array([_CODE[step_of(v)] for v in levels] + [-1], np.int64)
    code = np.where(later, level_code[level], base)
    decided_by = np.array([*levels, None], dtype=object)[np.where(later, level, -1)]

    if default and add_code < 0:  # in-memory arrays nothing paired: in list order, as many of each
        add_i, add_m = _leftover_arrays(img, msk, np.setdiff1d(np.arange(n_i), ci), cm)
        add_code = _CODE["list_order"]
    missing = np.setdiff1d(np.arange(n_i), np.concatenate([ci, add_i]))
    pi = np.concatenate([ci, add_i, missing])
    pm = np.concatenate([cm, add_m, np.full(len(missing), -1)])
    code = np.concatenate([code, np.full(len(add_i), add_code), np.full(len(missing), -1)])
    chain_of = np.concatenate([base, np.full(len(add_i), add_code), np.full(len(missing), -1)])
    loose = np.concatenate([undecided, np.zeros(len(add_i) + len(missing), bool)])
    decided_by = np.concatenate([decided_by, np.full(len(add_i) + len(missing), None, dtype=object)])
    by_pair = np.lexsort((pm, pi))
    pi, pm, code, chain_of, loose = pi[by_pair], pm[by_pair], code[by_pair], chain_of[by_pair], loose[by_pair]
    decided_by = decided_by[by_pair]
    return _pairs(img, msk, chain, pi, pm, code, chain_of, loose, decided_by, pre_i, pre_m, by_order)


def _pairs(
    img: Objects,
    msk: Objects,
    chain: Chain,
    pi: Positions,
    pm: Positions,
    code: Positions,
    chain_of: Positions,
    loose: Flags,
    decided_by: np.ndarray,
    pre_i: Positions,
    pre_m: Positions,
    by_order: bool,
) -> pd.DataFrame:
    """The pairs table of the final rows: status, evidence, candidates; and the one warning."""
    n_i, n_m = img.n, msk.n
    names = np.array([*STRATEGIES, None], dtype=object)[code]  # code -1 → None
    has_mask = pm >= 0
    pair_code = pi * n_m + np.maximum(pm, 0)

    def hit(level: str) -> Flags:
        return has_mask & np.isin(pair_code, chain.codes.get(level, np.empty(0, np.int64)))

    holders = np.bincount(pm[has_mask], minlength=n_m)[np.maximum(pm, 0)]
    shared = has_mask & (holders > 1) & (names != "single_image")
    # A mask that refers to a series as a whole fits each of its volumes alike: ok, not ambiguous.
    volumes = np.zeros(len(pi), bool)
    if shared.any():
        group = img.df["volume_group"] if "volume_group" in img.df.columns else pd.Series(pd.NA, index=img.df.index)
        group_code = pd.factorize(group.astype(object))[0]
        series_only = hit("reference_series") & ~hit("reference_instances")
        m = pm[shared]
        n, lo, hi = group_range(group_code[pi[shared]], m, n_m)  # one volume group (not null) per mask
        whole = np.bincount(m, weights=~series_only[shared], minlength=n_m) == 0  # every row refers to the series
        volume_mask = (n > 0) & (lo == hi) & (lo >= 0) & whole
        volumes = shared & volume_mask[np.maximum(pm, 0)]
    shared &= ~volumes

    weak = has_mask & np.isin(code, _WEAK_CODES) & ~chain.confirmed[pi]
    unsure = np.zeros(len(pi), bool)
    if weak.any():
        # Masks of one image from different folders at the same distance.
        folder = pd.factorize(msk.df["dir_path"])[0][pm[weak]]
        known = folder >= 0
        i, d = pi[weak][known], dir_distance(img, msk, pi[weak], pm[weak])[known]
        n, lo_dir, hi_dir = group_range(folder[known], i, n_i)
        _, lo, hi = group_range(d, i, n_i)
        unsure_image = (n > 0) & (lo_dir != hi_dir) & (lo == hi)
        unsure = has_mask & unsure_image[pi]
    ambiguous = shared | unsure
    status = np.where(~has_mask, "missing", np.where(ambiguous, "ambiguous", "ok"))

    candidates, n_others = report.candidate_ids(img, pre_i, pre_m, pi, pm)
    grid = np.zeros(len(pi))
    on_grid = has_mask & (names == "position")
    grid[on_grid] = grid_score(img, msk, pi[on_grid], pm[on_grid])
    details = {
        "instances": hit("reference_instances"),
        "series": hit("reference_series"),
        "sample": hit("sample_name"),
        "overlap": on_grid & (grid == 1),
        "volumes": volumes,
        "undecided": loose & has_mask,
        "lost": ~has_mask & (n_others > 0),
        "unsure": unsure,
    }
    words = report.evidence_text(chain_of, details, decided_by, n_others, status)

    report.warn_about(img, pi[~has_mask], pd.unique(pi[ambiguous]), by_order)
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
                "evidence": words,
                "candidates": pd.Series(candidates, dtype=object),
            }
        ),
        "pairs",
    )
