"""Work once per distinct row: folders, series and identifiers repeat over thousands of files.

Hashing every row to find the distinct ones costs more than the work on them: a scan's rows come
folder by folder, so equal values sit in runs. The runs are found first with one vectorised
comparison of neighbours, and only one row per run is hashed (:func:`neighbour_runs`); the distinct rows,
their order (first appearance) and the codes are exactly those of hashing every row.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import overload

import numpy as np
import pandas as pd
from numpy.typing import NDArray

#: Below this many rows the runs are not worth looking for.
_RUNS_FROM = 64


def neighbour_runs(columns: list[pd.Series]) -> tuple[NDArray[np.intp], NDArray[np.intp]] | None:
    """``(starts, run)``: the first row of each run of equal neighbours, and each row's run.

    Nulls equal nulls (as ``dropna=False`` groups them). ``None`` when there are too few rows,
    too few repeats, or values that do not compare to a bool (then every row is hashed).
    """
    n = len(columns[0]) if columns else 0
    if n < _RUNS_FROM:
        return None
    start = np.zeros(n, dtype=bool)
    start[0] = True
    for column in columns:
        dtype = column.dtype
        if not (dtype == np.dtype(object) or (isinstance(dtype, pd.StringDtype) and dtype.storage == "python")):
            # numbers, booleans, Arrow strings: their codes (hashing these is as fast as comparing)
            codes = pd.factorize(column)[0]
            start[1:] |= codes[1:] != codes[:-1]
            continue
        values = column.to_numpy(dtype=object)  # no copy for object columns (tuples of list columns)
        try:
            differ = values[1:] != values[:-1]
        except (TypeError, ValueError):  # pd.NA has no truth value; array cells give no single bool
            try:
                values = values.copy()
                values[column.isna().to_numpy(bool)] = None  # nulls equal nulls
                differ = values[1:] != values[:-1]
            except (TypeError, ValueError):
                return None
        if differ.dtype != bool:
            return None
        start[1:] |= differ
    starts = np.flatnonzero(start)
    if len(starts) * 2 > n:  # hardly any runs: hashing every row is as fast
        return None
    return starts, np.cumsum(start) - 1


@overload
def per_distinct(frame: pd.DataFrame, compute: Callable[[pd.DataFrame], pd.Series]) -> pd.Series: ...
@overload
def per_distinct(frame: pd.DataFrame, compute: Callable[[pd.DataFrame], pd.DataFrame]) -> pd.DataFrame: ...
def per_distinct(
    frame: pd.DataFrame, compute: Callable[[pd.DataFrame], pd.DataFrame | pd.Series]
) -> pd.DataFrame | pd.Series:
    """``compute`` over the distinct rows of ``frame``, spread back to every row of ``frame``.

    ``compute`` gets the distinct rows (index ``0..k-1``, nulls count as values) and returns one
    result row per distinct row, in the same order. The result has ``frame``'s index.

    Examples
    --------
    >>> frame = pd.DataFrame({"folder": ["/a", "/b", "/a"]})
    >>> per_distinct(frame, lambda d: d["folder"].str.upper()).tolist()
    ['/A', '/B', '/A']
    """
    if frame.empty:
        return compute(frame.reset_index(drop=True)).set_axis(frame.index)
    runs = neighbour_runs([frame[c] for c in frame.columns])
    keys = frame if runs is None else frame.iloc[runs[0]]  # one row per run of equal rows
    codes = keys.groupby(list(keys.columns), dropna=False, sort=False).ngroup().to_numpy()
    first = np.unique(codes, return_index=True)[1]  # the first row of group 0, 1, ...
    if runs is not None:
        first, codes = runs[0][first], codes[runs[1]]
    found = compute(frame.iloc[first].reset_index(drop=True))
    return found.iloc[codes].set_axis(frame.index)


def per_value(values: pd.Series, compute: Callable[[pd.Series], pd.Series]) -> pd.Series:
    """``compute`` over the distinct values of ``values`` (nulls included), spread back to every row.

    Faster than computing on every row where values repeat (modalities, pixel types, file names
    across folders), and equal results are one shared object, not one string per row.

    Examples
    --------
    >>> per_value(pd.Series(["ct", None, "ct"], dtype="string[python]"), lambda u: u.str.upper()).tolist()
    ['CT', <NA>, 'CT']
    """
    codes, uniques = pd.factorize(values, use_na_sentinel=False)  # one hash per value: as fast as runs
    found = compute(pd.Series(uniques))
    # The result's own dtype: object results stay objects (pandas would infer Arrow strings).
    return pd.Series(found.array.take(codes), index=values.index, name=values.name, dtype=found.dtype)
