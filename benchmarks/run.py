"""imgindex side by side with its floors and references, on the same data, in one run.

Prints, with every step timed in a fresh process (best of ``--repeat``, warm page cache):

* **tree** (``--patients``, 155 files each, see ``make_tree.py``; 300 patients = 46,500 files):
  - ``floor``: walk the tree and read the first 4 KiB of every file, on 2 processes;
  - ``gdcmscanner``: GDCM's compiled scanner (``gdcmscanner -r -d TREE -t ...``, Debian package
    ``libgdcm-tools``) asked for the top-level tags imgindex reads; skipped with a note when absent;
  - ``scan (process)`` / ``import (process)``: ``imgindex.scan(tree)`` and
    ``imgindex.import_image_and_mask(tree, mask=tree)`` as whole processes (interpreter, imports,
    work); ``scan (in process)`` / ``import (in process)``: the call alone;
* **start-up**: ``python -c pass``, ``python -c "import pandas, pyarrow"``, ``python -c "import imgindex"``,
  ``imgindex --help`` and ``imgindex --version``;
* **voxels** (a 512 x 512 x ``--slices`` CT series and an RTSTRUCT with 5 ROIs, from
  :func:`imgindex.examples.write_shapes_dataset`): SimpleITK's ``ImageSeriesReader`` on the files,
  ``image.read()`` and ``mask.read(reference=image)`` (all 5 ROIs), the index built beforehand.

and the ratios the project's targets are stated in. Usage::

    python benchmarks/run.py --patients 300 --repeat 3
"""

from __future__ import annotations

import argparse
import compileall
import importlib.util
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
FLOOR_HEAD = 4096

_TIMED = r"""
import json, sys, time
start = time.perf_counter()
{setup}
ready = time.perf_counter()
{work}
done = time.perf_counter()
print(json.dumps({{"setup": ready - start, "work": done - ready}}))
"""

# The setup touches the function: imgindex loads its modules on first use, and "in process" is the work alone.
_SCAN = ("import imgindex\nimgindex.scan", "imgindex.scan({tree!r})")
_IMPORT = ("import imgindex\nimgindex.import_image_and_mask", "imgindex.import_image_and_mask({tree!r}, mask={tree!r})")
_FLOOR = (
    "import os\nfrom concurrent.futures import ProcessPoolExecutor\n"
    "def walk(root):\n"
    "    paths, stack = [], [root]\n"
    "    while stack:\n"
    "        with os.scandir(stack.pop()) as entries:\n"
    "            for e in entries:\n"
    "                (stack if e.is_dir(follow_symlinks=False) else paths).append(e.path)\n"
    "    return paths\n"
    "def heads(paths):\n"
    "    n = 0\n"
    "    for p in paths:\n"
    "        with open(p, 'rb') as f:\n"
    f"            n += len(f.read({FLOOR_HEAD}))\n"
    "    return n\n",
    "paths = walk({tree!r})\n"
    "with ProcessPoolExecutor(2) as pool:\n"
    "    sum(pool.map(heads, [paths[i::2] for i in range(2)]))",
)
_VOXELS = (
    "import warnings, SimpleITK as sitk, imgindex\n"
    "warnings.simplefilter('ignore')\n"
    "images = imgindex.import_image_and_mask({image!r}, mask={rtstruct!r})\n"
    "image = images[0]\n"
    "reader = sitk.ImageSeriesReader()\n"
    "reader.SetFileNames(list(sitk.ImageSeriesReader.GetGDCMSeriesFileNames({image!r})))",
    "{call}",
)


#: Run once, untimed, before the voxel timings: the calls timed give what they should.
_VOXELS_CHECK = (
    "import numpy as np\n"
    "ours, theirs = image.read(), reader.Execute()\n"
    "assert np.array_equal(sitk.GetArrayViewFromImage(ours), sitk.GetArrayViewFromImage(theirs))\n"
    "masks = image.associated_masks[0].read(reference=image)\n"
    "assert len(masks) == 5, sorted(masks)\n"
    "assert all(m.GetSize() == theirs.GetSize() and sitk.GetArrayViewFromImage(m).any() for m in masks.values())"
)


