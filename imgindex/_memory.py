"""Give freed heap memory back to the operating system between the big steps of an index build.

pandas and the scan's worker results allocate many column-sized buffers (about 1 MB for
10^5 rows). glibc serves them from its heap once the first ones are freed (its mmap threshold
grows), and keeps the freed heap pages: after a scan of 155,000 files about 90 MB are free but
still resident. Python's small objects and Arrow's buffers come from other allocators, so they
never reuse those pages, and the peak resident memory of the build grows by that much.
:func:`trim` asks glibc to return them (``malloc_trim``, as ``dask.distributed`` does for its
workers); it is a no-op where the C library has no ``malloc_trim`` (macOS, Windows, musl).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
from collections.abc import Callable


@functools.cache
def _malloc_trim() -> Callable[[int], int] | None:
    """The ``malloc_trim`` of glibc, or ``None`` where the C library has none."""
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        return libc.malloc_trim
    except (OSError, AttributeError):
        return None


def trim() -> bool:
    """Return free heap pages to the operating system; ``True`` if any were released.

    Examples
    --------
    >>> trim() in (True, False)
    True
    """
    function = _malloc_trim()
    return bool(function(0)) if function is not None else False
