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

import re
import warnings
from collections.abc import Iterable
from functools import cached_property
from itertools import product
from pathlib import PurePath

import numpy as np
import pandas as pd

from . import schema
from .errors import InputError, InputTypeError

#: Narrowing steps, in the fixed order in which they are applied.
STEPS: tuple[str, ...] = (
    "reference",
    "frame_of_reference",
    "sample_name",
    "file_distance",
    "file_name_similarity",
    "position",
)
#: The steps of the default association (``strategy=None``).
DEFAULT_STEPS: tuple[str, ...] = (
    "reference",
    "frame_of_reference",
    "sample_name",
    "file_distance",
    "position",
    "file_name_similarity",
)
#: Every strategy name :func:`associate` accepts.
STRATEGIES: tuple[str, ...] = (*STEPS, "list_order", "single_image")

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
_EXTENSION = re.compile(r"(\.nii\.gz|\.nii|\.nrrd|\.nhdr|\.mha|\.mhd|\.dcm|\.ima|\.npy|\.npz)$", re.IGNORECASE)
_TOL = 1e-3  # grid equality: relative for spacing, mm for origin, absolute for direction cosines
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


def _flags(values: pd.Series) -> np.ndarray:
    return values.fillna(False).to_numpy(dtype=bool)


def _nonempty(values: pd.Series) -> np.ndarray:
    return np.fromiter((isinstance(v, tuple) and len(v) > 0 for v in values), bool, len(values))


def _keys(values: pd.Series, keep: np.ndarray, pos: str) -> pd.DataFrame:
    """(position, key) rows of the kept objects, list columns exploded, nulls dropped."""
    s = values[keep]
    if s.dtype == object:
        s = s.explode()
    s = s.dropna()
    return pd.DataFrame({pos: s.index.to_numpy(np.int64), "key": s.astype(str).to_numpy(object)})


def _group_extreme(values: np.ndarray, groups: np.ndarray, how: str) -> np.ndarray:
    if len(values) == 0:
        return values
    return pd.Series(values).groupby(groups).transform(how).to_numpy()


class _Objects:
    """The per-object arrays a step needs, computed once and only when needed."""

    def __init__(self, df: pd.DataFrame):
        self.df = df
        self.n = len(df)
        self.dicom = _flags(df["file_type"].eq("dicom"))

    @cached_property
    def names(self) -> list[str | None]:
        out: list[str | None] = []
        for path, paths, folder in zip(self.df["file_path"], self.df["file_paths"], self.df["dir_path"], strict=True):
            if isinstance(path, str):
                name = PurePath(path).name
            elif isinstance(paths, tuple) and paths and self.dicom[len(out)]:  # a DICOM series: its folder
                name = PurePath(folder).name if isinstance(folder, str) else PurePath(paths[0]).parent.name
            elif isinstance(paths, tuple) and paths:  # a slice stack: its first slice, numbers masked
                name = re.sub(r"\d+", "#", PurePath(paths[0]).name)
            else:
                name = None
            out.append(_EXTENSION.sub("", name).lower() if name else None)
        return out

    @cached_property
    def tokens(self) -> list[frozenset[str]]:
        return [
            frozenset(str(int(t)) if t.isdigit() else t for t in re.findall(r"[a-z]+|\d+", n or "")) for n in self.names
        ]

    @cached_property
    def stacked(self) -> np.ndarray:
        """Whether the name is a slice stack's (its slice numbers masked with ``#``)."""
        return np.array([bool(n) and "#" in n for n in self.names], bool)

    @cached_property
    def masked_names(self) -> list[str | None]:
        """Names with every run of digits masked, to compare a slice stack with single slices."""
        return [re.sub(r"\d+", "#", n) if n else None for n in self.names]

    @cached_property
    def masked_tokens(self) -> list[frozenset[str]]:
        return [frozenset(re.findall(r"[a-z]+", n or "")) for n in self.masked_names]

    @cached_property
    def geometry(self) -> dict[str, np.ndarray]:
        def block(prefix: str) -> np.ndarray:
            return self.df[[f"{prefix}_{a}" for a in "xyz"]].astype("float64").to_numpy()

        size, spacing, origin = block("size"), block("spacing"), block("origin")
        eye = tuple(np.eye(3).ravel())
        direction = np.array(
            [v if isinstance(v, tuple) and len(v) == 9 else eye for v in self.df["direction"]], dtype=float
        ).reshape(-1, 3, 3)
        valid = np.isfinite(np.hstack([size, spacing, origin])).all(axis=1)
        corners = np.array(list(product([False, True], repeat=3)))  # (8, 3): voxel-edge corners
        index = np.where(corners[None], (size - 0.5)[:, None, :], -0.5) * spacing[:, None, :]
        world = origin[:, None, :] + np.einsum("nij,nkj->nki", direction, index)
        return {
            "size": size,
            "spacing": spacing,
            "origin": origin,
            "direction": direction.reshape(-1, 9),
            "valid": valid,
            "lo": world.min(axis=1),
            "hi": world.max(axis=1),
        }


