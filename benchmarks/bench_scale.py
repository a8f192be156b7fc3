"""Scan and import speed at scale: imgindex against a floor and MIRP, on generated DICOM trees.

For each tree size (patients; 155 files per patient, see ``make_tree.py``) it times, on the same
tree and with a warm page cache:

* ``floor_read``  walk + read the first 4 KiB of every file (2 processes: the I/O floor);
* ``floor_parse`` walk + read 4 KiB + parse every file's header element by element with imgindex's
  pure-Python walk (``FastReader.walk``, no series templates), results thrown away
  (2 processes: the pure-Python header reader of issue 4's target);
* ``floor_fast``  the same with :meth:`imgindex.headers.dicom_fast.FastReader.read`, the reader the scan
  uses (series templates: most files of a series are read through their series' layout);
* ``scan``        ``imgindex.scan(tree)``, no previous index (cold);
* ``reindex``     ``imgindex.scan(tree, previous=<the cold scan saved as parquet>)``, tree unchanged;
* ``import_all``  ``imgindex.import_image_and_mask(tree, mask=tree)``: whole tree, no hints;
* ``import_ct``   ``import_image_and_mask(tree, image_sub_folder="CT/dicom/image",
  mask_sub_folder="CT/dicom/mask")`` (nested layout);
* ``mirp_all`` / ``mirp_ct``  the same two calls with MIRP 2.7.0, through a small script run by the
  Python of a separate virtual environment (``--mirp-python``; skipped with a note when absent), on
  trees up to ``--mirp-patients`` patients only (MIRP is slow).

Every measured step runs in a fresh subprocess, ``--repeat`` rounds over all steps (so a burst
of load from elsewhere hits every step alike); the best time of each step is reported.
Peak memory is that subprocess's ``resource.getrusage(RUSAGE_SELF).ru_maxrss`` (peak resident set
size, including the ~130 MB the imports of numpy/pandas/pyarrow/pydicom take, shown as
``base``); ``workers`` is ``RUSAGE_CHILDREN``, the largest worker process (mostly pages shared
with the parent). This script itself imports nothing heavy, since Linux carries a parent's peak
RSS over into its children's ``ru_maxrss``.

Usage::

    python3 -m venv /tmp/mirp-venv && /tmp/mirp-venv/bin/pip install mirp==2.7.0   # optional
    python benchmarks/bench_scale.py --patients 30 1000 --repeat 3
"""

from __future__ import annotations

import argparse
import compileall
import importlib.util
import json
import math
import os
import platform
import resource
import subprocess
import sys
import time
from concurrent.futures import ProcessPoolExecutor

HERE = os.path.dirname(os.path.abspath(__file__))
CT_HINTS = {"image_sub_folder": "CT/dicom/image", "mask_sub_folder": "CT/dicom/mask"}
FLOOR_HEAD = 4096

MIRP_SCRIPT = r"""
import json, resource, sys, time, warnings
warnings.simplefilter("ignore")
from mirp.data_import.import_image_and_mask import import_image_and_mask
base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
kwargs = json.loads(sys.argv[1])
start = time.perf_counter()
error = None
try:
    images = import_image_and_mask(**kwargs)
except BaseException as exc:  # MIRP's RecursionError on many series, among others
    images, error = [], f"{type(exc).__name__}: {str(exc)[:200]}"
seconds = time.perf_counter() - start
print(json.dumps({"seconds": seconds, "rows": len(images), "error": error, "base_mb": base,
                  "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, "workers_mb": 0.0}))
"""


# ------------------------------------------------------------------------------------- the steps
def _walk(root: str) -> list[str]:
    paths, stack = [], [root]
    while stack:
        with os.scandir(stack.pop()) as entries:
            for entry in entries:
                if entry.is_dir(follow_symlinks=False):
                    stack.append(entry.path)
                else:
                    paths.append(entry.path)
    return paths


def _read_heads(paths: list[str]) -> int:
    n = 0
    for path in paths:
        with open(path, "rb") as handle:
            n += len(handle.read(FLOOR_HEAD))
    return n


def _parse_heads(paths: list[str], fast: bool = False) -> int:
    from imgindex.headers import dicom_fast

    reader = dicom_fast.FastReader()  # one per worker, as the scan has: its templates serve every file
    read = reader.read if fast else reader.walk
    n = 0
    for path in paths:
        with open(path, "rb") as handle:
            head = handle.read(FLOOR_HEAD)
        try:
            read(path, head)
            n += 1
        except dicom_fast.Unsupported:
            pass
    return n


