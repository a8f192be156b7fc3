"""Reading many files over a process pool: the same chunks as in one process, the collector left as it was."""

from __future__ import annotations

import gc
import importlib

import pandas as pd

scan_module = importlib.import_module("imgindex.scan")
chunks_module = importlib.import_module("imgindex.chunks")


def _paths(scanned) -> list[str]:
    _root, _manifest, files = scanned
    return files["file_path"].dropna().tolist()


def test_pool_reads_the_same_chunks_and_leaves_the_collector_as_it_was(scanned):
    paths = _paths(scanned)
    alone = scan_module._read_all(paths, workers=1, progress=False, chunk_size=7)
    assert gc.get_freeze_count() == 0
    pooled = scan_module._read_all(paths, workers=2, progress=False, chunk_size=7)
    assert gc.get_freeze_count() == 0 and gc.isenabled()
    assert [c.rows for c in pooled] == [c.rows for c in alone]
    assert [c.not_imaging for c in pooled] == [c.not_imaging for c in alone]
    pd.testing.assert_frame_equal(chunks_module.frame_of(pooled), chunks_module.frame_of(alone))


def test_objects_the_caller_froze_stay_frozen(scanned):
    gc.freeze()
    try:
        frozen = gc.get_freeze_count()
        scan_module._read_all(_paths(scanned), workers=2, progress=False, chunk_size=7)
        assert gc.get_freeze_count() >= frozen
    finally:
        gc.unfreeze()
