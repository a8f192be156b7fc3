"""Planning an export: which images go where, every name and path decided and checked before anything is written."""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import pandas as pd

from ..errors import InputError
from ..files import ImageFile, MaskFile
from .channels import Channels
from .names import inside, safe_name, unique_names

if TYPE_CHECKING:
    from ..index import Index
    from ..voxels.names import RoiName

SHOWN = 10  # items named in one message


@dataclass
class Job:
    """One unit of export: a sample (nifti, pyradiomics) or a case (nnunet, monai), its paths planned."""

    sample: Any
    images: list[ImageFile]
    statuses: list[str]
    paths: list[str]  # nifti: one folder per image; cases: one file per channel
    case: str = ""
    label: str | None = None  # cases: the label map (None: a case without labels)
    masks_from: int = 1  # cases: labels from the masks of the first ``masks_from`` channels
    channels: tuple[str, ...] = ()  # cases: the channel of each image
    roi_name: RoiName = None
    labels: dict[str, int] = field(default_factory=dict)


def describe(items: list[str]) -> str:
    """The first :data:`SHOWN` items joined by ``;`` (and how many more there are)."""
    more = f" and {len(items) - SHOWN} more" if len(items) > SHOWN else ""
    return "; ".join(items[:SHOWN]) + more


def images_of(
    source: Index | pd.DataFrame | str | os.PathLike[str] | ImageFile | Iterable[ImageFile],
) -> tuple[list[ImageFile], dict[str, str]]:
    """The images to export and the association status of each (``ok``, ``ambiguous`` or ``missing``)."""
    from ..index import Index
    from ..load import load_index

    if isinstance(source, (str, os.PathLike, pd.DataFrame)):
        source = load_index(source)
    if isinstance(source, Index):
        status: dict[str, str] = {}
        rank = {"missing": 0, "ok": 1, "ambiguous": 2}  # one ambiguous pair makes the image ambiguous
        for image_id, value in zip(source.pairs["image_id"], source.pairs["status"], strict=True):
            if rank.get(value, 0) >= rank.get(status.get(image_id, "missing"), 0):
                status[image_id] = value
        return source.materialise(), status
    images = [source] if isinstance(source, ImageFile) else list(source)
    if not all(isinstance(i, ImageFile) for i in images):
        raise InputError("export() takes an Index, a saved index path, a files table, or a list of ImageFile objects.")
    return images, {}


def status_of(image: ImageFile, known: dict[str, str]) -> str:
    """The association status of an image: from the pairs table, else from its masks."""
    if image.object_id in known:
        return known[image.object_id]
    return "ok" if has_masks(image) else "missing"


def has_masks(image: ImageFile) -> bool:
    """Whether the image has a mask with a file or an array (not MIRP's whole-image placeholder)."""
    return any(m.file_type is not None or m.image_data is not None for m in image.associated_masks or [])


def by_sample(images: list[ImageFile]) -> dict[Any, list[ImageFile]]:
    """The images of each sample, in order."""
    groups: dict[Any, list[ImageFile]] = {}
    for image in images:
        groups.setdefault(image.sample_name, []).append(image)
    return groups


def region_names(mask: MaskFile) -> list[str]:
    """The region names ``mask.read()`` will give: header names, or the values of a label map (read here)."""
    from ..errors import NotFoundError
    from ..voxels import label_values
    from ..voxels.names import choose

    if mask.roi_names is not None:
        available = list(mask.roi_names)
    else:
        available = [f"region_{v}" for v in label_values(mask) if v is not None]
    try:
        return list(choose(available, mask.roi_name, source=str(mask.file_path or mask.object_id)).values())
    except NotFoundError:  # the sample fails when it is written, with this error
        return []


def roi_labels(images: list[ImageFile], roi_name: RoiName) -> dict[str, int]:
    """Label values for the ROI names of the masks (after any renaming), 1, 2, ... in order.

    Without ``roi_name`` the names are the regions of every mask: its header's (RTSTRUCT, SEG), or
    for a label map the values in its voxels (each label map is read once for this).
    """
    from ..arguments import roi_selection

    selection = roi_selection(roi_name)
    if selection:
        names = list(dict.fromkeys(selection.values()))
    else:
        masks = [m for i in images for m in i.associated_masks or [] if m.file_type or m.image_data is not None]
        names = list(dict.fromkeys(r for m in masks for r in region_names(m)))
    return {name: value for value, name in enumerate(names, start=1)}


# --- planning: every name and path decided, and checked, before anything is written -------------


