"""The evidence of each association step, per (image, mask) candidate pair, vectorised.

:class:`Objects` holds the per-object arrays a step needs (computed once, when needed);
:func:`key_codes` pairs objects that share a key (references, frames of reference, sample names)
by merges on exploded key columns; :func:`dense_step` scores candidate pairs on folder distance,
file-name similarity or the voxel grid.
"""

from __future__ import annotations

import re
from functools import cached_property
from itertools import product
from pathlib import PurePath
from typing import Literal, TypedDict, cast

import numpy as np
import pandas as pd
from numpy.typing import NDArray

EXTENSION = re.compile(r"(\.nii\.gz|\.nii|\.nrrd|\.nhdr|\.mha|\.mhd|\.dcm|\.ima|\.npy|\.npz)$", re.IGNORECASE)
TOL = 1e-3  # grid equality: relative for spacing, mm for origin, absolute for direction cosines

#: Positions of objects (rows of an :class:`Objects`) or codes of candidate pairs.
Positions = NDArray[np.int64]
#: One truth value per object or candidate pair.
Flags = NDArray[np.bool_]
#: One number per object or candidate pair.
Numbers = NDArray[np.float64]


class Grids(TypedDict):
    """The voxel grid of each object (one row per object), as :attr:`Objects.geometry` gives it."""

    size: NDArray[np.float64]  # (n, 3)
    spacing: NDArray[np.float64]  # (n, 3)
    origin: NDArray[np.float64]  # (n, 3)
    direction: NDArray[np.float64]  # (n, 9), row-major
    valid: Flags  # size, spacing and origin all known
    lo: NDArray[np.float64]  # (n, 3): world bounds of the voxel edges
    hi: NDArray[np.float64]  # (n, 3)


def flags(values: pd.Series) -> Flags:
    """A boolean column as a numpy array, nulls false."""
    return values.fillna(False).to_numpy(dtype=bool)


def nonempty(values: pd.Series) -> Flags:
    """Whether each cell of a list column holds a non-empty tuple."""
    return np.fromiter((isinstance(v, tuple) and len(v) > 0 for v in values), bool, len(values))


def keys(values: pd.Series, keep: Flags, pos: str) -> pd.DataFrame:
    """(position, key) rows of the kept objects, list columns exploded, nulls dropped."""
    s = values[keep]
    if s.dtype == object:
        s = s.explode()
    s = s.dropna()
    return pd.DataFrame({pos: s.index.to_numpy(np.int64), "key": s.astype(str).to_numpy(object)})


def group_extreme(values: Numbers, groups: Positions, how: Literal["min", "max"]) -> Numbers:
    """The minimum or maximum of ``values`` within each group, for every row of the group."""
    if len(values) == 0:
        return values
    return pd.Series(values).groupby(groups).transform(how).to_numpy()


class Objects:
    """The per-object arrays a step needs, computed once and only when needed."""

    def __init__(self, df: pd.DataFrame):
        self.df = df
        self.n = len(df)
        self.dicom = flags(df["file_type"].eq("dicom"))

    @cached_property
    def names(self) -> list[str | None]:
        """The name each object is compared by: its file, a DICOM series' folder, a stack's first slice.

        Lower-cased, without the imaging extension; ``None`` for an object without a file.
        """
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
            out.append(EXTENSION.sub("", name).lower() if name else None)
        return out

    @cached_property
    def tokens(self) -> list[frozenset[str]]:
        """The words and numbers (leading zeros dropped) of each name."""
        return [
            frozenset(str(int(t)) if t.isdigit() else t for t in re.findall(r"[a-z]+|\d+", n or "")) for n in self.names
        ]

    @cached_property
    def stacked(self) -> Flags:
        """Whether the name is a slice stack's (its slice numbers masked with ``#``)."""
        return np.array([n is not None and "#" in n for n in self.names], bool)

    @cached_property
    def masked_names(self) -> list[str | None]:
        """Names with every run of digits masked, to compare a slice stack with single slices."""
        return [re.sub(r"\d+", "#", n) if n else None for n in self.names]

    @cached_property
    def masked_tokens(self) -> list[frozenset[str]]:
        """The words of each masked name."""
        return [frozenset(re.findall(r"[a-z]+", n or "")) for n in self.masked_names]

    @cached_property
    def geometry(self) -> Grids:
        """The voxel grid of each object: size, spacing, origin, direction, validity, world bounds."""

        def block(prefix: str) -> NDArray[np.float64]:
            return self.df[[f"{prefix}_{a}" for a in "xyz"]].astype("float64").to_numpy()

        size, spacing, origin = block("size"), block("spacing"), block("origin")
        eye = tuple(np.eye(3).ravel())
        direction = np.array(
            [v if isinstance(v, tuple) and len(v) == 9 else eye for v in self.df["direction"]], dtype=float
        ).reshape(-1, 3, 3)
        valid = cast(Flags, np.isfinite(np.hstack([size, spacing, origin])).all(axis=1))  # one per row
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