def _parse_heads_fast(paths: list[str]) -> int:
    return _parse_heads(paths, fast=True)


def _floor(tree: str, func, workers: int) -> int:
    paths = _walk(tree)
    chunks = [paths[i : i + 2000] for i in range(0, len(paths), 2000)]
    with ProcessPoolExecutor(workers) as pool:
        list(pool.map(func, chunks))
    return len(paths)


def run_step(step: str, tree: str, previous: str, workers: int | None) -> dict:
    """Run one step in this process; return its time, rows and memory."""
    import imgindex

    if step.startswith("floor"):
        import imgindex.headers.dicom_fast  # imported before the clock starts, like the scan's reader
    else:  # imgindex loads its modules on first use (PEP 562): before the clock, as an eager import did
        _ = imgindex.import_image_and_mask if step.startswith("import") else imgindex.scan
    base = _rss_mb()
    start = time.perf_counter()
    if step == "floor_read":
        rows = _floor(tree, _read_heads, workers or os.cpu_count() or 1)
    elif step == "floor_parse":
        rows = _floor(tree, _parse_heads, workers or os.cpu_count() or 1)
    elif step == "floor_fast":
        rows = _floor(tree, _parse_heads_fast, workers or os.cpu_count() or 1)
    elif step == "scan":
        files = imgindex.scan(tree, workers=workers)
        rows = len(files)
    elif step == "reindex":
        files = imgindex.scan(tree, previous=previous, workers=workers)
        rows = files.attrs["scan"]["n_reused"]
    elif step == "import_all":
        rows = len(imgindex.import_image_and_mask(tree, mask=tree, workers=workers))
    elif step == "import_ct":
        rows = len(imgindex.import_image_and_mask(tree, workers=workers, **CT_HINTS))
    else:
        raise SystemExit(f"unknown step {step}")
    seconds = time.perf_counter() - start
    result = {
        "seconds": seconds,
        "rows": rows,
        "error": None,
        "base_mb": base,
        "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "workers_mb": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024,
    }
    if step == "scan" and previous:
        imgindex.write_files(files, previous)  # for the reindex step; neither timed nor in the peak
    return result


def _rss_mb() -> float:
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


# ---------------------------------------------------------------------------------- orchestration
def _subprocess(cmd: list[str]) -> dict:
    done = subprocess.run(cmd, capture_output=True, text=True, check=False)
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    if done.returncode != 0 or not lines:
        tail = (done.stderr.strip().splitlines() or ["no output"])[-1]
        return {
            "seconds": float("nan"),
            "rows": 0,
            "error": f"exit {done.returncode}: {tail[:200]}",
            "base_mb": float("nan"),
            "peak_mb": float("nan"),
            "workers_mb": float("nan"),
        }
    return json.loads(lines[-1])


def command(step: str, tree: str, previous: str, args) -> list[str]:
    """The command that runs ``step`` once in a fresh process."""
    if step.startswith("mirp"):
        kwargs = {"image": tree, "mask": tree} if step == "mirp_all" else {"image": tree, **CT_HINTS}
        return [args.mirp_python, "-c", MIRP_SCRIPT, json.dumps(kwargs)]
    cmd = [sys.executable, os.path.abspath(__file__), "--step", step, "--tree", tree, "--previous", previous]
    return cmd + (["--workers", str(args.workers)] if args.workers else [])


def best(runs: list[dict]) -> dict:
    """The fastest run (with its peak memory) and the times of all runs."""
    ok = [r for r in runs if r["error"] is None] or runs
    fastest = min(ok, key=lambda r: float("inf") if math.isnan(r["seconds"]) else r["seconds"])
    return {**fastest, "times": [round(r["seconds"], 3) for r in runs]}


