"""The rules the root conftest.py enforces on every test run besides the network guard."""

from __future__ import annotations

import subprocess
import sys

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