def plan_samples(groups: dict[Any, list[ImageFile]], status: dict[str, str], out: str) -> list[Job]:
    """One job per sample: ``out/SAMPLE/IMAGE/`` for each of its images (nifti, pyradiomics)."""
    samples = unique_names(groups)
    jobs = []
    for sample, images in groups.items():
        folders = unique_names([i.object_id for i in images])
        paths = [os.path.join(out, samples[sample], folders[i.object_id]) for i in images]
        jobs.append(Job(sample, images, [status_of(i, status) for i in images], paths))
    return jobs


def plan_cases(
    to: str,
    groups: dict[Any, list[ImageFile]],
    status: dict[str, str],
    out: str,
    labels_from: str,
    channels: Channels,
) -> tuple[list[Job], list[str], list[str]]:
    """One case per sample (several channels) or per image (one channel); masks and images left out."""
    keyed: dict[Any, tuple[Any, list[ImageFile]]] = {}
    problems: list[str] = []
    unplaced = [f"{i.object_id} ({i.modality}, sample {s})" for s, g in groups.items() for i in g if not channels.of(i)]
    for sample, images in groups.items():
        if len(channels.names) == 1:
            fitting = [i for i in images if channels.of(i)]
            if not channels.stated and channels.names == ("GENERIC",) and len(fitting) > 1:
                ids = ", ".join(str(i.object_id) for i in fitting)
                problems.append(f"sample {sample} has {len(fitting)} generic images ({ids}), maybe of different kinds")
                continue
            for image in fitting:
                key = sample if len(fitting) == 1 else (sample, image.object_id)
                keyed[key] = (sample, [image])
            continue
        chosen, wrong = channels.place(sample, images)
        problems += wrong
        if chosen is not None:
            keyed[sample] = (sample, chosen)
    if problems:
        hint = (
            "pass channels={name: modality, path pattern or function} (--channels NAME=MODALITY|PATTERN) saying "
            "which image goes in which channel"
        )
        raise InputError(
            f"Cannot place every image in the {to} channels {', '.join(channels.names)} (one image of each per "
            f"case): {describe(problems)}. Nothing was written. Select one image per modality and sample "
            f"(image_name, image_sub_folder or sample_name at import), {hint}, or export one modality at a time."
        )

    def case_name(key: Any) -> str:
        return "_".join(safe_name(k, max_length=40) for k in (key if isinstance(key, tuple) else (key,)))

    cases = unique_names(keyed, name=case_name)
    files = unique_names([c.lower() for c in channels.names])
    jobs, left_out = [], []
    for key, (sample, chosen) in keyed.items():
        case = cases[key]
        statuses = [status_of(i, status) for i in chosen]
        train = has_masks(chosen[0]) and statuses[0] != "missing"
        if to == "nnunet":
            folder = "imagesTr" if train else "imagesTs"
            paths = [os.path.join(out, folder, f"{case}_{k:04d}.nii.gz") for k in range(len(chosen))]
            label = os.path.join(out, "labelsTr", f"{case}.nii.gz") if train else None
        else:
            paths = [os.path.join(out, "images", f"{case}_{files[c.lower()]}.nii.gz") for c in channels.names]
            label = os.path.join(out, "labels", f"{case}.nii.gz") if train else None
        masks_from = len(chosen) if labels_from == "all" else 1
        left_out += [
            f"{m.object_id} (of {i.modality} image {i.object_id}, sample {sample})"
            for i in chosen[masks_from:]
            if has_masks(i)
            for m in i.associated_masks or []
        ]
        names = channels.names if len(chosen) == len(channels.names) else tuple(channels.of(chosen[0]))
        jobs.append(Job(sample, chosen, statuses, paths, case, label, masks_from, names))
    return jobs, left_out, unplaced


def check_paths(jobs: list[Job], listings: list[str], out: str, overwrite: bool) -> None:
    """Every planned path inside ``out``, no two alike, and (without ``overwrite``) none there already."""
    planned = [*listings, *(p for j in jobs for p in j.paths), *(j.label for j in jobs if j.label)]
    for path in planned:
        inside(out, path)
    folded = [os.path.normcase(p).lower() for p in planned]
    if len(set(folded)) != len(folded):  # names are unique ignoring case: this would be a bug
        raise InputError(f"Two exported files would share a name in {out}; nothing was written. Please report this.")
    if not overwrite:
        there = [p for p in planned if os.path.lexists(p)]
        if there:
            raise InputError(
                f"{there[0]} exists already ({len(there)} of the files to write do). Nothing was written. "
                "Choose an empty output folder, or pass overwrite=True (--overwrite on the command line)."
            )
