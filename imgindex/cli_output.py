"""What the command line prints: the scan summary, tables and one-line warnings.

Kept apart from :mod:`imgindex.cli` (the parser and the commands) so that each stays short; nothing
here parses arguments or calls the library beyond reading an :class:`~imgindex.index.Index`.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from typing import TYPE_CHECKING, Any, TextIO

if TYPE_CHECKING:  # pandas loads in the functions that print tables: `imgindex --help` must not wait for it
    import pandas as pd

    from .index import Index


#: The longest cell shown on a terminal; ``--csv`` and ``--json`` give every value whole.
CELL_WIDTH = 60


def common_root(paths: pd.Series) -> str | None:
    """The deepest folder holding every absolute path of ``paths`` (``None`` when there is none)."""
    absolute = paths.dropna().astype(str)
    absolute = absolute[absolute.str.startswith(os.sep)]
    if absolute.empty:
        return None
    first, last = absolute.min(), absolute.max()  # the common path of all is that of the extremes
    return os.path.dirname(first) if first == last else os.path.commonpath([first, last])


def _shorten(value: object, width: int) -> object:
    text = value if isinstance(value, str) else None
    if text is None or len(text) <= width:
        return value
    return text[: width - 1] + "…"


def _table(
    frame: pd.DataFrame,
    args: argparse.Namespace,
    *,
    paths: tuple[str, ...] = (),
    terminal_drop: tuple[str, ...] = (),
) -> str:
    """``frame`` as csv or json (every value whole), or as aligned text with short relative paths.

    The text form shows the columns ``paths`` relative to their common folder (named on a first
    line), leaves out ``terminal_drop`` and, on a terminal, cuts cells longer than
    :data:`CELL_WIDTH`.
    """
    import pandas as pd

    if getattr(args, "csv", False):
        return frame.to_csv(index=False).rstrip("\n")
    if getattr(args, "json", False):
        records = frame.astype(object).where(frame.notna(), None).to_dict(orient="records")
        return json.dumps(records, indent=2, default=str, ensure_ascii=False)
    if frame.empty:
        return "(none)"
    shown = frame.drop(columns=[c for c in terminal_drop if c in frame.columns])
    shown = shown.loc[:, [not shown[c].isna().all() for c in shown.columns]]  # columns with nothing to say
    present = [c for c in paths if c in shown.columns]
    root = common_root(pd.concat([shown[c] for c in present])) if present else None
    for column in present:
        shown[column] = [
            os.path.relpath(p, root) if root and isinstance(p, str) and os.path.isabs(p) else p for p in shown[column]
        ]
    if sys.stdout.isatty():
        shown = shown.map(lambda v: _shorten(v, CELL_WIDTH))
    text = shown.fillna("").to_string(index=False)
    return f"below {root}:\n{text}" if root else text


def _written(table: pd.DataFrame) -> str:
    """What an export wrote, from its table: samples, images, masks (label maps) and files."""
    if "images" in table:  # nnunet, monai: a row per case, its channels and its label map
        images = {p for paths in table["images"] for p in paths}
        masks = set(table["label"].dropna()) if "label" in table else set()
        what = "label map"
    else:  # nifti, pyradiomics: a row per region written
        images = set(table["image_path"].dropna()) if "image_path" in table else set()
        masks = set(table["mask_path"].dropna()) if "mask_path" in table else set()
        what = "mask file"
    samples = table["sample_name"].nunique() if "sample_name" in table else 0
    return (
        f"{_count(samples, 'sample')}, {_count(len(images), 'image')}, {_count(len(masks), what)}; "
        f"{len(images) + len(masks)} files and the listing written"
    )


def _count(n: int, what: str) -> str:
    return f"{n} {what}" if n == 1 else f"{n} {what}s"


def _paths_of(index: Index, ids: pd.Series) -> list[str]:
    """A file (or folder) per object id, for messages."""
    objects = index.objects.set_index("object_id")
    where = objects["file_path"].fillna(objects["dir_path"])
    return [str(p) for p in ids.map(where).dropna()]


def _summary(index: Index) -> dict[str, Any]:
    import pandas as pd

    objects, pairs, files = index.objects, index.pairs, index.files
    images, masks = objects[objects["role"] == "image"], objects[objects["role"] == "mask"]
    warnings_column = "geometry_warning"
    broken = (
        objects[objects[warnings_column].fillna("").astype(str).str.len() > 0]
        if warnings_column in objects
        else objects.iloc[:0]
    )
    scan = files.attrs.get("scan", {})
    status = pairs["status"] if "status" in pairs else pd.Series(dtype=object)
    paths = files["file_path"].dropna().astype(str)
    absolute = paths[paths.str.startswith(os.sep)]
    first, last = (absolute.min(), absolute.max()) if len(absolute) else ("", "")
    common = os.path.commonpath([first, last]) if first else None
    return {
        "root": os.path.dirname(first) if first and first == last else common,
        "files": len(files),
        "files_not_imaging": int(scan.get("n_not_imaging", 0)),
        "files_with_errors": int(files["error"].notna().sum()),
        **(
            {"update": {k: int(scan.get(f"n_{k}", 0)) for k in ("reused", "changed", "new", "gone")}}
            if "n_changed" in scan
            else {}
        ),
        "samples": int(objects["sample_name"].nunique()),
        "images_per_modality": {str(k): int(v) for k, v in images.groupby("modality").size().items()},
        "masks_per_type": {str(k): int(v) for k, v in masks.groupby("modality").size().items()},
        "pairs": {str(k): int(v) for k, v in pairs.groupby("status").size().items()},
        "geometry_warnings": [f"{r.object_id}: {r[warnings_column]}" for _, r in broken.iterrows()],
        "unreadable": files.loc[files["error"].notna(), "file_path"].dropna().astype(str).tolist(),
        "images_without_mask": _paths_of(index, pairs.loc[status == "missing", "image_id"].drop_duplicates()),
        "images_with_ambiguous_masks": _paths_of(index, pairs.loc[status == "ambiguous", "image_id"].drop_duplicates()),
    }


def _some(paths: list[str], root: str | None, limit: int = 3) -> str:
    """Up to ``limit`` paths, relative to ``root``, and how many more."""
    shown = [os.path.relpath(p, root) if root and os.path.isabs(p) else p for p in paths[:limit]]
    more = f" and {len(paths) - limit} more" if len(paths) > limit else ""
    return ", ".join(shown) + more


def _print_summary(summary: dict[str, Any], out: str | None, root: str | None = None, index: str | None = None) -> None:
    print(
        f"{summary['files']} imaging files ({summary['files_with_errors']} unreadable, "
        f"{summary['files_not_imaging']} other files left out); {summary['samples']} samples"
    )
    if "update" in summary:
        u = summary["update"]
        print(f"update: {u['reused']} files reused, {u['changed']} re-read (changed), {u['new']} new, {u['gone']} gone")
    for title, key in (
        ("images per modality", "images_per_modality"),
        ("masks per type", "masks_per_type"),
        ("pairs", "pairs"),
    ):
        items = ", ".join(f"{k}: {v}" for k, v in summary[key].items()) or "none"
        print(f"{title}: {items}")
    if summary["geometry_warnings"]:
        print(f"{len(summary['geometry_warnings'])} objects with geometry warnings:")
        for line in summary["geometry_warnings"][:20]:
            print(f"  {line}")
    if out:
        print(f"index written to {out}")
    problems = [
        (summary.get("unreadable", []), "files could not be read", "errors"),
        (summary.get("images_without_mask", []), "images have no mask", "pairs"),
        (summary.get("images_with_ambiguous_masks", []), "images have ambiguous masks", "pairs"),
    ]
    found = [(paths, what, command) for paths, what, command in problems if paths]
    if not found:
        return
    root = root or summary.get("root")
    print(f"to look at (below {root}):" if root else "to look at:")
    for paths, what, _command in found:
        print(f"  {len(paths)} {what}: {_some(paths, root)}")
    target = out or index or "INDEX"
    commands = dict.fromkeys(f"imgindex {command} {target}" for _paths, _what, command in found)
    print(f"details: {'; '.join(commands)}")


class WarningPrinter:
    """Shows the first ``limit`` warnings of a command, one line each, and then how many more there were."""

    def __init__(self, limit: int = 5) -> None:
        self.limit = limit
        self.count = 0

    def show(
        self,
        message: Warning | str,
        category: type[Warning],
        filename: str,
        lineno: int,
        file: TextIO | None = None,
        line: str | None = None,
    ) -> None:
        """Print the warning on stderr in one line (the signature of :func:`warnings.showwarning`)."""
        self.count += 1
        if self.count <= self.limit:
            print(f"imgindex: warning: {_one_line(str(message))}", file=sys.stderr)

    def close(self) -> None:
        """Say how many warnings were not shown, and how to see them."""
        if self.count > self.limit:
            print(
                f"imgindex: {self.count - self.limit} more warnings not shown; run the command with --debug "
                "to see every warning",
                file=sys.stderr,
            )


def _one_line(text: str) -> str:
    return " ".join(text.split())
