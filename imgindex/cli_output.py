"""What the command line prints: the scan summary, tables and one-line warnings.

Kept apart from :mod:`imgindex.cli` (the parser and the commands) so that each stays short; nothing
here parses arguments or calls the library beyond reading an :class:`~imgindex.index.Index`.
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import TYPE_CHECKING, Any, TextIO

import pandas as pd

if TYPE_CHECKING:
    from .index import Index


def _table(frame: pd.DataFrame, args: argparse.Namespace) -> str:
    if getattr(args, "csv", False):
        return frame.to_csv(index=False).rstrip("\n")
    if frame.empty:
        return "(none)"
    return frame.to_string(index=False)


def _paths_of(index: Index, ids: pd.Series) -> list[str]:
    """A file (or folder) per object id, for messages."""
    objects = index.objects.set_index("object_id")
    where = objects["file_path"].fillna(objects["dir_path"])
    return [str(p) for p in ids.map(where).dropna()]


def _summary(index: Index) -> dict[str, Any]:
    objects, pairs, files = index.objects, index.pairs, index.files
    images, masks = objects[objects["role"] == "image"], objects[objects["role"] == "mask"]
    warnings_column = "geometry_warning" if "geometry_warning" in objects else "stack_warning"
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


def _show_warning(
    message: Warning | str,
    category: type[Warning],
    filename: str,
    lineno: int,
    file: TextIO | None = None,
    line: str | None = None,
) -> None:
    print(f"imgindex: warning: {_one_line(str(message))}", file=sys.stderr)


def _one_line(text: str) -> str:
    return " ".join(text.split())
