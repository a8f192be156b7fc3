"""Input forms → import requests: what to scan for images and masks, with which arguments.

A plain input (directory, file, list of paths, numpy arrays) is one request. A data XML gives one
request per ``<data>`` element; a csv file or a DataFrame one per group of rows that share their
arguments (rows name their own ``image``/``mask`` paths and ``sample_name``). An imgindex files
table (DataFrame or parquet) is used as already scanned.

csv / DataFrame columns (MIRP never defined any; these mirror its argument names):
``image`` (required), ``mask``, ``sample_name``, ``image_name``, ``image_file_type``,
``image_modality``, ``image_sub_folder``, ``mask_name``, ``mask_file_type``, ``mask_modality``,
``mask_sub_folder``, ``roi_name`` (comma-separated). Empty cells fall back to the function's
arguments; relative paths in a csv are relative to the csv's folder. A table with a value in
``mask`` or in a mask argument column asks for masks (:func:`table_wants_masks`), as a ``mask``
argument does.
"""

from __future__ import annotations

import os
import warnings
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from .errors import InputError, InputTypeError, NotFoundError

#: Arguments a request carries besides its sources.
OPTION_NAMES = (
    "sample_name",
    "image_name",
    "image_file_type",
    "image_modality",
    "image_sub_folder",
    "mask_name",
    "mask_file_type",
    "mask_modality",
    "mask_sub_folder",
    "roi_name",
)
TABLE_COLUMNS = ("image", "mask", *OPTION_NAMES)
_ROW_OPTIONS = tuple(o for o in OPTION_NAMES if o != "sample_name")
_FILES_TABLE_MARKERS = {"file_path", "file_type", "SOPInstanceUID"}


@dataclass
class Source:
    """One thing to scan: a path, an in-memory array, or an already scanned files table."""

    path: str | None = None
    array: np.ndarray | None = None
    files: pd.DataFrame | None = None
    sample_name: str | None = None  # given for this source (csv row): its files belong to it


@dataclass
class Request:
    """One independent set of import arguments and what they apply to."""

    number: int
    images: list[Source]
    masks: list[Source] | None
    options: dict[str, Any] = field(default_factory=dict)


def sources_of(value: Any, sample_name: str | None = None) -> list[Source]:
    """Flatten a plain input (path, array, list of these) into sources.

    Examples
    --------
    >>> [s.path for s in sources_of(["/a", ["/b"]])]
    ['/a', '/b']
    """
    if isinstance(value, (list, tuple)):
        return [s for item in value for s in sources_of(item, sample_name)]
    if isinstance(value, np.ndarray):
        return [Source(array=value, sample_name=sample_name)]
    if isinstance(value, pd.DataFrame) and set(value.columns) >= _FILES_TABLE_MARKERS:
        return [Source(files=value, sample_name=sample_name)]
    if isinstance(value, (str, os.PathLike)):
        return [Source(path=os.path.abspath(os.fspath(value)), sample_name=sample_name)]
    raise InputTypeError(
        f"Unsupported image type: {type(value)!r}. imgindex accepts a directory or file path (str or "
        "pathlib.Path), a numpy array, a list of these, a data xml or csv path, a pandas DataFrame, "
        "or a saved index."
    )


def _is_kind(value: Any, suffix: str) -> bool:
    return (
        isinstance(value, (str, os.PathLike)) and os.fspath(value).lower().endswith(suffix) and not os.path.isdir(value)
    )


def _cell(value: Any) -> Any:
    if value is None or (isinstance(value, float) and np.isnan(value)) or value is pd.NA:
        return None
    if isinstance(value, str):
        value = value.strip()
        return value or None
    return value