def _timed(setup: str, work: str, **fields: str) -> dict[str, float]:
    """Run ``setup`` then ``work`` in a fresh interpreter; the seconds of each."""
    code = _TIMED.format(setup=setup.format(**fields), work=work.format(**fields))
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def _process(argv: list[str]) -> float:
    start = time.perf_counter()
    subprocess.run(argv, check=True, capture_output=True)
    return time.perf_counter() - start


def best(function, repeat: int) -> float:
    """The shortest of ``repeat`` runs of ``function()`` (seconds it returns, or its wall time)."""
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        result = function()
        times.append(result if isinstance(result, float) else time.perf_counter() - start)
    return min(times)


def _tree(root: str, patients: int) -> str:
    tree = os.path.join(root, f"nested_{patients}")
    marker = tree + ".json"
    if not os.path.exists(marker):
        subprocess.run([sys.executable, os.path.join(HERE, "make_tree.py"), tree, str(patients)], check=True)
        with open(marker, "w") as handle:
            json.dump({"patients": patients}, handle)
    return tree


def _n_files(tree: str) -> int:
    return sum(len(names) for _dirs, _sub, names in os.walk(tree))


def _gdcm_tags() -> list[str]:
    from imgindex.headers.dicom_tags import SPECIFIC_TAGS

    return [f"{int(t) >> 16:04x},{int(t) & 0xFFFF:04x}" for t in SPECIFIC_TAGS if int(t) >> 16 < 0x5200]


def _voxel_data(root: str, slices: int) -> tuple[str, str]:
    from imgindex.examples import write_shapes_dataset

    folder = os.path.join(root, f"ct_512_{slices}")
    data = write_shapes_dataset(
        folder,
        size=(512, 512),
        n_slices=slices,
        spacing=(0.8, 0.8, 2.5),
        shapes=("lung_left", "lung_right", "box", "cylinder", "ring"),
        n_points=400,
        seg=False,
    )
    return str(data.image_dir), str(data.rtstruct)


def _row(name: str, seconds: float, note: str = "") -> None:
    print(f"  {name:<24} {seconds:8.3f} s  {note}")


def _ratio(name: str, a: float | None, b: float | None, target: float | None, what: str) -> None:
    if a is None or b is None:
        return
    ratio = a / b if b else float("nan")
    verdict = "" if target is None else ("met" if ratio <= target else "NOT met")
    print(f"  {name:<46} {ratio:6.2f}x {what}" + (f"   target <= {target}x: {verdict}" if target else ""))


