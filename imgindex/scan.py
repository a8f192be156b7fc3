"""Step 2 over many files: the file-reference DataFrame, read in parallel, reusing old results.

:func:`scan` is imgindex's first public step: any accepted source in, one row per imaging file
(or in-memory array) out, with what the file is and what its header says. Each file is opened and
parsed once; pixel data is never read. Files that are not imaging are counted, not listed as rows;
files that look like imaging but cannot be read are rows with an ``error``.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from typing import Any

import numpy as np
import pandas as pd

from . import schema, sources
from .headers import numpy as npy
from .headers import read_file

#: Below this many files to read, the scan stays in one process (a pool costs ~0.1 s to start).
PARALLEL_MIN_FILES = 1000
#: Files handed to a worker at a time.
CHUNK_SIZE = 512
#: How many not-imaging paths the scan report keeps as examples.
MAX_EXAMPLES = 100

ProgressCallback = Callable[[int, int], None]


def read_many(paths: list[str]) -> list[dict[str, Any] | None]:
    """Read the headers of ``paths`` in this process (the unit of work of a pool worker)."""
    return [read_file(p) for p in paths]


def _chunks(items: list[str], size: int) -> list[list[str]]:
    return [items[i : i + size] for i in range(0, len(items), size)]


def _read_all(paths: list[str], *, workers: int | None, progress, chunk_size: int) -> list:
    if not paths:
        return []
    if workers is None:
        workers = (os.cpu_count() or 1) if len(paths) >= PARALLEL_MIN_FILES else 1
    chunks = _chunks(paths, chunk_size)
    bar, callback = _progress(progress, len(paths))
    results: list[dict[str, Any] | None] = []
    try:
        if workers <= 1 or len(chunks) == 1:
            mapped = map(read_many, chunks)
            pool = None
        else:
            pool = ProcessPoolExecutor(max_workers=workers)
            mapped = pool.map(read_many, chunks)
        try:
            for chunk_result in mapped:
                results.extend(chunk_result)
                if bar is not None:
                    bar.update(len(chunk_result))
                if callback is not None:
                    callback(len(results), len(paths))
        finally:
            if pool is not None:
                pool.shutdown(cancel_futures=True)
    finally:
        if bar is not None:
            bar.close()
    return results


def _progress(progress, total: int):
    """A tqdm bar (``progress=True``, drawn on stderr) and/or a callback ``(done, total)``."""
    if callable(progress):
        return None, progress
    if progress:
        from tqdm.auto import tqdm

        return tqdm(total=total, unit="file", desc="scanning", leave=False), None
    return None, None


def _array_record(array: np.ndarray) -> dict[str, Any]:
    if array.dtype.hasobject or array.dtype.names is not None:
        return {"error": f"The array has dtype {array.dtype}; imgindex indexes numeric arrays only."}
    return npy.array_info(tuple(array.shape), array.dtype)


def _previous_frame(previous) -> pd.DataFrame | None:
    if previous is None:
        return None
    if isinstance(previous, pd.DataFrame):
        return previous
    from .persist import read_files

    return read_files(previous)


def _reusable(raw: pd.DataFrame, previous: pd.DataFrame | None) -> pd.DataFrame:
    """Rows of ``previous`` whose file still has the same path, size and modification time."""
    if previous is None or previous.empty:
        return schema.empty("files").assign(_order=pd.Series([], dtype="int64"))
    old = previous[previous["file_path"].notna()]
    keys = raw[["file_path", "file_size", "mtime"]].assign(_order=raw.index)
    old = schema.coerce(old, "files")
    keys = keys.astype({"file_size": "Int64"})
    keys["mtime"] = keys["mtime"].astype(old["mtime"].dtype)
    return old.merge(keys, on=["file_path", "file_size", "mtime"], how="inner")


def scan(
    source,
    *,
    previous: pd.DataFrame | str | os.PathLike | None = None,
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
        Files per unit of work handed to a worker.

    Returns
    -------
    pandas.DataFrame
        One row per imaging file or array, with the columns of :data:`imgindex.schema.FILES`.
        ``df.attrs["scan"]`` holds the report: counts of paths seen, imaging rows, files that
        are not imaging (with examples), errors, rows reused and rows read.

    Examples
    --------
    >>> import imgindex, tempfile
    >>> root = tempfile.mkdtemp()
    >>> _ = imgindex.examples.write_example_dataset(root, n_samples=1, modalities=("CT",))
    >>> files = imgindex.scan(root)
    >>> sorted(files["file_type"].unique())
    ['dicom', 'nifti', 'nrrd', 'numpy']
    """
    collected = sources.collect(source)
    raw = collected.frame()
    is_file = raw["array_index"].isna()
    file_rows = raw[is_file]

    reused = _reusable(file_rows, _previous_frame(previous))
    todo = file_rows[~file_rows.index.isin(reused["_order"])]
    records = _read_all(todo["file_path"].tolist(), workers=workers, progress=progress,
                        chunk_size=chunk_size)

    keep = [i for i, r in enumerate(records) if r is not None]
    not_imaging = [p for p, r in zip(todo["file_path"], records, strict=True) if r is None]
    read = pd.DataFrame.from_records([records[i] for i in keep], index=todo.index[keep])
    read = read.join(todo[["file_path", "file_size", "mtime"]]) if len(read) else read
    if len(read) == 0:
        read = todo.iloc[[]][["file_path", "file_size", "mtime"]]

    arrays = raw[~is_file]
    array_rows = pd.DataFrame.from_records(
        [_array_record(collected.arrays[int(i)]) for i in arrays["array_index"]], index=arrays.index
    ).assign(array_index=arrays["array_index"].astype("int64"))

    parts = [reused.set_index("_order"), read, array_rows]
    files = pd.concat([p for p in parts if len(p)] or [schema.empty("files")]).sort_index()
    files = schema.coerce(files.reset_index(drop=True), "files")[schema.names("files")]
    paths = files["file_path"]
    files["dir_path"] = paths.map(os.path.dirname, na_action="ignore").astype("string")
    files["file_name"] = paths.map(os.path.basename, na_action="ignore").astype("string")
    files.attrs["scan"] = {
        "roots": list(collected.roots),
        "n_paths": len(file_rows),
        "n_arrays": len(arrays),
        "n_rows": len(files),
        "n_not_imaging": len(not_imaging),
        "not_imaging_examples": not_imaging[:MAX_EXAMPLES],
        "n_errors": int(files["error"].notna().sum()),
        "n_reused": len(reused),
        "n_read": len(todo),
    }
    return files


def summary(files: pd.DataFrame) -> pd.DataFrame:
    """Count rows per file type and modality, with errors, as a small DataFrame.

    Examples
    --------
    >>> summary(schema.empty("files")).columns.tolist()
    ['file_type', 'Modality', 'files', 'errors']
    """
    grouped = files.assign(
        file_type=files["file_type"].fillna("unknown"),
        Modality=files["Modality"].fillna("-"),
        _err=files["error"].notna(),
    ).groupby(["file_type", "Modality"], observed=True)
    return grouped.agg(files=("_err", "size"), errors=("_err", "sum")).reset_index()
