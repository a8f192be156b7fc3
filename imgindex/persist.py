"""Tables to parquet and back, with imgindex metadata (schema and library version).

Every declared column is written with its Arrow type (lists as native parquet lists), so
DuckDB, Spark or pyarrow read the files without imgindex. Reading checks the schema version and
fails with a message naming both versions when it is not one this imgindex understands.
"""

from __future__ import annotations

import json
import os
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from . import __version__, schema
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
    """Convert ``df`` to an Arrow table with the declared schema and imgindex metadata."""
    frame = schema.coerce(df, table)
    declared = schema.names(table)
    arrays, fields = [], []
    for col in schema.columns(table):
        values = frame[col.name]
        if pa.types.is_list(col.type):
            values = [list(v) if v is not None else None for v in values]
        elif pd.api.types.is_extension_array_dtype(values.dtype):
            values = values.astype(object).where(values.notna(), None)
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


def write_table(df: pd.DataFrame, path: str | os.PathLike, table: str, *,
                extra: dict[str, Any] | None = None) -> None:
    """Write ``df`` as a parquet file following the schema of ``table``."""
    pq.write_table(to_arrow(df, table, extra=extra), os.fspath(path))


def read_metadata(path: str | os.PathLike) -> dict[str, Any]:
    """The imgindex metadata of a parquet file (raises when the file has none)."""
    if not os.path.exists(path):
        raise NotFoundError(f"No index file at {os.fspath(path)!r}. Check the path, or build an index first.")
    meta = pq.read_schema(os.fspath(path)).metadata or {}
    if METADATA_KEY not in meta:
        raise InputError(
            f"{os.fspath(path)!r} is a parquet file but was not written by imgindex (no imgindex "
            "metadata). Load it with pandas.read_parquet and pass the DataFrame instead."
        )
    return json.loads(meta[METADATA_KEY])


def read_table(path: str | os.PathLike, table: str) -> pd.DataFrame:
    """Read a parquet file written by :func:`write_table`, checking its version and table."""
    meta = read_metadata(path)
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
    frame = pq.read_table(os.fspath(path)).to_pandas()
    frame = schema.coerce(frame, table)
    frame.attrs.update({k: v for k, v in meta.items() if k not in ("schema_version", "library_version", "table")})
    return frame


def to_parquet(files: pd.DataFrame, path: str | os.PathLike) -> None:
    """Save a files table (from :func:`imgindex.scan`) as parquet, scan report included.

    Examples
    --------
    >>> import imgindex, tempfile, os
    >>> path = os.path.join(tempfile.mkdtemp(), "files.parquet")
    >>> imgindex.to_parquet(imgindex.schema.empty("files"), path)
    >>> len(imgindex.read_files(path))
    0
    """
    write_table(files, path, "files", extra={"scan": files.attrs.get("scan", {})})


def read_files(path: str | os.PathLike) -> pd.DataFrame:
    """Read a files table saved by :func:`to_parquet`; no imaging file is read again.

    Examples
    --------
    >>> import imgindex, tempfile, os
    >>> path = os.path.join(tempfile.mkdtemp(), "files.parquet")
    >>> imgindex.to_parquet(imgindex.schema.empty("files"), path)
    >>> imgindex.read_files(path).columns[0]
    'file_path'
    """
    return read_table(path, "files")
