"""Tables to parquet and back, with imgindex metadata (schema and library version).

Every declared column is written with its Arrow type (lists as native parquet lists), so
DuckDB, Spark or pyarrow read the files without imgindex. Reading checks the schema version and
fails with a message naming both versions when it is not one this imgindex understands.
"""

from __future__ import annotations

import json
import os
from typing import Any

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


def _jsonable(value: Any) -> Any:
    try:
        json.dumps(value)
        return value
    except TypeError:
        return repr(value)


def to_arrow(df: pd.DataFrame, table: str, *, extra: dict[str, Any] | None = None) -> pa.Table:
    """Convert ``df`` to an Arrow table with the declared schema and imgindex metadata.

    Examples
    --------
    >>> arrow = to_arrow(schema.empty("files"), "files")
    >>> arrow.column_names == schema.names("files"), from_arrow(arrow, "files").empty
    (True, True)
    """
    frame = schema.coerce(df, table)
    declared = schema.names(table)
    arrays, fields = [], []
    for col in schema.columns(table):
        column = frame[col.name]
        values: pd.Series[Any] | NDArray[np.object_] = column
        if pa.types.is_list(col.type):
            values = column.to_numpy(dtype=object)  # tuples (or None): Arrow converts them in C
        arrays.append(pa.array(values, type=col.type, from_pandas=True))
        fields.append(pa.field(col.name, col.type, nullable=col.nullable))
    for name in frame.columns:  # undeclared extra columns: inferred types, kept
        if name not in declared:
            arrays.append(pa.array(frame[name], from_pandas=True))
            fields.append(pa.field(name, arrays[-1].type))
    meta = {
        "schema_version": schema.SCHEMA_VERSION,
        "library_version": __version__,
        "table": table,
        **({k: _jsonable(v) for k, v in extra.items()} if extra else {}),
    }
    return pa.Table.from_arrays(arrays, schema=pa.schema(fields, metadata={METADATA_KEY: json.dumps(meta)}))


def from_arrow(arrow: pa.Table, table: str) -> pd.DataFrame:
    """The pandas frame of an Arrow table that follows the schema of ``table`` (list cells as tuples).

    The inverse of :func:`to_arrow` (without the metadata). List columns are converted with
    :func:`list_cells`, the rest in one ``to_pandas`` call.
    """
    lists = {c.name for c in schema.columns(table) if pa.types.is_list(c.type) and c.name in arrow.column_names}
    scalars = arrow.drop_columns(list(lists)) if lists else arrow
    frame = schema.scalar_frame(scalars)
    for name in lists:
        frame[name] = pd.Series(list_cells(arrow.column(name)), index=frame.index, dtype=object)
    return schema.coerce(frame[[n for n in arrow.column_names if n in frame.columns]], table)


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
    pq.write_table(to_arrow(df, table, extra=extra), os.fspath(path))


def read_metadata(path: str | os.PathLike[str]) -> dict[str, Any]:
    """The imgindex metadata of a parquet file (raises when the file has none)."""
    if not os.path.exists(path):
        raise NotFoundError(f"No index file at {os.fspath(path)!r}. Check the path, or build an index first.")
    meta = pq.read_schema(os.fspath(path)).metadata or {}
    if METADATA_KEY not in meta:
        raise InputError(
            f"{os.fspath(path)!r} is a parquet file but was not written by imgindex (no imgindex "
            "metadata). Load it with pandas.read_parquet and pass the DataFrame instead."
        )
    values: dict[str, Any] = json.loads(meta[METADATA_KEY])
    return values


def _check(meta: dict[str, Any], path: str | os.PathLike[str], table: str) -> None:
    version = meta.get("schema_version")
    if version != schema.SCHEMA_VERSION:
        raise SchemaVersionError(
            f"{os.fspath(path)!r} was written with imgindex schema version {version} (imgindex "
            f"{meta.get('library_version')}), but this is imgindex {__version__} with schema version "
            f"{schema.SCHEMA_VERSION}. Re-index the data with this version, or read it with the "
            "imgindex version that wrote it."
        )
    if meta.get("table") != table:
        raise InputError(f"{os.fspath(path)!r} holds the {meta.get('table')!r} table, not {table!r}.")


