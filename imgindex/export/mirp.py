"""The ``mirp`` export: MIRP's nested layout and a data xml, so that MIRP names the samples as the index does.

MIRP 2.7 (``extract_features``, ``import_image_and_mask``) reads a folder or a data xml. Its sample
names come, for NIfTI files, from the file name when the image name pattern is ``#``, so each
image is written as ``SAMPLE/FOLDER/image/SAMPLE.nii.gz`` and each of its regions beside it as
``SAMPLE/FOLDER/mask/ROI.nii.gz``, where ``FOLDER`` is the image's modality (``CT``, ``PT``, ...;
``CT_2``, ``CT_3`` for further CT images of a sample). ``data.xml`` (MIRP's ``config_data.xml``
format) has one ``<data>`` element per folder name: ``image_name`` ``#``, the sub-folders and the
modality. MIRP then associates each image with the masks of its own folder (``file_distance``:
the nearest mask folder), whatever the other images of the sample.

Each region is a mask of its own (regions may overlap) whose voxels hold the ROI's label value
(1, 2, ... in the order of :func:`~imgindex.export.plan.roi_labels`, the same over the whole export)
so MIRP, which names a label-map region ``region_<value>``, gives every ROI one name across the
cohort; ``manifest.csv`` maps it back (``mirp_roi_name``), and MIRP's own feature table names the
mask file. MIRP cannot extract features without a mask, and would hand such an image the masks
of another folder: images without a mask are left out, with a warning.
"""

from __future__ import annotations

import os
from collections import Counter
from typing import Any
from xml.etree import ElementTree

import pandas as pd

from ..arguments import IMAGE_MODALITIES
from ..errors import InputError
from ..files import ImageFile
from .names import safe_name, unique_names
from .plan import Job, has_masks, status_of
from .write import Written, regions

__all__ = ["folder_of", "mirp_job", "mirp_listing", "plan_mirp"]

#: One row of the export's table.
Row = dict[str, Any]


def folder_of(image: ImageFile) -> str:
    """The modality folder of an image (MIRP's modality codes; anything else is ``GENERIC``)."""
    modality = str(image.modality or "").lower()
    return modality.upper() if modality in IMAGE_MODALITIES else "GENERIC"


def plan_mirp(groups: dict[Any, list[ImageFile]], status: dict[str, str], out: str) -> tuple[list[Job], list[str]]:
    """One job per sample: ``out/SAMPLE/FOLDER`` for each image with a mask; the images left out."""
    samples = unique_names(groups)
    jobs, left_out = [], []
    for sample, images in groups.items():
        kept = [i for i in images if has_masks(i) and status_of(i, status) != "missing"]
        left_out += [f"{sample} {i.object_id}" for i in images if i not in kept]
        if not kept:
            continue
        seen: Counter[str] = Counter()
        folders = []
        for image in kept:
            base = folder_of(image)
            seen[base] += 1
            folders.append(base if seen[base] == 1 else f"{base}_{seen[base]}")
        paths = [os.path.join(out, samples[sample], folder) for folder in folders]
        jobs.append(Job(sample, kept, [status_of(i, status) for i in kept], paths, case=samples[sample]))
    names = {os.path.basename(p) for job in jobs for p in job.paths}
    clash = sorted((a, b) for a in names for b in names if a != b and b.endswith(a))
    if clash:  # MIRP matches sub-folders as a suffix of the path: CT/image would also take XCT/image
        raise InputError(f"The MIRP folders {clash[0][0]} and {clash[0][1]} would be mixed up. Please report this.")
    return jobs, left_out


def _mask_names(found: list[tuple[str, str, Any]]) -> dict[tuple[str, str], str]:
    """File names of the regions of one image: the ROI name, with the mask id where two masks share it."""
    counts = Counter(roi for _mask, roi, _region in found)
    return unique_names(
        [(mask, roi) for mask, roi, _ in found],
        name=lambda k: safe_name(k[1]) if counts[k[1]] == 1 else f"{safe_name(k[1], max_length=40)}__{safe_name(k[0])}",
        max_length=90,
    )


def mirp_job(job: Job, written: Written) -> list[Row]:
    """Write the images of one sample and their regions (label value = the ROI's label)."""
    from .._lazy import SimpleITK as sitk

    rows: list[Row] = []
    for image, status, folder in zip(job.images, job.statuses, job.paths, strict=True):
        volume = image.read()
        base = {
            "sample_name": image.sample_name,
            "mirp_sample_name": job.case,
            "image_id": image.object_id,
            "modality": image.modality,
            "status": status,
            "image_path": written.image(volume, os.path.join(folder, "image", f"{job.case}.nii.gz")),
        }
        found = regions(image, volume, job.roi_name)
        names = _mask_names(found)
        for mask_id, roi, region in found:
            label = job.labels.get(roi)
            if label is None:  # never dropped silently: the sample fails, named in the export's error
                raise InputError(f"Region {roi!r} of {mask_id} has no label value; pass roi_name to name the regions.")
            pixel = sitk.sitkUInt8 if label < 256 else sitk.sitkUInt16
            valued = sitk.Cast(region, pixel) * label
            path = written.image(valued, os.path.join(folder, "mask", f"{names[(mask_id, roi)]}.nii.gz"))
            rows.append(
                {
                    **base,
                    "mask_id": mask_id,
                    "roi_name": roi,
                    "label": label,
                    "mirp_roi_name": f"region_{label}",
                    "mask_path": path,
                }
            )
    return rows


def mirp_listing(table: pd.DataFrame, out: str) -> str:
    """The data xml: MIRP's ``config_data.xml`` format, one ``<data>`` element per modality folder."""
    root = ElementTree.Element("root")
    config = ElementTree.SubElement(root, "config")
    paths = ElementTree.SubElement(config, "paths")
    ElementTree.SubElement(paths, "image").text = out  # MIRP resolves a relative path against the current folder
    ElementTree.SubElement(paths, "mask").text = out
    folders: dict[str, str] = {}
    for image_path, modality in zip(table.get("image_path", []), table.get("modality", []), strict=True):
        folder = os.path.basename(os.path.dirname(os.path.dirname(image_path)))
        code = str(modality or "").lower()
        folders.setdefault(folder, code if code in IMAGE_MODALITIES and code != "generic" else "")
    for folder, code in sorted(folders.items()):
        data = ElementTree.SubElement(config, "data")
        values = {
            "image_name": "#",  # the sample name is the image's file name
            "image_file_type": "nifti",
            "image_modality": code,
            "image_sub_folder": f"{folder}/image",
            "mask_file_type": "nifti",
            "mask_sub_folder": f"{folder}/mask",
        }
        for tag, value in values.items():
            if value:  # an empty tag would be read as given (MIRP: the first existing tag wins)
                ElementTree.SubElement(data, tag).text = value
    ElementTree.indent(root)
    return ElementTree.tostring(root, encoding="unicode") + "\n"
