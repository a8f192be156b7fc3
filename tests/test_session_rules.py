"""The rules the root conftest.py enforces on every test run besides the network guard: slow tests
marked, a temporary directory of the session's own, and the doctest namespace.

The doctest namespace, as the library's doctests can use it:

>>> import os
>>> os.listdir(tmp_dir)
[]
>>> sorted(os.listdir(example_dir))
['STS_001', 'STS_002']
>>> sorted(os.listdir(os.path.join(example_dir, "STS_001")))
['CT', 'MR_T1', 'PET']
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile

import pytest


@pytest.mark.slow
def test_a_program_started_by_a_test_not_marked_slow_fails_it(network_guard, request):
    network_guard.item_is_slow = False
    try:
        subprocess.run([sys.executable, "-c", "pass"], check=True)
    finally:
        network_guard.item_is_slow = True
    mine = [what for nodeid, what in network_guard.spawned if nodeid == request.node.nodeid]
    network_guard.spawned[:] = [s for s in network_guard.spawned if s[0] != request.node.nodeid]
    assert mine and mine[0].startswith("subprocess.Popen")


def test_the_temporary_directory_is_the_sessions_own(session_tempdir, tmp_path_factory):
    assert tempfile.gettempdir() == os.environ["TMPDIR"] == str(session_tempdir)
    assert session_tempdir.parent == tmp_path_factory.getbasetemp()
    with tempfile.TemporaryDirectory() as scratch:  # removed again: not a leftover
        assert os.path.dirname(scratch) == str(session_tempdir)
