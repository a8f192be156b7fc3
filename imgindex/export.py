"""Step 8: images and masks → files for other tools (NIfTI, nnU-Net, MONAI, pyradiomics).

Every format is a small function over the images of an index (each with its associated masks):

- ``nifti``: every image and each of its masks' regions as ``.nii.gz`` plus ``manifest.csv``;
- ``nnunet``: an nnU-Net v2 raw dataset (``imagesTr/{case}_{channel:04d}.nii.gz``,
  ``labelsTr/{case}.nii.gz``, ``dataset.json``), one case per sample, channels from the sample's
  image modalities on the first channel's grid, labels from ROI names;
- ``monai``: a decathlon-style datalist (``datalist.json``) over NIfTI images and label maps,
  readable by ``monai.data.load_decathlon_datalist``;
- ``pyradiomics``: the batch csv pyradiomics reads (``Image``, ``Mask``, ``Label`` plus sample and
  ROI) over NIfTI files written beside it.

Samples are exported in parallel; existing output is never overwritten unless
``overwrite=True``; each file is written under a temporary name and renamed when complete.
"""

from __future__ import annotations

import functools
import json
import multiprocessing
import os
import re
import warnings
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from . import parallel
from ._lazy import SimpleITK as sitk
from .errors import InputError, warn
from .files import ImageFile

if TYPE_CHECKING:
    from .index import Index
    from .voxels.names import RoiName

#: One row of the table :func:`export` returns (file paths, names, ids).
_Row = dict[str, Any]

FORMATS = ("nifti", "nnunet", "monai", "pyradiomics")


def _safe(text: Any) -> str:
    """A file-name-safe version of a sample, modality or ROI name."""
    return re.sub(r"[^A-Za-z0-9._-]+", "_", str(text)).strip("_") or "unnamed"


def write_image(image: sitk.Image, path: str, *, overwrite: bool = False) -> str:
    """Write ``image`` to ``path`` atomically (temporary name, then rename).

    Examples
    --------
    >>> p = os.path.join(tmp_dir, "a.nii.gz")
    >>> write_image(sitk.Image(2, 2, 2, sitk.sitkUInt8), p) == p
    True
    """
    if os.path.exists(path) and not overwrite:
        raise InputError(
            f"{path} exists already. Choose an empty output folder, or pass overwrite=True "
            "(--overwrite on the command line)."
        )
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    base, name = os.path.split(path)
    temporary = os.path.join(base, f".tmp-{os.getpid()}-{name}")
    sitk.WriteImage(image, temporary, useCompression=True)
    os.replace(temporary, path)
    return path


def _write_text(text: str, path: str, *, overwrite: bool) -> str:
    if os.path.exists(path) and not overwrite:
        raise InputError(f"{path} exists already. Choose an empty output folder, or pass overwrite=True.")
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    temporary = f"{path}.tmp-{os.getpid()}"
    with open(temporary, "w", encoding="utf-8") as handle:
        handle.write(text)
    os.replace(temporary, path)
    return path


def _images(source: Index | str | os.PathLike[str] | ImageFile | Iterable[ImageFile]) -> list[ImageFile]:
    from .index import Index, read_index

    if isinstance(source, (str, os.PathLike)):
        source = read_index(source)
    if isinstance(source, Index):
        return source.materialise()
    if isinstance(source, ImageFile):
        return [source]
    images = list(source)
    if not all(isinstance(i, ImageFile) for i in images):
        raise InputError("export() takes an Index, a saved index path, or a list of ImageFile objects.")
    return images


def _regions(image: ImageFile, reference: sitk.Image, roi_name: RoiName) -> list[tuple[str, str, sitk.Image]]:
    """(mask_id, roi, binary image) for every selected region of every mask of ``image``.

    Regions are read under their own names and then selected/renamed with ``roi_name``; regions
    renamed to the same name (a dict merging ROIs) are united.
    """
    from .filters import select_rois

    out: list[tuple[str, str, sitk.Image]] = []
    for mask in image.associated_masks or []:
        if mask.file_type is None and mask.image_data is None and mask.roi_name == "full_image_mask":
            continue  # the whole-image placeholder has no file to export
        selection = roi_name if roi_name is not None else mask.roi_name
        mask.roi_name = None
        regions = mask.read(reference=reference)
        mapping = select_rois(list(regions), selection) if selection is not None else {r: r for r in regions}
        merged: dict[str, sitk.Image] = {}
        for source, target in mapping.items():
            merged[target] = merged[target] | regions[source] if target in merged else regions[source]
        out += [(mask.object_id or "mask", target, region) for target, region in merged.items()]
    return out


