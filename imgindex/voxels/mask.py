"""``MaskFile`` → ``{region name: binary SimpleITK image}`` on the reference's grid."""

from __future__ import annotations

from typing import TYPE_CHECKING, cast

import numpy as np
import pydicom

from .._lazy import SimpleITK as sitk
from ..errors import InputError, warn
from .dicom import slice_planes
from .image import _file_type, _paths, as_grid
from .labelmap import read_labelmap
from .rtstruct import read_rtstruct
from .seg import read_seg
from .source import VoxelSource

if TYPE_CHECKING:
    from .grid import Grid
    from .source import MaskSource

FULL_IMAGE = "full_image_mask"


def _kind(mask: MaskSource, paths: tuple[str, ...]) -> str:
    """``rtstruct``, ``seg`` or ``labelmap``."""
    if mask.image_data is not None:
        return "labelmap"
    modality = (mask.modality or "").lower()
    if modality in ("rtstruct", "seg"):
        return modality
    if _file_type(mask, paths) == "dicom" and len(paths) == 1:
        header = pydicom.dcmread(paths[0], stop_before_pixels=True, specific_tags=["Modality"], force=True)
        own = str(header.get("Modality", ""))
        if own.lower() in ("rtstruct", "seg"):
            return own.lower()
    return "labelmap"


def read_mask(mask: MaskSource, reference: Grid | sitk.Image | VoxelSource | None = None) -> dict[str, sitk.Image]:
    """One binary (uint8 0/1) image per region of ``mask``, on ``reference``'s grid.

    Parameters
    ----------
    mask : MaskFile
        An RTSTRUCT, a DICOM SEG, a label map or the whole-image placeholder.
    reference : ImageFile, SimpleITK.Image or Grid, optional
        The grid of the result. Needed for an RTSTRUCT and the whole-image placeholder; label maps
        default to their own grid, SEGs to their own frame geometry.

    Returns
    -------
    dict of str to SimpleITK.Image
        Keyed by ROIName (RTSTRUCT), SegmentLabel (SEG, made unique) or ``region_<value>`` (label
        maps), after the mask's ``roi_name`` selection and renaming.

    Examples
    --------
    >>> from imgindex import MaskFile
    >>> masks = read_mask(MaskFile(image_data=np.array([[0, 1], [2, 2]], np.uint8)))
    >>> {k: int(sitk.GetArrayFromImage(v).sum()) for k, v in masks.items()}
    {'region_1': 1, 'region_2': 2}
    """
    grid = as_grid(reference) if reference is not None else None
    paths = _paths(mask)
    if mask.image_data is None and not paths:
        if grid is None:
            raise InputError(
                "This is the whole-image placeholder mask (no mask file was given): pass the image, "
                "mask.read(reference=image), to get a mask that covers it."
            )
        name = mask.roi_name if isinstance(mask.roi_name, str) else FULL_IMAGE
        return {name: grid.image(np.ones(grid.shape, dtype=np.uint8))}
    kind = _kind(mask, paths)
    ours, theirs = mask.frame_of_reference_uid, getattr(reference, "frame_of_reference_uid", None)
    if kind in ("rtstruct", "seg") and ours and theirs and ours != theirs:
        warn(
            f"{paths[0]} refers to frame of reference {ours}, the reference image is in {theirs}: its "
            "patient coordinates may not match. Check that the mask belongs to this image."
        )
    if kind == "rtstruct":
        if grid is None:
            raise InputError(
                f"{paths[0]} is an RTSTRUCT: its contours are in patient coordinates and need a voxel "
                "grid. Pass the image they were drawn on, e.g. "
                "image.associated_masks[0].read(reference=image), or any SimpleITK.Image whose grid you "
                "want."
            )
        return read_rtstruct(paths[0], grid, mask.roi_name)
    if kind == "seg":
        sops = getattr(reference, "sop_instance_uid", None)
        sops = (sops,) if isinstance(sops, str) else sops
        planes = None
        own = _paths(reference) if isinstance(reference, VoxelSource) and reference.image_data is None else ()
        if own and _file_type(cast("VoxelSource", reference), own) == "dicom":
            planes = slice_planes(own)  # frames without a position go where their source slices are
        return read_seg(paths[0], grid, mask.roi_name, reference_sops=sops, reference_planes=planes)
    return read_labelmap(mask, grid, mask.roi_name)
