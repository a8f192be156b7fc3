"""Step 2 over many files: the file-reference DataFrame, read in parallel, reusing old results.

:func:`scan` is imgindex's first public step: any accepted source in, one row per imaging file
(or in-memory array) out, with what the file is and what its header says. Each file is opened and
parsed once; pixel data is never read. Files that are not imaging are counted, not listed as rows;
files that look like imaging but cannot be read are rows with an ``error``.

How it stays fast on millions of files: worker processes read chunks of files and send back
*columns* (an Arrow record batch for the scalar columns, plain lists of shared tuples for the list
columns) rather than one dict per file, so the parent does no per-file work; the frame is built
once; a previous index is reused through one merge on (path, size, modification time).
"""

from __future__ import annotations

import functools
import gc
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from itertools import repeat
from typing import Any, TypeAlias, cast

import numpy as np
import pandas as pd
import pyarrow as pa
from numpy.typing import NDArray

from . import _memory, inputs, parallel, persist, schema, walk
from .errors import InputError
from .headers import HeaderReader
from .headers import numpy as npy
from .options import ImportOptions

#: Below this many files to read, the scan stays in one process (a pool costs ~0.1 s to start).
PARALLEL_MIN_FILES = 1000
#: Largest number of files handed to a worker at a time (smaller scans use smaller chunks, so
#: every worker gets several).
CHUNK_SIZE = 2000
#: How many not-imaging paths the scan report keeps as examples.
MAX_EXAMPLES = 100

ProgressCallback = parallel.ProgressCallback
#: What :func:`scan` indexes: a directory or file path, an in-memory array, or a list (or tuple) of these.
ScanSource: TypeAlias = "str | os.PathLike[str] | NDArray[Any] | Sequence[ScanSource]"
#: An earlier files table for :func:`scan` to reuse: the DataFrame, or the path of a saved one.
Previous: TypeAlias = "pd.DataFrame | str | os.PathLike[str] | None"
#: The cells of a list column: a tuple per row (``None`` where the value is missing).
ListCells: TypeAlias = "list[tuple[Any, ...] | None]"

#: Columns the scan sets itself (from the directory walk), not the header readers.
_FROM_WALK = ("file_path", "dir_path", "file_name", "file_size", "mtime", "array_index")
#: Columns a header reader may fill, in schema order.
_READ = tuple(c for c in schema.columns("files") if c.name not in _FROM_WALK)


@dataclass
class Chunk:
    """What a worker sends back for a list of paths: the imaging rows as columns.

    ``rows`` holds the positions (within the list) of the imaging files, in order;
    ``not_imaging`` the positions of the other files. ``scalars`` holds the scalar columns of the
    rows, ``lists`` the list columns (tuples or ``None``, one per row).
    """

    rows: list[int]
    not_imaging: list[int]
    scalars: pa.RecordBatch
    lists: dict[str, ListCells]


def read_many(paths: list[str], reader: HeaderReader | None = None) -> list[dict[str, Any] | None]:
    """Read the headers of ``paths`` in this process: one dict per file (``None``: not imaging)."""
    read = (reader or HeaderReader()).read
    return [read(p) for p in paths]


def read_chunk(paths: list[str], reader: HeaderReader | None = None) -> Chunk:
    """Read the headers of ``paths`` in this process, as columns (the unit of work of a worker)."""
    records = read_many(paths, reader)
    rows = [i for i, r in enumerate(records) if r is not None]
    not_imaging = [i for i, r in enumerate(records) if r is None]
    imaging = cast("list[dict[str, Any]]", [records[i] for i in rows])  # rows: the records that are not None
    return Chunk(rows, not_imaging, *columns_of(imaging))