def _available(img: _Objects, msk: _Objects) -> set[str]:
    if img.n == 0 or msk.n == 0:
        return set()
    i, m = img.df, msk.df
    found = set()
    if (img.dicom & (_flags(i["SeriesInstanceUID"].notna()) | _nonempty(i["SOPInstanceUID"]))).any() and (
        msk.dicom & (_nonempty(m["ReferencedSeriesInstanceUID"]) | _nonempty(m["ReferencedSOPInstanceUID"]))
    ).any():
        found.add("reference")
    mask_frames = _flags(m["FrameOfReferenceUID"].notna()) | _nonempty(m["ReferencedFrameOfReferenceUID"])
    if (img.dicom & _flags(i["FrameOfReferenceUID"].notna())).any() and (msk.dicom & mask_frames).any():
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
    return _available(_Objects(_prepare(images, "images")), _Objects(_prepare(masks, "masks")))


def _requested(strategy: str | Iterable[str] | None) -> list[str] | None:
    if strategy is None:
        return None
    if isinstance(strategy, str):
        strategy = [strategy]
    elif not isinstance(strategy, Iterable):
        raise InputTypeError(
            f"The association strategy must be a str, a list of str or None, not {type(strategy).__name__}."
        )
    names = list(dict.fromkeys(strategy))
    unknown = [s for s in names if s not in STRATEGIES]
    if unknown or not names:
        what = f"Unknown association strategy {unknown!r}" if unknown else "An empty list of association strategies"
        raise InputError(f"{what}. Valid strategies are: {', '.join(STRATEGIES)}; or None for the default.")
    return names


def _key_codes(step: str, img: _Objects, msk: _Objects) -> np.ndarray:
    """Codes ``image * n_masks + mask`` of the pairs that share a key, by merges on exploded keys."""
    i, m = img.df, msk.df
    if step == "reference":
        sides = [
            (_keys(i[own], img.dicom, "i"), _keys(m[f"Referenced{own}"], msk.dicom, "m"))
            for own in ("SeriesInstanceUID", "SOPInstanceUID")
        ]
    elif step == "frame_of_reference":
        frames = pd.concat(
            [_keys(m["FrameOfReferenceUID"], msk.dicom, "m"), _keys(m["ReferencedFrameOfReferenceUID"], msk.dicom, "m")]
        )
        sides = [(_keys(i["FrameOfReferenceUID"], img.dicom, "i"), frames)]
    else:
        every_i, every_m = np.ones(img.n, bool), np.ones(msk.n, bool)
        sides = [(_keys(i["sample_name"], every_i, "i"), _keys(m["sample_name"], every_m, "m"))]
    codes = [
        (c["i"].to_numpy(np.int64) * msk.n + c["m"].to_numpy(np.int64))
        for c in (left.drop_duplicates().merge(right.drop_duplicates(), on="key") for left, right in sides)
    ]
    return codes[0] if len(codes) == 1 else pd.unique(np.concatenate(codes))


def _dir_distance(img: _Objects, msk: _Objects, ci: np.ndarray, cm: np.ndarray) -> np.ndarray:
    """MIRP's file distance of each pair: parts of the image folder minus parts shared with the mask's."""
    dirs = pd.concat([img.df["dir_path"], msk.df["dir_path"]], ignore_index=True)
    codes, uniques = pd.factorize(dirs)
    parts = [PurePath(d).parts for d in uniques]
    depth = max((len(p) for p in parts), default=0)
    prefix = pd.factorize(pd.Series(["\0".join(p[: k + 1]) for p in parts for k in range(len(p))]))[0]
    table = np.full((len(uniques), max(depth, 1)), -1, np.int64)
    rows = np.repeat(np.arange(len(parts)), [len(p) for p in parts])
    cols = np.concatenate([np.arange(len(p)) for p in parts]) if parts else np.empty(0, np.int64)
    table[rows, cols] = prefix
    n_parts = np.array([len(p) for p in parts], float)
    anchor = pd.factorize(pd.Series([PurePath(d).anchor for d in uniques], dtype=object))[0]
    a, b = codes[: img.n][ci], codes[img.n :][cm]
    out = np.full(len(ci), np.inf)
    ok = (a >= 0) & (b >= 0)
    unique_pairs, inverse = np.unique(a[ok].astype(np.int64) * len(uniques) + b[ok], return_inverse=True)
    ua, ub = np.divmod(unique_pairs, len(uniques))
    common = ((table[ua] == table[ub]) & (table[ua] >= 0)).sum(axis=1)
    # MIRP: os.path.commonpath fails for absolute with relative paths → infinite distance.
    out[ok] = np.where(anchor[ua] == anchor[ub], n_parts[ua] - common, np.inf)[inverse]
    return out


