"""The ``imgindex`` command line: argument parsing and printing only.

Every command is a thin call into the library. Exit codes: 0 success, 2 bad usage (argparse), 130 after Ctrl-C,
1 anything else, with one clear line on stderr per failure and never a traceback unless ``--debug`` is given.
``export`` goes on past a sample that fails, lists every failure at the end and exits 1. argparse is used because
it is in the standard library (no extra dependency) and gives ``--help`` and usage errors with exit code 2.
pandas and the library are imported inside the commands, never at the top of this module or of ``cli_output`` and
``cli_report``: ``--help``, ``--version`` and usage errors answer without loading them (``tests/test_startup.py``).
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import signal
import sys
import threading
import traceback
import warnings
from collections.abc import Callable
from types import FrameType
from typing import TYPE_CHECKING, Any, cast

from ._version import __version__
from .cli_output import WarningPrinter, _count, _one_line, _print_summary, _summary, _table, _written
from .cli_report import add_report_command
from .errors import ImgIndexError

if TYPE_CHECKING:  # pandas and the library load in the commands: `--help` and `--version` must not wait for them
    import pandas as pd

    from .index import Index
    from .voxels.names import RoiName

_INDEX_HELP = "a saved index folder (scan -o), a files parquet file, or a data folder (indexed first)"

#: What a subcommand runs: the parsed arguments in, the exit code out.
_Command = Callable[[argparse.Namespace], int]

EXAMPLES = {
    "scan": "imgindex scan /data/sts -o sts-index --image-modality ct --mask-sub-folder mask",
    "show": "imgindex show sts-index --json",
    "pairs": "imgindex pairs sts-index --csv > pairs.csv",
    "errors": "imgindex errors sts-index",
    "labels": "imgindex labels /data/sts --mask-modality rtstruct",
    "xml": "imgindex xml config/",
    "export": "imgindex export sts-index --to nnunet Dataset001_STS",
    "demo": "imgindex demo --dir ./imgindex-demo -o demo-index",
}


def _progress(args: argparse.Namespace) -> bool:
    return sys.stderr.isatty() and not getattr(args, "quiet", False)


def _roi_name(values: list[str] | None) -> RoiName:
    """``GTV`` → 'GTV'; ``GTV Lung`` → list; ``GTV_Mass=tumour`` → dict (renaming)."""
    if not values:
        return None
    if any("=" in v for v in values):
        renames = {}
        for v in values:
            old, equals, new = v.partition("=")
            renames[old] = new if equals else old
        return renames
    return values[0] if len(values) == 1 else values


def _one_or_list(values: list[str] | None) -> str | list[str] | None:
    if not values:
        return None
    return values[0] if len(values) == 1 else values


def _import_options(args: argparse.Namespace) -> dict[str, Any]:
    return {
        "sample_name": _one_or_list(args.sample_name),
        "image_name": _one_or_list(args.image_name),
        "image_file_type": args.image_file_type,
        "image_modality": args.image_modality,
        "image_sub_folder": args.image_sub_folder,
        "mask_name": _one_or_list(getattr(args, "mask_name", None)),
        "mask_file_type": args.mask_file_type,
        "mask_modality": args.mask_modality,
        "mask_sub_folder": args.mask_sub_folder,
        "roi_name": _roi_name(args.roi_name),
        "association_strategy": _one_or_list(args.association_strategy),
        "stack_images": args.stack_images,
        "stack_masks": args.stack_masks,
    }


def _load(path: str, args: argparse.Namespace) -> Index:
    from .load import load_index

    return load_index(path, progress=_progress(args))  # a bar when a data folder is scanned first


def _build(path: str, args: argparse.Namespace, options: dict[str, Any]) -> Index:
    from .api import build_index
    from .errors import NoMasksError
    from .saved import read_files

    previous = read_files(args.update) if getattr(args, "update", None) else None
    common = {"previous": previous, "workers": args.workers, "progress": _progress(args), **options}
    if args.images_only:
        return build_index(path, **common)
    try:
        return build_index(path, mask=args.mask or path, **common)
    except NoMasksError:  # an archive without masks is still worth indexing
        if args.mask:
            raise
        print("no masks found: indexing images only", file=sys.stderr)
        return build_index(path, **common)


def _cmd_scan(args: argparse.Namespace) -> int:
    index = _build(args.path, args, _import_options(args))
    if args.output:
        index.save(args.output)
    _print_summary(_summary(index), args.output)
    return 0


def _cmd_demo(args: argparse.Namespace) -> int:
    from .examples import write_example_dataset

    root = args.dir  # below the current directory unless the user names another place
    if args.output == "DIR-index":
        args.output = os.path.normpath(root) + "-index"
    for seed, layout in enumerate(("nested", "nested_flat", "flat")):
        write_example_dataset(os.path.join(root, layout), layout=layout, extras=(layout == "nested"), seed=seed)
    print(f"example dataset written to {root} (three layouts; nested/extras holds awkward and broken files)")
    # The summary names what is wrong in a few lines; the library's warnings would repeat it at length.
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        index = _build(root, args, {})
    if args.output:
        index.save(args.output)
    summary = _summary(index)
    _print_summary(summary, args.output, root)
    covered = ("Association of images and masks",)
    for other in [w for w in caught if not str(w.message).startswith(covered)][:5]:
        print(f"imgindex: warning: {' '.join(str(other.message).split())[:200]}", file=sys.stderr)
    return 0


def _cmd_show(args: argparse.Namespace) -> int:
    index = _load(args.index, args)
    summary = _summary(index)
    if args.png:
        figure = index.plot_overview()
        figure.savefig(args.png, dpi=120)
    if args.json:
        print(json.dumps(summary, indent=2))
    else:
        _print_summary(summary, None, index=args.index)
        if args.png:
            print(f"overview written to {args.png}")
    return 0


def _cmd_pairs(args: argparse.Namespace) -> int:
    import pandas as pd

    index = _load(args.index, args)
    objects = index.objects.set_index("object_id")
    where = objects["file_path"].fillna(objects["dir_path"])  # the file of a one-file image, else its folder
    pairs = index.pairs
    table = pd.DataFrame(
        {
            "sample_name": pairs["image_id"].map(objects["sample_name"]),
            "image": pairs["image_id"].map(where),
            "image_modality": pairs["image_id"].map(objects["modality"]),
            "mask": pairs["mask_id"].map(where),
            "mask_modality": pairs["mask_id"].map(objects["modality"]),
        }
    )
    table = pd.concat([table, pairs.drop(columns=[c for c in table.columns if c in pairs])], axis=1)
    print(_table(table, args, paths=("image", "mask")))
    return 0


def _cmd_errors(args: argparse.Namespace) -> int:
    index = _load(args.index, args)
    print(
        _table(
            index.files.loc[index.files["error"].notna(), ["file_path", "file_type", "error"]],
            args,
            paths=("file_path",),
        )
    )
    return 0


def _cmd_labels(args: argparse.Namespace) -> int:
    from .api import extract_mask_labels

    options = {
        k: v for k, v in _import_options(args).items() if k.startswith("mask_") or k in ("sample_name", "stack_masks")
    }
    found = extract_mask_labels(args.path, progress=_progress(args), **options)
    labels = cast("pd.DataFrame", found)  # a table: no write_dir
    if not (args.csv or args.json):  # one path column on a terminal; the UIDs are in --csv/--json
        path = labels["dir_path"].astype(str) + os.sep + labels["file_name"].fillna("").astype(str)
        labels = labels.drop(columns=["dir_path", "file_name"]).assign(mask=path.str.rstrip(os.sep))
    uids = ("series_instance_uid", "frame_of_reference_uid")
    print(_table(labels, args, paths=("mask",), terminal_drop=uids))
    return 0


def _cmd_xml(args: argparse.Namespace) -> int:
    from .dataxml import get_data_xml

    target = os.path.join(args.dir, "data.xml")
    existed = os.path.exists(target)
    get_data_xml(args.dir)
    print(f"{'kept the existing' if existed else 'wrote a'} data xml template at {target}")
    return 0


def _cmd_export(args: argparse.Namespace) -> int:
    from .errors import ExportError
    from .export import export

    try:
        table = export(
            args.index,
            to=args.to,
            out=args.out,
            roi_name=_roi_name(args.roi_name),
            overwrite=args.overwrite,
            allow_ambiguous=args.allow_ambiguous,
            labels_from=args.labels_from,
            channels=_roi_name(args.channels),
            workers=args.workers,
            progress=_progress(args),
        )
    except ExportError as exc:
        for failure in exc.failures:
            print(
                f"imgindex: error: sample {failure['sample_name']} ({failure['image_id']}): "
                f"{_one_line(failure['error'])}",
                file=sys.stderr,
            )
        done = _written(exc.table) if exc.table is not None else "nothing"
        print(
            f"imgindex: error: {_count(len(exc.failures), 'sample')} failed; "
            f"exported the others as {args.to} to {args.out}: {done}",
            file=sys.stderr,
        )
        return 1
    print(f"exported as {args.to} to {args.out}: {_written(table)}")
    return 0


def _add_format_flags(parser: argparse.ArgumentParser) -> None:
    formats = parser.add_mutually_exclusive_group()
    formats.add_argument("--csv", action="store_true", help="csv with every value whole, instead of aligned text")
    formats.add_argument("--json", action="store_true", help="json records with every value whole")


def _add_import_flags(parser: argparse.ArgumentParser, *, images: bool = True) -> None:
    group = parser.add_argument_group("import options (as import_image_and_mask)")
    group.add_argument("--sample-name", nargs="+", metavar="NAME", help="samples to import")
    if images:
        group.add_argument("--image-name", nargs="+", metavar="PATTERN", help="image file name pattern(s): * ? #")
        group.add_argument("--image-file-type", choices=["dicom", "nifti", "nrrd", "numpy", "itk"])
        group.add_argument("--image-modality", metavar="MODALITY", help="ct, pt/pet, mr/mri, ...")
        group.add_argument("--image-sub-folder", metavar="PATH")
        group.add_argument("--association-strategy", nargs="+", metavar="STRATEGY")
        group.add_argument("--stack-images", default="auto", choices=["auto", "yes", "no"])
    group.add_argument("--mask-name", nargs="+", metavar="PATTERN", help="mask file name pattern(s)")
    group.add_argument("--mask-file-type", choices=["dicom", "nifti", "nrrd", "numpy", "itk"])
    group.add_argument("--mask-modality", metavar="MODALITY", help="rtstruct, seg or generic_mask")
    group.add_argument("--mask-sub-folder", metavar="PATH")
    group.add_argument("--roi-name", nargs="+", metavar="ROI", help="ROI names; OLD=NEW renames")
    group.add_argument("--stack-masks", default="auto", choices=["auto", "yes", "no"])
    parser.set_defaults(
        image_name=None,
        image_file_type=None,
        image_modality=None,
        image_sub_folder=None,
        association_strategy=None,
        stack_images="auto",
    )


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``imgindex`` command.

    Examples
    --------
    >>> args = build_parser().parse_args(["pairs", "sts-index", "--csv"])
    >>> args.command, args.index, args.csv
    ('pairs', 'sts-index', True)
    """
    parser = argparse.ArgumentParser(prog="imgindex", description="Index medical-imaging datasets.")
    parser.add_argument("--version", action="version", version=f"imgindex {__version__}")
    parser.add_argument("--debug", action="store_true", help="show tracebacks on errors")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def command(name: str, help_: str, func: _Command) -> argparse.ArgumentParser:
        p = sub.add_parser(
            name,
            help=help_,
            description=help_,
            epilog=f"example:\n  {EXAMPLES[name]}",
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )
        p.set_defaults(func=func)
        return p

    scan = command("scan", "Index the images and masks below PATH (a folder, file, csv or data xml).", _cmd_scan)
    demo = command("demo", "Write an example dataset, index it and show the summary.", _cmd_demo)
    scan.add_argument("path")
    demo.add_argument(
        "--dir", default="imgindex-demo", help="where to write the example data (default: ./imgindex-demo)"
    )
    for p, default in ((scan, None), (demo, "DIR-index")):
        p.add_argument(
            "-o", "--output", default=default, help=f"save the index: a folder of parquet files (default: {default})"
        )
        p.add_argument("--update", metavar="OLD", help="previous index: unchanged files are not read again")
        p.add_argument("--workers", type=int, help="processes to read headers with")
        p.add_argument("--mask", help="where the masks are (default: PATH itself)")
        p.add_argument("--images-only", action="store_true", help="do not look for masks")
        p.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    _add_import_flags(scan)
    demo.set_defaults(
        **{
            k: None
            for k in ("sample_name", "mask_name", "mask_file_type", "mask_modality", "mask_sub_folder", "roi_name")
        },
        stack_masks="auto",
    )

    show = command("show", "Summarise a saved index: samples, images, masks, pairs, errors.", _cmd_show)
    show.add_argument("index", help=_INDEX_HELP)
    show.add_argument("--json", action="store_true", help="machine-readable output")
    show.add_argument("--png", metavar="FILE", help="also draw the mid-slice overview grid (needs matplotlib)")
    for name, help_, func in (
        ("pairs", "List which mask goes with which image.", _cmd_pairs),
        ("errors", "List the files that could not be read, and why.", _cmd_errors),
    ):
        p = command(name, help_, func)
        p.add_argument("index", help=_INDEX_HELP)
        _add_format_flags(p)
    labels = command("labels", "List the ROI labels of every mask (extract_mask_labels).", _cmd_labels)
    labels.add_argument("path", help="a data folder or file, a saved index folder or a files parquet file")
    _add_format_flags(labels)
    _add_import_flags(labels, images=False)
    xml = command("xml", "Write the data xml template into DIR.", _cmd_xml)
    xml.add_argument("dir")
    export = command("export", "Export images and masks for nnU-Net, MONAI, pyradiomics, MIRP, NIfTI.", _cmd_export)
    export.add_argument("index", help=_INDEX_HELP)
    export.add_argument("--to", required=True, choices=["nifti", "nnunet", "monai", "pyradiomics", "mirp"])
    export.add_argument("out")
    export.add_argument("--roi-name", nargs="+", metavar="ROI", help="ROIs to export; OLD=NEW renames/merges")
    export.add_argument("--overwrite", action="store_true", help="replace existing files")
    export.add_argument("--allow-ambiguous", action="store_true", help="export pairs whose status is ambiguous too")
    export.add_argument(
        "--labels-from",
        default="first",
        choices=["first", "all"],
        help="nnunet/monai: label maps from the first channel's masks, or from every channel's",
    )
    export.add_argument("--channels", nargs="+", metavar="NAME=WHAT", help="nnunet/monai: NAME=MODALITY|PATTERN ...")
    export.add_argument("--workers", type=int, help="processes over samples")
    export.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    add_report_command(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the command line; returns the exit code.

    Parameters
    ----------
    argv : list of str, optional
        The arguments after the program name (default: ``sys.argv[1:]``).

    Returns
    -------
    int
        0 on success, 1 after an error (reported in one line on stderr, any exception: a traceback
        only with ``--debug``), 130 after Ctrl-C; usage errors exit with 2 (``SystemExit``, from
        argparse).

    Examples
    --------
    >>> main(["xml", tmp_dir])  # doctest: +ELLIPSIS
    wrote a data xml template at .../data.xml
    0
    """
    parser = build_parser()
    args = parser.parse_args(argv)
    with warnings.catch_warnings():  # the printer is this command's only: restored afterwards
        printer = WarningPrinter()
        if not args.debug:
            warnings.showwarning = printer.show
        try:
            return _run(args)
        finally:
            printer.close()


def _run(args: argparse.Namespace) -> int:
    """Run the parsed command: its exit code, errors in one line (tracebacks with ``--debug``)."""
    func: _Command = args.func
    in_main_thread = threading.current_thread() is threading.main_thread()  # signals: the main thread only
    previous = signal.signal(signal.SIGINT, functools.partial(_interrupt, os.getpid())) if in_main_thread else None
    try:
        return func(args)
    except KeyboardInterrupt:
        if args.debug:
            traceback.print_exc()
        print("imgindex: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:
        if args.debug:
            traceback.print_exc()
        message = _one_line(str(exc)) or type(exc).__name__
        if not isinstance(exc, (ImgIndexError, OSError)):  # a bug or a library's own error: say which
            message = f"{type(exc).__name__}: {message} (run with --debug for the traceback)"
        print(f"imgindex: error: {message}", file=sys.stderr)
        return 1
    finally:
        if in_main_thread:
            signal.signal(signal.SIGINT, previous)


def _interrupt(main_process: int, signum: int, frame: FrameType | None) -> None:
    """Ctrl-C: stop the command in its own process; worker processes (forked) leave it to the command."""
    if os.getpid() == main_process:
        raise KeyboardInterrupt