# --- one function per format, each exporting one sample (a list of its images) ----------------


def _nifti_sample(images: list[ImageFile], out: str, roi_name: RoiName, overwrite: bool) -> list[_Row]:
    rows: list[_Row] = []
    for image in images:
        folder = os.path.join(out, _safe(image.sample_name), _safe(image.object_id))
        volume = image.read()
        image_path = write_image(volume, os.path.join(folder, "image.nii.gz"), overwrite=overwrite)
        regions = _regions(image, volume, roi_name)
        base = {
            "sample_name": image.sample_name,
            "image_id": image.object_id,
            "modality": image.modality,
            "image_path": image_path,
        }
        if not regions:
            rows.append({**base, "mask_id": None, "roi_name": None, "mask_path": None})
        for mask_id, roi, region in regions:
            path = os.path.join(folder, f"{_safe(mask_id)}__{_safe(roi)}.nii.gz")
            rows.append(
                {
                    **base,
                    "mask_id": mask_id,
                    "roi_name": roi,
                    "mask_path": write_image(region, path, overwrite=overwrite),
                }
            )
    return rows


def _label_map(regions: list[tuple[str, str, sitk.Image]], labels: dict[str, int], reference: sitk.Image) -> sitk.Image:
    """Merge binary regions into one label map (later labels win where regions overlap)."""
    data = np.zeros(sitk.GetArrayViewFromImage(reference).shape[:3], dtype=np.uint8)
    for _mask_id, roi, region in regions:
        if roi in labels:
            data[sitk.GetArrayViewFromImage(region) > 0] = labels[roi]
    out = sitk.GetImageFromArray(data)
    out.CopyInformation(reference)
    return out


def _on_grid(image: sitk.Image, reference: sitk.Image, what: str) -> sitk.Image:
    same = (
        image.GetSize() == reference.GetSize()
        and np.allclose(image.GetSpacing(), reference.GetSpacing(), atol=1e-4)
        and np.allclose(image.GetOrigin(), reference.GetOrigin(), atol=1e-3)
        and np.allclose(image.GetDirection(), reference.GetDirection(), atol=1e-4)
    )
    if same:
        return image
    warn(f"{what} is not on the first channel's grid; it was resampled (linear) onto it.")
    return sitk.Resample(image, reference, sitk.Transform(), sitk.sitkLinear, 0.0, image.GetPixelID())


def _channels(images: list[ImageFile], channels: list[str]) -> list[ImageFile] | None:
    by_modality: dict[str, ImageFile] = {}
    for image in images:
        by_modality.setdefault(str(image.modality).upper(), image)
    if not all(c in by_modality for c in channels):
        return None
    return [by_modality[c] for c in channels]


def _case_sample(
    images: list[ImageFile],
    out: str,
    roi_name: RoiName,
    overwrite: bool,
    *,
    channels: list[str],
    labels: dict[str, int],
    layout: str,
) -> list[_Row]:
    chosen = _channels(images, channels)
    sample = images[0].sample_name
    if chosen is None:
        warn(f"Sample {sample} lacks one of the channels {channels}; it is left out.")
        return []
    case = _safe(sample)
    reference = chosen[0].read()
    volumes = [reference] + [
        _on_grid(i.read(), reference, f"{sample} {c}") for i, c in zip(chosen[1:], channels[1:], strict=True)
    ]
    label = _label_map(_regions(chosen[0], reference, roi_name), labels, reference)
    if layout == "nnunet":
        image_paths = [
            write_image(v, os.path.join(out, "imagesTr", f"{case}_{k:04d}.nii.gz"), overwrite=overwrite)
            for k, v in enumerate(volumes)
        ]
        label_path = write_image(label, os.path.join(out, "labelsTr", f"{case}.nii.gz"), overwrite=overwrite)
    else:
        image_paths = [
            write_image(v, os.path.join(out, "images", f"{case}_{c.lower()}.nii.gz"), overwrite=overwrite)
            for v, c in zip(volumes, channels, strict=True)
        ]
        label_path = write_image(label, os.path.join(out, "labels", f"{case}.nii.gz"), overwrite=overwrite)
    return [{"case": case, "sample_name": sample, "images": image_paths, "label": label_path}]


def _by_sample(images: list[ImageFile]) -> list[list[ImageFile]]:
    groups: dict[str, list[ImageFile]] = {}
    for image in images:
        groups.setdefault(str(image.sample_name), []).append(image)
    return list(groups.values())


