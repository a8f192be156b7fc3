"""The scan's unit of work: the headers of a list of files read in one process and sent back as columns.

A worker reads a chunk of paths with a :class:`~imgindex.headers.HeaderReader` and returns a
:class:`Chunk`: an Arrow record batch for the scalar columns and, for each list column, its
distinct tuples with a code per row (:class:`Coded`), rather than one dict per file, so the
process that assembles the files table (:func:`assemble`) does no per-file work: it shares equal
tuples across chunks by looking at each chunk's distinct ones, and checks their types there too.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from itertools import chain, count, repeat
from typing import Any, TypeAlias, cast

import numpy as np
import pandas as pd
import pyarrow as pa
from numpy.typing import NDArray

from . import schema
from .headers import HeaderReader
from .headers import numpy as npy

__all__ = [
    "Chunk",
    "Coded",
    "ListCells",
    "assemble",
    "columns_of",
    "frame_of",
    "positions",
    "read_chunk",
    "read_many",
]

#: The cells of a list column: a tuple per row (``None`` where the value is missing).
ListCells: TypeAlias = "list[tuple[Any, ...] | None]"


@dataclass
class Coded:
    """The cells of a list column as its distinct values and, per row, the row of the first equal cell.

    Equal cells (``==``, as a dict finds them) are one value: a series' orientation, spacing ...
    ``uniques`` are in the order of their first row, ``starts`` holds those rows.

    Examples
    --------
    >>> coded = Coded.of([(1.0, 0.0), None, (1.0, 0.0)])
    >>> coded.uniques, coded.starts.tolist(), coded.codes.tolist()
    ([(1.0, 0.0), None], [0, 1], [0, 1, 0])
    >>> coded.cells({}).tolist()
    [(1.0, 0.0), None, (1.0, 0.0)]
    """

    uniques: ListCells
    starts: NDArray[np.int32]
    codes: NDArray[np.int32]

    @classmethod
    def of(cls, cells: ListCells) -> Coded | ListCells:
        """``cells`` coded; the cells as they are when one is unhashable (coerce converts it later)."""
        first: dict[tuple[Any, ...] | None, int] = {}
        try:  # C-level, one look-up per cell: each cell's code is the row of the first equal cell
            codes = list(map(first.setdefault, cells, count()))
        except TypeError:
            return cells
        # a chunk has fewer than 2**31 rows
        return cls(list(first), np.array(list(first.values()), dtype=np.int32), np.array(codes, dtype=np.int32))

    def cells(self, shared: dict[tuple[Any, ...] | None, tuple[Any, ...] | None]) -> NDArray[np.object_]:
        """The cells as a 1-d object array, each value replaced by the equal one of ``shared`` (added if new)."""
        by_row = np.empty(len(self.codes), dtype=object)
        by_row[self.starts] = _objects([shared.setdefault(u, u) for u in self.uniques])
        return by_row[self.codes]


#: Columns the scan sets itself (from the directory walk), not the header readers.
_FROM_WALK = ("file_path", "dir_path", "file_name", "file_size", "mtime", "array_index")
#: Columns a header reader may fill, in schema order.
_READ = tuple(c for c in schema.columns("files") if c.name not in _FROM_WALK)


@dataclass
class Chunk:
    """What a worker sends back for a list of paths: the imaging rows as columns.

    ``rows`` holds the positions (within the list) of the imaging files, in order;
    ``not_imaging`` the positions of the other files. ``scalars`` holds the scalar columns of the
    rows, ``lists`` the list columns (:class:`Coded`, or tuples or ``None``, one per row).
    """

    rows: list[int]
    not_imaging: list[int]
    scalars: pa.RecordBatch
    lists: dict[str, Coded | ListCells]
    #: the size and modification time (ns) of each row's file, from the worker that opened it
    #: (:data:`NO_STAT` where it could not be stat'ed); ``None``: not given, the walk's are used
    sizes: NDArray[np.int64] | None = None
    mtimes_ns: NDArray[np.int64] | None = None


#: A size or modification time that is not known (the file could not be stat'ed): NaT's integer.
NO_STAT = np.iinfo(np.int64).min


def read_many(paths: list[str], reader: HeaderReader | None = None) -> list[dict[str, Any] | None]:
    """Read the headers of ``paths`` in this process: one dict per file (``None``: not imaging)."""
    read = (reader or HeaderReader()).read
    return [read(p) for p in paths]


def read_chunk(paths: list[str], reader: HeaderReader | None = None) -> Chunk:
    """Read the headers of ``paths`` in this process, as columns (the unit of work of a worker).

    Each file's size and modification time are taken from the open file (the walk of a cold scan
    does not stat the files).
    """
    read = (reader or HeaderReader()).read_with_stat
    imaging: list[dict[str, Any]]
    rows, not_imaging, imaging, sizes, mtimes = [], [], [], [], []
    for i, path in enumerate(paths):
        record, stat = read(path)
        if record is None:
            not_imaging.append(i)
            continue
        rows.append(i)
        imaging.append(record)
        if stat is None:
            sizes.append(NO_STAT)
            mtimes.append(NO_STAT)
        else:
            sizes.append(stat.st_size)
            mtimes.append(stat.st_mtime_ns)
    size_array, mtime_array = np.array(sizes, dtype=np.int64), np.array(mtimes, dtype=np.int64)
    return Chunk(rows, not_imaging, *columns_of(imaging), sizes=size_array, mtimes_ns=mtime_array)


def columns_of(records: list[dict[str, Any]]) -> tuple[pa.RecordBatch, dict[str, Coded | ListCells]]:
    """Turn reader dicts into (record batch of the scalar columns, dict of list columns).

    Scalar values are converted to their declared Arrow type; values Arrow refuses (a text in an
    integer column, say) go through :func:`imgindex.schema.coerce`'s rules instead.
    """
    n = len(records)
    present: set[str] = set().union(*records) if records else set()
    arrays: list[pa.Array]
    fields: list[pa.Field]
    lists: dict[str, Coded | ListCells]
    arrays, fields, lists = [], [], {}
    get = dict.get  # map(get, records, repeat(name)): the column's values, looked up in C
    for col in _READ:
        if pa.types.is_list(col.type):
            if col.key in present:
                # equal tuples as one value: pickled once per chunk, shared across chunks by their uniques
                lists[col.name] = Coded.of(list(map(get, records, repeat(col.key))))
            continue
        if col.key not in present:
            array = pa.nulls(n, col.type)
        else:
            values = list(map(get, records, repeat(col.key)))
            try:
                array = pa.array(values, type=col.type)
            except (pa.ArrowInvalid, pa.ArrowTypeError, TypeError, ValueError, OverflowError):
                series = schema.coerce(pd.DataFrame({col.name: pd.Series(values, dtype=object)}), "files")[col.name]
                array = pa.array(series, type=col.type, from_pandas=True)
        arrays.append(array)
        fields.append(pa.field(col.name, col.type))
    return pa.RecordBatch.from_arrays(arrays, schema=pa.schema(fields)), lists


def frame_of(chunks: list[Chunk], index: pd.Index[Any] | None = None) -> pd.DataFrame:
    """The read columns of ``chunks`` as one DataFrame (scalar columns with pandas dtypes).

    Consumes the chunks' columns (they are emptied), so their memory goes as the frame is built.
    """
    return _frame_of(chunks, index)[0]


def _frame_of(chunks: list[Chunk], index: pd.Index[Any] | None = None) -> tuple[pd.DataFrame, list[str]]:
    """:func:`frame_of`, and the list columns whose cells all are tuples of the schema's item type or None.

    Those need no :func:`imgindex.schema.coerce` (it would keep them as they are); the check looks at
    each column's distinct cells only.
    """
    batches = [c.scalars for c in chunks] or [columns_of([])[0]]
    for c in chunks:
        c.scalars = None
    table = pa.Table.from_batches(batches)
    del batches
    # the columns alone hold the data now: scalar_frame frees each as it converts it
    columns = dict(zip(table.column_names, table.columns, strict=True))
    del table
    # self_destruct is experimental in pyarrow: not in a dask worker's thread (a crash was seen there once)
    frame = schema.scalar_frame(columns, self_destruct=threading.current_thread() is threading.main_thread())
    checked = []
    for col in _READ:
        if pa.types.is_list(col.type):
            cells, ok = _list_column(chunks, col)
            frame[col.name] = pd.Series(cells, dtype=object, index=frame.index, copy=False)
            if ok:
                checked.append(col.name)
    if index is not None:
        frame.index = index
    return frame, checked


def _list_column(chunks: list[Chunk], col: schema.Column) -> tuple[NDArray[np.object_], bool]:
    """A list column's cells from the chunks (equal tuples as one object), and whether they need no coerce."""
    # equal tuples (a series' orientation, spacing, ...) become one object
    shared: dict[tuple[Any, ...] | None, tuple[Any, ...] | None] = {None: None}
    parts: list[NDArray[np.object_]] = []
    plain = False  # cells that came as they are (an unhashable one): left to coerce
    for c in chunks:
        part = c.lists.pop(col.name, None)
        if part is None:  # e.g. frame columns of single-frame files
            parts.append(np.full(len(c.rows), None, dtype=object))
        elif isinstance(part, Coded):
            parts.append(part.cells(shared))
        else:
            plain = True
            parts.append(_objects(part))
    cells = np.concatenate(parts) if parts else np.zeros(0, dtype=object)
    return cells, not plain and _follows_schema(list(shared), col)


