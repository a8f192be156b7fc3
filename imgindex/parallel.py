"""One parallel map with a progress report, shared by the scan and the exports."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from typing import Any, TypeVar

#: Called as ``callback(done, total)`` as work finishes.
ProgressCallback = Callable[[int, int], None]

_Job = TypeVar("_Job")
_Result = TypeVar("_Result")


def _progress(
    progress: bool | ProgressCallback, total: int, unit: str, desc: str
) -> tuple[Any, ProgressCallback | None]:
    """A tqdm bar (``progress=True``, drawn on stderr) and/or a callback ``(done, total)``."""
    if callable(progress):
        return None, progress
    if progress:
        from tqdm.auto import tqdm

        return tqdm(total=total, unit=unit, desc=desc), None
    return None, None


def run(
    function: Callable[[_Job], _Result],
    jobs: Sequence[_Job],
    *,
    workers: int,
    progress: bool | ProgressCallback = False,
    weight: Callable[[_Job], int] = lambda job: 1,
    unit: str = "item",
    desc: str = "",
    initializer: Callable[[], None] | None = None,
) -> Iterator[_Result]:
    """Yield ``function(job)`` for every job, in order, over a process pool when ``workers > 1``.

    The pool is shut down even when the caller stops early or an error is raised.

    Parameters
    ----------
    function
        Called on each job; picklable for the pool (a module-level function or a partial of one).
    jobs
        The jobs, in order.
    workers
        Processes of the pool; 1 (or a single job) runs everything in this process.
    progress
        ``True`` draws a tqdm bar on stderr; a callable is called as ``progress(done, total)``.
    weight
        How far a finished job advances the progress (default 1 per job).
    unit, desc
        The unit and description of the progress bar.
    initializer
        Runs once in each worker process of the pool (it prepares per-process state, e.g. a reader
        with caches); not in this process.

    Yields
    ------
    object
        ``function(job)`` of each job, in the order of ``jobs``.

    Examples
    --------
    >>> list(run(abs, [-1, 2, -3], workers=1))
    [1, 2, 3]
    """
    total = sum(weight(job) for job in jobs)
    bar, callback = _progress(progress, total, unit, desc)
    pool = None
    if workers > 1 and len(jobs) > 1:
        pool = ProcessPoolExecutor(max_workers=min(workers, len(jobs)), initializer=initializer)
    done = 0
    try:
        results = pool.map(function, jobs) if pool is not None else map(function, jobs)
        for job, result in zip(jobs, results, strict=False):
            done += weight(job)
            if bar is not None:
                bar.update(weight(job))
            if callback is not None:
                callback(done, total)
            yield result
    finally:
        if pool is not None:
            pool.shutdown(cancel_futures=True)
        if bar is not None:
            bar.close()
