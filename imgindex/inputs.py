"""Step 1: every accepted input form → import requests, and sources → the raw file-reference frame.

One normaliser, :func:`sources`, turns a plain input (a path, a numpy array, an imgindex files
table, an :class:`~imgindex.index.Index`, or a list of these, nested or not) into
:class:`Source` objects; it is a :func:`functools.singledispatch` whose default raises a clear
:class:`~imgindex.errors.InputTypeError`. :func:`expand` turns the ``image`` / ``mask``
arguments into :class:`Request` objects, each with its own checked
:class:`~imgindex.options.ImportOptions`:

- a data XML gives one request per ``<data>`` element (its arguments merged into the options);
- a csv file or a DataFrame gives one request per group of rows that share their arguments;
  rows name their own ``image`` / ``mask`` paths and the ``sample_name`` their files belong to;
- a saved index (folder or parquet file) or an ``Index`` gives its files table, already scanned;
- anything else is one request.

csv / DataFrame columns (MIRP never defined any; these mirror its argument names, spec 19):
``image`` (required), ``mask``, ``sample_name``, ``image_name``, ``image_file_type``,
``image_modality``, ``image_sub_folder``, ``mask_name``, ``mask_file_type``, ``mask_modality``,
``mask_sub_folder``, ``roi_name`` (comma-separated). Empty cells fall back to the function's
arguments; relative paths in a csv are relative to the csv's folder. A table with a value in
``mask`` or in a mask argument column asks for masks, as a ``mask`` argument does.

:func:`imgindex.walk.collect` walks the sources into the raw frame the scan reads.
"""

from __future__ import annotations

import os
from collections.abc import Hashable, Mapping
from dataclasses import dataclass, field
from functools import singledispatch
from typing import Any, TypeGuard

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from .dataxml import read_data_xml
from .errors import InputError, InputTypeError, NotFoundError, warn
from .options import REQUEST_ARGUMENTS, ImportOptions
from .saved import read_saved_files

__all__ = [
    "TABLE_COLUMNS",
    "Request",
    "Source",
    "expand",
    "is_saved_index",
    "sources",
]

#: The columns of a csv file or DataFrame of import requests.
TABLE_COLUMNS = ("image", "mask", *REQUEST_ARGUMENTS)
_ROW_ARGUMENTS = tuple(o for o in REQUEST_ARGUMENTS if o != "sample_name")  # a row's sample_name names its files
_MASK_COLUMNS = ("mask", "mask_name", "mask_file_type", "mask_modality", "mask_sub_folder", "roi_name")
_FILES_TABLE_MARKERS = frozenset({"file_path", "file_type", "SOPInstanceUID"})


@dataclass
class Source:
    """One thing to scan: a path, an in-memory array, or an already scanned files table."""

    path: str | None = None
    array: NDArray[Any] | None = None
    files: pd.DataFrame | None = None
    sample_name: str | None = None  # given for this source (csv row): its files belong to it


@dataclass
class Request:
    """One independent set of import arguments and what they apply to.

    ``masks`` is ``None`` when the request asks for no masks.
    """

    number: int
    images: list[Source]
    masks: list[Source] | None
    options: ImportOptions = field(default_factory=ImportOptions)


def _is_files_table(value: object) -> TypeGuard[pd.DataFrame]:
    return isinstance(value, pd.DataFrame) and set(value.columns) >= _FILES_TABLE_MARKERS


@singledispatch
def sources(value: object, what: str = "image", sample_name: str | None = None) -> list[Source]:
    """Flatten a plain input (path, array, files table, ``Index``, or a list of these) into sources.

    ``what`` names the argument in errors (``"image"``, ``"mask"`` or ``"input"``).

    Examples
    --------
    >>> [s.path for s in sources(["/a", ["/b"]])]
    ['/a', '/b']
    >>> sources(42)
    Traceback (most recent call last):
    ...
    imgindex.errors.InputTypeError: Unsupported image type: <class 'int'>. ...
    """
    files = getattr(value, "files", None)
    if _is_files_table(files) and hasattr(value, "objects"):  # an imgindex.Index
        return [Source(files=files, sample_name=sample_name)]
    accepted = (
        "a directory or file path (str or pathlib.Path), a numpy array, or a list of these"
        if what == "input"
        else "a directory or file path (str or pathlib.Path), a numpy array, a list of these, a data xml or "
        "csv path, a pandas DataFrame, or a saved index"
    )
    raise InputTypeError(f"Unsupported {what} type: {type(value)!r}. imgindex accepts {accepted}.")