def key_codes(step: str, img: Objects, msk: Objects) -> Positions:
    """Codes ``image * n_masks + mask`` of the pairs that share a key, by merges on exploded keys."""
    i, m = img.df, msk.df
    if step == "reference":
        sides = [
            (keys(i[own], img.dicom, "i"), keys(m[f"Referenced{own}"], msk.dicom, "m"))
            for own in ("SeriesInstanceUID", "SOPInstanceUID")
        ]
    elif step == "frame_of_reference":
        frames = pd.concat(
            [keys(m["FrameOfReferenceUID"], msk.dicom, "m"), keys(m["ReferencedFrameOfReferenceUID"], msk.dicom, "m")]
        )
        sides = [(keys(i["FrameOfReferenceUID"], img.dicom, "i"), frames)]
    else:
        every_i, every_m = np.ones(img.n, bool), np.ones(msk.n, bool)
        sides = [(keys(i["sample_name"], every_i, "i"), keys(m["sample_name"], every_m, "m"))]
    codes = [
        (c["i"].to_numpy(np.int64) * msk.n + c["m"].to_numpy(np.int64))
        for c in (left.drop_duplicates().merge(right.drop_duplicates(), on="key") for left, right in sides)
    ]
    return codes[0] if len(codes) == 1 else pd.unique(np.concatenate(codes))


def dir_distance(img: Objects, msk: Objects, ci: Positions, cm: Positions) -> Numbers:
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


def prefix_length(a: str | None, b: str | None) -> int:
    """The length of the common start of two names (``None`` counts as empty).

    Examples
    --------
    >>> prefix_length("sts_001_ct", "sts_001_mask"), prefix_length(None, "a")
    (8, 0)
    """
    a, b = a or "", b or ""
    n = min(len(a), len(b))
    return next((k for k in range(n) if a[k] != b[k]), n)


def dense_step(
    step: str, img: Objects, msk: Objects, ci: Positions, cm: Positions, tie_breaker: bool
) -> tuple[Flags, Flags]:
    """(match, decides) per candidate row; an image is narrowed when one of its rows decides."""
    if step == "file_distance":
        d = dir_distance(img, msk, ci, cm)
        match = np.isfinite(d) & (d == group_extreme(d, ci, "min"))
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
        best = (jac > 0) & (jac == group_extreme(jac, ci, "max"))
        pre = np.array(
            [
                (prefix_length(mni[a], mnm[b]) if k else prefix_length(ni[a], nm[b])) if ok else -1
                for a, b, ok, k in zip(ci, cm, best, masked, strict=True)
            ],
            float,
        )
        match = best & (pre == group_extreme(pre, ci, "max"))
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
            <= TOL * np.maximum(np.abs(gi["spacing"][ci]), np.abs(gm["spacing"][cm]))
        ).all(axis=1)
        & (np.abs(gi["origin"][ci] - gm["origin"][cm]) <= TOL).all(axis=1)
        & (np.abs(gi["direction"][ci] - gm["direction"][cm]) <= TOL).all(axis=1)
    )
    if tie_breaker:  # default chain: only label maps on the same grid decide; DICOM masks stay
        label = ~msk.dicom[cm]
        return equal | ~label, equal & label
    overlap = ((gi["lo"][ci] < gm["hi"][cm]) & (gm["lo"][cm] < gi["hi"][ci])).all(axis=1)
    match = np.where(group_extreme(equal.astype(float), ci, "max") > 0, equal, overlap)
    return match, match


def can_apply(step: str, img: Objects) -> Flags:
    """Whether a dense step has something to compare for each image (a folder, a name, a grid)."""
    if step == "file_distance":
        return flags(img.df["dir_path"].notna())
    if step == "file_name_similarity":
        return np.array([n is not None for n in img.names], bool)
    return img.geometry["valid"]