def ensure_tree(root: str, layout: str, patients: int) -> tuple[str, int]:
    """The tree of ``patients`` patients (written once; a marker next to it records the count).

    Written by a subprocess, so that this process stays small: Linux carries a parent's peak RSS
    over into the ``ru_maxrss`` of the children it starts.
    """
    tree = os.path.join(root, f"{layout}_{patients}")
    marker = tree + ".json"
    if os.path.exists(marker):
        with open(marker) as handle:
            return tree, json.load(handle)["files"]
    start = time.perf_counter()
    done = subprocess.run(
        [sys.executable, os.path.join(HERE, "make_tree.py"), tree, str(patients), "--layout", layout],
        capture_output=True,
        text=True,
        check=True,
    )
    seconds = time.perf_counter() - start
    n = int(done.stdout.split()[1])
    print(f"  {done.stdout.strip()} into {tree}", flush=True)
    with open(marker, "w") as handle:
        json.dump({"files": n, "patients": patients, "layout": layout, "seconds": seconds}, handle)
    return tree, n


def _fmt(r: dict, n: int) -> str:
    if r.get("error"):
        return f"{'failed':>9} {'':>10}   {r['error']}"
    rate = n / r["seconds"]
    return (
        f"{r['seconds']:9.2f} {rate:10,.0f}   peak {r['peak_mb']:6.0f} MB (base {r['base_mb']:4.0f}, "
        f"workers {r['workers_mb']:4.0f})   runs {r['times']}"
    )


