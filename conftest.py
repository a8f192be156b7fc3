"""Session-wide rules for the whole test run: the tests in tests/ and the doctests of imgindex/.

- No background thread outlives the progress bar that started it (tqdm's monitor is off).
"""

from __future__ import annotations

import pytest


@pytest.fixture(scope="session", autouse=True)
def _no_tqdm_monitor_thread():
    """Turn tqdm's monitor thread off for the session (``monitor_interval = 0``, tqdm's documented switch).

    The first bar drawn (``progress=True``) otherwise starts a daemon thread that tqdm 4.70 never
    stops; it wakes every 10 s and then frees objects it allocated before it slept. A test that
    counts frozen objects (``gc.get_freeze_count()``, tests/test_scan_read.py) saw the count drop
    whenever one of those wake-ups fell between its ``gc.freeze()`` and its check: it failed in a
    full run, where an earlier test had drawn a bar, and passed alone. The bars keep working
    without the thread; the monitor only shortens the refresh of bars that print rarely.
    """
    from tqdm import tqdm

    interval = tqdm.monitor_interval
    tqdm.monitor_interval = 0
    yield
    tqdm.monitor_interval = interval
