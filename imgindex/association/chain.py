"""Each image's own view: the chain of narrowing steps over its candidate masks, vectorised.

Every image starts with all masks as candidates; each step keeps the candidates that match, and
is skipped for an image when it would keep none. Candidates are held sparsely, as rows
``(ci[k], cm[k])``: an image whose candidates are still "every mask" has no rows until a step
that compares every pair (folder distance, names, grid) needs them.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..arguments import STRATEGIES
from .evidence import Flags, Objects, Positions, can_apply, dense_step, nonempty
from .keys import key_codes

#: The key steps: pairs that share a key (by joins on key codes, never a dense product).
KEY_STEPS = frozenset({"reference", "frame_of_reference", "sample_name"})
#: What the ``reference`` step compares, strongest first: a mask that refers to instances of one
#: volume of a series belongs to that volume; one that refers to the series as a whole, to each.
REFERENCE_PARTS = ("reference_instances", "reference_series")


@dataclass
class Chain:
    """What the chain left for each image.

    ``ci``/``cm``: candidate rows; ``last``: per image, the code (index into ``STRATEGIES``) of the
    last step that narrowed its candidates, ``first``: of the first evidence step that applied
    (-1 for none); ``confirmed``: a DICOM link or the grid confirmed the image's masks;
    ``blank``: no step compared anything for the image (it has no rows: its candidates are every mask);
    ``codes``: the pair codes (``image * n_masks + mask``) of each key step that ran.
    """

    ci: Positions
    cm: Positions
    last: Positions
    first: Positions
    confirmed: Flags
    blank: Flags
    codes: dict[str, Positions] = field(default_factory=dict)


def narrow(img: Objects, msk: Objects, steps: list[str], evidence: set[str], default: bool) -> Chain:
    """Run the chain of ``steps`` (names of :data:`STRATEGIES`) for every image at once.

    In the default chain (``default``), ``position`` only tells label maps apart (and is skipped
    when no label map has a grid) and ``file_name_similarity`` is left to the competition between
    images for one mask (:mod:`imgindex.association.resolve`), where it breaks ties.
    """
    n_i, n_m = img.n, msk.n
    ci, cm = np.empty(0, np.int64), np.empty(0, np.int64)
    is_all = np.ones(n_i, bool)  # candidates still "every mask", kept implicit until a dense step
    last, first = np.full(n_i, -1), np.full(n_i, -1)
    confirmed = np.zeros(n_i, bool)
    codes: dict[str, Positions] = {}
    # DICOM masks that refer to nothing at all: a reference to the image is no evidence against them
    # (a SEG without references beside the RTSTRUCT of a CT stays the CT's candidate).
    unknown = np.flatnonzero(
        msk.dicom & ~nonempty(msk.df["ReferencedSeriesInstanceUID"]) & ~nonempty(msk.df["ReferencedSOPInstanceUID"])
    )
    for step in steps:
        code = STRATEGIES.index(step)
        if step in KEY_STEPS:
            parts = REFERENCE_PARTS if step == "reference" else (step,)
            for part in parts:
                codes[part] = pair_codes = key_codes(part, img, msk)
                hit = np.isin(ci * n_m + cm, pair_codes)
                ki, km = np.divmod(pair_codes, n_m)
                ki, km = ki[is_all[ki]], km[is_all[ki]]
                n_cand = np.where(is_all, n_m, np.bincount(ci, minlength=n_i))
                n_hit = np.bincount(ci[hit], minlength=n_i) + np.bincount(ki, minlength=n_i)
                applied = n_hit > 0
                keep = hit | ~applied[ci]
                if step == "reference":
                    keep |= np.isin(cm, unknown)
                    newly = np.flatnonzero(applied & is_all)
                    ki = np.concatenate([ki, np.repeat(newly, len(unknown))])
                    km = np.concatenate([km, np.tile(unknown, len(newly))])
                ci, cm = np.concatenate([ci[keep], ki]), np.concatenate([cm[keep], km])
                is_all &= ~applied
                n_kept = np.bincount(ci, minlength=n_i)
                _record(step, code, applied, n_kept < n_cand, last, first, confirmed, evidence)
            continue
        if default and step == "file_name_similarity":
            continue
        if default and step == "position" and not (~msk.dicom & msk.valid).any():
            continue
        expand = np.flatnonzero(is_all & can_apply(step, img))
        ci = np.concatenate([ci, np.repeat(expand, n_m)])
        cm = np.concatenate([cm, np.tile(np.arange(n_m), len(expand))])
        is_all[expand] = False
        n_cand = np.bincount(ci, minlength=n_i)
        match, decides = dense_step(step, img, msk, ci, cm, tie_breaker=default)
        applied = np.bincount(ci[decides], minlength=n_i) > 0
        n_hit = np.bincount(ci[match], minlength=n_i)
        keep = match | ~applied[ci]
        ci, cm = ci[keep], cm[keep]
        _record(step, code, applied, n_hit < n_cand, last, first, confirmed, evidence)
    return Chain(ci, cm, last, first, confirmed, is_all, codes)


def _record(
    step: str,
    code: int,
    applied: Flags,
    fewer: Flags,
    last: Positions,
    first: Positions,
    confirmed: Flags,
    evidence: set[str],
) -> None:
    """Note, per image, that ``step`` applied (and whether it narrowed the candidates)."""
    narrowed = applied & fewer
    last[narrowed] = code
    if step in evidence:
        first[applied & (first < 0)] = code
    if step == "reference":
        confirmed |= applied
    elif step in ("frame_of_reference", "position"):
        confirmed |= narrowed
