"""Several volumes at the same slice positions: which slice belongs to which volume, from the headers.

A stack group (the slices of one series, orientation and size, or the frames of one enhanced
multi-frame file) holds several volumes when its slice positions repeat. :func:`split` decides,
vectorised over every slice of every group at once:

1. Copies of one instance (the same SOPInstanceUID twice, a file copied under another name) are
   left out but the first: a copy is never a volume.
2. A group whose every position holds the same number k >= 2 of slices is split by the first of
   :data:`KEYS` that tells its slices apart. A *discrete* key separates when every position holds
   each of its k values exactly once; a *time* key (which may differ a little from slice to slice
   within one volume) when ranking the slices of each position by it gives volumes whose ranges
   do not overlap (every value of volume j below every value of volume j + 1). The acquisition and
   content times are compared after the AcquisitionNumber.
3. When nothing separates a group whose positions all repeat k times, its slices make k volumes
   by InstanceNumber (frame) order within each position, and the group is reported.

Volumes are numbered in the order of their key (diffusion: by b-value, then acquisition order;
image type: acquisition order), ties by the smallest InstanceNumber (frame) of the volume.
A group whose positions repeat unevenly stays one object (its duplicates are reported).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd
from numpy.typing import NDArray

__all__ = ["FALLBACK", "KEYS", "Key", "KeysOf", "Volumes", "split", "volume_values"]


@dataclass(frozen=True)
class Key:
    """An attribute that may tell volumes apart: its names (single-frame and multi-frame) and kind."""

    column: str  #: the key's array in the ``keys`` of :func:`split`
    single: str | None  #: its name for single-frame files (the DICOM keyword; None: not there)
    multi: str | None  #: its name for the frames of an enhanced file (the functional-group keyword)
    kind: str  #: ``discrete``, ``time`` (after the AcquisitionNumber) or ``ordered`` (discrete, acquisition order)


#: The attributes tried, in order (the documented order of the README).
KEYS = (
    Key("diffusion", "DiffusionBValue", "DiffusionBValue", "discrete"),
    Key("echo_number", "EchoNumbers", None, "discrete"),
    Key("echo_time", "EchoTime", "EffectiveEchoTime", "discrete"),
    Key("temporal", "TemporalPositionIdentifier", "TemporalPositionIndex", "discrete"),
    Key("trigger", "TriggerTime", "NominalCardiacTriggerDelayTime", "time"),
    Key("acquisition", "AcquisitionNumber", "FrameAcquisitionNumber", "discrete"),
    Key("acquisition_time", "AcquisitionTime", "FrameAcquisitionDateTime", "time"),
    Key("content_time", "ContentTime", None, "time"),
    Key("image_type", "ImageType", "FrameType", "ordered"),
)
#: The names of the instance-order fallback.
FALLBACK = ("InstanceNumber", "frame order")
#: Positions closer than this (mm) along the normal are the same position (as in geometry.py).
SAME_POSITION = 1e-3


#: Computes the :data:`KEYS` values of the slices at the given (sorted) indices: a dict of float
#: arrays (``(n, 4)`` for the diffusion b-value and gradient; NaN where missing; ``image_type``
#: holds codes) and the image (frame) types as text.
KeysOf = Callable[[NDArray[np.intp]], tuple[dict[str, NDArray[np.float64]], NDArray[np.object_]]]


@dataclass
class Volumes:
    """What :func:`split` found, per slice and per group (group codes index the group arrays)."""

    volume: NDArray[np.int64]  #: per slice: its volume within its group (0 when the group is one volume)
    keep: NDArray[np.bool_]  #: per slice: False for a copy of another slice's instance
    n_volumes: NDArray[np.int64]  #: per group
    key: list[str | None]  #: per group: the name of what told its volumes apart (None: one volume)
    fallback: NDArray[np.bool_]  #: per group: told apart by instance order only
    copies: NDArray[np.int64]  #: per group: copies left out
    keyed: NDArray[np.intp]  #: the (sorted) slices whose keys were computed: those of groups that may split
    keys: dict[str, NDArray[np.float64]]  #: their keys, aligned with ``keyed``
    image_types: NDArray[np.object_]  #: their image (frame) types, aligned with ``keyed``


def _codes(values: NDArray[np.float64]) -> NDArray[np.int64]:
    """Integer codes of the rows of a float array (NaN is a value of its own)."""
    table = np.where(np.isnan(values), np.iinfo(np.int64).min, np.round(values * 1e6)).astype(np.int64)
    table = table.reshape(len(values), -1)
    groups = pd.DataFrame(table).groupby(list(range(table.shape[1])), sort=False).ngroup()
    return np.asarray(groups.to_numpy(), dtype=np.int64)


def split(
    group: NDArray[np.int64],
    position: NDArray[np.float64],
    instance: NDArray[np.float64],
    sop: NDArray[np.object_],
    keys_of: KeysOf,
    multiframe: NDArray[np.bool_],
    n_groups: int,
) -> Volumes:
    """Assign every slice to a volume of its group (see the module's docstring).

    Parameters
    ----------
    group, position, instance, sop
        Per slice, sorted by group and then position (then instance): the group code (0 ...
        ``n_groups - 1``), the position along the normal (NaN: unknown), the InstanceNumber (or the
        frame number) and the SOPInstanceUID (None for frames).
    keys_of
        Gives the :data:`KEYS` values of slices by their (sorted) indices; asked only for the
        slices of groups whose positions repeat (usually none: the common case costs nothing).
    multiframe
        Per group: the frames of an enhanced multi-frame file (names the keys as functional groups).
    n_groups
        The number of groups.
    """
    n = len(group)
    volume = np.zeros(n, dtype=np.int64)
    keep = np.ones(n, dtype=bool)
    n_volumes = np.ones(n_groups, dtype=np.int64)
    key: list[str | None] = [None] * n_groups
    fallback = np.zeros(n_groups, dtype=bool)
    copies = np.zeros(n_groups, dtype=np.int64)
    nothing: tuple[NDArray[np.intp], dict[str, NDArray[np.float64]], NDArray[np.object_]] = (
        np.zeros(0, dtype=np.intp),
        {},
        np.zeros(0, dtype=object),
    )
    if n == 0:
        return Volumes(volume, keep, n_volumes, key, fallback, copies, *nothing)
    same = np.r_[False, (group[1:] == group[:-1]) & (np.abs(np.diff(position)) <= SAME_POSITION)]
    repeated = np.zeros(n_groups, dtype=bool)
    repeated[group[same]] = True
    unknown = np.bincount(group, weights=np.isnan(position), minlength=n_groups) > 0
    candidates = repeated & ~unknown
    if not candidates.any():
        return Volumes(volume, keep, n_volumes, key, fallback, copies, *nothing)

    # 1. Copies of one instance: the first is kept.
    inside = candidates[group]
    has_sop = inside & pd.notna(sop)
    frame = pd.DataFrame({"g": group[has_sop], "s": sop[has_sop]})
    copy = np.zeros(n, dtype=bool)
    copy[np.flatnonzero(has_sop)[frame.duplicated().to_numpy()]] = True
    keep &= ~copy
    copies = np.bincount(group[copy], minlength=n_groups).astype(np.int64)

    # 2. Groups whose every (kept) position holds k >= 2 slices.
    rows = np.flatnonzero(inside & keep)
    g, p = group[rows], position[rows]
    pos_id = np.r_[0, np.cumsum(~((g[1:] == g[:-1]) & (np.abs(np.diff(p)) <= SAME_POSITION)))].astype(np.int64)
    count = np.bincount(pos_id)[pos_id]
    low = np.full(n_groups, np.iinfo(np.int64).max)
    high = np.zeros(n_groups, dtype=np.int64)
    np.minimum.at(low, g, count)
    np.maximum.at(high, g, count)
    even = candidates & (low == high) & (high >= 2)
    todo = even.copy()
    k = np.where(even, high, 1)
    starts = np.r_[0, np.flatnonzero(pos_id[1:] != pos_id[:-1]) + 1]
    order_in_position = np.arange(len(rows)) - starts[pos_id]  # the slices are in instance order already
    keys, image_types = keys_of(rows) if even.any() else ({}, np.zeros(0, dtype=object))

    assigned = np.zeros(len(rows), dtype=np.int64)
    for spec in KEYS:
        live = todo[g]
        if not live.any():
            break
        values = keys[spec.column]
        if spec.kind == "time":
            if spec.column != "trigger":  # after the AcquisitionNumber (times are < 10^10 s)
                values = np.nan_to_num(keys["acquisition"], nan=0.0) * 1e10 + values
            ok, vol = _time_split(g, pos_id, values, live, n_groups)
        else:
            ok, vol = _discrete_split(g, pos_id, values, instance[rows], k, live, n_groups, spec)
        won = ok & todo
        won_slices = won[g]
        assigned[won_slices] = vol[won_slices]
        for code in np.flatnonzero(won):
            key[code] = spec.multi if multiframe[code] else spec.single
        todo &= ~won
    # 3. Nothing told them apart: instance order within each position (a stack of one position
    # repeated stays one object: nothing says it is several volumes rather than copies).
    distinct = np.bincount(g, weights=np.r_[True, pos_id[1:] != pos_id[:-1]], minlength=n_groups)
    one_position = todo & (distinct < 2)
    todo &= ~one_position
    even &= ~one_position
    rest = todo[g]
    assigned[rest] = order_in_position[rest]
    fallback |= todo
    for code in np.flatnonzero(todo):
        key[code] = FALLBACK[1] if multiframe[code] else FALLBACK[0]
    volume[rows] = assigned
    n_volumes = np.where(even, k, 1).astype(np.int64)
    return Volumes(volume, keep, n_volumes, key, fallback, copies, rows, keys, image_types)


def _time_split(
    g: NDArray[np.int64], pos_id: NDArray[np.int64], values: NDArray[np.float64], live: NDArray[np.bool_], n_groups: int
) -> tuple[NDArray[np.bool_], NDArray[np.int64]]:
    """Groups that a time-like key separates, and each slice's volume (its rank within its position)."""
    finite = np.isfinite(values)
    bad = np.bincount(g, weights=~finite | ~live, minlength=n_groups) > 0
    order = np.lexsort((np.arange(len(values)), np.nan_to_num(values), pos_id))
    rank = np.empty(len(values), dtype=np.int64)
    starts = np.r_[0, np.flatnonzero(pos_id[order][1:] != pos_id[order][:-1]) + 1]
    rank[order] = np.arange(len(order)) - np.repeat(starts, np.diff(np.r_[starts, len(order)]))
    frame = pd.DataFrame({"g": g, "r": rank, "v": np.nan_to_num(values)})
    spans = frame.groupby(["g", "r"], sort=True)["v"].agg(["min", "max"]).reset_index()
    next_min = spans["min"].shift(-1).to_numpy()
    same_group = (spans["g"].shift(-1) == spans["g"]).to_numpy()
    overlap = same_group & ~(spans["max"].to_numpy() < next_min)
    bad[spans["g"].to_numpy()[overlap]] = True
    return ~bad, rank


def _discrete_split(
    g: NDArray[np.int64],
    pos_id: NDArray[np.int64],
    values: NDArray[np.float64],
    instance: NDArray[np.float64],
    k: NDArray[np.int64],
    live: NDArray[np.bool_],
    n_groups: int,
    spec: Key,
) -> tuple[NDArray[np.bool_], NDArray[np.int64]]:
    """Groups that a discrete key separates, and each slice's volume (the rank of its value)."""
    code = _codes(np.asarray(values, dtype=float))
    frame = pd.DataFrame({"g": g, "p": pos_id, "c": code})
    twice = frame.duplicated(["p", "c"]).to_numpy()
    bad = np.bincount(g, weights=twice | ~live, minlength=n_groups) > 0
    distinct = frame.drop_duplicates(["g", "c"])
    n_values = np.bincount(distinct["g"].to_numpy(), minlength=n_groups)
    ok = ~bad & (n_values == k)
    # Volume order: the key's value (diffusion: the b-value; image type: none), then acquisition order.
    values2d = np.asarray(values, dtype=float).reshape(len(values), -1)
    first = values2d[:, 0] if spec.kind == "discrete" else np.zeros(len(values))
    per_value = (
        pd.DataFrame(
            {"g": g, "c": code, "v": np.nan_to_num(first, nan=np.inf), "i": np.nan_to_num(instance, nan=np.inf)}
        )
        .groupby(["g", "c"], sort=False)
        .agg(v=("v", "first"), i=("i", "min"))
        .reset_index()
        .sort_values(["g", "v", "i"], kind="mergesort")
    )
    per_value["rank"] = per_value.groupby("g").cumcount()
    rank = pd.MultiIndex.from_frame(per_value[["g", "c"]])
    volume = per_value["rank"].to_numpy()[rank.get_indexer(pd.MultiIndex.from_arrays([g, code]))]
    return ok, volume.astype(np.int64)


def volume_values(key: str | None, values: NDArray[np.float64] | None) -> str | None:
    """The ``volume_value`` text of one volume: its key's value (times: the earliest, as HH:MM:SS.fff).

    Examples
    --------
    >>> volume_values("DiffusionBValue", np.array([[1000.0, 1.0, 0.0, 0.0]]))
    'b=1000 (1, 0, 0)'
    >>> volume_values("ContentTime", np.array([43230.5, 43231.0]))
    '12:00:30.500'
    """
    if key is None or values is None or len(values) == 0:
        return None
    if key == "DiffusionBValue":
        b, *gradient = np.asarray(values, dtype=float).reshape(len(values), -1)[0]
        if np.isnan(b):
            return "no b-value"
        text = f"b={b:g}"
        if gradient and np.all(np.isfinite(gradient)):
            text += " (" + ", ".join(f"{v:g}" for v in gradient) + ")"
        return text
    first = float(np.nanmin(values)) if np.isfinite(values).any() else float("nan")
    if key in ("AcquisitionTime", "ContentTime", "FrameAcquisitionDateTime"):
        seconds = first % 86400.0
        hours, rest = divmod(seconds, 3600.0)
        minutes, secs = divmod(rest, 60.0)
        return f"{int(hours):02d}:{int(minutes):02d}:{secs:06.3f}"
    return f"{first:g}"
