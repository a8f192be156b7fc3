"""The files table saved: one parquet file, a dataset folder of parts, or an index folder's ``files.parquet``.

:func:`write_files` writes the first; :func:`read_files` reads any of them (and returns the files
table of an :class:`~imgindex.Index` or a DataFrame as it is), without reading an imaging file.
The parquet conversion itself is :mod:`imgindex.persist`'s.
"""

from __future__ import annotations

import json
import os

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from . import schema
from .errors import InputError, InputTypeError, NotFoundError, warn
from .persist import _ESCAPED, _check, from_arrow, read_metadata, read_table, restore, upgrade, write_table

__all__ = ["dataset_parts", "read_dataset", "read_files", "read_saved_files", "to_parquet", "write_files"]


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
        raise NotFoundError(
            f"The folder {os.fspath(folder)!r} is neither a saved imgindex index (no files.parquet) nor a "
            "dataset of part-*.parquet files. Pass the folder Index.save or imgindex scan -o wrote."
        )
    arrow, offset = [], 0
    escaped: dict[str, list[int]] = {}
    for part in parts:
        meta = read_metadata(part)
        _check(meta, part, table)
        version = meta.get("schema_version", schema.SCHEMA_VERSION)
        arrow.append(upgrade(pq.read_table(part), version, table).replace_schema_metadata(None))
        for name, rows in meta.get(_ESCAPED, {}).items():
            escaped.setdefault(name, []).extend(offset + r for r in rows)
        offset += arrow[-1].num_rows
    frame = restore(from_arrow(pa.concat_tables(arrow, promote_options="default"), table), escaped)
    report = os.path.join(os.fspath(folder), "_scan.json")
    if os.path.exists(report):
        with open(report, encoding="utf-8") as handle:
            frame.attrs["scan"] = json.load(handle)
    return frame


def write_files(files: pd.DataFrame, path: str | os.PathLike[str]) -> None:
    """Write a files table (from :func:`imgindex.scan`) as one parquet file, scan report included.

    Every declared column keeps its Arrow type (lists as parquet lists), so DuckDB, Spark or
    polars read the file without imgindex; :func:`read_files` reads it back. A whole index (files,
    objects and pairs) is saved with :meth:`imgindex.Index.save` instead.

    Parameters
    ----------
    files
        The files table.
    path
        The parquet file to write (replaced atomically if it exists).

    Examples
    --------
    >>> import os, imgindex
    >>> files = imgindex.scan(os.path.join(example_dir, "STS_001", "CT", "nifti"))
    >>> path = os.path.join(tmp_dir, "files.parquet")
    >>> imgindex.write_files(files, path)
    >>> imgindex.read_files(path).attrs["scan"]["n_rows"]
    2
    """
    write_table(files, path, "files", extra={"scan": files.attrs.get("scan", {})})


def to_parquet(files: pd.DataFrame, path: str | os.PathLike[str]) -> None:
    """Deprecated name of :func:`write_files` (it writes a files table, not an index); warns.

    Examples
    --------
    >>> import warnings
    >>> with warnings.catch_warnings(record=True) as caught:
    ...     warnings.simplefilter("always")
    ...     to_parquet(schema.empty("files"), os.path.join(tmp_dir, "files.parquet"))
    >>> "write_files" in str(caught[0].message)
    True
    """
    warn(
        "imgindex.to_parquet is now imgindex.write_files (it writes a files table); "
        "to save a whole index use Index.save(folder)."
    )
    write_files(files, path)


def read_files(path: object) -> pd.DataFrame:
    """The files table of any saved or in-memory form, without reading an imaging file again.

    Parameters
    ----------
    path
        A parquet file written by :func:`write_files`, a saved index folder (its
        ``files.parquet``; folders named ``*.parquet`` by older versions too), a folder of
        ``part-*.parquet`` files (:mod:`imgindex.distributed`), an :class:`~imgindex.Index`,
        or a files table (returned as a copy with the declared dtypes).

    Returns
    -------
    pandas.DataFrame
        The files table, with its scan report in ``attrs["scan"]``.

    Raises
    ------
    NotFoundError
        Nothing at ``path``, or a folder that is neither an index nor a dataset.
    InputError
        A parquet file imgindex did not write, or one of another table.
    InputTypeError
        Something that is neither a path, an index nor a files table.
    SchemaVersionError
        A file written with another schema version.

    Examples
    --------
    >>> import os, imgindex
    >>> files = imgindex.scan(os.path.join(example_dir, "STS_001", "MR_T1", "nrrd"))
    >>> path = os.path.join(tmp_dir, "files.parquet")
    >>> imgindex.write_files(files, path)
    >>> imgindex.read_files(path).equals(files)
    True
    """
    if isinstance(path, pd.DataFrame):
        missing = [c for c in ("file_path", "file_type") if c not in path.columns]
        if missing:
            raise InputError(
                f"The DataFrame is not a files table: it has no {', '.join(missing)} column. "
                "Pass the files table of imgindex.scan, an Index, or a saved index path."
            )
        frame = schema.coerce(path.copy(), "files")
        frame.attrs = dict(path.attrs)
        return frame
    files = getattr(path, "files", None)
    if isinstance(files, pd.DataFrame) and hasattr(path, "objects"):  # an imgindex.Index
        return files
    if not isinstance(path, (str, os.PathLike)):
        raise InputTypeError(f"read_files takes a path, an Index or a files table. Found: {type(path).__name__}.")
    return read_saved_files(path)


def read_saved_files(path: str | os.PathLike[str]) -> pd.DataFrame:
    """The files table of a saved index: ``files.parquet`` of an index folder, or a files parquet file.

    No imaging file is read.

    Examples
    --------
    >>> path = os.path.join(tmp_dir, "files.parquet")
    >>> write_files(schema.empty("files"), path)
    >>> read_saved_files(path).empty
    True
    """
    folder = os.fspath(path)
    if os.path.isdir(folder) and os.path.exists(os.path.join(folder, "files.parquet")):
        return read_table(os.path.join(folder, "files.parquet"), "files")
    if os.path.isdir(folder):
        return read_dataset(folder, "files")
    return read_table(folder, "files")
