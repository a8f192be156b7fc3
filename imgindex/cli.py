"""The ``imgindex`` command line: argument parsing and printing only.

Every command is a thin call into the library. Exit codes: 0 success, 2 bad usage, 1 anything
else, with one clear line on stderr (a traceback only with ``--debug``).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import traceback

import pandas as pd

from . import __version__
from .errors import ImgIndexError

_EXAMPLES = {
    "demo": "imgindex demo --dir ./imgindex-demo -o demo.parquet",
    "scan": "imgindex scan /data/archive -o index.parquet --update index.parquet --workers 2",
}


def _report(files: pd.DataFrame, out: str | None) -> str:
    from .scan import summary

    info = files.attrs.get("scan", {})
    lines = [
        f"{len(files)} imaging rows from {info.get('n_paths', 0)} files "
        f"({info.get('n_not_imaging', 0)} not imaging, {info.get('n_errors', 0)} unreadable, "
        f"{info.get('n_reused', 0)} reused from the previous index)",
    ]
    samples = files["PatientID"].dropna().nunique()
    if samples:
        lines.append(f"{samples} DICOM patients, {files['SeriesInstanceUID'].dropna().nunique()} DICOM series")
    lines.append(summary(files).to_string(index=False))
    errors = files[files["error"].notna()]
    if len(errors):
        lines.append("files that could not be read:")
        lines += [f"  {p}: {e}" for p, e in zip(errors["file_path"], errors["error"], strict=True)][:20]
    if out:
        lines.append(f"index written to {out}")
    return "\n".join(lines)


def _scan(args: argparse.Namespace) -> int:
    from .persist import to_parquet
    from .scan import scan

    progress = sys.stderr.isatty() and not args.quiet
    files = scan(args.path, previous=args.update, workers=args.workers, progress=progress)
    if args.output:
        to_parquet(files, args.output)
    print(_report(files, args.output))
    return 0


def _demo(args: argparse.Namespace) -> int:
    from .examples import write_example_dataset

    root = args.dir or os.path.join(tempfile.mkdtemp(prefix="imgindex-demo-"), "data")
    for layout in ("nested", "nested_flat", "flat"):
        write_example_dataset(os.path.join(root, layout), layout=layout, extras=(layout == "nested"))
    print(f"example dataset written to {root}")
    args.path, args.update = root, None
    return _scan(args)


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``imgindex`` command."""
    parser = argparse.ArgumentParser(prog="imgindex", description="Index medical-imaging datasets.")
    parser.add_argument("--version", action="version", version=f"imgindex {__version__}")
    parser.add_argument("--debug", action="store_true", help="show tracebacks on errors")
    sub = parser.add_subparsers(dest="command", required=True)

    def command(name: str, help_: str) -> argparse.ArgumentParser:
        return sub.add_parser(name, help=help_, description=help_,
                              epilog=f"example: {_EXAMPLES[name]}",
                              formatter_class=argparse.RawDescriptionHelpFormatter)

    scan_p = command("scan", "Index every imaging file below PATH.")
    scan_p.add_argument("path", help="directory or file to index")
    demo_p = command("demo", "Write an example dataset, index it and show the summary.")
    demo_p.add_argument("--dir", help="where to write the example data (default: a temporary folder)")
    for p, default in ((scan_p, None), (demo_p, "imgindex-demo.parquet")):
        p.add_argument("-o", "--output", default=default, help="write the index to this parquet file")
        p.add_argument("--workers", type=int, default=None, help="processes to read headers with")
        p.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    scan_p.add_argument("--update", metavar="OLD", help="previous index: unchanged files are not read again")
    scan_p.set_defaults(func=_scan)
    demo_p.set_defaults(func=_demo)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the command line; returns the exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except (ImgIndexError, OSError) as exc:
        if args.debug:
            traceback.print_exc()
        print(f"imgindex: error: {exc}", file=sys.stderr)
        return 1
