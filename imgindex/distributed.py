"""The scan on a dask cluster: the file list is partitioned and headers are read on the workers.

Needs the optional extra ``pip install "imgindex[dask]"`` (``dask[distributed]``). The machine that
calls :func:`scan` walks the source (a walk costs a few microseconds per file) and decides what
to read; each partition of the file list becomes one task that reads the headers of its files on
a worker. Every worker must see the files under the same absolute paths (a shared file system).

Two ways to get the result:

- ``output=None``: the partitions come back to the caller and are assembled into the same
  file-reference DataFrame :func:`imgindex.scan` returns (same rows, order, columns and report);
- ``output="folder"``: each worker writes its partition as ``folder/part-00000.parquet``, ... (a
  parquet dataset, every file with imgindex metadata) and only small counts travel back; the
  scan report is saved as ``folder/_scan.json``. For trees whose table does not fit in one
  machine's memory. :func:`imgindex.read_files` reads the folder back into one DataFrame;
  ``dask.dataframe.read_parquet``, DuckDB, Spark or ``pyarrow.dataset`` read it directly.

Examples
--------
A two-worker cluster on this machine (on a real cluster, connect a ``Client`` to its scheduler):

>>> import imgindex, imgindex.distributed
>>> from dask.distributed import Client, LocalCluster  # doctest: +SKIP
>>> cluster = LocalCluster(n_workers=2, threads_per_worker=1, dashboard_address=None)  # doctest: +SKIP
>>> client = Client(cluster)  # doctest: +SKIP
>>> files = imgindex.distributed.scan("/data/archive", client=client)  # doctest: +SKIP
>>> folder = imgindex.distributed.scan("/data/archive", client=client, output="/data/index")  # doctest: +SKIP
>>> files = imgindex.read_files(folder)  # doctest: +SKIP
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from typing import Any, cast

import pandas as pd

from . import persist
from .chunks import assemble, read_chunk
from .errors import InputError
from .scan import MAX_EXAMPLES, Plan, Previous, ScanSource, finish, plan

#: Files per task (one partition of the file list).
PARTITION_SIZE = 5000
#: Name of the scan report in an output folder.
REPORT_NAME = "_scan.json"


def _client(client: Any) -> Any:
    """``client``, else the current ``dask.distributed.Client``.

    Clients are typed ``Any``: distributed ships ``py.typed``, but the methods used here (``map``,
    ``scatter``, ``submit``, ``gather``) and ``default_client`` carry no annotations.
    """
    try:
        import distributed
    except ImportError as exc:  # pragma: no cover - the extra is installed in the test environment
        raise ImportError(
            'imgindex.distributed needs dask.distributed. Install it with pip install "imgindex[dask]".'
        ) from exc
    if client is not None:
        return client
    default_client = cast("Callable[[], Any]", distributed.default_client)  # unannotated in distributed
    try:
        return default_client()
    except ValueError:
        raise InputError(
            "No dask client was given and none is running. Create one first (dask.distributed.Client(...)) "
            "or pass client=..."
        ) from None


def _partitions(n: int, size: int) -> list[tuple[int, int]]:
    return [(start, min(start + size, n)) for start in range(0, n, max(1, size))]


def scan(
    source: ScanSource,
    *,
    client: Any = None,
    partition_size: int = PARTITION_SIZE,
    previous: Previous = None,
    output: str | os.PathLike[str] | None = None,
) -> pd.DataFrame | str:
    """Index every imaging file of ``source`` on a dask cluster; see :func:`imgindex.scan`.

    Parameters
    ----------
    source
        A directory, a file path or a list of these (in-memory arrays are not accepted: use
        :func:`imgindex.scan` for them).
    client
        A ``dask.distributed.Client``; default: the current one (``distributed.default_client()``).
    partition_size
        Files per task.
    previous
        An earlier files table (DataFrame, parquet file, or an ``output`` folder of an earlier
        distributed scan): files whose path, size and modification time did not change are
        taken from it instead of being read again.
    output
        ``None`` to return the DataFrame; a folder to write a partitioned parquet dataset into
        (created; existing ``part-*.parquet`` files in it are replaced).

    Returns
    -------
    pandas.DataFrame or str
        The file-reference table, equal to ``imgindex.scan(source, previous=previous)``; or, with
        ``output``, the folder's path (read it with :func:`imgindex.read_files`).

    Raises
    ------
    InputError
        No ``client`` and no current one, or in-memory arrays in ``source``.
    ImportError
        Without dask.distributed (the ``imgindex[dask]`` extra).

    Examples
    --------
    See the examples of :mod:`imgindex.distributed` (they need a cluster).
    """
    client = _client(client)
    job = plan(source, previous=previous)
    if job.arrays:
        raise InputError("imgindex.distributed.scan indexes files only; scan in-memory arrays with imgindex.scan.")
    if output is None:
        paths = job.todo["file_path"].tolist()
        parts = [paths[a:b] for a, b in _partitions(len(paths), partition_size)]
        futures = client.map(read_chunk, client.scatter(parts), pure=False)  # scattered: a small task graph
        chunks = client.gather(futures)
        del futures
        return finish(job, chunks)
    return _write_dataset(client, job, os.path.abspath(os.fspath(output)), partition_size)


def _write_dataset(client: Any, job: Plan, folder: str, partition_size: int) -> str:
    os.makedirs(folder, exist_ok=True)
    for name in os.listdir(folder):
        if (name.startswith("part-") and name.endswith(".parquet")) or name == REPORT_NAME:
            os.remove(os.path.join(folder, name))
    raw = job.raw
    reused = job.reused
    tasks: list[tuple[int, pd.DataFrame, pd.DataFrame]] = []
    for number, (a, b) in enumerate(_partitions(len(raw), partition_size)):
        labels = raw.index[a:b]
        part_reused = reused[reused["_order"].isin(labels)] if len(reused) else reused
        part_todo = raw.iloc[a:b]
        if len(part_reused):
            part_todo = part_todo[~part_todo.index.isin(part_reused["_order"])]
        tasks.append((number, part_todo, part_reused))
    data = client.scatter([(todo, old) for _, todo, old in tasks])  # scattered: a small task graph
    futures = [
        client.submit(_write_part, number, part, folder, pure=False)
        for (number, _, _), part in zip(tasks, data, strict=True)
    ]
    results: list[dict[str, Any]] = client.gather(futures)
    examples = [p for r in results for p in r["not_imaging_examples"]]
    summary = {
        "roots": list(job.roots),
        "n_paths": len(raw),
        "n_arrays": 0,
        "n_rows": sum(r["n_rows"] for r in results),
        "n_not_imaging": sum(r["n_not_imaging"] for r in results),
        "not_imaging_examples": examples[:MAX_EXAMPLES],
        "n_errors": sum(r["n_errors"] for r in results),
        "n_reused": len(reused),
        "n_read": len(job.todo),
        "n_parts": len(results),
    }
    with open(os.path.join(folder, REPORT_NAME), "w", encoding="utf-8") as handle:
        json.dump(summary, handle, indent=1)
    return folder


def _write_part(number: int, part: tuple[pd.DataFrame, pd.DataFrame], folder: str) -> dict[str, Any]:
    """Read one partition on a worker and write it as ``part-<number>.parquet``; return its counts.

    ``part`` holds the raw rows to read and the reused rows of the previous index.
    """
    todo, reused = part
    chunk = read_chunk(todo["file_path"].tolist())
    not_imaging = todo["file_path"].iloc[list(chunk.not_imaging[:MAX_EXAMPLES])].tolist()
    n_not_imaging = len(chunk.not_imaging)
    files = assemble(todo, [chunk], reused=reused)
    path = os.path.join(folder, f"part-{number:05d}.parquet")
    persist.write_table(files, path, "files", extra={"part": number})
    return {
        "n_rows": len(files),
        "n_not_imaging": n_not_imaging,
        "not_imaging_examples": not_imaging,
        "n_errors": int(files["error"].notna().sum()),
    }


def read_report(folder: str | os.PathLike[str]) -> dict[str, Any]:
    """The scan report saved with a partitioned dataset (``{}`` when there is none).

    Parameters
    ----------
    folder
        An ``output`` folder of :func:`scan`.

    Returns
    -------
    dict
        The counts of :func:`imgindex.scan`'s report (``attrs["scan"]``), with ``n_parts``.

    Examples
    --------
    >>> read_report(tmp_dir)
    {}
    """
    path = os.path.join(os.fspath(folder), REPORT_NAME)
    if not os.path.exists(path):
        return {}
    with open(path, encoding="utf-8") as handle:
        report: dict[str, Any] = json.load(handle)
    return report
