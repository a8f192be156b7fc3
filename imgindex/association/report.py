"""What the pairs table says about each pair: the evidence in words, the other candidates, one warning."""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import pandas as pd

from ..arguments import STRATEGIES
from ..errors import warn
from .evidence import Flags, Objects, Positions
from .keys import distinct

_MAX_NAMES = 10

#: The evidence of each strategy, in words (the image's own chain).
_WORDS = {
    "reference": "refers to this image",
    "frame_of_reference": "same frame of reference",
    "sample_name": "same sample name",
    "file_distance": "nearest folder",
    "file_name_similarity": "most alike file name and description",
    "position": "same voxel grid",
    "list_order": "list order: nothing else told the images apart",
    "single_image": "the only image",
}
#: What decided between the images that chose one mask, per competition level.
LEVEL_WORDS = {
    "reference_instances": "the referenced instances",
    "reference_series": "the referenced series",
    "frame_of_reference": "the frame of reference",
    "sample_name": "the sample name",
    "file_distance": "the folder distance",
    "position": "the voxel grid",
    "file_name_similarity": "the names and descriptions",
}


def describe(img: Objects, positions: Iterable[int]) -> str:
    """``object_id (path)`` of up to ten objects, for messages."""
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


def evidence_text(
    chain_code: Positions,
    details: dict[str, Flags],
    decided_by: np.ndarray,
    n_others: Positions,
    status: np.ndarray,
) -> np.ndarray:
    """The ``evidence`` column: the image's own evidence, then what decided between the images.

    ``details``: per row ``instances``, ``series``, ``sample``, ``overlap``, ``volumes``
    (a series reference shared by the volumes of one series), ``undecided`` (nothing told the
    images apart), ``lost`` (a missing image whose candidates went to others), ``unsure`` (masks
    from different folders at the same distance); ``decided_by``: per row, the competition level
    that left the other images behind (``None``: no other image, or not later than the chain).
    """
    names = np.array([*STRATEGIES, None], dtype=object)
    own = np.array([_WORDS.get(n) for n in names[chain_code]], dtype=object)  # None: a missing row's, replaced
    ref = names[chain_code] == "reference"
    own = np.where(ref & details["instances"], "refers to instances of this image", own)
    own = np.where(ref & ~details["instances"] & details["series"], "refers to this series", own)
    own = np.where(
        (names[chain_code] == "frame_of_reference") & details["sample"],
        "same frame of reference and sample name",
        own,
    )
    own = np.where((names[chain_code] == "position") & details["overlap"], "overlapping voxel grid", own)
    own = np.where(details["undecided"], "nothing told the images apart", own)
    own = np.where(
        status == "missing",
        np.where(details["lost"], "no mask: its candidates went to images with stronger evidence", "no mask matched"),
        own,
    )
    # Object arrays, not Series: a few string joins over ~1,000 rows, where pandas' fixed cost dominates.
    text = own.astype(object)
    others = np.array([str(n) for n in n_others.tolist()], dtype=object)
    plural = np.where(n_others == 1, " image", " images").astype(object)
    decided = np.array([LEVEL_WORDS.get(v) if isinstance(v, str) else None for v in decided_by], dtype=object)
    has_decided = np.array([v is not None for v in decided], bool) & (status != "missing")
    text[has_decided] = _join(text, "; ", decided, " decided over ", others, plural, where=has_decided)
    weaker = (~has_decided) & (n_others > 0) & (status == "ok") & ~details["volumes"]
    text[weaker] = _join(text, "; ", others, " other", plural, " had weaker evidence", where=weaker)
    volumes = details["volumes"]
    more = np.array([str(n + 1) for n in n_others.tolist()], dtype=object)
    text[volumes] = _join("refers to the series as a whole: each of its ", more, " volumes", where=volumes)
    shared = (status == "ambiguous") & (n_others > 0)
    text[shared] = _join(text, "; fits ", more, " images equally", where=shared)
    unsure = (status == "ambiguous") & details["unsure"]
    text[unsure] = _join(text, "; masks from different folders at the same distance", where=unsure)
    return text


def _join(*parts: str | np.ndarray, where: Flags) -> list[str]:
    """The strings (or per-row arrays of strings) of ``parts`` joined, for the rows ``where``."""
    columns = [[p] * int(where.sum()) if isinstance(p, str) else p[where].tolist() for p in parts]
    return ["".join(row) for row in zip(*columns, strict=True)]


def _sorted(values: pd.Series) -> tuple[int, ...]:
    return tuple(sorted(values.tolist()))


def candidate_ids(
    img: Objects,
    pre_i: Positions,
    pre_m: Positions,
    pi: Positions,
    pm: Positions,
) -> tuple[list[tuple[str, ...] | None], Positions]:
    """The ``candidates`` column and how many images it names, per row.

    The other images that chose the row's mask; for a missing image, the images that took its
    candidates.

    ``pre_i``/``pre_m``: the rows that entered the competition; ``pi``/``pm``: the final rows
    (``pm == -1`` for a missing image). Only masks chosen by several images are looked at.
    """
    ids = img.df["object_id"].to_numpy(object)
    out: list[tuple[str, ...] | None] = [None] * len(pi)
    counts = np.zeros(len(pi), np.int64)
    if len(pre_m) == 0:
        return out, counts
    # Most masks have one chooser: a check on integer codes before any frame is built.
    span = int(pre_m.max()) + 1
    chosen = distinct(pre_i.astype(np.int64) * span + pre_m) % span  # the mask of each distinct row
    if not (np.bincount(chosen, minlength=span) > 1).any():
        return out, counts
    pre = pd.DataFrame({"i": pre_i, "m": pre_m}).drop_duplicates()
    n_choosers = pre.groupby("m")["i"].transform("size")
    contested = pre[n_choosers.to_numpy() > 1]
    if contested.empty:
        return out, counts
    choosers = contested.groupby("m")["i"].agg(_sorted)  # one per contested mask
    final = pd.DataFrame({"i": pi[pm >= 0], "m": pm[pm >= 0]})
    takers = final.groupby("m")["i"].agg(_sorted)
    lost_by = contested.groupby("i")["m"].agg(tuple)
    looked_at = np.flatnonzero(
        np.where(pm >= 0, np.isin(pm, choosers.index.to_numpy()), np.isin(pi, lost_by.index.to_numpy()))
    )
    for row in looked_at:  # rows of contested masks only
        i, m = int(pi[row]), int(pm[row])
        if m >= 0:
            others = [k for k in choosers[m] if k != i]
        else:
            others = sorted({k for lost in lost_by[i] for k in takers.get(lost, ()) if k != i})
        if others:
            out[row] = tuple(ids[others])
            counts[row] = len(others)
    return out, counts


def warn_about(img: Objects, missing: Positions, ambiguous_images: Positions, by_order: bool) -> None:
    """One warning naming the missing and ambiguous images, and a pairing by list order only."""
    n_i = img.n
    problems = []
    if len(missing):
        problems.append(f"{len(missing)} of {n_i} images have no mask: {describe(img, missing)}")
    if len(ambiguous_images):
        problems.append(
            f"{len(ambiguous_images)} images have ambiguous masks (a mask that fits several images equally, or "
            f"masks from different folders at the same distance): {describe(img, ambiguous_images)}"
        )
    if by_order:
        problems.append(f"{n_i} images were paired with masks by list order only, as nothing else told them apart")
    if problems:
        warn(
            "Association of images and masks: " + "; ".join(problems) + ". See the status, evidence and candidates "
            "columns of the pairs table; check the sample names and folders, or choose a strategy explicitly."
        )
