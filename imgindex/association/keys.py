"""Pairs of objects that share a key, and per-group ranges: numpy on integer codes, no frames.

:func:`key_codes` pairs images and masks that share a key (referenced instances or series,
frames of reference, sample names): the keys are exploded from list cells (:func:`keys`),
hashed once into integer codes and joined on the codes (:func:`distinct` runs, ``searchsorted``).
:func:`group_range` is a groupby's count, min and max for the few rows of small groups, where
pandas' fixed cost per call would dominate.
"""

from __future__ import annotations

from itertools import chain, repeat

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from .evidence import Flags, Numbers, Objects, Positions


def keys(values: pd.Series, keep: Flags) -> tuple[Positions, NDArray[np.object_]]:
    """``(positions, keys)`` of the kept objects: list cells give one key per item, nulls none.

    Numpy arrays, not frames: pandas would store 10^5 UIDs as Arrow strings (a second copy of
    every string, in a memory pool that keeps its pages).
    """
    cells = values.to_numpy(dtype=object)
    where = np.flatnonzero(keep)
    cells = cells[where]
    if values.dtype == object:  # list columns (tuples): one key per item
        listed = cells.tolist()
        if set(map(type, listed)) <= {tuple}:  # the schema's cells: no generator per cell
            lengths = np.fromiter(map(len, listed), np.int64, len(listed))
            flat = chain.from_iterable(listed)
        else:
            listed = [c if isinstance(c, (tuple, list)) else (c,) for c in listed]  # a null or a scalar: one key
            lengths = np.fromiter(map(len, listed), np.int64, len(listed))
            flat = chain.from_iterable(listed)
        key = np.fromiter(flat, object, int(lengths.sum()))
        where = np.repeat(where, lengths)
    else:
        key = np.empty(len(cells), dtype=object)
        key[:] = list(cells)
    kind = pd.api.types.infer_dtype(key, skipna=False)
    if kind in ("string", "empty"):  # UIDs are str already: no nulls to drop
        return where.astype(np.int64), key
    present = ~pd.isna(key)
    key = key[present]
    if pd.api.types.infer_dtype(key, skipna=False) not in ("string", "empty"):
        key = np.array([v if isinstance(v, str) else str(v) for v in key], dtype=object)
    return where[present].astype(np.int64), key


def distinct(values: Positions) -> Positions:
    """``np.unique(values)`` of integers, by a stable sort (linear on the mostly sorted codes here).

    Examples
    --------
    >>> distinct(np.array([3, 1, 3, 2])).tolist()
    [1, 2, 3]
    """
    ordered = np.sort(np.asarray(values, dtype=np.int64), kind="stable")
    return ordered[np.r_[True, ordered[1:] != ordered[:-1]]] if len(ordered) else ordered


def group_range(values: NDArray[np.generic], groups: Positions, n: int) -> tuple[Positions, Numbers, Numbers]:
    """``(count, min, max)`` of ``values`` in each group ``0..n-1`` (numpy, no groupby of a small frame).

    Null values count but are skipped by min and max, as in pandas; a group without values has
    min ``inf`` and max ``-inf``.

    Examples
    --------
    >>> group_range(np.array([3.0, 1.0, 5.0]), np.array([0, 0, 2]), 3)
    (array([2, 0, 1]), array([ 1., inf,  5.]), array([  3., -inf,   5.]))
    """
    values = np.asarray(values, dtype=float)
    lo, hi = np.full(n, np.inf), np.full(n, -np.inf)
    np.fmin.at(lo, groups, values)
    np.fmax.at(hi, groups, values)
    return np.bincount(groups, minlength=n), lo, hi


#: One side of a key join: the object of each key, and the keys.
Side = tuple[Positions, NDArray[np.object_]]


