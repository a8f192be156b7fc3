"""Tables to parquet and back, with imgindex metadata (schema and library version).

Every declared column is written with its Arrow type (lists as native parquet lists), so
DuckDB, Spark or pyarrow read the files without imgindex. Reading checks the schema version and
fails with a message naming both versions when it is not one this imgindex understands.

Saving is atomic: a file is written under a temporary name in its own folder (``.imgindex-tmp-...``,
a name the directory walk skips) and renamed into place when complete (an index folder: see
:mod:`imgindex.atomic`). Text that UTF-8 cannot hold (file names of bytes that are not UTF-8, as
Python gives them with ``surrogateescape``) is saved percent-escaped, the rows listed in the
metadata, and restored exactly when read.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import uuid
from collections.abc import Iterator
from typing import IO, Any
from urllib.parse import quote, unquote_to_bytes

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from numpy.typing import NDArray

from . import schema
from ._version import __version__
from .errors import InputError, NotFoundError, SchemaVersionError

#: Key of imgindex's entry in the parquet key-value metadata.
METADATA_KEY = b"imgindex"
#: The prefix of every temporary file or folder imgindex writes (the directory walk skips such names).
TEMPORARY_PREFIX = ".imgindex-tmp-"
#: The metadata entry listing the rows of each column whose text was percent-escaped.
_ESCAPED = "escaped"
#: Printable ASCII that stays as it is in an escaped cell (``%`` itself is always escaped).
_KEEP = "/ !\"#$&'()*+,:;<=>?@[\\]^`{|}"


def _jsonable(value: Any) -> Any:
    try:
        json.dumps(value)
        return value
    except TypeError:
        return repr(value)


def _escape(text: str) -> str:
    """Text with lone surrogates as percent-escapes of the bytes they stand for (``%`` escaped too)."""
    return quote(text.encode("utf-8", "surrogateescape"), safe=_KEEP)


def _unescape(text: str) -> str:
    return unquote_to_bytes(text).decode("utf-8", "surrogateescape")


def _not_utf8(value: object) -> bool:
    if not isinstance(value, str) or value.isascii():
        return False
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def _array(
    values: Any, name: str, type_: pa.DataType | None, frame: pd.DataFrame, escaped: dict[str, list[int]]
) -> pa.Array:
    """One column as Arrow; text UTF-8 cannot hold is escaped (rows noted), other failures name the file."""
    try:
        return pa.array(values, type=type_, from_pandas=True)
    except (UnicodeEncodeError, pa.ArrowException, TypeError, ValueError) as first:
        cells = list(np.asarray(values, dtype=object))
        rows = [i for i, v in enumerate(cells) if _not_utf8(v)]
        if rows:
            escaped[name] = rows
            for i in rows:
                cells[i] = _escape(cells[i])
        try:
            return pa.array(cells, type=type_ if type_ is not None else None, from_pandas=True)
        except (UnicodeEncodeError, pa.ArrowException, TypeError, ValueError):
            pass
        for i, cell in enumerate(cells):
            try:
                pa.array([cell], type=type_, from_pandas=True)
            except (UnicodeEncodeError, pa.ArrowException, TypeError, ValueError) as exc:
                where = frame["file_path"].iloc[i] if "file_path" in frame.columns else None
                what = f"row {i}" + (f" (file {where!r})" if isinstance(where, str) else "")
                raise InputError(
                    f"The {name} value of {what} cannot be saved as {type_ or 'parquet'}: {cell!r} ({exc}). "
                    "Fix or drop that value (or row) before saving."
                ) from None
        raise InputError(f"The column {name} cannot be saved as {type_ or 'parquet'}: {first}.") from None


def to_arrow(df: pd.DataFrame, table: str, *, extra: dict[str, Any] | None = None) -> pa.Table:
    """Convert ``df`` to an Arrow table with the declared schema and imgindex metadata.

    Text that UTF-8 cannot hold (a file name of bytes that are not UTF-8) is percent-escaped and its
    rows listed in the metadata; :func:`from_arrow` restores it. A value that cannot be converted
    raises :class:`~imgindex.errors.InputError` naming its column and file.

    Examples
    --------
    >>> arrow = to_arrow(schema.empty("files"), "files")
    >>> arrow.column_names == schema.names("files"), from_arrow(arrow, "files").empty
    (True, True)
    """
    frame = schema.coerce(df, table)
    declared = schema.names(table)
    arrays, fields = [], []
    escaped: dict[str, list[int]] = {}
    for col in schema.columns(table):
        column = frame[col.name]
        values: pd.Series[Any] | NDArray[np.object_] = column
        if pa.types.is_list(col.type):
            values = column.to_numpy(dtype=object)  # tuples (or None): Arrow converts them in C
        arrays.append(_array(values, col.name, col.type, frame, escaped))
        fields.append(pa.field(col.name, col.type, nullable=col.nullable))
    for name in frame.columns:  # undeclared extra columns: inferred types, kept
        if name not in declared:
            arrays.append(_array(frame[name], str(name), None, frame, escaped))
            fields.append(pa.field(name, arrays[-1].type))
    meta = {
        "schema_version": schema.SCHEMA_VERSION,
        "library_version": __version__,
        "table": table,
        **({k: _jsonable(v) for k, v in extra.items()} if extra else {}),
        **({_ESCAPED: escaped} if escaped else {}),
    }
    return pa.Table.from_arrays(arrays, schema=pa.schema(fields, metadata={METADATA_KEY: json.dumps(meta)}))


def from_arrow(arrow: pa.Table, table: str) -> pd.DataFrame:
    """The pandas frame of an Arrow table that follows the schema of ``table`` (list cells as tuples).

    The inverse of :func:`to_arrow` (without the metadata). List columns are converted with
    :func:`list_cells`, the rest in one ``to_pandas`` call.
    """
    return _finish_frame(_columns_of(arrow, table), arrow.column_names, arrow.schema.metadata, table)


def _columns_of(arrow: pa.Table, table: str) -> dict[str, pd.Series]:
    """The columns of ``arrow`` as pandas Series (scalars with the schema's dtypes, list cells as tuples)."""
    lists = {c.name for c in schema.columns(table) if pa.types.is_list(c.type) and c.name in arrow.column_names}
    scalars = arrow.drop_columns(list(lists)) if lists else arrow
    frame = schema.scalar_frame(scalars)
    columns = {name: frame[name] for name in frame.columns}
    for name in lists:
        columns[name] = pd.Series(list_cells(arrow.column(name)), index=frame.index, dtype=object)
    return columns


def _finish_frame(
    columns: dict[str, pd.Series], names: list[str], metadata: dict[bytes, bytes] | None, table: str
) -> pd.DataFrame:
    frame = pd.DataFrame({n: columns[n] for n in names if n in columns}, copy=False)
    frame = schema.coerce(frame, table)
    meta = (metadata or {}).get(METADATA_KEY)
    return restore(frame, json.loads(meta).get(_ESCAPED, {})) if meta else frame


#: Columns read from a parquet file at a time: the Arrow copy of a 155,000-row files table is
#: ~230 MB read whole, ~25 MB per batch (and the pool's pages go back after each).
READ_BATCH_COLUMNS = 12


def _read_batched(source: str | IO[bytes], version: int, table: str) -> pd.DataFrame:
    """A saved table read a few columns at a time, each batch converted and its Arrow memory freed."""
    parquet = pq.ParquetFile(source)
    names: list[str] = parquet.schema_arrow.names
    metadata = parquet.schema_arrow.metadata
    columns: dict[str, pd.Series] = {}
    kept: list[str] = []
    pool = pa.default_memory_pool()
    for start in range(0, len(names), READ_BATCH_COLUMNS):
        part = upgrade(parquet.read(columns=names[start : start + READ_BATCH_COLUMNS]), version, table)
        kept += part.column_names
        columns.update(_columns_of(part, table))
        del part
        pool.release_unused()  # mimalloc keeps freed pages otherwise: they would add up to the whole table
    return _finish_frame(columns, kept, metadata, table)


def restore(frame: pd.DataFrame, escaped: dict[str, list[int]]) -> pd.DataFrame:
    """``frame`` with the escaped cells (``{column: [row positions]}``) turned back into their text."""
    for name, rows in escaped.items():
        if name in frame.columns and rows:
            column = frame[name].astype(object).to_numpy(copy=True)
            for i in rows:
                column[i] = _unescape(column[i])
            frame[name] = pd.Series(column, index=frame.index, dtype=frame[name].dtype)
    return frame


def list_cells(array: pa.Array | pa.ChunkedArray) -> NDArray[np.object_]:
    """The cells of an Arrow list column as tuples (``None`` where null), equal cells sharing one tuple.

    Vectorised: rows of one length are gathered into a matrix, deduplicated on their exact bytes
    with :func:`numpy.unique`, and only the distinct rows become Python tuples.

    Examples
    --------
    >>> list_cells(pa.array([[1.0, 2.0], None, [1.0, 2.0], []])).tolist()
    [(1.0, 2.0), None, (1.0, 2.0), ()]
    """
    if isinstance(array, pa.ChunkedArray):
        array = (
            array.chunk(0)
            if array.num_chunks == 1
            else (array.combine_chunks() if array.num_chunks else pa.array([], type=array.type))
        )
    n = len(array)
    out = np.full(n, None, dtype=object)
    if n == 0 or array.null_count == n:
        return out
    values = array.values
    if values.null_count or not (
        pa.types.is_floating(values.type)
        or pa.types.is_integer(values.type)
        or pa.types.is_string(values.type)
        or pa.types.is_large_string(values.type)
    ):
        for i, cell in enumerate(array.to_pylist()):  # null items or unusual types: the plain way
            out[i] = tuple(cell) if cell is not None else None
        return out
    lookup = None
    if pa.types.is_floating(values.type) or pa.types.is_integer(values.type):
        codes = values.to_numpy(zero_copy_only=False)
    else:
        encoded = values.dictionary_encode()
        codes = encoded.indices.to_numpy(zero_copy_only=False)
        lookup = encoded.dictionary.to_pylist()
    offsets = np.asarray(array.offsets, dtype=np.int64)
    lengths = np.diff(offsets)
    valid = np.asarray(array.is_valid(), dtype=bool)
    for length in np.unique(lengths[valid]).tolist():
        rows = np.flatnonzero(valid & (lengths == length))
        if length == 0:
            for r in rows.tolist():
                out[r] = ()
            continue
        matrix = np.ascontiguousarray(codes[offsets[rows][:, None] + np.arange(length)])
        keys = matrix.view(np.dtype((np.void, matrix.dtype.itemsize * length))).ravel()
        _, first, inverse = np.unique(keys, return_index=True, return_inverse=True)
        distinct = matrix[first].tolist()
        cells = np.empty(len(distinct), dtype=object)
        for i, row in enumerate(distinct):
            cells[i] = tuple(row) if lookup is None else tuple([lookup[c] for c in row])
        out[rows] = cells[inverse.ravel()]
    return out


def write_table(
    df: pd.DataFrame, path: str | os.PathLike[str], table: str, *, extra: dict[str, Any] | None = None
) -> None:
    """Write ``df`` as a parquet file following the schema of ``table``.

    ``extra`` entries join the imgindex metadata (values that are not JSON are saved as their
    ``repr``); :func:`read_table` puts them in the frame's ``attrs``.

    Examples
    --------
    >>> path = os.path.join(tmp_dir, "files.parquet")
    >>> write_table(schema.empty("files"), path, "files", extra={"note": "empty"})
    >>> read_metadata(path)["table"], read_table(path, "files").attrs["note"]
    ('files', 'empty')
    """
    arrow = to_arrow(df, table, extra=extra)
    target = os.fspath(path)
    with _temporary(target) as temporary:
        pq.write_table(arrow, temporary)
        os.replace(temporary, target)


def temporary_name(path: str) -> str:
    """A fresh temporary name beside ``path`` (same folder, so a rename is atomic), ending like it."""
    folder, name = os.path.split(os.path.abspath(path))
    return os.path.join(folder, f"{TEMPORARY_PREFIX}{os.getpid()}-{uuid.uuid4().hex[:8]}-{name}")


@contextlib.contextmanager
def _temporary(path: str) -> Iterator[str]:
    """A temporary name beside ``path``; whatever is left under it at the end is removed."""
    temporary = temporary_name(path)
    try:
        yield temporary
    finally:
        if os.path.isdir(temporary) and not os.path.islink(temporary):
            shutil.rmtree(temporary, ignore_errors=True)
        elif os.path.lexists(temporary):
            os.remove(temporary)


def read_metadata(path: str | os.PathLike[str] | IO[bytes]) -> dict[str, Any]:
    """The imgindex metadata of a parquet file (raises when the file has none)."""
    if isinstance(path, (str, os.PathLike)) and not os.path.exists(path):
        raise NotFoundError(f"No index file at {os.fspath(path)!r}. Check the path, or build an index first.")
    name = os.fspath(path) if isinstance(path, (str, os.PathLike)) else getattr(path, "name", "a parquet file")
    meta = pq.read_schema(path).metadata or {}
    if METADATA_KEY not in meta:
        raise InputError(
            f"{name!r} is a parquet file but was not written by imgindex (no imgindex "
            "metadata). Load it with pandas.read_parquet and pass the DataFrame instead."
        )
    values: dict[str, Any] = json.loads(meta[METADATA_KEY])
    return values


#: Column renames and removals since each older schema version, applied when its tables are read.
#: Version 2 (issue 12/16): files ``Modality`` became ``dicom_modality`` (DuckDB and Spark, which
#: ignore case, saw two ``modality`` columns); objects ``stack_warning`` (``geometry_warning``
#: with nulls) went. The columns added since read as null.
UPGRADES: dict[int, dict[str, tuple[dict[str, str], tuple[str, ...]]]] = {
    1: {"files": ({"Modality": "dicom_modality"}, ()), "objects": ({}, ("stack_warning",))},
}


def upgrade(arrow: pa.Table, version: int, table: str) -> pa.Table:
    """``arrow``, a ``table`` saved with schema ``version``, with the columns of the current schema's names.

    Examples
    --------
    >>> upgrade(pa.table({"Modality": ["CT"]}), 1, "files").column_names
    ['dicom_modality']
    """
    for old in range(version, schema.SCHEMA_VERSION):
        renamed, dropped = UPGRADES.get(old, {}).get(table, ({}, ()))
        arrow = arrow.drop_columns([c for c in dropped if c in arrow.column_names])
        arrow = arrow.rename_columns([renamed.get(c, c) for c in arrow.column_names])
    return arrow


def _check(meta: dict[str, Any], path: str | os.PathLike[str], table: str) -> None:
    version = meta.get("schema_version")
    if version != schema.SCHEMA_VERSION and version not in UPGRADES:
        raise SchemaVersionError(
            f"{os.fspath(path)!r} was written with imgindex schema version {version} (imgindex "
            f"{meta.get('library_version')}), but this is imgindex {__version__} with schema version "
            f"{schema.SCHEMA_VERSION}. Re-index the data with this version, or read it with the "
            "imgindex version that wrote it."
        )
    if meta.get("table") != table:
        raise InputError(f"{os.fspath(path)!r} holds the {meta.get('table')!r} table, not {table!r}.")


def read_table(path: str | os.PathLike[str], table: str, *, handle: IO[bytes] | None = None) -> pd.DataFrame:
    """Read a parquet file written by :func:`write_table`, checking its version and table.

    ``handle``: the file already open (``path`` then only names it in messages).
    """
    source: str | IO[bytes] = os.fspath(path) if handle is None else handle
    meta = read_metadata(source if handle is None else handle)
    _check(meta, path, table)
    if handle is not None:
        handle.seek(0)
    version = meta.get("schema_version", schema.SCHEMA_VERSION)
    frame = _read_batched(source, version, table)
    hidden = ("schema_version", "library_version", "table", _ESCAPED)
    frame.attrs.update({k: v for k, v in meta.items() if k not in hidden})
    if version != schema.SCHEMA_VERSION:  # its rows lack the columns added since: never reused by a scan
        frame.attrs["upgraded_from"] = version
    return frame