def _prefix_length(a: str | None, b: str | None) -> int:
    a, b = a or "", b or ""
    n = min(len(a), len(b))
    return next((k for k in range(n) if a[k] != b[k]), n)


def _dense_step(
    step: str, img: _Objects, msk: _Objects, ci: np.ndarray, cm: np.ndarray, tie_breaker: bool
) -> tuple[np.ndarray, np.ndarray]:
    """(match, decides) per candidate row; an image is narrowed when one of its rows decides."""
    if step == "file_distance":
        d = _dir_distance(img, msk, ci, cm)
        match = np.isfinite(d) & (d == _group_extreme(d, ci, "min"))
        return match, match
    if step == "file_name_similarity":
        # A slice stack's name has its slice numbers masked: compare it with every name masked
        # alike, so that the slices of a mask stacked with "no" tie instead of one winning by number.
        masked = img.stacked[ci] | msk.stacked[cm]
        ti, tm, ni, nm = img.tokens, msk.tokens, img.names, msk.names
        mti, mtm, mni, mnm = img.masked_tokens, msk.masked_tokens, img.masked_names, msk.masked_names
        jac = np.array(
            [
                len(mti[a] & mtm[b]) / max(len(mti[a] | mtm[b]), 1)
                if k
                else len(ti[a] & tm[b]) / max(len(ti[a] | tm[b]), 1)
                for a, b, k in zip(ci, cm, masked, strict=True)
            ]
        )
        best = (jac > 0) & (jac == _group_extreme(jac, ci, "max"))
        pre = np.array(
            [
                (_prefix_length(mni[a], mnm[b]) if k else _prefix_length(ni[a], nm[b])) if ok else -1
                for a, b, ok, k in zip(ci, cm, best, masked, strict=True)
            ],
            float,
        )
        match = best & (pre == _group_extreme(pre, ci, "max"))
        if tie_breaker:  # default chain: only label maps are told apart by name; DICOM masks stay
            label = ~msk.dicom[cm]
            return match | ~label, match & label
        return match, match
    gi, gm = img.geometry, msk.geometry
    equal = (
        gi["valid"][ci]
        & gm["valid"][cm]
        & (gi["size"][ci] == gm["size"][cm]).all(axis=1)
        & (
            np.abs(gi["spacing"][ci] - gm["spacing"][cm])
            <= _TOL * np.maximum(np.abs(gi["spacing"][ci]), np.abs(gm["spacing"][cm]))
        ).all(axis=1)
        & (np.abs(gi["origin"][ci] - gm["origin"][cm]) <= _TOL).all(axis=1)
        & (np.abs(gi["direction"][ci] - gm["direction"][cm]) <= _TOL).all(axis=1)
    )
    if tie_breaker:  # default chain: only label maps on the same grid decide; DICOM masks stay
        label = ~msk.dicom[cm]
        return equal | ~label, equal & label
    overlap = ((gi["lo"][ci] < gm["hi"][cm]) & (gm["lo"][cm] < gi["hi"][ci])).all(axis=1)
    match = np.where(_group_extreme(equal.astype(float), ci, "max") > 0, equal, overlap)
    return match, match


def _can_apply(step: str, img: _Objects) -> np.ndarray:
    if step == "file_distance":
        return _flags(img.df["dir_path"].notna())
    if step == "file_name_similarity":
        return np.array([n is not None for n in img.names], bool)
    return img.geometry["valid"]


def _narrow(img: _Objects, msk: _Objects, steps: list[str], evidence: set[str], default: bool):
    """Run the chain. Returns candidate rows (ci, cm) and per image: last narrowing step, first
    matching evidence step (indices into STRATEGIES, -1 for none) and whether a DICOM link or
    the grid confirmed the masks."""
    n_i, n_m = img.n, msk.n
    ci, cm = np.empty(0, np.int64), np.empty(0, np.int64)
    is_all = np.ones(n_i, bool)  # candidates still "every mask", kept implicit until a dense step
    last, first = np.full(n_i, -1), np.full(n_i, -1)
    confirmed = np.zeros(n_i, bool)
    reference_codes = np.empty(0, np.int64)
    for step in steps:
        code = STRATEGIES.index(step)
        if step in _KEY_STEPS:
            codes = _key_codes(step, img, msk)
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
            expand = np.flatnonzero(is_all & _can_apply(step, img))
            ci = np.concatenate([ci, np.repeat(expand, n_m)])
            cm = np.concatenate([cm, np.tile(np.arange(n_m), len(expand))])
            is_all[expand] = False
            n_cand = np.where(is_all, n_m, np.bincount(ci, minlength=n_i))
            match, decides = _dense_step(step, img, msk, ci, cm, tie_breaker=default)
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
    img: _Objects, msk: _Objects, unassociated: np.ndarray, taken: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """In-memory image and mask arrays that nothing paired, as many of each: pair them in order.

    Arrays carry nothing but their position in the input, so a list that mixes files and arrays
    (``[path, array]`` with ``mask=[mask_path, mask_array]``) pairs the arrays by list order
    once the files found their masks.
    """
    free_i = unassociated[_flags(img.df["array_index"].notna())[unassociated]]
    claimed = np.zeros(msk.n, bool)
    claimed[taken[taken >= 0]] = True
    free_m = np.flatnonzero(~claimed & _flags(msk.df["array_index"].notna()))
    if len(free_i) == 0 or len(free_i) != len(free_m):
        return free_i[:0], free_m[:0]
    return free_i, free_m


