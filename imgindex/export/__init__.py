"""Step 8: images and masks → files for other tools (NIfTI, nnU-Net, MONAI, pyradiomics).

Every format exports the images of an index, each with its associated masks:

- ``nifti``: every image and each of its masks' regions as ``.nii.gz`` (``SAMPLE/IMAGE/image.nii.gz``,
  ``SAMPLE/IMAGE/MASK__ROI.nii.gz``) plus ``manifest.csv``;
- ``nnunet``: an nnU-Net v2 raw dataset (``imagesTr/{case}_{channel:04d}.nii.gz``,
  ``labelsTr/{case}.nii.gz``, images without a mask in ``imagesTs``, ``dataset.json``); channels
  are the image modalities, on the first channel's grid; labels are ROI names;
- ``monai``: a decathlon-style datalist (``datalist.json``: ``training`` with labels, ``test``
  without) over NIfTI images and label maps, for ``monai.data.load_decathlon_datalist``;
- ``pyradiomics``: the batch csv pyradiomics reads (``Image``, ``Mask``, ``Label`` plus sample and
  ROI) over NIfTI files written beside it.

The promises (see :func:`export`): every name is made safe and unique by :mod:`.names` and every
path is checked to lie inside ``out`` before anything is written; what cannot be placed stops the
export before it writes anything; paths in ``manifest.csv``, ``pyradiomics.csv`` and
``datalist.json`` are relative to the file that lists them (as pyradiomics and MONAI resolve
them), so the folder can be moved; a sample that fails is reported, the others are exported.
"""

from __future__ import annotations

import functools
import json
import multiprocessing
import os
import warnings
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any, Literal

import pandas as pd

from .. import parallel
from ..arguments import check_workers
from ..errors import ExportError, InputError, warn
from ..files import ImageFile
from .channels import ChannelSpec, parse_channels
from .mirp import mirp_job, mirp_listing, plan_mirp
from .names import safe_name, unique_names
from .plan import Job, by_sample, check_paths, describe, images_of, plan_cases, plan_samples, roi_labels, status_of
from .write import Written, label_map, on_grid, regions, write_image, write_text

if TYPE_CHECKING:
    from ..index import Index
    from ..voxels.names import RoiName

__all__ = ["FORMATS", "export", "write_image"]

#: One row of the table :func:`export` returns (file paths, names, ids).
_Row = dict[str, Any]

FORMATS = ("nifti", "nnunet", "monai", "pyradiomics", "mirp")
_LISTING = {
    "mirp": "data.xml",
    "nifti": "manifest.csv",
    "pyradiomics": "pyradiomics.csv",
    "nnunet": "dataset.json",
    "monai": "datalist.json",
}


# --- writing: one function per kind of job, each exporting one sample or case -------------------


def _nifti_job(job: Job, written: Written) -> list[_Row]:
    rows: list[_Row] = []
    for image, status, folder in zip(job.images, job.statuses, job.paths, strict=True):
        volume = image.read()
        base = {
            "sample_name": image.sample_name,
            "image_id": image.object_id,
            "modality": image.modality,
            "status": status,
            "image_path": written.image(volume, os.path.join(folder, "image.nii.gz")),
        }
        found = regions(image, volume, job.roi_name)
        if not found:
            rows.append({**base, "mask_id": None, "roi_name": None, "mask_path": None})
        names = unique_names(
            [(m, r) for m, r, _ in found],
            name=lambda k: f"{safe_name(k[0], max_length=40)}__{safe_name(k[1], max_length=40)}",
            max_length=90,
        )
        for mask_id, roi, region in found:
            path = written.image(region, os.path.join(folder, f"{names[(mask_id, roi)]}.nii.gz"))
            rows.append({**base, "mask_id": mask_id, "roi_name": roi, "mask_path": path})
    return rows


def _case_job(job: Job, written: Written) -> list[_Row]:
    reference = job.images[0].read()
    volumes, resampled = [reference], []
    for image, channel in zip(job.images[1:], job.channels[1:], strict=True):
        volume, moved = on_grid(image.read(), reference)
        volumes.append(volume)
        resampled += [channel] if moved else []
    paths = [written.image(v, p) for v, p in zip(volumes, job.paths, strict=True)]
    label = None
    if job.label is not None:
        found = [r for i in job.images[: job.masks_from] for r in regions(i, reference, job.roi_name)]
        label = written.image(label_map(found, job.labels, reference), job.label)
    return [
        {
            "case": job.case,
            "sample_name": job.sample,
            "image_ids": [i.object_id for i in job.images],
            "images": paths,
            "label": label,
            "status": "ambiguous" if "ambiguous" in job.statuses else job.statuses[0],
            "resampled": resampled,
        }
    ]


