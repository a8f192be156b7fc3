"""Step 8: the dataset report, one self-contained HTML page to read before training.

:func:`write_report` turns an index into a page with, in order: the cohort (sample x modality:
images, masks, pair status), the pairs with the rule that decided each (ambiguous and missing
first) and the masks that went to no image, geometry warnings, unreadable files, the ROI names
across the cohort with their counts and other spellings (the table to harmonise names from), and
per image a thumbnail (the slice through the middle of its masks, or its middle slice) with the
outline of each region. The page has no script and loads nothing: its pictures are embedded PNGs.

Only the thumbnails read voxels, from a downsampled grid (:func:`imgindex.plot.thumbnail`), over
worker processes; ``thumbnails=False`` leaves them out and reads no imaging file at all.
"""

from __future__ import annotations

import datetime
import functools
import os
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import pandas as pd

from .. import parallel
from .._version import __version__
from ..arguments import check_workers
from ..errors import InputError, InputTypeError
from ..export.write import write_text
from ..files import ImageFile
from ..index import Index
from ..load import load_index
from ..plot import OUTLINE_COLOURS, Thumbnail, thumbnail
from . import tables
from .html import badge, esc, figure, page, section, table

if TYPE_CHECKING:
    from ..voxels.names import RoiName

__all__ = ["ReportSummary", "write_report"]


@dataclass(frozen=True)
class ReportSummary:
    """What :func:`write_report` wrote: the file, its size, and what the page shows."""

    path: str
    n_bytes: int
    n_samples: int
    n_images: int
    n_thumbnails: int
    n_problems: int  # ambiguous or missing pairs, unpaired masks, geometry warnings, unreadable files

    def __str__(self) -> str:
        return (
            f"report written to {self.path} ({self.n_bytes / 1e6:.1f} MB): {self.n_samples} samples, "
            f"{self.n_images} images, {self.n_thumbnails} thumbnails, {self.n_problems} things to look at"
        )


def _draw(size: int, colours: dict[str, int], roi_name: RoiName, image: ImageFile) -> Thumbnail:
    try:
        return thumbnail(image, size=size, colours=colours, roi_name=roi_name)
    except Exception as exc:  # thumbnail() catches what it reads; this is the last line of defence
        return Thumbnail(problems=[f"{type(exc).__name__}: {' '.join(str(exc).split())}"])


def _colours(index: Index) -> dict[str, int]:
    """One outline colour per ROI name over the cohort (the most common names first)."""
    names = tables.roi_names(index)["roi_name"].tolist() + [f"region_{k}" for k in range(1, len(OUTLINE_COLOURS) + 1)]
    return {name: k for k, name in enumerate(dict.fromkeys(names))}


def _priority(index: Index) -> list[str]:
    """Image ids, those with a problem (ambiguous, missing, geometry) first, then in index order."""
    images = index.objects[index.objects["role"] == "image"]
    bad = set(index.pairs.loc[index.pairs["status"] != "ok", "image_id"])
    if "geometry_warning" in images:
        bad |= set(images.loc[images["geometry_warning"].fillna("").astype(str).str.len() > 0, "object_id"])
    ids = list(images["object_id"])
    return [i for i in ids if i in bad] + [i for i in ids if i not in bad]


def _cohort_section(index: Index) -> str:
    frame, modalities = tables.cohort(index)
    headers = {"sample_name": "sample"}
    for modality in modalities:
        headers[f"{modality}_images"] = modality.upper()
    headers |= {"unpaired_masks": "masks without image", "geometry_warnings": "geometry warnings"}

    def cell(column: str, value: Any, row: pd.Series) -> Any:
        if column.endswith("_images"):
            modality = column[: -len("_images")]
            status = row[f"{modality}_status"]
            if not value:
                return ("–", "")
            masks = row[f"{modality}_masks"]
            text = f"{value} image{'s' if value > 1 else ''} · {masks} mask{'s' if masks != 1 else ''}"
            return (text + ("" if status == "ok" else f" · {status}"), status or "")
        if column in ("unpaired_masks", "geometry_warnings"):
            return (value or "", "missing" if value else "num")
        return value

    note = (
        "One row per sample; per image modality the number of images, the masks paired with them, and "
        "their pair status: <span class='ok'>ok</span>, <span class='ambiguous'>ambiguous</span> (a mask that "
        "also went to another image, or candidates that could not be told apart) or "
        "<span class='missing'>missing</span> (an image without a mask)."
    )
    return section("cohort", "Cohort", note, table(frame, headers, cell=cell, limit=2000, scroll=True))


