"""Where the time after the scan goes in real imports: sampled imgindex functions and lines.

Runs ``import_image_and_mask(tree, mask=tree)`` ``--repeat`` times after one warm-up. While the
scan runs nothing is counted; after it, a thread samples the main thread's stack every
``--interval`` seconds and counts its innermost imgindex frame, by function and by line. The
scan is real, not cached: after a real scan every string is a fresh object (hashed again by
each dict and factorize) and every buffer is cold, so a harness that reuses one scanned table
understates this part by a third or more. The wall time of the scan and of the rest of each
import are printed too. No tracing hooks: the import runs at full speed.

Usage: ``python benchmarks/profile_import.py TREE [--repeat 4] [--top 25]``
(a tree from ``benchmarks/make_tree.py``, e.g. ``/tmp/imgindex-bench/nested_300``).
"""

from __future__ import annotations

import argparse
import collections
import sys
import threading
import time
import warnings
from typing import Any

import imgindex
from imgindex import scanner


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("tree")
    parser.add_argument("--repeat", type=int, default=4)
    parser.add_argument("--top", type=int, default=25)
    parser.add_argument("--interval", type=float, default=0.0005)
    args = parser.parse_args()
    warnings.simplefilter("ignore")

    state = {"post": False, "scan": 0.0}
    scan_with = scanner.scan_with

    def timed_scan(*a: Any, **k: Any) -> Any:
        state["post"] = False
        start = time.perf_counter()
        files = scan_with(*a, **k)
        state["scan"] += time.perf_counter() - start
        state["post"] = True
        return files

    scanner.scan_with = timed_scan  # type: ignore[assignment]
    imgindex.import_image_and_mask(args.tree, mask=args.tree)  # warm-up: modules, bytecode, caches

    main_thread = threading.main_thread().ident
    functions: collections.Counter[str] = collections.Counter()
    lines: collections.Counter[str] = collections.Counter()
    stop = threading.Event()

    def sample() -> None:
        while not stop.wait(args.interval):
            if not state["post"]:
                continue
            frame = sys._current_frames().get(main_thread or 0)
            while frame is not None and "/imgindex/" not in frame.f_code.co_filename:
                frame = frame.f_back
            if frame is not None:
                name = frame.f_code.co_filename.rsplit("/imgindex/", 1)[-1]
                functions[f"{name}:{frame.f_code.co_name}"] += 1
                lines[f"{name}:{frame.f_lineno}"] += 1

    sys.setswitchinterval(args.interval / 2)  # let the sampler in between the main thread's steps
    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    for _ in range(args.repeat):
        state["scan"] = 0.0
        start = time.perf_counter()
        imgindex.import_image_and_mask(args.tree, mask=args.tree)
        total = time.perf_counter() - start
        state["post"] = False
        print(f"import {total:.3f} s = scan {state['scan']:.3f} s + the rest {total - state['scan']:.3f} s")
    stop.set()
    sampler.join()
    n = sum(functions.values()) or 1
    print(f"\n{n} samples after the scan")
    for title, counts in (("functions", functions), ("lines", lines)):
        print(f"\n{title}")
        for key, count in counts.most_common(args.top):
            print(f"  {100 * count / n:5.1f} %  {key}")


if __name__ == "__main__":
    main()