@sources.register(str)
@sources.register(os.PathLike)
def _(value: str | os.PathLike[str], what: str = "image", sample_name: str | None = None) -> list[Source]:
    path = os.fspath(value)
    if not isinstance(path, str):
        raise InputTypeError(f"The {what} path {value!r} is not text; pass a str or pathlib.Path.")
    if not path.strip():
        raise InputError(
            f"The {what} path is empty. Pass the folder or file that holds the {what}s (use '.' for the current "
            "directory)."
        )
    return [Source(path=os.path.abspath(path), sample_name=sample_name)]


@sources.register(np.ndarray)
def _(value: NDArray[Any], what: str = "image", sample_name: str | None = None) -> list[Source]:
    return [Source(array=value, sample_name=sample_name)]


@sources.register(list)
@sources.register(tuple)
def _(value: list[Any] | tuple[Any, ...], what: str = "image", sample_name: str | None = None) -> list[Source]:
    return [s for item in value for s in sources(item, what, sample_name)]


@sources.register(pd.DataFrame)
def _(value: pd.DataFrame, what: str = "image", sample_name: str | None = None) -> list[Source]:
    if not _is_files_table(value):
        raise InputTypeError(
            f"Unsupported {what} type: a DataFrame without the columns of an imgindex files table "
            f"({', '.join(sorted(_FILES_TABLE_MARKERS))}) inside a list. Pass a table of requests "
            "(columns image, mask, ...) by itself, or a files table from imgindex.scan."
        )
    return [Source(files=value, sample_name=sample_name)]


def _is_kind(value: object, suffix: str) -> TypeGuard[str | os.PathLike[str]]:
    return (
        isinstance(value, (str, os.PathLike)) and os.fspath(value).lower().endswith(suffix) and not os.path.isdir(value)
    )


def is_saved_index(value: object) -> TypeGuard[str | os.PathLike[str]]:
    """Whether ``value`` is the path of a saved index (a folder with ``objects.parquet``, or a parquet file).

    Examples
    --------
    >>> is_saved_index("/no/such/index"), is_saved_index(3)
    (False, False)
    """
    if not isinstance(value, (str, os.PathLike)):
        return False
    path = os.fspath(value)
    return (os.path.isdir(path) and os.path.exists(os.path.join(path, "objects.parquet"))) or (
        os.path.isfile(path) and path.lower().endswith(".parquet")
    )


def _cell(value: Any) -> Any:
    if value is None or (isinstance(value, float) and np.isnan(value)) or value is pd.NA:
        return None
    if isinstance(value, str):
        value = value.strip()
        return value or None
    return value


def _wants_masks(table: pd.DataFrame) -> bool:
    """A mask column with a value in it: the table asks for masks, as a ``mask`` argument does."""
    return any(
        _cell(v) is not None for c in _MASK_COLUMNS if c in table.columns for v in table[c].astype(object).tolist()
    )


def _table_requests(
    table: pd.DataFrame,
    options: ImportOptions,
    *,
    base: str | None,
    want_masks: bool | None,
    source: str,
) -> list[Request]:
    table = table.rename(columns=lambda c: str(c).strip())
    if table.empty:
        found = f"the columns {', '.join(map(str, table.columns))} but no rows" if len(table.columns) else "nothing"
        what = "The DataFrame" if source == "the DataFrame" else f"The csv file {source}"
        raise InputError(
            f"{what} holds {found}. A csv or DataFrame input needs the column image (and "
            "mask, sample_name, ...) and one row per image; pass a folder or file path to scan it instead."
        )
    if want_masks is None:
        want_masks = options.mask_arguments or _wants_masks(table)
    if "image" not in table.columns and not ("mask" in table.columns and not want_masks):
        raise InputError(
            f"The table has no 'image' column (found: {', '.join(map(str, table.columns))}; in {source}). "
            f"A csv or DataFrame input needs the columns {', '.join(TABLE_COLUMNS[:3])} and may have "
            f"{', '.join(TABLE_COLUMNS[3:])}."
        )
    unknown = [c for c in table.columns if c not in TABLE_COLUMNS]
    if unknown:
        warn(
            f"Ignoring table columns imgindex does not know: {', '.join(unknown)}. "
            f"Known columns: {', '.join(TABLE_COLUMNS)}."
        )
    # Plain dicts, not DataFrame.map: pandas infers a string dtype and turns None back into NaN.
    rows = [
        {k: _cell(v) for k, v in record.items()}
        for record in table.reindex(columns=list(TABLE_COLUMNS)).astype(object).to_dict("records")
    ]

    def path(value: str | os.PathLike[str] | None) -> str | None:
        if value is None:
            return None
        value = os.fspath(value)
        return os.path.normpath(os.path.join(base, value)) if base and not os.path.isabs(value) else value

    def row_arguments(row: Mapping[Hashable, Any]) -> tuple[tuple[str, Any], ...]:
        values = []
        for name in _ROW_ARGUMENTS:
            value = row[name]
            if name == "roi_name" and isinstance(value, str):
                value = tuple(v.strip() for v in value.split(",") if v.strip())
            values.append((name, value))
        return tuple(values)

    groups: dict[tuple[tuple[str, Any], ...], Request] = {}
    for number, row in enumerate(rows, start=1):
        key = row_arguments(row)
        request = groups.get(key)
        if request is None:
            given = {k: (list(v) if isinstance(v, tuple) else v) for k, v in key}
            merged = options.merge(given, where=f"row {number} of {source}")
            request = Request(len(groups), [], [] if want_masks else None, merged)
            groups[key] = request
        sample = None if row["sample_name"] is None else str(row["sample_name"])
        if row["image"] is not None:
            request.images.append(Source(path=path(row["image"]), sample_name=sample))
        if request.masks is not None:
            mask_path = row["mask"] if row["mask"] is not None else row["image"]
            if mask_path is not None:
                request.masks.append(Source(path=path(mask_path), sample_name=sample))
    if not any(r.images or r.masks for r in groups.values()):
        raise InputError(
            f"Every row of {source} has an empty image (and mask) cell, so there is nothing to index. Fill in the "
            "image column with the folder or file of each row's images."
        )
    return list(groups.values())