def _pairs_section(index: Index, root: str | None) -> str:
    frame = tables.pairs(index, root)
    headers = {
        "status": "status",
        "sample_name": "sample",
        "image": "image",
        "image_modality": "modality",
        "image_path": "image path",
        "mask": "mask",
        "mask_modality": "mask type",
        "rois": "ROIs",
        "rule": "deciding rule",
    }
    headers |= {extra: extra for extra in tables.PAIR_EXTRAS if extra in frame}

    def cell(column: str, value: Any, row: pd.Series) -> Any:
        if column == "status":
            return badge(str(value))
        if column == "candidates" and isinstance(value, str) and value.count(", ") >= 6:
            names = value.split(", ")
            return ", ".join(names[:5]) + f" and {len(names) - 5} more"
        return (value, "path") if column.endswith("_path") else value

    body = table(frame, headers, cell=cell, more="imgindex pairs INDEX lists them all.", scroll=True)
    alone = tables.unpaired_masks(index, root)
    if len(alone):
        body += f"<h3>{len(alone)} masks went to no image</h3>"
        mask_headers = {"sample_name": "sample", "mask": "mask", "modality": "type", "rois": "ROIs", "path": "path"}
        body += table(alone, mask_headers, cell=lambda c, v, r: (v, "path") if c == "path" else v, scroll=True)
    note = (
        "Which mask goes with which image, and the association rule that decided it (<code>reference</code>: "
        "the DICOM mask refers to the image; <code>frame_of_reference</code>, <code>sample_name</code>, "
        "<code>file_distance</code>: the nearest folder, <code>position</code>: the same voxel grid, ...). "
        "Ambiguous and missing pairs come first."
    )
    return section("pairs", "Pairs", note, body)


def _geometry_section(index: Index, root: str | None) -> str:
    frame = tables.geometry(index, root)
    headers = {"sample_name": "sample", "object": "object", "role": "role", "modality": "modality", "path": "path"}
    headers |= {extra: extra for extra in tables.OBJECT_EXTRAS if extra in frame} | {"warning": "warning"}
    cell = lambda c, v, r: (v, "path") if c == "path" else v
    note = "Series whose slices are missing, duplicated, unevenly spaced or split, from the headers alone."
    return section("geometry", "Geometry warnings", note, table(frame, headers, cell=cell, scroll=True))


def _unreadable_section(index: Index, root: str | None) -> str:
    frame = tables.unreadable(index, root)
    scan = index.files.attrs.get("scan", {}) or {}
    headers = {"path": "file", "file_type": "type", "error": "why it could not be read"}
    body = table(frame, headers, cell=lambda c, v, r: (v, "path") if c == "path" else v, more="See imgindex errors.")
    n_other = int(scan.get("n_not_imaging", 0) or 0)
    if n_other:
        examples = ", ".join(tables.short(e, root) for e in (scan.get("not_imaging_examples") or [])[:5])
        body += f'<p class="note">{n_other} other files are not imaging and were left out (e.g. {examples}).</p>'
    note = "Files that looked like imaging (by content or suffix) but could not be read; they stay in the index."
    return section("unreadable", "Unreadable files", note, body)


