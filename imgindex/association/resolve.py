"""The masks' view: when several images chose one mask, the strongest evidence wins and ties stay.

Each image's chain (:mod:`imgindex.association.chain`) picks its candidate masks; a mask may end
up a candidate of several images. :func:`compete` then compares, for each such mask, the
evidence of every image that chose it, level by level (referenced instances, referenced series,
frame of reference, sample name, folder distance, voxel grid, and in the default chain names and
descriptions last): the images with the strongest evidence keep the mask, the others lose it (and
are ``missing`` when nothing is left: a weak rule never takes a mask that a stronger one gave to
another image). Images still equal after every level share the mask (``ambiguous``). Once a DICOM
reference ties a mask to an image, nothing weaker separates it from another image that the mask
refers to as well (the volumes of one series).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from ..arguments import STRATEGIES
from .chain import KEY_STEPS, REFERENCE_PARTS, Chain
from .evidence import Flags, Numbers, Objects, Positions, dir_distance, grid_score, name_likeness, name_prefix

#: The levels on which images compete for a mask, strongest first.
LEVELS = (*REFERENCE_PARTS, "frame_of_reference", "sample_name", "file_distance", "position", "file_name_similarity")


def step_of(level: str) -> str:
    """The association step (a name of :data:`STRATEGIES`) a level belongs to."""
    return "reference" if level in REFERENCE_PARTS else level


def levels_for(steps: list[str]) -> list[str]:
    """The competition levels of the steps that ran, in the order of :data:`LEVELS`."""
    return [level for level in LEVELS if step_of(level) in steps]


@dataclass
class Scores:
    """The evidence of candidate pairs, one column per level (names give two: words, then common start)."""

    levels: list[str]
    columns: list[Numbers]
    column_level: list[int]  # index into levels of each column

    def column(self, level: str) -> Numbers | None:
        """The first column of ``level``, when it was scored."""
        if level not in self.levels:
            return None
        return self.columns[self.column_level.index(self.levels.index(level))]


def score(
    img: Objects, msk: Objects, chain: Chain, levels: list[str], ci: Positions, cm: Positions, default: bool
) -> Scores:
    """Score the pairs ``(ci, cm)`` on every level (higher is stronger)."""
    code = ci * msk.n + cm
    columns: list[Numbers] = []
    owner: list[int] = []
    for k, level in enumerate(levels):
        if step_of(level) in KEY_STEPS:
            codes = chain.codes.get(level, np.empty(0, np.int64))
            columns.append(np.isin(code, codes).astype(float))
        elif level == "file_distance":
            columns.append(-dir_distance(img, msk, ci, cm))
        elif level == "position":
            grid = grid_score(img, msk, ci, cm)
            # default chain: only label maps are placed by their grid; DICOM masks score alike
            columns.append(np.where(msk.dicom[cm], 0.0, (grid == 2).astype(float)) if default else grid)
        else:
            jac, masked = name_likeness(img, msk, ci, cm)
            columns.append(jac)
            owner.append(k)
            columns.append(name_prefix(img, msk, ci, cm, masked))
        owner.append(k)
    # A mask tied to images by a DICOM reference stays with all of them: nothing weaker separates them.
    referenced = np.zeros(len(ci), bool)
    for k, level in enumerate(levels):
        if level in REFERENCE_PARTS:
            referenced |= columns[owner.index(k)] > 0
    first_weak = next((j for j, k in enumerate(owner) if levels[k] not in REFERENCE_PARTS), len(columns))
    for j in range(first_weak, len(columns)):
        columns[j] = np.where(referenced, 0.0, columns[j])
    return Scores(levels, columns, owner)


@dataclass
class Outcome:
    """What the competition decided, per candidate row.

    ``keep``: the row's image is among the strongest for its mask; ``level``: for a kept row,
    the level (index into the scored levels) at which the last other image was left behind, -1 when
    none was; for a dropped row, the level at which it lost.
    """

    keep: Flags
    level: Positions


def contested(cm: Positions, n_masks: int) -> Positions:
    """The candidate rows whose mask several images chose (the only ones :func:`compete` looks at)."""
    if len(cm) == 0:
        return np.empty(0, np.int64)
    return np.flatnonzero(np.bincount(cm, minlength=n_masks)[cm] > 1)


def compete(cm: Positions, rows: Positions, scores: Scores) -> Outcome:
    """For every mask chosen by several images, keep the images with the strongest evidence.

    ``rows``: the :func:`contested` rows, ``scores``: their evidence (one value per row of ``rows``).
    Lexicographic over the score columns, vectorised: rows sorted by mask and descending scores,
    each compared with the first (best) row of its mask.
    """
    n = len(cm)
    keep, level = np.ones(n, bool), np.full(n, -1, np.int64)
    if len(rows) == 0 or not scores.columns:
        return Outcome(keep, level)
    values = np.column_stack([np.nan_to_num(c, nan=-np.inf) for c in scores.columns])
    masks = cm[rows]
    order = np.lexsort(tuple(-values[:, j] for j in reversed(range(values.shape[1]))) + (masks,))
    values, masks, rows = values[order], masks[order], rows[order]
    start = np.r_[True, masks[1:] != masks[:-1]]
    group = np.cumsum(start) - 1
    best = values[start][group]
    equal = values == best
    won = equal.all(axis=1)
    lost_at = np.where(won, -1, np.argmin(equal, axis=1))
    decided = pd.Series(lost_at).groupby(group).transform("max").to_numpy()
    to_level = np.array(scores.column_level + [-1])
    keep[rows] = won
    level[rows] = np.where(won, to_level[decided], to_level[lost_at])
    return Outcome(keep, level)


def compatible(msk: Objects, chain: Chain, ci: Positions, cm: Positions, img: Objects) -> Flags:
    """Pairs nothing speaks against: sample names and frames of reference, where both sides have one, agree."""
    code = ci * msk.n + cm
    ok = np.ones(len(ci), bool)
    named_i, named_m = img.df["sample_name"].notna().to_numpy(bool), msk.df["sample_name"].notna().to_numpy(bool)
    same_name = np.isin(code, chain.codes.get("sample_name", np.empty(0, np.int64)))
    ok &= ~(named_i[ci] & named_m[cm]) | same_name
    if "frame_of_reference" in chain.codes:
        frame_i = img.dicom & img.df["FrameOfReferenceUID"].notna().to_numpy(bool)
        own = msk.df["FrameOfReferenceUID"].notna().to_numpy(bool)
        referenced = np.array([isinstance(v, tuple) and len(v) > 0 for v in msk.df["ReferencedFrameOfReferenceUID"]])
        frame_m = msk.dicom & (own | referenced)
        ok &= ~(frame_i[ci] & frame_m[cm]) | np.isin(code, chain.codes["frame_of_reference"])
    return ok


def rank(levels: list[str], code: Positions) -> Positions:
    """The position in ``levels`` of each strategy code's first level (-1 for codes without one)."""
    table = np.full(len(STRATEGIES) + 1, -1, np.int64)
    for k in reversed(range(len(levels))):
        table[STRATEGIES.index(step_of(levels[k]))] = k
    return table[code]