def columns_of(records: list[dict[str, Any]]) -> tuple[pa.RecordBatch, dict[str, ListCells]]:
    """Turn reader dicts into (record batch of the scalar columns, dict of list columns).

    Scalar values are converted to their declared Arrow type; values Arrow refuses (a text in an
    integer column, say) go through :func:`imgindex.schema.coerce`'s rules instead.
    """
    n = len(records)
    present: set[str] = set().union(*records) if records else set()
    arrays: list[pa.Array]
    fields: list[pa.Field]
    lists: dict[str, ListCells]
    arrays, fields, lists = [], [], {}
    get = dict.get  # map(get, records, repeat(name)): the column's values, looked up in C
    for col in _READ:
        if pa.types.is_list(col.type):
            if col.name in present:
                # equal tuples as one object: pickled once per chunk, and no duplicates to free in the parent
                lists[col.name] = _shared(list(map(get, records, repeat(col.name))), {})
            continue
        if col.name not in present:
            array = pa.nulls(n, col.type)
        else:
            values = list(map(get, records, repeat(col.name)))
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
    batches = [c.scalars for c in chunks] or [columns_of([])[0]]
    table = pa.Table.from_batches(batches)
    del batches
    for c in chunks:
        c.scalars = None
    frame = schema.scalar_frame(table, self_destruct=True)
    del table
    for col in _READ:
        if pa.types.is_list(col.type):
            cells: ListCells = []
            # equal tuples (a series' orientation, spacing, ...) become one object
            shared: dict[tuple[Any, ...], tuple[Any, ...]] = {}
            for c in chunks:
                part = c.lists.pop(col.name, None)
                if part is None:
                    cells.extend([None] * len(c.rows))
                else:
                    cells.extend(_shared(part, shared))
            del shared
            frame[col.name] = pd.Series(cells, dtype=object) if len(frame) else pd.Series([], dtype=object)
    if index is not None:
        frame.index = index
    return frame


def _shared(cells: ListCells, shared: dict[tuple[Any, ...], tuple[Any, ...]]) -> ListCells:
    """``cells`` with each tuple replaced by the equal one already in ``shared`` (added if new)."""
    try:
        return [shared.setdefault(v, v) if type(v) is tuple else v for v in cells]
    except TypeError:  # an unhashable item (coerce turns it into a tuple later): leave the cells as they are
        return cells


def _chunks(items: list[str], size: int) -> list[list[str]]:
    return [items[i : i + size] for i in range(0, len(items), size)]