def _rois_section(index: Index, found: dict[str, list[str]], drawn: bool) -> str:
    frame = tables.roi_names(index, found)
    headers = {
        "roi_name": "ROI name",
        "masks": "masks",
        "samples": "samples",
        "mask_modalities": "mask types",
        "image_modalities": "on images",
        "missing_from": "samples without it",
        "similar": "other spellings",
    }

    def cell(column: str, value: Any, row: pd.Series) -> Any:
        if column == "similar":
            return (value, "ambiguous") if value else ""
        if column == "missing_from":
            shown = list(value[:8]) + ([f"and {len(value) - 8} more"] if len(value) > 8 else [])
            return (shown, "missing") if value else ""
        return value

    labels = "" if drawn else " Label maps name their regions in their voxels, read only for the thumbnails."
    note = (
        "Every ROI name (RTSTRUCT ROIName, SEG SegmentLabel, label-map region) with the masks and samples "
        "that have it. Names that differ only in case, spaces or punctuation are listed as other spellings: "
        "merge them with <code>roi_name={'old': 'new'}</code>." + labels
    )
    return section("rois", "ROI names", note, table(frame, headers, cell=cell, limit=2000, scroll=True))


def _thumbnails_section(index: Index, pictures: dict[str, Thumbnail], asked: bool, limit: int) -> str:
    images = index.objects[index.objects["role"] == "image"]
    status: dict[str, str] = {}
    for image_id, value in zip(index.pairs["image_id"], index.pairs["status"], strict=True):
        status[image_id] = tables.worst([value, status.get(image_id, "ok")])
    body = []
    for sample, group in images.groupby(images["sample_name"].fillna("?").astype(str), sort=True):
        figures = []
        for object_id, modality, file_type in zip(
            group["object_id"], group["modality"], group["file_type"], strict=True
        ):
            caption = [f"{object_id} · {str(modality).upper()} · {tables._text(file_type) or 'array'}"]
            if status.get(str(object_id), "ok") != "ok":
                caption.append(f"pair: {status[str(object_id)]}")
            note = "thumbnails were not asked for" if not asked else f"not drawn (over max_thumbnails={limit})"
            figures.append(figure(caption, pictures.get(str(object_id)), note=note))
        body.append(f"<h3>{esc(sample)}</h3><div class='grid'>{''.join(figures)}</div>")
    note = (
        "Per image the slice through the middle of its masks (or its middle slice), downsampled, with the "
        "outline of each region; one colour per ROI name across the cohort. Images with a problem are drawn first."
    )
    return section("thumbnails", "Images", note, "".join(body) or '<p class="empty">None.</p>')