def _compile_package() -> None:
    """Write imgindex's bytecode, as ``pip install`` does (under ``PYTHONDONTWRITEBYTECODE`` each step compiled it)."""
    spec = importlib.util.find_spec("imgindex")
    for folder in list(spec.submodule_search_locations or []) if spec else []:
        compileall.compile_dir(folder, quiet=1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--patients", type=int, nargs="+", default=[30, 1000])
    parser.add_argument("--root", default=os.path.join("/tmp", "imgindex-bench"), help="where the trees are written")
    parser.add_argument("--layout", choices=("nested", "flat"), default="nested")
    parser.add_argument("--repeat", type=int, default=3, help="fresh-subprocess runs per step (best is kept)")
    parser.add_argument("--workers", type=int, default=None, help="imgindex worker processes (default: one per CPU)")
    parser.add_argument("--mirp-python", default="/tmp/mirp-venv/bin/python")
    parser.add_argument("--mirp-patients", type=int, default=30, help="largest tree MIRP is timed on")
    parser.add_argument(
        "--steps",
        nargs="+",
        default=[
            "floor_read",
            "floor_parse",
            "floor_fast",
            "scan",
            "reindex",
            "import_all",
            "import_ct",
            "mirp_all",
            "mirp_ct",
        ],
    )
    parser.add_argument("--json", help="also write the results to this file")
    parser.add_argument("--step", help=argparse.SUPPRESS)
    parser.add_argument("--tree", help=argparse.SUPPRESS)
    parser.add_argument("--previous", default="", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.step:  # one measured step, in its own process
        print(json.dumps(run_step(args.step, args.tree, args.previous, args.workers)))
        return

    _compile_package()
    version = subprocess.run(
        [sys.executable, "-c", "import imgindex; print(imgindex.__version__)"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    mirp = os.path.exists(args.mirp_python)
    print(
        f"imgindex {version}, Python {platform.python_version()}, {os.cpu_count()} CPUs, "
        f"load average {os.getloadavg()[0]:.2f}, {args.layout} layout, best of {args.repeat} runs"
    )
    if not mirp:
        print(
            f"NOTE: MIRP not timed: no {args.mirp_python} (python3 -m venv /tmp/mirp-venv && "
            "/tmp/mirp-venv/bin/pip install mirp==2.7.0)"
        )
    os.makedirs(args.root, exist_ok=True)
    results: dict[int, dict[str, dict]] = {}
    sizes = {}
    for patients in args.patients:
        tree, n = ensure_tree(args.root, args.layout, patients)
        sizes[patients] = n
        _floor(tree, _read_heads, os.cpu_count() or 1)  # warm the page cache
        previous = os.path.join(args.root, f"{args.layout}_{patients}_files.parquet")
        print(f"\n{patients} patients, {n:,} files ({tree})")
        print(f"  {'step':12s} {'seconds':>9} {'files/s':>10}")
        steps = [
            s
            for s in args.steps
            if not (s.startswith("mirp") and (not mirp or patients > args.mirp_patients))
            and not (s in ("import_ct", "mirp_ct") and args.layout != "nested")
            and not (s == "reindex" and "scan" not in args.steps)
        ]
        runs: dict[str, list[dict]] = {s: [] for s in steps}
        for round_ in range(args.repeat):  # rounds over all steps: a burst of load hits every step alike
            for step in steps:
                if step.startswith("mirp") and round_:
                    continue  # slow, and its variance is small next to its distance to imgindex
                runs[step].append(_subprocess(command(step, tree, previous, args)))
        results[patients] = {step: best(runs[step]) for step in steps}
        for step in steps:
            print(f"  {step:12s} {_fmt(results[patients][step], n)}", flush=True)
    _summary(results, sizes)
    print(f"\nload average at the end: {os.getloadavg()[0]:.2f}")
    if args.json:
        with open(args.json, "w") as handle:
            json.dump({"sizes": sizes, "results": results}, handle, indent=1)


def _rate(results, sizes, patients, step):
    r = results.get(patients, {}).get(step)
    if not r or r.get("error") or math.isnan(r["seconds"]):
        return None
    return sizes[patients] / r["seconds"]


def _summary(results: dict, sizes: dict) -> None:
    print("\nRatios and targets")
    largest, smallest = max(sizes), min(sizes)
    for patients in sorted(sizes):
        scan = _rate(results, sizes, patients, "scan")
        for other in ("floor_parse", "floor_fast", "floor_read", "mirp_all", "mirp_ct"):
            rate = _rate(results, sizes, patients, other)
            if scan and rate:
                print(f"  {patients:5d} patients: scan / {other:11s} = {scan / rate:6.2f}")
        for mine, theirs in (("import_all", "mirp_all"), ("import_ct", "mirp_ct")):
            a, b = _rate(results, sizes, patients, mine), _rate(results, sizes, patients, theirs)
            if a and b:
                print(f"  {patients:5d} patients: {mine} / {theirs} = {a / b:6.1f}")
    if largest != smallest:
        for step in ("scan", "reindex", "import_all", "import_ct"):
            a, b = _rate(results, sizes, smallest, step), _rate(results, sizes, largest, step)
            if a and b:
                print(f"  per-file cost {step:10s} at {largest} vs {smallest} patients: {a / b:5.2f}x (linear: 1.00)")
    big = results.get(largest, {})

    def check(label, ok):
        print(f"  [{'met' if ok else 'NOT MET'}] {label}")

    scan = _rate(results, sizes, largest, "scan")
    if scan:
        check(f"cold scan >= 10,000 files/s ({scan:,.0f} at {largest} patients)", scan >= 10_000)
        floor = _rate(results, sizes, largest, "floor_parse")
        if floor:
            check(
                f"cold scan >= 2/3 of the floor's pure-Python header reader, element by element ({scan / floor:.2f})",
                scan >= 2 / 3 * floor,
            )
    for patients in sorted(sizes):
        a, b = _rate(results, sizes, patients, "scan"), _rate(results, sizes, patients, "mirp_all")
        if a and b:
            check(f"cold scan >= 30x MIRP on the same tree, {patients} patients ({a / b:.1f}x)", a >= 30 * b)
    timed = [p for p in sorted(sizes) if _rate(results, sizes, p, "mirp_all")]
    if scan and timed and timed[-1] != largest:
        b = _rate(results, sizes, timed[-1], "mirp_all")
        check(
            f"cold scan at {largest} patients >= 30x MIRP's per-file rate at {timed[-1]} patients ({scan / b:.1f}x)",
            scan >= 30 * b,
        )
    r = big.get("import_all")
    if r and not r.get("error"):
        check(
            f"import_image_and_mask, whole tree, {sizes[largest]:,} files <= 20 s ({r['seconds']:.1f} s)",
            r["seconds"] <= 20,
        )
        check(f"  ... peak memory <= 500 MB ({r['peak_mb']:.0f} MB)", r["peak_mb"] <= 500)
    r = big.get("reindex")
    if r and not r.get("error"):
        check(f"re-index of the unchanged tree <= 3 s ({r['seconds']:.2f} s)", r["seconds"] <= 3)
    if largest != smallest:
        for step in ("scan", "import_all"):
            a, b = _rate(results, sizes, smallest, step), _rate(results, sizes, largest, step)
            if a and b:
                check(
                    f"per-file cost of {step} at {largest} within 15% of {smallest} patients ({a / b:.2f}x)",
                    a / b <= 1.15,
                )


if __name__ == "__main__":
    main()
