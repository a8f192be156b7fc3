"""Stacks of 2D slices (numpy, NIfTI, NRRD): one stack per folder, sample, slice shape and name template.

Slices are ordered along the slice normal when their origins differ along it (NIfTI/NRRD), else by
the number in their file names (:func:`order_by_name_number`, MIRP's intended numpy slice order).
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Hashable, Sequence
from typing import cast

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from .. import schema
from ..formats import strip_suffix
from ..geometry import GEOMETRY_COLUMNS, as_array, describe_problems, geometry_columns, stack_geometry
from ._objects import IDENTITY, SLICE_KEY, codes, collect

_DIGITS = re.compile(r"(\d+)")


def slice_stacks(members: pd.DataFrame, patterns: dict[str, list[str]], messages: list[str]) -> pd.DataFrame:
    """2D numpy, NIfTI or NRRD slices → one stack per directory, sample and slice shape."""
    if members.empty:
        return members.iloc[:0]
    keys = list(SLICE_KEY)
    itk = members["file_type"].isin(["nifti", "nrrd"]).to_numpy()
    direction = as_array(members["direction"], 9)
    spacing_xy = members[["spacing_x", "spacing_y"]].to_numpy(dtype=float, na_value=np.nan)
    grid = np.rint(np.nan_to_num(np.column_stack([direction, spacing_xy]), nan=-9.0) * 1e4).astype(np.int64)
    members = members.assign(_grid=codes(grid))  # ITK in-plane geometry (numpy: all unit and identity)
    # Slices of one stack share a name template: the bare name with its digit runs masked, so
    # STS_001_CT_00_image and STS_001_PET_00_image in one flat folder make two stacks.
    template = members["file_name"].astype(schema.TEXT).map(strip_suffix, na_action="ignore")
    has_digits = template.str.contains(r"\d", regex=True).fillna(False)
    members = members.assign(_template=template.str.replace(r"\d+", "#", regex=True).where(has_digits, ""))
    keys += ["_grid", "_template"]
    origin = members[["origin_x", "origin_y", "origin_z"]].to_numpy(dtype=float, na_value=np.nan)
    pos = np.where(itk, np.einsum("ij,ij->i", origin, np.nan_to_num(direction[:, [2, 5, 8]])), np.nan)
    text = {
        c: members[c].astype(object).where(members[c].notna(), None).to_numpy()
        for c in ("file_name", "file_type", "role", "sample_name", "dir_path")
    }
    order: list[NDArray[np.intp]] = []
    spacing: list[float] = []
    warning: list[str | None] = []
    geometry: list[dict[str, int | float | bool]] = []
    # pandas-stubs allow lists and Index here; a frame's groupby gives arrays of positions.
    groups = cast(dict[Hashable, NDArray[np.intp]], members.groupby(keys, dropna=False, sort=False).indices)
    for idx in groups.values():
        bare = [strip_suffix(str(n)) for n in text["file_name"][idx]]
        first = {c: v[idx[0]] for c, v in text.items()}
        p = pos[idx]
        what = f"{first['file_type']} {first['role']} slices of sample {first['sample_name']} in {first['dir_path']}"
        if len(idx) == 1:
            sequence, why = [0], []
            spacing.append(np.nan)
        elif np.all(np.isfinite(p)) and np.ptp(p) > 1e-3:
            sequence = sorted(range(len(idx)), key=lambda i: (p[i], bare[i]))
            g = stack_geometry(p)
            why = describe_problems(g)
            spacing.append(g["slice_spacing"])
            geometry.append(geometry_columns(g, len(idx)))
            if why:
                messages.append(f"The {what} are ordered by their origin along the slice normal: {'; '.join(why)}.")
        else:
            sequence, why, message = order_by_name_number(
                bare, sample_name=first["sample_name"], patterns=patterns.get(first["role"], []), what=what
            )
            spacing.append(1.0)
            if message:
                messages.append(message)
        order.append(idx[sequence])
        warning.append("; ".join(why) or None)
        geometry += [{}] * (len(order) - len(geometry))
    sizes = np.array([len(o) for o in order])
    out = collect(members, np.r_[0, np.cumsum(sizes)[:-1]].astype(int), np.concatenate(order))
    stacked = sizes > 1
    numpy_stack = stacked & (out["file_type"] == "numpy").to_numpy()
    out["geometry_warning"] = [w if s else None for w, s in zip(warning, stacked, strict=True)]
    out["ndim"] = np.where(stacked, 3, out["ndim"].astype("float64"))
    out["size_z"] = np.where(stacked, sizes, out["size_z"].astype("float64"))
    out["spacing_z"] = np.where(stacked, spacing, out["spacing_z"])
    for axis in "xyz":  # numpy has no geometry: a unit grid at the origin
        out[f"origin_{axis}"] = np.where(numpy_stack, 0.0, out[f"origin_{axis}"])
        out[f"spacing_{axis}"] = np.where(numpy_stack, 1.0, out[f"spacing_{axis}"])
    out["direction"] = [IDENTITY if s else d for d, s in zip(out["direction"], numpy_stack, strict=True)]
    for name in GEOMETRY_COLUMNS:
        out[name] = pd.Series([g.get(name) for g in geometry], dtype=object)
    return out


def order_by_name_number(
    names: Sequence[str], *, sample_name: str | None = None, patterns: Sequence[str] = (), what: str = "numpy slices"
) -> tuple[list[int], list[str], str | None]:
    """Order slice files by the number in their bare names (MIRP's intended numpy slice order).

    The sample name and the literal parts of the name patterns are removed from each name
    where present (each replaced by a separator, so digit runs on either side stay apart); the
    rest is split into alternating non-digit and digit tokens. When every
    name has the same structure and exactly one digit token varies, the names are sorted by its
    integer value (a warning is still due when the values are not consecutive). Otherwise the
    names are sorted naturally (digit runs compared as numbers) and a warning is due.

    Parameters
    ----------
    names : sequence of str
        Bare file names (without suffix).
    sample_name : str, optional
        Removed from the names first.
    patterns : sequence of str
        Name patterns (``*``, ``?`` and ``#`` are wildcards); their literal parts are removed.
    what : str
        How to name the slices in the warning text.

    Returns
    -------
    order : list of int
        Positions into ``names`` in slice order.
    reasons : list of str
        Short reasons for ``geometry_warning`` (empty when the order is certain).
    message : str or None
        The warning text (MIRP's W3, W4 or W5 in gist), or ``None``.

    Examples
    --------
    >>> order_by_name_number(["STS_001_10_image", "STS_001_9_image"], sample_name="STS_001")[:2]
    ([1, 0], [])
    >>> order_by_name_number(["slice_2", "slice_1", "slice_4"])[1]
    ['file-name numbers not fully sequential']
    """
    cleaned = []
    literals = [part for pattern in patterns for part in re.split(r"[*?#]+", strip_suffix(pattern)) if part]
    for name in names:
        if sample_name and isinstance(sample_name, str) and sample_name in name:
            name = name.replace(sample_name, "/", 1)
        for part in literals:  # a separator, so that digits on either side stay apart
            name = name.replace(part, "/", 1)
        cleaned.append(name)
    tokens = [_DIGITS.split(name) for name in cleaned]

    def natural(reason: str, problem: str) -> tuple[list[int], list[str], str]:
        order = sorted(range(len(names)), key=lambda i: _natural_key(names[i]))
        return (
            order,
            [f"{reason}: natural sort"],
            (
                f"Cannot form stacks from {what} based on the file name as {problem}. The slices are ordered "
                f"by natural sort of their names instead: {[names[i] for i in order]}"
            ),
        )

    if any(len(t) == 1 for t in tokens):
        missing = [names[i] for i, t in enumerate(tokens) if len(t) == 1]
        return natural(
            "numeric values missing from file names",
            f"numeric values are missing from one or more file names ({missing})",
        )
    if len({len(t) for t in tokens}) > 1 or len({tuple(t[0::2]) for t in tokens}) > 1:
        return natural(
            "file names differ in structure",
            "the file names do not share one structure (text and numbers in the same places)",
        )
    numbers = [[int(v) for v in t[1::2]] for t in tokens]
    varying = [j for j in range(len(numbers[0])) if len({row[j] for row in numbers}) > 1]
    if len(varying) > 1:
        return natural(
            "more than one sequence of numeric values in file names",
            "more than one sequence of numeric values are present in the file names",
        )
    j = varying[0] if varying else len(numbers[0]) - 1
    order = sorted(range(len(names)), key=lambda i: (numbers[i][j], names[i]))
    values = [numbers[i][j] for i in order]
    if any(b - a != 1 for a, b in itertools.pairwise(values)):
        return (
            order,
            ["file-name numbers not fully sequential"],
            f"The numbers in the file names of the {what} are not fully sequential ({values}); "
            "the slices are ordered by these numbers, but some may be missing or repeated.",
        )
    return order, [], None


def _natural_key(name: str) -> tuple[tuple[int, int, str], ...]:
    return tuple((1, int(t), "") if t.isdigit() else (0, 0, t) for t in _DIGITS.split(name) if t)
