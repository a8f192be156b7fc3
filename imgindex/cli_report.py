"""The ``imgindex report`` command: argument parsing and printing only (see :mod:`imgindex.cli`).

A module of its own because ``cli.py`` is at the size limit of a module; the command is
registered by :func:`imgindex.cli.build_parser` like the others and follows their conventions.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

EXAMPLE = "imgindex report sts-index -o report.html"


def _cmd_report(args: argparse.Namespace) -> int:
    from .report import write_report

    summary = write_report(
        args.index,
        args.output,
        thumbnails=not args.no_thumbnails,
        max_thumbnails=args.max_thumbnails,
        workers=args.workers,
        progress=sys.stderr.isatty() and not args.quiet,
    )
    print(summary)
    return 0


def add_report_command(sub: Any) -> argparse.ArgumentParser:
    """Add ``report`` to the subcommands ``sub`` of the ``imgindex`` parser.

    Examples
    --------
    >>> from imgindex.cli import build_parser
    >>> args = build_parser().parse_args(["report", "index", "-o", "cohort.html", "--no-thumbnails"])
    >>> args.command, args.output, args.no_thumbnails
    ('report', 'cohort.html', True)
    """
    help_ = "Write one self-contained HTML page about an index: cohort, pairs, warnings, ROI names, thumbnails."
    report: argparse.ArgumentParser = sub.add_parser(
        "report",
        help=help_,
        description=help_,
        epilog=f"example:\n  {EXAMPLE}",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    report.set_defaults(func=_cmd_report)
    report.add_argument(
        "index", help="a saved index folder (scan -o), a files parquet file, or a data folder (indexed first)"
    )
    report.add_argument("-o", "--output", default="report.html", help="the HTML file to write (default: report.html)")
    report.add_argument("--no-thumbnails", action="store_true", help="leave out the image thumbnails (reads no voxels)")
    report.add_argument("--max-thumbnails", type=int, default=300, metavar="N", help="draw at most N (default 300)")
    report.add_argument("--workers", type=int, help="processes drawing thumbnails")
    report.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    return report