def _describe(img: _Objects, positions: Iterable[int]) -> str:
    positions = list(positions)
    df = img.df
    names = []
    for p in positions[:_MAX_NAMES]:
        where = next((v for v in (df["file_path"].iat[p], df["dir_path"].iat[p]) if isinstance(v, str)), None)
        where = where or (f"array {df['array_index'].iat[p]}" if pd.notna(df["array_index"].iat[p]) else "in memory")
        names.append(f"{df['object_id'].iat[p]} ({where})")
    more = f" and {len(positions) - _MAX_NAMES} more" if len(positions) > _MAX_NAMES else ""
    return ", ".join(names) + more


def associate(images: pd.DataFrame, masks: pd.DataFrame, *, strategy: str | list[str] | None = None) -> pd.DataFrame:
    """Pair images with masks: the pairs table (MIRP's association, as narrowing steps).

    Parameters
    ----------
    images, masks : pandas.DataFrame
        Rows of the objects table (:data:`imgindex.schema.OBJECTS`); never modified.
    strategy : str or list of str, optional
        ``None`` (default) narrows each image's candidates by ``reference``,
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
        Unknown strategy names; a requested strategy the data does not allow (E30); no strategy
        possible at all (E31).

    Examples
    --------
    >>> objs = schema.coerce(pd.DataFrame({"object_id": ["ct_A", "ct_B", "mask_B", "mask_A"],
    ...                                    "sample_name": ["A", "B", "B", "A"]}), "objects")
    >>> associate(objs[:2], objs[2:])[["image_id", "mask_id", "strategy"]].to_numpy().tolist()
    [['ct_A', 'mask_A', 'sample_name'], ['ct_B', 'mask_B', 'sample_name']]
    """
    requested = _requested(strategy)
    img, msk = _Objects(_prepare(images, "images")), _Objects(_prepare(masks, "masks"))
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
            by_order = requested is None and (img.df["dir_path"].notna().any() or msk.df["dir_path"].notna().any())
        else:
            add_i, add_m = _leftover_arrays(img, msk, unassociated, pm) if requested is None else (pm[:0], pm[:0])
            add_code = STRATEGIES.index("list_order")
            missing = np.concatenate([missing, np.setdiff1d(unassociated, add_i)])
        extra = np.setdiff1d(missing, pi)
        pi, pm = np.concatenate([pi, add_i, extra]), np.concatenate([pm, add_m, np.full(len(extra), -1)])
        code = np.concatenate([code, np.full(len(add_i), add_code), np.full(len(extra), -1)])
    order = np.lexsort((pm, pi))
    pi, pm, code = pi[order], pm[order], code[order]
    names = np.array([*STRATEGIES, None], dtype=object)[code]  # code -1 → None

    has_mask = pm >= 0
    shared = has_mask & (np.bincount(pm[has_mask], minlength=n_m)[np.maximum(pm, 0)] > 1)
    shared &= names != "single_image"
    weak = has_mask & pd.Series(names).isin(_WEAK_STEPS).to_numpy() & ~confirmed[pi]
    spread = pd.DataFrame(
        {
            "i": pi[weak],
            "dir": pd.factorize(msk.df["dir_path"])[0][pm[weak]],
            "d": _dir_distance(img, msk, pi[weak], pm[weak]),
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
        warnings.warn(
            "Association of images and masks: " + "; ".join(problems) + ". See the status column of "
            "the pairs table; check the sample names and folders, or choose a strategy explicitly.",
            UserWarning,
            stacklevel=2,
        )
    ids_i, ids_m = img.df["object_id"].to_numpy(object), msk.df["object_id"].to_numpy(object)
    return schema.coerce(
        pd.DataFrame(
            {
                "image_id": ids_i[pi],
                "mask_id": np.where(has_mask, ids_m[np.maximum(pm, 0)], None),
                "strategy": names,
                "status": status,
            }
        ),
        "pairs",
    )