def _xml_requests(image: str | os.PathLike[str], options: ImportOptions, *, want_masks: bool) -> list[Request]:
    path = os.fspath(image)
    requests = []
    for number, args in enumerate(read_data_xml(path)):
        if args["image"] is None:
            raise InputError(
                f"The <image> path in {path} is empty; fill it in with the folder or file that holds the images."
            )
        if want_masks and args["mask"] is None:
            raise InputError(f"The <mask> path in {path} is empty; fill it in (it may be the same folder as <image>).")
        merged = options.merge(
            {k: args.get(k) for k in REQUEST_ARGUMENTS}, where=f"<data> element {number + 1} of {path}"
        )
        masks = sources(args["mask"], "mask") if want_masks else None
        requests.append(Request(number, sources(args["image"], "image"), masks, merged))
    return requests


def expand(
    image: object,
    mask: object,
    options: ImportOptions,
    *,
    want_images: bool = True,
    want_masks: bool | None = None,
) -> list[Request]:
    """Turn the ``image`` / ``mask`` arguments into import requests.

    ``want_masks=None`` decides as MIRP does: masks are wanted when ``mask`` is given, a mask
    argument is set, ``image`` is a data XML, or a table names masks. With ``want_images=False``
    (``import_mask``) the ``mask`` argument is the source. A csv or xml is read here (only its
    own text); no imaging file is touched.

    Examples
    --------
    >>> [r.images[0].path for r in expand("/data", None, ImportOptions())]
    ['/data']
    """
    if not want_images:
        requests = expand(mask, None, options, want_images=True, want_masks=True)
        for request in requests:
            request.images = []
        return requests
    if _is_kind(image, ".xml"):
        return _xml_requests(image, options, want_masks=True if want_masks is None else want_masks)
    if _is_kind(image, ".csv"):
        path = os.fspath(image)
        if not os.path.exists(path):
            raise NotFoundError(f"The csv file {path!r} does not exist. Check the path.")
        table = _read_csv(path)
        base = os.path.dirname(os.path.abspath(path))
        return _table_requests(table, options, base=base, want_masks=want_masks, source=path)
    if isinstance(image, pd.DataFrame) and not _is_files_table(image):
        return _table_requests(image, options, base=None, want_masks=want_masks, source="the DataFrame")
    if is_saved_index(image):
        image = read_saved_files(image)
    if want_masks is None:
        want_masks = mask is not None or options.mask_arguments
    images = sources(image, "image") if image is not None else []
    masks = sources(mask if mask is not None else image, "mask") if want_masks else None
    return [Request(0, images, masks, options)]


def _read_csv(path: str) -> pd.DataFrame:
    try:
        return pd.read_csv(path, dtype=str, keep_default_na=True)
    except pd.errors.EmptyDataError:
        raise InputError(
            f"The csv file {path} is empty. It needs a header row with the column image (and mask, sample_name, "
            "...) and one row per image."
        ) from None
    except UnicodeDecodeError as exc:
        raise InputError(
            f"The csv file {path} is not UTF-8 text ({exc.reason} at byte {exc.start}). Save it as UTF-8."
        ) from None
    except pd.errors.ParserError as exc:
        message = str(exc).strip().splitlines()[0]
        raise InputError(f"The csv file {path} could not be parsed ({message}). Check its commas and quotes.") from None