def _compile_package() -> None:
    """Write imgindex's bytecode, as ``pip install`` does, so that no timed first use compiles a module.

    With ``PYTHONDONTWRITEBYTECODE`` set (as in some containers) a source checkout is compiled anew
    by every process; the other packages timed here (pandas, SimpleITK, pydicom) were compiled when
    they were installed.
    """
    spec = importlib.util.find_spec("imgindex")
    folders = list(spec.submodule_search_locations or []) if spec else []
    for folder in folders:
        compileall.compile_dir(folder, quiet=1)
    if folders and os.environ.get("PYTHONDONTWRITEBYTECODE"):
        print(f"bytecode of {folders[0]} written ahead (PYTHONDONTWRITEBYTECODE is set: it is read, not written)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--patients", type=int, default=300)
    parser.add_argument("--slices", type=int, default=130)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--root", default=os.path.join(tempfile.gettempdir(), "imgindex-bench"))
    parser.add_argument(
        "--only",
        default="tree,startup,voxels",
        help="comma-separated parts to run (tree, startup, voxels); ratios print for what ran",
    )
    args = parser.parse_args()
    parts = set(args.only.split(","))
    os.makedirs(args.root, exist_ok=True)
    _compile_package()
    version = subprocess.run(
        [sys.executable, "-c", "import imgindex; print(imgindex.__version__)"], capture_output=True, text=True
    ).stdout.strip()
    print(
        f"imgindex {version}, Python {platform.python_version()}, {os.cpu_count()} CPUs, "
        f"load average {os.getloadavg()[0]:.2f}, {time.strftime('%Y-%m-%d')}, best of {args.repeat}"
    )
    results: dict[str, float] = {}
    if "tree" in parts:
        tree = _tree(args.root, args.patients)
        n = _n_files(tree)
        print(f"\ntree: {args.patients} patients, {n:,} files ({tree})")
        results["floor"] = best(lambda: _timed(*_FLOOR, tree=tree)["work"], args.repeat)
        _row("floor (walk + 4 KiB)", results["floor"], f"{n / results['floor']:,.0f} files/s, 2 processes")
        gdcm = shutil.which("gdcmscanner")
        if gdcm:
            tags = [a for t in _gdcm_tags() for a in ("-t", t)]
            results["gdcmscanner"] = best(lambda: _process([gdcm, "-r", "-d", tree, *tags]), args.repeat)
            _row("gdcmscanner", results["gdcmscanner"], f"{len(tags) // 2} tags, 1 process (GDCM is single-threaded)")
        else:
            print("  gdcmscanner: not installed (apt-get install libgdcm-tools); skipped")
        for key, (setup, work) in (("scan", _SCAN), ("import", _IMPORT)):
            runs = [_timed(setup, work, tree=tree) for _ in range(args.repeat)]
            results[f"{key} (process)"] = min(r["setup"] + r["work"] for r in runs)
            results[f"{key} (in process)"] = min(r["work"] for r in runs)
            _row(f"{key} (process)", results[f"{key} (process)"], f"{n / results[f'{key} (process)']:,.0f} files/s")
            _row(
                f"{key} (in process)",
                results[f"{key} (in process)"],
                f"{n / results[f'{key} (in process)']:,.0f} files/s",
            )

    if "startup" in parts:
        print("\nstart-up")
        imgindex_cli = [sys.executable, "-m", "imgindex"]
        for key, argv in (
            ("python -c pass", [sys.executable, "-c", "pass"]),
            ("import pandas, pyarrow", [sys.executable, "-c", "import pandas, pyarrow"]),
            ("import imgindex", [sys.executable, "-c", "import imgindex"]),
            ("imgindex --help", [*imgindex_cli, "--help"]),
            ("imgindex --version", [*imgindex_cli, "--version"]),
        ):
            results[key] = best(lambda argv=argv: _process(argv), max(args.repeat, 5))
            _row(key, results[key])

    if "voxels" in parts:
        print(f"\nvoxels: CT 512 x 512 x {args.slices}, RTSTRUCT with 5 ROIs")
        image_dir, rtstruct = _voxel_data(args.root, args.slices)
        _timed(_VOXELS[0], _VOXELS_CHECK, image=image_dir, rtstruct=rtstruct)
        print("  checked: image.read() has ImageSeriesReader's voxels; mask.read(reference) gives 5 ROIs on its grid")
        for key, call in (
            ("SimpleITK series read", "reader.Execute()"),
            ("image.read()", "image.read()"),
            ("mask.read(reference)", "image.associated_masks[0].read(reference=image)"),
        ):
            results[key] = best(
                lambda call=call: _timed(*_VOXELS, image=image_dir, rtstruct=rtstruct, call=call)["work"], args.repeat
            )
            _row(key, results[key])

    print("\nratios")
    _ratio("scan (process) / gdcmscanner", results.get("scan (process)"), results.get("gdcmscanner"), 0.7, "")
    _ratio("scan (process) / floor", results.get("scan (process)"), results.get("floor"), None, "")
    _ratio(
        "import (in process) / scan (in process)",
        results.get("import (in process)"),
        results.get("scan (in process)"),
        1.25,
        "",
    )
    _ratio(
        "import imgindex / import pandas, pyarrow",
        results.get("import imgindex"),
        results.get("import pandas, pyarrow"),
        1.25,
        "",
    )
    _ratio("imgindex --help / python -c pass", results.get("imgindex --help"), results.get("python -c pass"), 4.0, "")
    _ratio(
        "imgindex --version / python -c pass", results.get("imgindex --version"), results.get("python -c pass"), 4.0, ""
    )
    _ratio(
        "image.read() / SimpleITK series read",
        results.get("image.read()"),
        results.get("SimpleITK series read"),
        1.2,
        "",
    )
    _ratio(
        "mask.read(reference) / SimpleITK series read",
        results.get("mask.read(reference)"),
        results.get("SimpleITK series read"),
        1.0,
        "",
    )
    print(f"\nload average at the end: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
