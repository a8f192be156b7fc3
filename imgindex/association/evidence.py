"""The evidence of each association step, per (image, mask) candidate pair, vectorised.

:class:`Objects` holds the per-object arrays a step needs (computed once, when needed);
pairs that share a key are in :mod:`.keys`; :func:`dir_distance`,
:func:`grid_score` and :func:`name_similarity` score candidate pairs on folder distance, the voxel
grid and the likeness of names and descriptions; :func:`dense_step` narrows with one of them.
"""

from __future__ import annotations

import os
import re
from functools import cached_property
from itertools import chain, product
from pathlib import PurePath
from typing import Literal, TypedDict, cast

import numpy as np
import pandas as pd
from numpy.typing import NDArray

EXTENSION = re.compile(r"(\.nii\.gz|\.nii|\.nrrd|\.nhdr|\.mha|\.mhd|\.dcm|\.ima|\.npy|\.npz)$", re.IGNORECASE)
TOL = 1e-3  # grid equality: relative for spacing, mm for origin, absolute for direction cosines
#: Words of names and descriptions that say what a file is, not whose or of what: not compared.
STOP_WORDS = frozenset(
    {
        "image",
        "images",
        "img",
        "mask",
        "masks",
        "seg",
        "segmentation",
        "label",
        "labels",
        "labelmap",
        "rs",
        "rt",
        "rtstruct",
        "struct",
        "roi",
        "rois",
        "dcm",
        "dicom",
        "nii",
        "nifti",
        "nrrd",
        "npy",
        "numpy",
    }
)
#: Description columns compared with names (those the objects table carries).
DESCRIPTIONS = ("SeriesDescription", "StructureSetLabel")

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


def group_extreme(values: Numbers, groups: Positions, how: Literal["min", "max"]) -> Numbers:
    """The minimum or maximum of ``values`` within each group, for every row of the group."""
    if len(values) == 0:
        return values
    return pd.Series(values).groupby(groups).transform(how).to_numpy()


def _tokens(name: str | None, masked: bool) -> list[str]:
    """The compared words of a lower-cased name: numbers without leading zeros (none when masked)."""
    found = re.findall(r"[a-z]+" if masked else r"[a-z]+|\d+", name or "")
    return [str(int(t)) if t.isdigit() else t for t in found if t not in STOP_WORDS]


def file_name(path: str) -> str:
    """``PurePath(path).name``, without building a path object for a plain POSIX path.

    Examples
    --------
    >>> file_name("/data/ct/slice_001.dcm"), file_name("/data/ct/")
    ('slice_001.dcm', 'ct')
    """
    if os.sep == "/":
        name = path.rpartition("/")[2]
        if name not in ("", "."):  # a trailing "/" or "." is not the name: PurePath drops them
            return name
    return PurePath(path).name


def _series_name(paths: tuple[str, ...]) -> str:
    """What the file names of a series share: their common start, without trailing numbers."""
    names = [EXTENSION.sub("", file_name(p)) for p in (min(paths), max(paths))]
    common = os.path.commonprefix(names)  # noqa: RUF071 - a common start of names, not of paths
    return re.sub(r"[\d_\-. ]+$", "", common)