def write_report(
    source: Index | str | os.PathLike[str],
    path: str | os.PathLike[str] = "report.html",
    *,
    thumbnails: bool = True,
    max_thumbnails: int = 300,
    size: int = 160,
    roi_name: RoiName = None,
    workers: int | None = None,
    progress: bool = False,
) -> ReportSummary:
    """Write the dataset report of an index: one self-contained HTML file.

    Parameters
    ----------
    source
        An :class:`~imgindex.Index` or the folder of a saved index.
    path
        The HTML file to write (its folder is created; an existing file is replaced).
    thumbnails
        Draw a thumbnail per image (reads voxels); ``False`` reads no imaging file.
    max_thumbnails
        Draw at most this many (images with a problem first); the others are listed without one.
    size
        The longest side of a thumbnail in pixels.
    roi_name
        The regions to outline (default: the import's selection).
    workers, progress
        Processes drawing thumbnails (default: one per CPU), and a progress bar on stderr.

    Returns
    -------
    ReportSummary
        The file written, its size, and counts of what the page shows.

    Examples
    --------
    >>> import imgindex
    >>> index = imgindex.build_index(example_dir, image_sub_folder="CT/nifti/image", mask_sub_folder="CT/nifti/mask")
    >>> summary = imgindex.write_report(index, os.path.join(tmp_dir, "report.html"), workers=1)
    >>> summary.n_images, summary.n_thumbnails, summary.n_problems
    (2, 2, 0)
    """
    index = source if isinstance(source, Index) else load_index(_path(source, "source"))
    target = os.path.abspath(_path(path, "path"))
    if os.path.isdir(target):
        raise InputError(
            f"{target} is a folder; name the HTML file to write, e.g. {os.path.join(target, 'report.html')}."
        )
    if not isinstance(max_thumbnails, int) or max_thumbnails < 0 or not isinstance(size, int) or size < 16:
        raise InputError(
            f"max_thumbnails is expected to be a whole number >= 0 and size one >= 16. Found: {max_thumbnails!r}, "
            f"{size!r}."
        )
    workers = check_workers(workers)
    scan = index.files.attrs.get("scan", {}) or {}
    root = tables.common_root(_paths(index), [*index.objects["dir_path"], *(scan.get("roots") or [])])
    pictures: dict[str, Thumbnail] = {}
    if thumbnails and len(index.objects):
        by_id = {i.object_id: i for i in index.materialise(roi_name=roi_name)}  # type: ignore[arg-type]
        chosen = [by_id[i] for i in _priority(index)[:max_thumbnails] if i in by_id]
        n = workers if workers is not None else max(1, min(os.cpu_count() or 1, len(chosen)))
        task = functools.partial(_draw, size, _colours(index), roi_name)
        drawn = parallel.run(task, chosen, workers=n, progress=progress, unit="image", desc="thumbnails")
        pictures = {str(i.object_id): p for i, p in zip(chosen, drawn, strict=True)}
    found: dict[str, list[str]] = {str(m): [] for m in index.objects.loc[index.objects["role"] == "mask", "object_id"]}
    for picture in pictures.values():
        for roi, masks in picture.masks.items():
            for mask_id in masks:
                found.setdefault(mask_id, []).append(roi)
    sections = [
        ("cohort", "Cohort", _cohort_section(index)),
        ("pairs", "Pairs", _pairs_section(index, root)),
        ("geometry", "Geometry", _geometry_section(index, root)),
        ("unreadable", "Unreadable files", _unreadable_section(index, root)),
        ("rois", "ROI names", _rois_section(index, found, bool(pictures))),
        ("thumbnails", "Images", _thumbnails_section(index, pictures, thumbnails, max_thumbnails)),
    ]
    facts, n_problems = _facts(index, root)
    title = "imgindex dataset report"
    when = datetime.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z")
    where = root or (os.fspath(source) if not isinstance(source, Index) else "an index")
    text = page(title, f"{where} · {when} · imgindex {__version__}", facts, sections)
    write_text(text, target, overwrite=True)
    return ReportSummary(
        target,
        len(text.encode("utf-8")),
        int(index.objects["sample_name"].nunique()),
        int((index.objects["role"] == "image").sum()),
        sum(1 for p in pictures.values() if p.png),
        n_problems,
    )


def _path(value: object, what: str) -> str:
    if not isinstance(value, (str, os.PathLike)):
        raise InputTypeError(
            f"The {what} of write_report is expected to be a path (str or pathlib.Path). Found: {value!r}."
        )
    return os.fspath(value)


def _paths(index: Index) -> Iterable[Any]:
    yield from index.files["file_path"]
    yield from index.objects["file_path"]


def _facts(index: Index, root: str | None) -> tuple[list[tuple[Any, str, str]], int]:
    objects, pair_table = index.objects, index.pairs
    status = pair_table["status"].value_counts().to_dict() if len(pair_table) else {}
    unpaired = len(tables.unpaired_masks(index, root))
    warned = len(tables.geometry(index, root))
    errors = int(index.files["error"].notna().sum())
    facts = [
        (int(objects["sample_name"].nunique()), "samples", ""),
        (int((objects["role"] == "image").sum()), "images", ""),
        (int((objects["role"] == "mask").sum()), "masks", ""),
        (int(status.get("ok", 0)), "pairs ok", ""),
    ]
    for value, label in ((status.get("ambiguous", 0), "ambiguous"), (status.get("missing", 0), "missing")):
        facts.append((int(value), label, "warn" if value else ""))
    facts += [
        (unpaired, "masks without image", "bad" if unpaired else ""),
        (warned, "geometry warnings", "warn" if warned else ""),
        (errors, "unreadable files", "bad" if errors else ""),
    ]
    n_problems = int(status.get("ambiguous", 0)) + int(status.get("missing", 0)) + unpaired + warned + errors
    return facts, n_problems