def _objects(values: list[Any]) -> NDArray[np.object_]:
    """``values`` as a 1-d object array (tuples stay cells, not rows of a 2-d array)."""
    array = np.empty(len(values), dtype=object)
    for i, value in enumerate(values):
        array[i] = value
    return array


def _follows_schema(cells: list[Any], col: schema.Column) -> bool:
    """Whether :func:`imgindex.schema.coerce` keeps a list column with these distinct cells as it is.

    Its rule: every cell a tuple or None, every item of the column's Python type (float, int or
    str, exactly) or None.
    """
    item = col.type.value_type
    conv = float if pa.types.is_floating(item) else int if pa.types.is_integer(item) else str
    if not set(map(type, cells)) <= {tuple, type(None)}:
        return False
    return set(map(type, chain.from_iterable(filter(None, cells)))) <= {conv, type(None)}


def _stats(chunks: list[Chunk], walked: pd.DataFrame) -> tuple[pd.Series[Any], pd.Series[Any]]:
    """The ``file_size`` and ``mtime`` of the rows read: the workers' where known, else the walk's.

    Consumes the chunks' sizes and times; the columns are built on the concatenated arrays (no copies).
    """
    sizes = np.concatenate([_known(c.sizes, len(c.rows)) for c in chunks] or [np.zeros(0, np.int64)])
    mtimes = np.concatenate([_known(c.mtimes_ns, len(c.rows)) for c in chunks] or [np.zeros(0, np.int64)])
    for c in chunks:
        c.sizes = c.mtimes_ns = None
    unknown = sizes == NO_STAT
    sizes[unknown] = 0  # NO_STAT in mtimes is NaT already
    size = pd.Series(pd.arrays.IntegerArray(sizes, unknown), index=walked.index, copy=False)
    mtime = pd.Series(pd.DatetimeIndex(mtimes.view("datetime64[ns]")).tz_localize("UTC"), index=walked.index)
    if unknown.any() and "file_size" in walked:  # not stat'ed by the worker (chunks made elsewhere)
        size = size.fillna(walked["file_size"].astype("Int64"))
        mtime = mtime.fillna(walked["mtime"])
    return size, mtime