class Objects:
    """The per-object arrays a step needs, computed once and only when needed."""

    def __init__(self, df: pd.DataFrame):
        self.df = df
        self.n = len(df)
        self.dicom = flags(df["file_type"].eq("dicom"))
        self._frames: dict[tuple[bool, bool], pd.DataFrame] = {}
        self.folders: dict[int, _Folders] = {}  # the folders with those of a mask table, by its id

    @cached_property
    def names(self) -> list[str | None]:
        """The name each object is compared by, lower-cased, without the imaging extension.

        A single file's name; a DICOM series' common file-name start (or its folder); a slice
        stack's first slice, numbers masked; ``None`` for an object without a file.
        """
        out: list[str | None] = []
        for path, paths, folder in zip(self.df["file_path"], self.df["file_paths"], self.df["dir_path"], strict=True):
            if isinstance(path, str):
                name = file_name(path)
            elif isinstance(paths, tuple) and paths and self.dicom[len(out)]:  # a DICOM series
                name = _series_name(paths) or (
                    file_name(folder) if isinstance(folder, str) else PurePath(paths[0]).parent.name
                )
            elif isinstance(paths, tuple) and paths:  # a slice stack: its first slice, numbers masked
                name = re.sub(r"\d+", "#", file_name(paths[0]))
            else:
                name = None
            out.append(EXTENSION.sub("", name).lower() if name else None)
        return out

    @cached_property
    def named(self) -> Flags:
        """Whether each object has a name to compare (a file), without working the names out."""
        return flags(self.df["file_path"].notna()) | nonempty(self.df["file_paths"])

    @cached_property
    def descriptions(self) -> list[str]:
        """The descriptions of each object (SeriesDescription, StructureSetLabel), lower-cased."""
        columns = [self.df[c] for c in DESCRIPTIONS if c in self.df.columns]
        if not columns:
            return [""] * self.n
        text = columns[0].astype(object).where(columns[0].notna(), "")
        for other in columns[1:]:
            text = text + " " + other.astype(object).where(other.notna(), "")
        return [str(t).lower() for t in text]

    @cached_property
    def stacked(self) -> Flags:
        """Whether the name is a slice stack's (its slice numbers masked with ``#``)."""
        return np.array([n is not None and "#" in n for n in self.names], bool)

    @cached_property
    def masked_names(self) -> list[str | None]:
        """Names with every run of digits masked, to compare a slice stack with single slices."""
        return [re.sub(r"\d+", "#", n) if n else None for n in self.names]

    def token_frame(self, masked: bool, descriptions: bool = True) -> pd.DataFrame:
        """(object, token) rows, one per distinct compared word of each object's name (and descriptions)."""
        key = (masked, descriptions)
        if key not in self._frames:
            self._frames[key] = self._word_frame(masked, descriptions)
        return self._frames[key]

    def _word_frame(self, masked: bool, descriptions: bool) -> pd.DataFrame:
        objects: list[int] = []
        words: list[str] = []
        texts = self.descriptions if descriptions else [""] * self.n
        for k, (name, text) in enumerate(zip(self.names, texts, strict=True)):
            found = set(_tokens(name, masked)) | set(_tokens(text, masked))
            objects.extend([k] * len(found))
            words.extend(found)
        return pd.DataFrame({"o": np.array(objects, np.int64), "t": pd.Series(words, dtype=object)})

    def _block(self, prefix: str) -> NDArray[np.float64]:
        columns = [self.df[f"{prefix}_{a}"].to_numpy(dtype=np.float64, na_value=np.nan) for a in "xyz"]
        return np.column_stack(columns)  # column by column: no frame of three columns

    @cached_property
    def valid(self) -> Flags:
        """Whether each object has a voxel grid (size, spacing and origin all known), without working it out."""
        blocks = [self._block(prefix) for prefix in ("size", "spacing", "origin")]
        return cast(Flags, np.isfinite(np.hstack(blocks)).all(axis=1))  # one per row

    @cached_property
    def geometry(self) -> Grids:
        """The voxel grid of each object: size, spacing, origin, direction, validity, world bounds."""
        size, spacing, origin = self._block("size"), self._block("spacing"), self._block("origin")
        eye = tuple(np.eye(3).ravel())
        direction = np.array(
            [v if isinstance(v, tuple) and len(v) == 9 else eye for v in self.df["direction"]], dtype=float
        ).reshape(-1, 3, 3)
        valid = self.valid
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


def _parts(folder: str) -> tuple[str, ...]:
    """``PurePath(folder).parts``, without building a path object for a plain absolute POSIX folder."""
    if os.sep == "/" and folder.startswith("/") and not folder.startswith("//") and "//" not in folder:
        names = folder[1:].split("/")
        if "." not in names and names[-1] != "":
            return ("/", *names)
        if folder == "/":
            return ("/",)
    return PurePath(folder).parts


class _Folders:
    """The folders of the images and masks of one association, each split into path parts once."""

    def __init__(self, img: Objects, msk: Objects) -> None:
        dirs = pd.concat([img.df["dir_path"], msk.df["dir_path"]], ignore_index=True)
        self.codes, found = pd.factorize(dirs)
        self.n_images, self.n_unique = img.n, len(found)
        uniques: list[str] = found.to_numpy(object).tolist()
        parts = [_parts(d) for d in uniques]
        lengths = np.fromiter(map(len, parts), np.int64, len(parts))
        depth = max(int(lengths.max(initial=0)), 1)
        rows = np.repeat(np.arange(len(parts)), lengths)
        cols = np.arange(len(rows)) - np.repeat(np.cumsum(lengths) - lengths, lengths)
        words = np.full((len(parts), depth), -1, np.int64)
        words[rows, cols] = pd.factorize(np.fromiter(chain.from_iterable(parts), object, len(rows)))[0]
        # The code of each leading run of parts, level by level: one per (code of the run before, next part).
        self.table = np.full((len(parts), depth), -1, np.int64)
        before = np.zeros(len(parts), np.int64)
        for k in range(depth):
            deeper = np.flatnonzero(words[:, k] >= 0)
            before[deeper] = pd.factorize(before[deeper] * (len(rows) + 1) + words[deeper, k])[0]
            self.table[deeper, k] = before[deeper]
        self.n_parts = lengths.astype(float)
        self.anchor = pd.factorize(
            np.array(
                [p[0] if p and p[0] == "/" else PurePath(d).anchor for d, p in zip(uniques, parts, strict=True)],
                dtype=object,
            )
        )[0]