def _run(
    function: Callable[..., list[_Row]],
    groups: list[list[ImageFile]],
    *,
    workers: int | None,
    progress: bool,
    **kwargs: Any,
) -> list[_Row]:
    """Export each sample with ``function``, in parallel over samples."""
    workers = workers if workers is not None else min(os.cpu_count() or 1, len(groups))
    quiet = functools.partial(_quietly, function, kwargs)
    results = parallel.run(quiet, groups, workers=workers, progress=progress, unit="sample", desc="exporting")
    return [row for rows in results for row in rows]


def _quietly(function: Callable[..., list[_Row]], kwargs: dict[str, Any], group: list[ImageFile]) -> list[_Row]:
    if multiprocessing.parent_process() is None:  # in this process: the caller sees the warnings
        return function(group, **kwargs)
    with warnings.catch_warnings():  # in a worker the warnings would only clutter stderr
        warnings.simplefilter("ignore")
        return function(group, **kwargs)


def _roi_labels(images: list[ImageFile], roi_name: RoiName) -> dict[str, int]:
    """Label values for the ROI names of the masks (after any renaming), 1, 2, ... in order."""
    from .arguments import roi_selection

    selection = roi_selection(roi_name)
    if selection:
        names = list(dict.fromkeys(selection.values()))
    else:
        names = []
        for image in images:
            for mask in image.associated_masks or []:
                names += list(mask.roi_names or [])
        names = list(dict.fromkeys(names))
    return {name: value for value, name in enumerate(names, start=1)}


def export(
    source: Index | str | os.PathLike[str] | ImageFile | Iterable[ImageFile],
    *,
    to: str,
    out: str | os.PathLike[str],
    roi_name: RoiName = None,
    overwrite: bool = False,
    workers: int | None = None,
    progress: bool = False,
) -> pd.DataFrame:
    """Export images and their masks for another tool; returns the table of what was written.

    Parameters
    ----------
    source
        An :class:`~imgindex.index.Index`, a saved index path, or a list of ``ImageFile``.
    to
        ``"nifti"``, ``"nnunet"``, ``"monai"`` or ``"pyradiomics"``.
    out
        Output folder (created).
    roi_name
        ROI selection/renaming as in ``import_image_and_mask`` (a dict merges several ROIs into
        one label for nnU-Net and MONAI).
    overwrite
        Replace existing files instead of refusing.
    workers, progress
        Processes over samples (default: one per CPU), and a progress bar on stderr.

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
    out = os.fspath(out)
    images = _images(source)
    if not images:
        raise InputError("There is nothing to export: the index holds no images.")
    groups = _by_sample(images)
    if to == "nifti":
        rows = _run(
            _nifti_sample, groups, workers=workers, progress=progress, out=out, roi_name=roi_name, overwrite=overwrite
        )
        table = pd.DataFrame(rows)
        _write_text(table.to_csv(index=False), os.path.join(out, "manifest.csv"), overwrite=overwrite)
        return table
    if to == "pyradiomics":
        rows = _run(
            _nifti_sample, groups, workers=workers, progress=progress, out=out, roi_name=roi_name, overwrite=overwrite
        )
        table = pd.DataFrame(
            [
                {
                    "Image": r["image_path"],
                    "Mask": r["mask_path"],
                    "Label": 1,
                    "sample_name": r["sample_name"],
                    "roi_name": r["roi_name"],
                    "modality": r["modality"],
                }
                for r in rows
                if r["mask_path"]
            ]
        )
        _write_text(table.to_csv(index=False), os.path.join(out, "pyradiomics.csv"), overwrite=overwrite)
        return table
    channels = sorted({str(i.modality).upper() for i in images}, key=lambda m: (m != "CT", m))
    labels = _roi_labels(images, roi_name)
    rows = _run(
        _case_sample,
        groups,
        workers=workers,
        progress=progress,
        out=out,
        roi_name=roi_name,
        overwrite=overwrite,
        channels=channels,
        labels=labels,
        layout=to,
    )
    if to == "nnunet":
        dataset = {
            "channel_names": {str(k): c for k, c in enumerate(channels)},
            "labels": {"background": 0, **labels},
            "numTraining": len(rows),
            "file_ending": ".nii.gz",
        }
        _write_text(json.dumps(dataset, indent=2), os.path.join(out, "dataset.json"), overwrite=overwrite)
    else:
        datalist = {
            "training": [
                {"image": r["images"] if len(r["images"]) > 1 else r["images"][0], "label": r["label"]} for r in rows
            ],
            "labels": {"0": "background", **{str(v): k for k, v in labels.items()}},
            "channels": channels,
        }
        _write_text(json.dumps(datalist, indent=2), os.path.join(out, "datalist.json"), overwrite=overwrite)
    return pd.DataFrame(rows)
