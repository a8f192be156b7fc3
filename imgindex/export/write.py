"""Writing one exported file: atomically, inside the output folder, never over existing output by accident.

Every file is written under a temporary name (``.imgindex-tmp-...`` in its own folder, a name the
directory walk skips) and renamed when complete, so a reader, or a later scan, never sees half a
file. :class:`Written` remembers what one sample wrote, so a sample that fails half-way leaves
nothing behind.
"""

from __future__ import annotations

import os
import uuid
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from .._lazy import SimpleITK as sitk
from ..errors import InputError
from ..persist import TEMPORARY_PREFIX
from .names import inside

if TYPE_CHECKING:
    from ..files import ImageFile
    from ..voxels.names import RoiName

__all__ = ["TEMPORARY_PREFIX", "Written", "label_map", "on_grid", "regions", "write_image", "write_text"]


#: One region of a mask: (mask object id, ROI name after selection/renaming, binary image).
Region = tuple[str, str, "sitk.Image"]


def temporary_path(path: str) -> str:
    """A fresh temporary name beside ``path``, ending like it (so the writer picks the same format)."""
    folder, name = os.path.split(path)
    return os.path.join(folder, f"{TEMPORARY_PREFIX}{os.getpid()}-{uuid.uuid4().hex[:8]}-{name}")


def _refuse_existing(path: str, overwrite: bool) -> None:
    if os.path.lexists(path) and not overwrite:
        raise InputError(
            f"{path} exists already. Choose an empty output folder, or pass overwrite=True "
            "(--overwrite on the command line)."
        )


def write_image(image: sitk.Image, path: str, *, overwrite: bool = False) -> str:
    """Write ``image`` to ``path`` atomically (temporary name, then rename).

    Examples
    --------
    >>> p = os.path.join(tmp_dir, "a.nii.gz")
    >>> write_image(sitk.Image(2, 2, 2, sitk.sitkUInt8), p) == p
    True
    """
    _refuse_existing(path, overwrite)
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    temporary = temporary_path(path)
    try:
        sitk.WriteImage(image, temporary, useCompression=True)
        os.replace(temporary, path)
    finally:
        if os.path.lexists(temporary):
            os.remove(temporary)
    return path


def write_text(text: str, path: str, *, overwrite: bool) -> str:
    """Write ``text`` (UTF-8) to ``path`` atomically; characters UTF-8 cannot hold are escaped."""
    _refuse_existing(path, overwrite)
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    temporary = temporary_path(path)
    try:
        with open(temporary, "w", encoding="utf-8", errors="backslashreplace", newline="") as handle:
            handle.write(text)
        os.replace(temporary, path)
    finally:
        if os.path.lexists(temporary):
            os.remove(temporary)
    return path


@dataclass
class Written:
    """The files one sample wrote into ``out``: each checked to lie inside ``out``; removed if it fails."""

    out: str
    overwrite: bool
    paths: list[str] = field(default_factory=list)

    def image(self, image: sitk.Image, path: str) -> str:
        """Write one image inside the output folder; returns its absolute path."""
        target = inside(self.out, path)
        write_image(image, target, overwrite=self.overwrite)
        self.paths.append(target)
        return target

    def undo(self) -> None:
        """Remove what was written (after a failure), and the folders inside ``out`` left empty by it."""
        base = os.path.realpath(self.out)
        for path in reversed(self.paths):
            try:
                os.remove(path)
            except FileNotFoundError:
                pass  # gone already: its folders may still be empty
            except OSError:
                continue
            folder = os.path.realpath(os.path.dirname(path))
            while folder != base and os.path.commonpath([base, folder]) == base:
                try:
                    os.rmdir(folder)  # only an empty folder goes
                except OSError:
                    break
                folder = os.path.dirname(folder)
        self.paths.clear()


def regions(image: ImageFile, reference: sitk.Image, roi_name: RoiName) -> list[Region]:
    """(mask_id, roi, binary image on ``reference``'s grid) for every selected region of every mask.

    Regions are read under their own names and then selected/renamed with ``roi_name``; regions
    renamed to the same name (a dict merging ROIs) are united.
    """
    from ..filters import select_rois

    out: list[Region] = []
    for mask in image.associated_masks or []:
        if mask.file_type is None and mask.image_data is None and mask.roi_name == "full_image_mask":
            continue  # the whole-image placeholder has no file to export
        selection = roi_name if roi_name is not None else mask.roi_name
        mask.roi_name = None
        found = mask.read(reference=reference)
        mapping = select_rois(list(found), selection) if selection is not None else {r: r for r in found}
        merged: dict[str, sitk.Image] = {}
        for source, target in mapping.items():
            merged[target] = merged[target] | found[source] if target in merged else found[source]
        out += [(mask.object_id or "mask", target, region) for target, region in merged.items()]
    return out


def label_map(found: list[Region], labels: dict[str, int], reference: sitk.Image) -> sitk.Image:
    """Merge binary regions into one label map (later labels win where regions overlap)."""
    data = np.zeros(sitk.GetArrayViewFromImage(reference).shape[:3], dtype=np.uint8 if len(labels) < 256 else np.uint16)
    for mask_id, roi, region in found:
        if roi not in labels:  # never dropped silently: the sample fails, named in the export's error
            raise InputError(
                f"Region {roi!r} of {mask_id} has no label value (the labels are {', '.join(labels) or 'none'}). "
                "Pass roi_name to select or name the regions."
            )
        data[sitk.GetArrayViewFromImage(region) > 0] = labels[roi]
    out = sitk.GetImageFromArray(data)
    out.CopyInformation(reference)
    return out


def on_grid(image: sitk.Image, reference: sitk.Image) -> tuple[sitk.Image, bool]:
    """``image`` on ``reference``'s grid: itself when it is already, else resampled (linear); and whether it was.

    The export warns once for all the cases it resampled (a warning here would be lost in a worker).
    """
    same = (
        image.GetSize() == reference.GetSize()
        and np.allclose(image.GetSpacing(), reference.GetSpacing(), atol=1e-4)
        and np.allclose(image.GetOrigin(), reference.GetOrigin(), atol=1e-3)
        and np.allclose(image.GetDirection(), reference.GetDirection(), atol=1e-4)
    )
    if same:
        return image, False
    return sitk.Resample(image, reference, sitk.Transform(), sitk.sitkLinear, 0.0, image.GetPixelID()), True
