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
from typing import Any, TypeAlias

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from . import _memory, inputs, parallel, saved, schema, walk
from .chunks import Chunk, assemble, positions, read_chunk
from .errors import InputError
from .headers import HeaderReader
from .options import ImportOptions

#: Below this many files to read, the scan stays in one process (a pool costs ~0.1 s to start).
PARALLEL_MIN_FILES = 1000
#: Largest number of files handed to a worker at a time (smaller scans use smaller chunks, so
#: every worker gets several).
CHUNK_SIZE = 2000
#: The smallest chunk read while a progress bar is shown.
PROGRESS_CHUNK = 16
#: How many not-imaging paths the scan report keeps as examples.
MAX_EXAMPLES = 100

ProgressCallback = parallel.ProgressCallback
#: What :func:`scan` indexes: a directory or file path, an in-memory array, or a list (or tuple) of these.
ScanSource: TypeAlias = "str | os.PathLike[str] | NDArray[Any] | Sequence[ScanSource]"
#: An earlier files table for :func:`scan` to reuse: the DataFrame, or the path of a saved one.
Previous: TypeAlias = "pd.DataFrame | str | os.PathLike[str] | None"


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
    # The records of a chunk live until it is sent: the collector would scan them again and again
    # (~2.5 % of a worker's time) for cycles that reading does not make. A worker process's own.
    gc.disable()
    try:
        return read_chunk(paths, _WORKER_READER)
    finally:
        gc.enable()


def _read_all(
    paths: list[str], *, workers: int | None, progress: bool | ProgressCallback, chunk_size: int
) -> list[Chunk]:
    if not paths:
        return []
    if workers is None:
        workers = (os.cpu_count() or 1) if len(paths) >= PARALLEL_MIN_FILES else 1
    size = _chunk_size(len(paths), workers, chunk_size)
    if progress:  # a bar that moves: about a hundred steps, not one jump at the end
        size = min(size, max(PROGRESS_CHUNK, -(-len(paths) // 100)))
    chunks = _chunks(paths, size)
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


def _previous_frame(previous: Previous) -> pd.DataFrame | None:
    if previous is None:
        return None
    if isinstance(previous, pd.DataFrame):
        return previous
    files = getattr(previous, "files", None)  # an Index
    if isinstance(files, pd.DataFrame):
        return files
    return saved.read_saved_files(previous)


def reusable(raw: pd.DataFrame, previous: pd.DataFrame | None) -> pd.DataFrame:
    """Rows of ``previous`` whose file still has the same path, size and modification time.

    ``raw`` is a raw frame (:meth:`imgindex.walk.Collected.frame`); the result follows the files
    schema, with ``_order`` set to the matching row label of ``raw``. One vectorised merge.
    """
    if previous is None or previous.empty or previous.attrs.get("upgraded_from"):  # an older schema: read again
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
    known: NDArray[np.bool_] | None = None
    n_gone: int = 0


def plan(source: ScanSource, *, previous: Previous = None) -> Plan:
    """Walk ``source`` and find what must be read (everything but the unchanged files of ``previous``)."""
    # A cold scan's walk stats no file (the workers that open them do); an update compares them first.
    collected = walk.collect(inputs.sources(source, "input"), stat=previous is not None)
    raw, roots, arrays, missing = collected.frame(), list(collected.roots), collected.arrays, collected.missing_frame()
    del collected  # the walk's lists: the raw frame holds the same in columns
    file_rows = raw[raw["array_index"].isna()] if arrays else raw
    old = _previous_frame(previous)
    reused = reusable(file_rows, old)
    todo = file_rows[~file_rows.index.isin(reused["_order"])] if len(reused) else file_rows
    known, n_gone = None, 0
    if old is not None:  # for the report of an update: which files to read were known, which are gone
        old_paths = pd.Index(old["file_path"].dropna().unique())
        known = todo["file_path"].isin(old_paths).to_numpy(bool)
        below = tuple(r.rstrip(os.sep) + os.sep for r in roots)  # the previous files this scan covers
        covered = old_paths.isin(roots) | old_paths.str.startswith(below) if below else old_paths.isin(roots)
        n_gone = int((covered & ~old_paths.isin(file_rows["file_path"])).sum())
    return Plan(raw, reused, todo, roots, arrays, missing, known, n_gone)


def finish(job: Plan, chunks: list[Chunk]) -> pd.DataFrame:
    """The files table of a scan from its plan and the chunks read for ``job.todo`` (in order), with its report."""
    is_file = job.raw["array_index"].isna()
    not_imaging = positions(chunks, "not_imaging")
    files = assemble(job.todo, chunks, reused=job.reused, arrays=job.raw[~is_file], array_values=job.arrays)
    files = walk.with_missing(files, job.missing)
    examples = job.todo["file_path"].iloc[not_imaging[:MAX_EXAMPLES]].tolist() if len(not_imaging) else []
    files.attrs["scan"] = report(job, files, not_imaging=not_imaging, examples=examples)
    _memory.trim()  # the walk's lists and the workers' results are gone: give their heap pages back
    return files


def report(job: Plan, files: pd.DataFrame, *, not_imaging: NDArray[np.int64], examples: list[str]) -> dict[str, Any]:
    """The scan report (``files.attrs["scan"]``); after an update, also what was re-read, new and gone.

    ``not_imaging`` are the positions in ``job.todo`` of the files that are not imaging files (never
    rows, so read again by every update: neither changed nor new).
    """
    n_not_imaging = len(not_imaging)
    n_arrays = int(job.raw["array_index"].notna().sum()) if job.arrays else 0
    update = {}
    if job.known is not None:
        rows = np.ones(len(job.todo), bool)
        rows[not_imaging] = False
        update = {
            "n_changed": int((job.known & rows).sum()),
            "n_new": int((~job.known & rows).sum()),
            "n_gone": job.n_gone,
        }
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
        **update,
    }


def summary(files: pd.DataFrame) -> pd.DataFrame:
    """Count rows per file type and modality, with errors, as a small DataFrame.

    Examples
    --------
    A sample's PET in DICOM: 8 slices and an RTSTRUCT.

    >>> import os
    >>> summary(scan(os.path.join(example_dir, "STS_001", "PET", "dicom")))
      file_type dicom_modality  files  errors
    0     dicom             PT      8       0
    1     dicom       RTSTRUCT      1       0
    """
    grouped = files.assign(
        file_type=files["file_type"].fillna("unknown"),
        dicom_modality=files["dicom_modality"].fillna("-"),
        _err=files["error"].notna(),
    ).groupby(["file_type", "dicom_modality"], observed=True)
    return grouped.agg(files=("_err", "size"), errors=("_err", "sum")).reset_index()