def read_table(path: str | os.PathLike[str], table: str) -> pd.DataFrame:
    """Read a parquet file written by :func:`write_table`, checking its version and table."""
    meta = read_metadata(path)
    _check(meta, path, table)
    frame = from_arrow(pq.read_table(os.fspath(path)), table)
    frame.attrs.update({k: v for k, v in meta.items() if k not in ("schema_version", "library_version", "table")})
    return frame


def dataset_parts(folder: str | os.PathLike[str]) -> list[str]:
    """The ``part-*.parquet`` files of a partitioned dataset folder, in order."""
    folder = os.fspath(folder)
    return sorted(
        os.path.join(folder, n) for n in os.listdir(folder) if n.startswith("part-") and n.endswith(".parquet")
    )


def read_dataset(folder: str | os.PathLike[str], table: str = "files") -> pd.DataFrame:
    """Read a partitioned dataset (``folder/part-*.parquet``, as :mod:`imgindex.distributed` writes).

    Every part is checked like a single file; the parts are concatenated in name order and the
    scan report of ``folder/_scan.json`` (if any) becomes ``attrs["scan"]``.
    """
    parts = dataset_parts(folder)
    if not parts:
        raise NotFoundError(f"The folder {os.fspath(folder)!r} holds no part-*.parquet files of an imgindex dataset.")
    arrow = []
    for part in parts:
        _check(read_metadata(part), part, table)
        arrow.append(pq.read_table(part))
    frame = from_arrow(pa.concat_tables(arrow, promote_options="default"), table)
    report = os.path.join(os.fspath(folder), "_scan.json")
    if os.path.exists(report):
        with open(report, encoding="utf-8") as handle:
            frame.attrs["scan"] = json.load(handle)
    return frame


def to_parquet(files: pd.DataFrame, path: str | os.PathLike[str]) -> None:
    """Save a files table (from :func:`imgindex.scan`) as parquet, scan report included.

    Every declared column keeps its Arrow type (lists as parquet lists), so DuckDB, Spark or
    pyarrow read the file without imgindex; :func:`read_files` reads it back.

    Parameters
    ----------
    files
        The files table.
    path
        The parquet file to write (replaced if it exists).

    Examples
    --------
    >>> import os, imgindex
    >>> files = imgindex.scan(os.path.join(example_dir, "STS_001", "CT", "nifti"))
    >>> path = os.path.join(tmp_dir, "files.parquet")
    >>> imgindex.to_parquet(files, path)
    >>> imgindex.read_files(path).attrs["scan"]["n_rows"]
    2
    """
    write_table(files, path, "files", extra={"scan": files.attrs.get("scan", {})})


def read_files(path: str | os.PathLike[str]) -> pd.DataFrame:
    """Read a files table saved by :func:`to_parquet` (or a dataset folder of :mod:`imgindex.distributed`).

    No imaging file is read again.

    Parameters
    ----------
    path
        A parquet file written by :func:`to_parquet`, or a folder of ``part-*.parquet`` files.

    Returns
    -------
    pandas.DataFrame
        The files table, with its scan report in ``attrs["scan"]``.

    Raises
    ------
    NotFoundError
        Nothing at ``path``, or a folder without parts.
    InputError
        A parquet file imgindex did not write, or one of another table.
    SchemaVersionError
        A file written with another schema version.

    Examples
    --------
    >>> import os, imgindex
    >>> files = imgindex.scan(os.path.join(example_dir, "STS_001", "MR_T1", "nrrd"))
    >>> path = os.path.join(tmp_dir, "files.parquet")
    >>> imgindex.to_parquet(files, path)
    >>> imgindex.read_files(path).equals(files)
    True
    """
    if os.path.isdir(path):
        return read_dataset(path, "files")
    return read_table(path, "files")


def read_saved_files(path: str | os.PathLike[str]) -> pd.DataFrame:
    """The files table of a saved index: ``files.parquet`` of an index folder, or a files parquet file.

    No imaging file is read.

    Examples
    --------
    >>> path = os.path.join(tmp_dir, "files.parquet")
    >>> to_parquet(schema.empty("files"), path)
    >>> read_saved_files(path).empty
    True
    """
    folder = os.fspath(path)
    if os.path.isdir(folder) and os.path.exists(os.path.join(folder, "files.parquet")):
        return read_table(os.path.join(folder, "files.parquet"), "files")
    return read_files(folder)