def dir_distance(img: Objects, msk: Objects, ci: Positions, cm: Positions) -> Numbers:
    """MIRP's file distance of each pair: parts of the image folder minus parts shared with the mask's."""
    folders = img.folders.get(id(msk))
    if folders is None:
        folders = img.folders[id(msk)] = _Folders(img, msk)
    a, b = folders.codes[: folders.n_images][ci], folders.codes[folders.n_images :][cm]
    out = np.full(len(ci), np.inf)
    ok = (a >= 0) & (b >= 0)
    n, table = folders.n_unique, folders.table
    unique_pairs, inverse = np.unique(a[ok].astype(np.int64) * n + b[ok], return_inverse=True)
    ua, ub = np.divmod(unique_pairs, n)
    common = ((table[ua] == table[ub]) & (table[ua] >= 0)).sum(axis=1)
    # MIRP: os.path.commonpath fails for absolute with relative paths → infinite distance.
    out[ok] = np.where(folders.anchor[ua] == folders.anchor[ub], folders.n_parts[ua] - common, np.inf)[inverse]
    return out


def _shared_tokens(left: pd.DataFrame, right: pd.DataFrame, ci: Positions, cm: Positions) -> Numbers:
    """Per pair, how many tokens the image (``left``) and the mask (``right``) share: merges, no loop."""
    if len(ci) == 0 or left.empty or right.empty:
        return np.zeros(len(ci))
    codes, _ = pd.factorize(pd.concat([left["t"], right["t"]], ignore_index=True))
    lt = pd.DataFrame({"i": left["o"].to_numpy(), "t": codes[: len(left)]})
    rt = pd.DataFrame({"m": right["o"].to_numpy(), "t": codes[len(left) :]})
    pairs = pd.DataFrame({"p": np.arange(len(ci)), "i": ci, "m": cm})
    both = pairs.merge(lt, on="i").merge(rt, on=["m", "t"])
    return np.bincount(both["p"].to_numpy(np.int64), minlength=len(ci)).astype(float)


def _prefix_lengths(a: list[str], b: list[str]) -> Numbers:
    """The length of the common start of each pair of names, vectorised over fixed-width arrays."""
    if not a:
        return np.zeros(0)
    width = max(1, max(map(len, a)), max(map(len, b)))
    left = np.array(a, dtype=f"<U{width}").view(np.int32).reshape(len(a), width)
    right = np.array(b, dtype=f"<U{width}").view(np.int32).reshape(len(b), width)
    differ = left != right
    first = np.where(differ.any(axis=1), differ.argmax(axis=1), width)
    lengths = np.minimum(np.fromiter(map(len, a), np.int64, len(a)), np.fromiter(map(len, b), np.int64, len(b)))
    return np.minimum(first, lengths).astype(float)


def name_likeness(
    img: Objects, msk: Objects, ci: Positions, cm: Positions, *, descriptions: bool = True
) -> tuple[Numbers, Flags]:
    """How alike each pair's names (and DICOM descriptions) are: the Jaccard index of their words.

    Returns ``(index, masked)``: a slice stack's name has its slice numbers masked, and is
    compared with every name masked alike (``masked``), so that the slices of a mask stacked with
    "no" tie instead of one winning by number.
    """
    if len(ci) == 0:  # nothing to compare: the names are not worked out
        return np.zeros(0), np.zeros(0, bool)
    masked = img.stacked[ci] | msk.stacked[cm]
    jac = np.zeros(len(ci))
    for use_mask in (False, True):
        rows = np.flatnonzero(masked == use_mask)
        if len(rows) == 0:
            continue
        left, right = img.token_frame(use_mask, descriptions), msk.token_frame(use_mask, descriptions)
        shared = _shared_tokens(left, right, ci[rows], cm[rows])
        n_left = np.bincount(left["o"].to_numpy(np.int64), minlength=img.n)[ci[rows]]
        n_right = np.bincount(right["o"].to_numpy(np.int64), minlength=msk.n)[cm[rows]]
        jac[rows] = shared / np.maximum(n_left + n_right - shared, 1)
    return jac, masked