def key_sides(step: str, img: Objects, msk: Objects) -> list[tuple[Side, Side]]:
    """The ``(positions, keys)`` of the images and of the masks that :func:`key_codes` joins for ``step``."""
    i, m = img.df, msk.df
    if step in ("reference_instances", "reference_series"):
        own = "SOPInstanceUID" if step == "reference_instances" else "SeriesInstanceUID"
        sides = [(keys(i[own], img.dicom), keys(m[f"Referenced{own}"], msk.dicom))]
    elif step == "frame_of_reference":
        own_at, own_key = keys(m["FrameOfReferenceUID"], msk.dicom)
        ref_at, ref_key = keys(m["ReferencedFrameOfReferenceUID"], msk.dicom)
        sides = [(keys(i["FrameOfReferenceUID"], img.dicom), (np.r_[own_at, ref_at], np.r_[own_key, ref_key]))]
    else:
        every_i, every_m = np.ones(img.n, bool), np.ones(msk.n, bool)
        sides = [(keys(i["sample_name"], every_i), keys(m["sample_name"], every_m))]
    return sides


def key_codes(step: str, img: Objects, msk: Objects) -> Positions:
    """Codes ``image * n_masks + mask`` of the pairs that share a key, by a join on the codes of exploded keys.

    ``step`` is ``reference_instances`` (a mask's referenced instances are the image's),
    ``reference_series`` (its referenced series is the image's), ``frame_of_reference`` or
    ``sample_name``.
    """
    codes = []
    for (li, lk), (rm, rk) in key_sides(step, img, msk):
        left, right = _codes(lk, rk)
        known = right >= 0  # keys no image has pair nothing
        codes.append(_join(li, left, rm[known], right[known], img.n, msk.n))
    return distinct(np.concatenate(codes))  # a pair once, however many keys it shares


def _codes(left: NDArray[np.object_], right: NDArray[np.object_]) -> tuple[Positions, Positions]:
    """Integer codes of string keys: equal keys, equal codes; a right key that no left key equals, -1.

    A dict of the left keys (str hashes are cached, pandas' string table would hash the text
    again): with distinct left keys, as UIDs are, each left key's code is its position.
    """
    found = left.tolist()
    table = dict(zip(found, range(len(found)), strict=True))  # a repeated key: its last position
    if len(table) == len(found):
        left_codes = np.arange(len(found), dtype=np.int64)
    else:
        left_codes = np.fromiter(map(table.__getitem__, found), np.int64, len(found))
    right_codes = np.fromiter(map(table.get, right.tolist(), repeat(-1)), np.int64, len(right))
    return left_codes, right_codes


def _join(li: Positions, lk: Positions, rm: Positions, rk: Positions, n_i: int, n_m: int) -> Positions:
    """Codes ``image * n_m + mask`` of the pairs of rows ``(li, lk)``, ``(rm, rk)`` with equal key codes.

    Each side is made distinct first (an object listing a key twice pairs once), then every
    right row meets the run of left rows with its key (left sorted by key): a merge on integers.
    """
    if len(lk) == 0 or len(rk) == 0:
        return np.empty(0, np.int64)
    left = distinct(lk * n_i + li)  # sorted by key, then image
    left_key, left_i = np.divmod(left, n_i)
    if len(left_key) == 1 or (left_key[1:] != left_key[:-1]).all():  # each key one image's (UIDs): a lookup
        at = np.full(int(left_key[-1]) + 1, -1, np.int64)
        at[left_key] = np.arange(len(left_key))
        found = at[np.minimum(rk, len(at) - 1)]
        hit = (found >= 0) & (left_key[np.maximum(found, 0)] == rk)
        return np.asarray(left_i[found[hit]] * n_m + rm[hit], dtype=np.int64)
    right = distinct(rk * n_m + rm)  # a key of several images: distinct rows bound the product
    right_key, right_m = np.divmod(right, n_m)
    lo = np.searchsorted(left_key, right_key, "left")
    count = np.searchsorted(left_key, right_key, "right") - lo
    row = np.repeat(np.arange(len(right)), count)
    within = np.arange(len(row)) - np.repeat(np.cumsum(count) - count, count)
    return np.asarray(left_i[lo[row] + within] * n_m + right_m[row], dtype=np.int64)