def _known(values: NDArray[np.int64] | None, n: int) -> NDArray[np.int64]:
    return np.full(n, NO_STAT, dtype=np.int64) if values is None else values


def _array_record(array: NDArray[Any]) -> dict[str, Any]:
    if array.dtype.hasobject or array.dtype.names is not None:
        return {"error": f"The array has dtype {array.dtype}; imgindex indexes numeric arrays only."}
    return npy.array_info(tuple(array.shape), array.dtype)


def positions(chunks: list[Chunk], which: str) -> NDArray[np.int64]:
    """Positions in the whole list of paths of the chunks' ``rows`` or ``not_imaging`` entries."""
    starts = np.cumsum([0] + [len(c.rows) + len(c.not_imaging) for c in chunks])
    parts = [np.asarray(getattr(c, which), dtype=np.int64) + start for start, c in zip(starts, chunks, strict=False)]
    return np.concatenate(parts) if parts else np.zeros(0, dtype=np.int64)


def assemble(
    todo: pd.DataFrame,
    chunks: list[Chunk],
    *,
    reused: pd.DataFrame | None = None,
    arrays: pd.DataFrame | None = None,
    array_values: list[NDArray[Any]] | None = None,
) -> pd.DataFrame:
    """The files table from the raw rows that were read (``todo``), their chunks, reused rows and arrays.

    ``arrays`` are the raw rows of in-memory arrays, ``array_values`` the arrays themselves. Rows
    come out in the order of the raw frame's labels.
    """
    walked = todo.iloc[positions(chunks, "rows")]
    read, checked = _frame_of(chunks, index=walked.index)
    stats = _stats(chunks, walked)
    for name in _FROM_WALK[:3]:
        read[name] = walked[name]
    read["file_size"], read["mtime"] = stats
    read["array_index"] = pd.Series(pd.NA, index=read.index, dtype=pd.Int64Dtype())
    parts = [read]
    if reused is not None and len(reused):
        parts.append(reused.set_index("_order").rename_axis(None))
    if arrays is not None and len(arrays):
        values = cast("list[NDArray[Any]]", array_values)  # given with arrays
        records = [_array_record(values[int(i)]) for i in arrays["array_index"]]
        parts.append(
            pd.DataFrame.from_records(records, index=arrays.index).assign(
                array_index=arrays["array_index"].astype("int64")
            )
        )
    parts = [p for p in parts if len(p)] or [read]
    # the list columns of the rows read that already follow the schema need no second check
    names = schema.names("files")
    unchecked = [n for n in names if n not in set(checked)]
    if len(parts) == 1:
        only = unchecked if parts[0] is read else None
        return schema.coerce(parts[0].reset_index(drop=True), "files", only=only)[names]
    files = pd.concat([schema.coerce(p, "files", only=unchecked if p is read else None)[names] for p in parts])
    return schema.coerce(files.sort_index().reset_index(drop=True), "files")[names]