def name_prefix(img: Objects, msk: Objects, ci: Positions, cm: Positions, masked: Flags) -> Numbers:
    """The length of the common start of each pair's names (masked names where ``masked``)."""
    if len(ci) == 0:
        return np.zeros(0)

    def text(names: list[str | None]) -> NDArray[np.object_]:
        return np.array([n or "" for n in names], dtype=object)  # once per object

    a = np.where(masked, text(img.masked_names)[ci], text(img.names)[ci])
    b = np.where(masked, text(msk.masked_names)[cm], text(msk.names)[cm])
    return _prefix_lengths(a.tolist(), b.tolist())


def prefix_length(a: str | None, b: str | None) -> int:
    """The length of the common start of two names (``None`` counts as empty).

    Examples
    --------
    >>> prefix_length("sts_001_ct", "sts_001_mask"), prefix_length(None, "a")
    (8, 0)
    """
    return int(_prefix_lengths([a or ""], [b or ""])[0])


def grid_score(img: Objects, msk: Objects, ci: Positions, cm: Positions) -> Numbers:
    """2 for pairs on the same voxel grid, 1 for grids that overlap in the world, 0 otherwise."""
    if len(ci) == 0:  # no pair: the grids are not worked out
        return np.zeros(0)
    gi, gm = img.geometry, msk.geometry
    valid = gi["valid"][ci] & gm["valid"][cm]
    equal = (
        valid
        & (gi["size"][ci] == gm["size"][cm]).all(axis=1)
        & (
            np.abs(gi["spacing"][ci] - gm["spacing"][cm])
            <= TOL * np.maximum(np.abs(gi["spacing"][ci]), np.abs(gm["spacing"][cm]))
        ).all(axis=1)
        & (np.abs(gi["origin"][ci] - gm["origin"][cm]) <= TOL).all(axis=1)
        & (np.abs(gi["direction"][ci] - gm["direction"][cm]) <= TOL).all(axis=1)
    )
    overlap = valid & ((gi["lo"][ci] < gm["hi"][cm]) & (gm["lo"][cm] < gi["hi"][ci])).all(axis=1)
    return np.where(equal, 2.0, np.where(overlap, 1.0, 0.0))


def same_type(img: Objects, msk: Objects, ci: Positions, cm: Positions) -> Flags:
    """Per pair: the image's candidates of its own file type, where it has any (all candidates otherwise)."""
    ti = img.df["file_type"].astype(object).to_numpy()[ci]
    tm = msk.df["file_type"].astype(object).to_numpy()[cm]
    same = np.asarray((ti == tm) & pd.notna(ti), dtype=bool)
    alone = group_extreme(same.astype(float), ci, "max") == 0
    return cast(Flags, same | alone)


def dense_step(
    step: str, img: Objects, msk: Objects, ci: Positions, cm: Positions, tie_breaker: bool
) -> tuple[Flags, Flags]:
    """(match, decides) per candidate row; an image is narrowed when one of its rows decides."""
    if step == "file_distance":
        d = dir_distance(img, msk, ci, cm)
        match = np.isfinite(d) & (d == group_extreme(d, ci, "min"))
        return match, match
    if step == "file_name_similarity":
        # Never across file types when the image has a candidate of its own type (a DICOM series
        # keeps its RTSTRUCT, a NIfTI image its label map, however alike the other names are). File
        # names only: descriptions would tell an image's RTSTRUCT from its SEG, not whose they are
        # (the competition between images for a mask compares them).
        typed = same_type(img, msk, ci, cm)
        jac, masked = name_likeness(img, msk, ci, cm, descriptions=False)
        jac = np.where(typed, jac, -1.0)
        best = (jac > 0) & (jac == group_extreme(jac, ci, "max"))
        pre = np.full(len(ci), -1.0)
        pre[best] = name_prefix(img, msk, ci[best], cm[best], masked[best])
        match = best & (pre == group_extreme(pre, ci, "max"))
        return match, match
    score = grid_score(img, msk, ci, cm)
    if tie_breaker:  # default chain: only label maps on the same grid decide; DICOM masks stay
        label = ~msk.dicom[cm]
        equal = score == 2
        return equal | ~label, equal & label
    top = group_extreme(score, ci, "max")
    match = (score > 0) & (score == top)
    return match, match


def can_apply(step: str, img: Objects) -> Flags:
    """Whether a dense step has something to compare for each image (a folder, a name, a grid)."""
    if step == "file_distance":
        return flags(img.df["dir_path"].notna())
    if step == "file_name_similarity":
        return img.named
    return img.valid
