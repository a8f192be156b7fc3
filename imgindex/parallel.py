"""One parallel map with a progress report, shared by the scan and the exports."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from typing import Any

ProgressCallback = Callable[[int, int], None]


def _progress(progress: bool | ProgressCallback, total: int, unit: str, desc: str):
    """A tqdm bar (``progress=True``, drawn on stderr) and/or a callback ``(done, total)``."""
    if callable(progress):
        return None, progress
    if progress:
        from tqdm.auto import tqdm

        return tqdm(total=total, unit=unit, desc=desc, leave=False), None
    return None, None


def run(
    function: Callable[[Any], Any],
    jobs: Sequence[Any],
    *,
    workers: int,
    progress: bool | ProgressCallback = False,
    weight: Callable[[Any], int] = lambda job: 1,
    unit: str = "item",
    desc: str = "",
    initializer: Callable[[], None] | None = None,
) -> Iterator[Any]:
    """Yield ``function(job)`` for every job, in order, over a process pool when ``workers > 1``.

    ``function`` must be picklable for the pool (a module-level function or a partial of one).
    Progress advances by ``weight(job)`` per finished job: a tqdm bar on stderr with
    ``progress=True``, or calls ``progress(done, total)``. The pool is shut down even when the
    caller stops early or an error is raised. ``initializer`` runs once in each worker process of
    the pool (it prepares per-process state, e.g. a reader with caches); not in this process.

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