def _chunk_size(n: int, workers: int, chunk_size: int) -> int:
    """At most ``chunk_size``, and small enough that every worker gets about four chunks."""
    if workers <= 1:
        return max(1, chunk_size)
    return max(1, min(chunk_size, -(-n // (workers * 4))))


#: The header reader of a worker process of the scan's pool, made by :func:`_start_worker` when the
#: process starts (its caches then serve every chunk the process reads). Never set in the caller.
_WORKER_READER: HeaderReader | None = None


def _start_worker() -> None:
    global _WORKER_READER
    _WORKER_READER = HeaderReader()


def _read_in_worker(paths: list[str]) -> Chunk:
    return read_chunk(paths, _WORKER_READER)


def _read_all(
    paths: list[str], *, workers: int | None, progress: bool | ProgressCallback, chunk_size: int
) -> list[Chunk]:
    if not paths:
        return []
    if workers is None:
        workers = (os.cpu_count() or 1) if len(paths) >= PARALLEL_MIN_FILES else 1
    chunks = _chunks(paths, _chunk_size(len(paths), workers, chunk_size))
    # Forked workers share this process's memory until they write to it, and the garbage collector
    # writes to every object it scans. Frozen, the objects that exist now (the imports, the walk) are
    # never scanned, here or in the workers: no copies of their pages, shorter collections.
    freeze = workers > 1 and len(chunks) > 1 and gc.get_freeze_count() == 0
    if freeze:
        gc.freeze()
    pooled = workers > 1 and len(chunks) > 1
    function: Callable[[list[str]], Chunk]
    function = _read_in_worker if pooled else functools.partial(read_chunk, reader=HeaderReader())
    try:
        return list(
            parallel.run(
                function,
                chunks,
                workers=workers,
                progress=progress,
                weight=len,
                unit="file",
                desc="scanning",
                initializer=_start_worker if pooled else None,
            )
        )
    finally:
        if freeze:
            gc.unfreeze()


def _array_record(array: NDArray[Any]) -> dict[str, Any]:
    if array.dtype.hasobject or array.dtype.names is not None:
        return {"error": f"The array has dtype {array.dtype}; imgindex indexes numeric arrays only."}
    return npy.array_info(tuple(array.shape), array.dtype)


def _previous_frame(previous: Previous) -> pd.DataFrame | None:
    if previous is None:
        return None
    if isinstance(previous, pd.DataFrame):
        return previous
    files = getattr(previous, "files", None)  # an Index
    if isinstance(files, pd.DataFrame):
        return files
    return persist.read_saved_files(previous)


def reusable(raw: pd.DataFrame, previous: pd.DataFrame | None) -> pd.DataFrame:
    """Rows of ``previous`` whose file still has the same path, size and modification time.

    ``raw`` is a raw frame (:meth:`imgindex.walk.Collected.frame`); the result follows the files
    schema, with ``_order`` set to the matching row label of ``raw``. One vectorised merge.
    """
    if previous is None or previous.empty:
        return schema.empty("files").assign(_order=pd.Series([], dtype="int64"))
    old = schema.coerce(previous[previous["file_path"].notna()], "files")
    old = old[schema.names("files")]
    keys = pd.DataFrame(
        {
            "file_path": raw["file_path"].astype(schema.TEXT),
            "file_size": raw["file_size"].astype("Int64"),
            "mtime": raw["mtime"].astype(old["mtime"].dtype),
            "_order": raw.index.to_numpy(),
        }
    )
    same = old.merge(keys, on=["file_path", "file_size", "mtime"], how="inner", sort=False)
    return same.drop_duplicates("_order") if same["_order"].duplicated().any() else same


def scan(
    source: ScanSource,
    *,
    previous: Previous = None,
    workers: int | None = None,
    progress: bool | ProgressCallback = False,
    chunk_size: int = CHUNK_SIZE,
) -> pd.DataFrame:
    """Index every imaging file of ``source`` into the file-reference DataFrame.

    Parameters
    ----------
    source
        A directory (walked recursively), a file path (``str`` or :class:`pathlib.Path`), a
        numpy array, or a list mixing these.
    previous
        An earlier files table (DataFrame or parquet path). Files whose path, size and
        modification time did not change are taken from it instead of being read again.
    workers
        Processes to read headers with. Default: one per CPU when there are at least
        :data:`PARALLEL_MIN_FILES` files to read, else 1.
    progress
        ``True`` draws a progress bar on stderr; a callable is called as ``callback(done, total)``.
    chunk_size
        Largest number of files per unit of work handed to a worker.

    Returns
    -------
    pandas.DataFrame
        One row per imaging file or array, with the columns of :data:`imgindex.schema.FILES`.
        ``df.attrs["scan"]`` holds the report: counts of paths seen, imaging rows, files that
        are not imaging (with examples), errors, rows reused and rows read.

    Raises
    ------
    InputError
        A value imgindex cannot use (``workers=0``, ``chunk_size=0``, an empty path ...).
    InputTypeError
        A ``source`` or ``previous`` of a type imgindex does not accept.

    See Also
    --------
    imgindex.distributed.scan : the same scan on a dask cluster.

    Examples
    --------
    A sample's CT: DICOM (8 slices, RTSTRUCT, SEG), NIfTI, NRRD, numpy (3D and per slice).

    >>> import os, imgindex
    >>> files = imgindex.scan(os.path.join(example_dir, "STS_001", "CT"))
    >>> files.groupby("file_type").size().to_dict()
    {'dicom': 10, 'nifti': 2, 'nrrd': 2, 'numpy': 18}
    """
    options = ImportOptions.from_arguments(previous=previous, workers=workers, progress=progress)
    if isinstance(chunk_size, bool) or not isinstance(chunk_size, int) or chunk_size < 1:
        raise InputError(
            f"The chunk_size argument is expected to be a whole number, at least 1. Found: {chunk_size!r}."
        )
    return scan_with(source, options, chunk_size=chunk_size)


def scan_with(source: ScanSource, options: ImportOptions, *, chunk_size: int = CHUNK_SIZE) -> pd.DataFrame:
    """:func:`scan` with checked options (``previous``, ``workers``, ``progress`` of ``options``).

    Examples
    --------
    >>> scan_with([], ImportOptions()).empty
    True
    """
    job = plan(source, previous=options.previous)
    paths = job.todo["file_path"].tolist()
    chunks = _read_all(paths, workers=options.workers, progress=options.progress, chunk_size=chunk_size)
    return finish(job, chunks)


@dataclass
class Plan:
    """What a scan has to do: the walked files, the rows reused from a previous index, the files to read.

    ``raw`` is the raw frame (:meth:`imgindex.walk.Collected.frame`); ``reused`` the reusable rows of the previous
    index (``_order``: their label in ``raw``); ``todo`` the raw rows of the files to read; ``arrays`` the
    in-memory arrays; ``missing`` the error rows of files a DICOMDIR lists that are not there.
    """

    raw: pd.DataFrame
    reused: pd.DataFrame
    todo: pd.DataFrame
    roots: list[str]
    arrays: list[NDArray[Any]]
    missing: pd.DataFrame | None = None


def plan(source: ScanSource, *, previous: Previous = None) -> Plan:
    """Walk ``source`` and find what must be read (everything but the unchanged files of ``previous``)."""
    collected = walk.collect(inputs.sources(source, "input"))
    raw, roots, arrays, missing = collected.frame(), list(collected.roots), collected.arrays, collected.missing_frame()
    del collected  # the walk's lists: the raw frame holds the same in columns
    file_rows = raw[raw["array_index"].isna()] if arrays else raw
    reused = reusable(file_rows, _previous_frame(previous))
    todo = file_rows[~file_rows.index.isin(reused["_order"])] if len(reused) else file_rows
    return Plan(raw, reused, todo, roots, arrays, missing)


def finish(job: Plan, chunks: list[Chunk]) -> pd.DataFrame:
    """The files table of a scan from its plan and the chunks read for ``job.todo`` (in order), with its report."""
    is_file = job.raw["array_index"].isna()
    not_imaging = _positions(chunks, "not_imaging")
    files = assemble(job.todo, chunks, reused=job.reused, arrays=job.raw[~is_file], array_values=job.arrays)
    files = walk.with_missing(files, job.missing)
    examples = job.todo["file_path"].iloc[not_imaging[:MAX_EXAMPLES]].tolist() if len(not_imaging) else []
    files.attrs["scan"] = report(job, files, n_not_imaging=len(not_imaging), examples=examples)
    _memory.trim()  # the walk's lists and the workers' results are gone: give their heap pages back
    return files


def report(job: Plan, files: pd.DataFrame, *, n_not_imaging: int, examples: list[str]) -> dict[str, Any]:
    """The scan report (``files.attrs["scan"]``)."""
    n_arrays = int(job.raw["array_index"].notna().sum()) if job.arrays else 0
    return {
        "roots": list(job.roots),
        "n_paths": len(job.raw) - n_arrays,
        "n_arrays": n_arrays,
        "n_rows": len(files),
        "n_not_imaging": n_not_imaging,
        "not_imaging_examples": list(examples[:MAX_EXAMPLES]),
        "n_errors": int(files["error"].notna().sum()),
        "n_reused": len(job.reused),
        "n_read": len(job.todo),
    }


def _positions(chunks: list[Chunk], which: str) -> NDArray[np.int64]:
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
    walked = todo.iloc[_positions(chunks, "rows")]
    read = frame_of(chunks, index=walked.index)
    for name in _FROM_WALK[:-1]:
        read[name] = walked[name]
    read["array_index"] = pd.array([pd.NA] * len(read), dtype=pd.Int64Dtype())
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
    if len(parts) == 1:
        files = parts[0]
    else:
        files = pd.concat([schema.coerce(p, "files")[schema.names("files")] for p in parts]).sort_index()
    return schema.coerce(files.reset_index(drop=True), "files")[schema.names("files")]


def summary(files: pd.DataFrame) -> pd.DataFrame:
    """Count rows per file type and modality, with errors, as a small DataFrame.

    Examples
    --------
    A sample's PET in DICOM: 8 slices and an RTSTRUCT.

    >>> import os
    >>> summary(scan(os.path.join(example_dir, "STS_001", "PET", "dicom")))
      file_type  Modality  files  errors
    0     dicom        PT      8       0
    1     dicom  RTSTRUCT      1       0
    """
    grouped = files.assign(
        file_type=files["file_type"].fillna("unknown"),
        Modality=files["Modality"].fillna("-"),
        _err=files["error"].notna(),
    ).groupby(["file_type", "Modality"], observed=True)
    return grouped.agg(files=("_err", "size"), errors=("_err", "sum")).reset_index()
