"""Work once per distinct row: folders, series and identifiers repeat over thousands of files."""

from __future__ import annotations

from collections.abc import Callable
from typing import overload

import numpy as np
import pandas as pd


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
    codes = frame.groupby(list(frame.columns), dropna=False, sort=False).ngroup().to_numpy()
    first = np.unique(codes, return_index=True)[1]  # the first row of group 0, 1, ...
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
    codes, uniques = pd.factorize(values, use_na_sentinel=False)
    found = compute(pd.Series(uniques))
    # The result's own dtype: object results stay objects (pandas would infer Arrow strings).
    return pd.Series(found.array.take(codes), index=values.index, name=values.name, dtype=found.dtype)