def _table_requests(
    table: pd.DataFrame, options: dict[str, Any], *, base: str | None, want_masks: bool, first: int
) -> list[Request]:
    table = table.rename(columns=lambda c: str(c).strip())
    if "image" not in table.columns and not ("mask" in table.columns and not want_masks):
        raise InputError(
            f"The table has no 'image' column (found: {', '.join(map(str, table.columns))}). A csv or DataFrame "
            f"input needs the columns {', '.join(TABLE_COLUMNS[:3])} and may have {', '.join(TABLE_COLUMNS[3:])}."
        )
    unknown = [c for c in table.columns if c not in TABLE_COLUMNS]
    if unknown:
        warnings.warn(
            f"Ignoring table columns imgindex does not know: {', '.join(unknown)}. "
            f"Known columns: {', '.join(TABLE_COLUMNS)}.",
            UserWarning,
            stacklevel=4,
        )
    # Plain dicts, not DataFrame.map: pandas infers a string dtype and turns None back into NaN.
    rows = [
        {k: _cell(v) for k, v in record.items()}
        for record in table.reindex(columns=list(TABLE_COLUMNS)).astype(object).to_dict("records")
    ]

    def path(value: Any) -> str | None:
        if value is None:
            return None
        value = os.fspath(value)
        return os.path.normpath(os.path.join(base, value)) if base and not os.path.isabs(value) else value

    def row_options(row: dict[str, Any]) -> tuple:
        values = []
        for name in _ROW_OPTIONS:
            value = row[name] if row[name] is not None else options.get(name)
            if name == "roi_name" and isinstance(value, str) and row[name] is not None:
                value = [v.strip() for v in value.split(",") if v.strip()]
            values.append(tuple(value) if isinstance(value, list) else value)
        return tuple(values)

    groups: dict[tuple, Request] = {}
    for row in rows:
        key = row_options(row)
        request = groups.get(key)
        if request is None:
            opts = dict(options)
            opts.update({n: (list(v) if isinstance(v, tuple) else v) for n, v in zip(_ROW_OPTIONS, key, strict=True)})
            request = Request(first + len(groups), [], [] if want_masks else None, opts)
            groups[key] = request
        sample = None if row["sample_name"] is None else str(row["sample_name"])
        if row["image"] is not None:
            request.images.append(Source(path=path(row["image"]), sample_name=sample))
        if want_masks:
            mask_path = row["mask"] if row["mask"] is not None else row["image"]
            if mask_path is not None:
                request.masks.append(Source(path=path(mask_path), sample_name=sample))
    return list(groups.values())


_MASK_COLUMNS = ("mask", "mask_name", "mask_file_type", "mask_modality", "mask_sub_folder", "roi_name")


def table_wants_masks(value: Any) -> bool:
    """Whether a csv path or DataFrame input asks for masks: a mask column with a value in it.

    MIRP imports masks when ``mask`` or a mask argument is given; a table gives them per row.

    Examples
    --------
    >>> table_wants_masks(pd.DataFrame({"image": ["/a"], "mask": ["/b"]}))
    True
    >>> table_wants_masks(pd.DataFrame({"image": ["/a"], "mask": [None]})), table_wants_masks("/data")
    (False, False)
    """
    if _is_kind(value, ".csv") and os.path.isfile(value):
        table = pd.read_csv(value, dtype=str, keep_default_na=True)
    elif isinstance(value, pd.DataFrame) and not set(value.columns) >= _FILES_TABLE_MARKERS:
        table = value
    else:
        return False
    table = table.rename(columns=lambda c: str(c).strip())
    return any(
        _cell(v) is not None for c in _MASK_COLUMNS if c in table.columns for v in table[c].astype(object).tolist()
    )


def expand(image: Any, mask: Any, options: dict[str, Any], *, want_masks: bool) -> list[Request]:
    """Turn the ``image``/``mask`` arguments into import requests.

    Examples
    --------
    >>> [r.images[0].path for r in expand("/data", None, {}, want_masks=False)]
    ['/data']
    """
    from .dataxml import read_data_xml

    if _is_kind(image, ".xml"):
        requests = []
        for number, args in enumerate(read_data_xml(image)):
            opts = {k: (args.get(k) if args.get(k) is not None else options.get(k)) for k in OPTION_NAMES}
            if args["image"] is None:
                raise InputError(
                    f"The <image> path in {os.fspath(image)} is empty; fill it in with the folder "
                    "or file that holds the images."
                )
            if want_masks and args["mask"] is None:
                raise InputError(
                    f"The <mask> path in {os.fspath(image)} is empty; fill it in (it may be the same "
                    "folder as <image>)."
                )
            masks = sources_of(args["mask"]) if want_masks else None
            requests.append(Request(number, sources_of(args["image"]), masks, opts))
        return requests
    if _is_kind(image, ".csv"):
        if not os.path.exists(image):
            raise NotFoundError(f"The csv file {os.fspath(image)!r} does not exist. Check the path.")
        table = pd.read_csv(image, dtype=str, keep_default_na=True)
        base = os.path.dirname(os.path.abspath(image))
        return _table_requests(table, options, base=base, want_masks=want_masks, first=0)
    if isinstance(image, pd.DataFrame) and not set(image.columns) >= _FILES_TABLE_MARKERS:
        return _table_requests(image, options, base=None, want_masks=want_masks, first=0)
    masks = None
    if want_masks:
        masks = sources_of(mask if mask is not None else image)
    return [Request(0, sources_of(image) if image is not None else [], masks, dict(options))]