def _one(
    function: Callable[[Job, Written], list[_Row]], out: str, overwrite: bool, job: Job
) -> tuple[list[_Row], dict[str, str] | None]:
    """Export one job; on failure remove what it wrote and say why (in a worker, warnings are dropped)."""
    written = Written(out, overwrite)
    try:
        with warnings.catch_warnings():
            if multiprocessing.parent_process() is not None:  # in a worker the warnings would clutter stderr
                warnings.simplefilter("ignore")
            return function(job, written), None
    except Exception as exc:
        written.undo()
        message = " ".join(str(exc).split()) or type(exc).__name__
        ids = ", ".join(str(i.object_id) for i in job.images)
        return [], {"sample_name": str(job.sample), "image_id": ids, "error": f"{type(exc).__name__}: {message}"}


def _relative(path: Any, out: str) -> Any:
    if isinstance(path, list):
        return [_relative(p, out) for p in path]
    return os.path.relpath(path, out) if isinstance(path, str) else path


def _listing(to: str, table: pd.DataFrame, out: str, extra: dict[str, Any]) -> str:
    """The text of the file that lists the export, its paths relative to ``out`` (where it lies)."""
    if to == "nifti":
        listed = table.assign(image_path=table["image_path"].map(lambda p: _relative(p, out)))
        return listed.assign(mask_path=listed["mask_path"].map(lambda p: _relative(p, out))).to_csv(index=False)
    if to == "pyradiomics":
        rows = table.assign(Image=table["Image"].map(lambda p: _relative(p, out)))
        return rows.assign(Mask=rows["Mask"].map(lambda p: _relative(p, out))).to_csv(index=False)
    cases = table.to_dict("records")
    origin = {r["case"]: {"sample_name": r["sample_name"], "image_ids": r["image_ids"]} for r in cases}
    if to == "nnunet":
        dataset = {
            "channel_names": {str(k): c for k, c in enumerate(extra["channels"])},
            "labels": {"background": 0, **extra["labels"]},
            "numTraining": sum(r["label"] is not None for r in cases),
            "file_ending": ".nii.gz",
            "imgindex": {"cases": origin, "masks_left_out": extra["left_out"], "not_in_channels": extra["unplaced"]},
        }
        return json.dumps(dataset, indent=2)

    def item(r: dict[Any, Any]) -> dict[str, Any]:
        images = _relative(r["images"], out)
        entry = {"image": images if len(images) > 1 else images[0], "case": r["case"], "sample_name": r["sample_name"]}
        return {**entry, "label": _relative(r["label"], out)} if r["label"] is not None else entry

    datalist = {
        "training": [item(r) for r in cases if r["label"] is not None],
        "test": [item(r) for r in cases if r["label"] is None],
        "labels": {"0": "background", **{str(v): k for k, v in extra["labels"].items()}},
        "channels": extra["channels"],
        "imgindex": {"masks_left_out": extra["left_out"], "not_in_channels": extra["unplaced"]},
    }
    return json.dumps(datalist, indent=2)


def _warn_resampled(rows: list[_Row], channels: list[str]) -> None:
    """One warning for every case whose other channels were resampled onto the first channel's grid."""
    moved: dict[str, list[str]] = {}
    for row in rows:
        for channel in row.get("resampled") or []:
            moved.setdefault(channel, []).append(str(row["case"]))
    if moved:
        parts = [
            f"{c} is not on the first channel's grid in {len(v)} of {len(rows)} cases ({describe(v)})"
            for c, v in moved.items()
        ]
        warn(
            f"{'; '.join(parts)}: resampled (linear) onto the {channels[0]} grid of each case. Resample or "
            "register the images yourself first if that is not what you want."
        )


def _pyradiomics_rows(rows: list[_Row]) -> list[_Row]:
    return [
        {
            "Image": r["image_path"],
            "Mask": r["mask_path"],
            "Label": 1,
            "sample_name": r["sample_name"],
            "image_id": r["image_id"],
            "mask_id": r["mask_id"],
            "roi_name": r["roi_name"],
            "modality": r["modality"],
        }
        for r in rows
        if r["mask_path"]
    ]


def export(
    source: Index | pd.DataFrame | str | os.PathLike[str] | ImageFile | Iterable[ImageFile],
    *,
    to: str,
    out: str | os.PathLike[str],
    roi_name: RoiName = None,
    overwrite: bool = False,
    allow_ambiguous: bool = False,
    labels_from: Literal["first", "all"] = "first",
    channels: ChannelSpec = None,
    errors: Literal["raise", "warn"] = "raise",
    workers: int | None = None,
    progress: bool = False,
) -> pd.DataFrame:
    """Export images and their masks for another tool; returns the table of what was written.

    Nothing is written outside ``out``: sample, series, ROI and file names are made safe
    (:func:`imgindex.export.names.safe_name`) and unique ignoring case (two names that come out
    alike get a short hash of their original), the original names are kept in the listing file,
    and every path is checked to lie inside ``out`` first. Nothing is left out silently: an export
    that cannot place an image (nnU-Net and MONAI: one image per modality and case) stops before it
    writes anything; images without a mask are exported without one where the format allows
    (``nifti``; ``imagesTs`` of nnU-Net, ``test`` of MONAI) and are listed in ``attrs["no_mask"]``
    (pyradiomics needs a mask: they are not in its csv). With one channel, nnU-Net and MONAI get one
    case per image (``SAMPLE`` when a sample has one image, else ``SAMPLE_IMAGE``).

    Parameters
    ----------
    source
        An :class:`~imgindex.index.Index`, a saved index folder, a files table (DataFrame or parquet
        file: curated with the default options), or a list of ``ImageFile``.
    to
        ``"nifti"``, ``"nnunet"``, ``"monai"`` or ``"pyradiomics"``.
    out
        Output folder (created).
    roi_name
        ROI selection/renaming as in ``import_image_and_mask`` (a dict merging several ROIs into
        one label for nnU-Net and MONAI).
    overwrite
        Replace existing files instead of refusing (before anything is written).
    allow_ambiguous
        Export pairs whose association status is ``ambiguous``; without it such images stop the
        export before anything is written, named in the error.
    labels_from
        nnU-Net and MONAI: the label map of a case from the masks of the first channel's image
        (``"first"``; masks of the other channels are left out, named in a warning and in
        ``dataset.json`` / ``datalist.json``) or of every channel's image, on the first channel's
        grid (``"all"``).
    channels
        nnU-Net and MONAI: which image of a sample goes in which channel, in channel order (the first
        gives the grid and the labels): ``{name: modality, path pattern or function of the image}``,
        e.g. ``{"CT": "ct", "PET": "pt"}`` or ``{"T1": "*/T1/*", "T2": "*/T2/*"}``; a list of modalities
        names the channels after them. Default: one channel per image modality, ``CT`` first; an
        export with several channels then stops, naming the samples, when a sample has two images of
        one modality or ``generic`` images. Images that fit no channel are left out, with a warning
        (``attrs["not_in_channels"]``). See :mod:`imgindex.export.channels`.
    errors
        A sample that fails (an unreadable image): the others are exported all the same, what it
        wrote is removed, and at the end ``"raise"`` raises :class:`~imgindex.errors.ExportError`
        listing every failure, ``"warn"`` warns; the failures are in ``attrs["failures"]``.
    workers, progress
        Processes over samples (default: one per CPU), and a progress bar on stderr.

    Returns
    -------
    pandas.DataFrame
        One row per file written (nifti, pyradiomics) or per case (nnunet, monai), with absolute
        paths; the listing file in ``out`` holds the same paths relative to itself.

    Raises
    ------
    InputError
        An unknown format, ambiguous pairs, images that cannot be placed, or existing output.
    ExportError
        Some samples failed (``errors="raise"``); the others were written.

    Examples
    --------
    >>> import imgindex
    >>> index = imgindex.build_index(example_dir, image_sub_folder="CT/nifti/image", mask_sub_folder="CT/nifti/mask")
    >>> table = imgindex.export(index, to="nifti", out=os.path.join(tmp_dir, "nifti"), workers=1)
    >>> sorted(zip(table["sample_name"], table["roi_name"]))  # each region of each label map
    [('STS_001', 'region_1'), ('STS_001', 'region_2'), ('STS_002', 'region_1'), ('STS_002', 'region_2')]
    """
    if to not in FORMATS:
        raise InputError(f"Unknown export format {to!r}; choose one of {', '.join(FORMATS)}.")
    if errors not in ("raise", "warn"):
        raise InputError(f"The errors argument is expected to be 'raise' or 'warn'. Found: {errors!r}.")
    if labels_from not in ("first", "all"):
        raise InputError(f"The labels_from argument is expected to be 'first' or 'all'. Found: {labels_from!r}.")
    workers = check_workers(workers)
    out = os.path.abspath(os.fspath(out))
    try:
        out.encode("utf-8")
    except UnicodeEncodeError:
        raise InputError(
            f"The output folder {out!r} has a name that is not UTF-8, which SimpleITK cannot write to. "
            "Choose an output folder with a plain name."
        ) from None
    images, known = images_of(source)
    if not images:
        raise InputError("There is nothing to export: the index holds no images.")
    ambiguous = [i for i in images if status_of(i, known) == "ambiguous"]
    if ambiguous and not allow_ambiguous:
        raise InputError(
            f"{len(ambiguous)} images have ambiguous masks (a mask that also went to another image, or candidates "
            f"that could not be told apart): {describe([f'{i.sample_name} {i.object_id}' for i in ambiguous])}. "
            "Nothing was written. Fix the association (see the pairs table and association_strategy), or pass "
            "allow_ambiguous=True (--allow-ambiguous) to export them as they are."
        )
    groups = by_sample(images)
    left_out: list[str] = []
    unplaced: list[str] = []
    skipped: list[str] = []  # mirp: images without a mask
    names = sorted({str(i.modality).upper() for i in images}, key=lambda m: (m != "CT", m))
    if to in ("nifti", "pyradiomics"):
        jobs, function = plan_samples(groups, known, out), _nifti_job
    elif to == "mirp":
        jobs, skipped = plan_mirp(groups, known, out)
        function = mirp_job
        if not jobs:
            raise InputError(
                "There is nothing to export to MIRP: no image has a mask, and MIRP extracts features from masks. "
                "Nothing was written. Import the masks too (mask=..., --mask), or use the nifti export."
            )
    else:
        chosen = parse_channels(channels, images)
        jobs, left_out, unplaced = plan_cases(to, groups, known, out, labels_from, chosen)
        function, names = _case_job, list(chosen.names)
    listing, manifest = os.path.join(out, _LISTING[to]), os.path.join(out, "manifest.csv")
    check_paths(jobs, [listing, manifest] if to == "mirp" else [listing], out, overwrite)
    labels = roi_labels(images, roi_name) if to in ("nnunet", "monai", "mirp") else {}
    for job in jobs:
        job.roi_name, job.labels = roi_name, labels
    if unplaced:
        warn(
            f"{len(unplaced)} images fit none of the channels {', '.join(names)} and are not exported: "
            f"{describe(unplaced)}."
        )
    if left_out:
        warn(
            f"{len(left_out)} masks of the channels after the first are not in the label maps: {describe(left_out)}. "
            "Pass labels_from='all' to unite every channel's masks on the first channel's grid."
        )
    n = workers if workers is not None else min(os.cpu_count() or 1, len(jobs))
    task = functools.partial(_one, function, out, overwrite)
    results = list(parallel.run(task, jobs, workers=n, progress=progress, unit="sample", desc="exporting"))
    rows = [row for found, _ in results for row in found]
    failures = [failure for _, failure in results if failure is not None]
    table = pd.DataFrame(_pyradiomics_rows(rows) if to == "pyradiomics" else rows)
    _warn_resampled(rows, names)
    extra: dict[str, Any] = {"channels": names, "labels": labels, "left_out": left_out, "unplaced": unplaced}
    if to == "mirp":
        write_text(_listing("nifti", table, out, extra) if len(table) else "", manifest, overwrite=True)
        write_text(mirp_listing(table, out), listing, overwrite=True)
    else:
        write_text(_listing(to, table, out, extra), listing, overwrite=True)
    no_mask = skipped + [f"{r['sample_name']} {r['image_id']}" for r in rows if r.get("mask_path", 0) is None]
    no_mask += [f"{r['sample_name']} {', '.join(map(str, r['image_ids']))}" for r in rows if r.get("label", 0) is None]
    table.attrs.update(failures=failures, no_mask=no_mask, masks_left_out=left_out, not_in_channels=unplaced)
    if no_mask and to in ("pyradiomics", "mirp"):
        where = (
            "pyradiomics.csv" if to == "pyradiomics" else "the MIRP export (MIRP would give them other images' masks)"
        )
        warn(f"{len(no_mask)} images have no mask and are not in {where}: {describe(no_mask)}.")
    if failures:
        message = (
            f"{len(failures)} of {len(jobs)} {'cases' if to in ('nnunet', 'monai') else 'samples'} could not "
            f"be exported (the others were written to {out}): "
            + describe([f"{f['sample_name']} ({f['image_id']}): {f['error']}" for f in failures])
        )
        if errors == "raise":
            raise ExportError(message, failures, table)
        warn(message)
    return table
