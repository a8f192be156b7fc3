"""Label maps (NIfTI, NRRD, numpy, DICOM image masks) → one binary image per non-zero value.

A label map's regions are named ``region_<value>``. Without a reference the masks keep the label
map's own grid. On a reference with another grid the label map is resampled with nearest
neighbour (a warning says so); a label map that does not overlap the reference grid at all is an
error naming both grids.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from .._lazy import SimpleITK as sitk
from ..errors import InputError, warn
from .grid import Grid
from .image import read_voxels
from .names import RoiName, choose

if TYPE_CHECKING:
    from .source import VoxelSource


def region_name(value: object) -> str:
    """``region_<value>``, integral values written as integers.

    Examples
    --------
    >>> region_name(np.float32(2.0)), region_name(np.uint8(7)), region_name(0.5)
    ('region_2', 'region_7', 'region_0.5')
    """
    value = value.item() if isinstance(value, np.generic) else value
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return f"region_{int(value) if isinstance(value, bool) else value}"


def _describe(item: VoxelSource) -> str:
    if item.image_data is not None:
        return "(in-memory array)"
    return item.file_path or (item.file_paths[0] + f" (and {len(item.file_paths) - 1} more)")


def resample_to(array: npt.NDArray[Any], own: Grid, grid: Grid, *, what: str) -> npt.NDArray[Any]:
    """Nearest-neighbour resampling of ``array`` (z, y, x on ``own``) onto ``grid``, with a warning.

    Raises :class:`~imgindex.errors.InputError` when no voxel centre of ``grid`` falls inside ``own``.

    Examples
    --------
    >>> own = Grid((2, 2, 1), (2.0, 2.0, 1.0), (0.0, 0.0, 0.0), (1, 0, 0, 0, 1, 0, 0, 0, 1))
    >>> fine = Grid((4, 4, 1), (1.0, 1.0, 1.0), (-0.5, -0.5, 0.0), own.direction)
    >>> import warnings
    >>> with warnings.catch_warnings():
    ...     warnings.simplefilter("ignore")
    ...     resample_to(np.array([[[1, 2], [3, 4]]], np.uint8), own, fine, what="Label map")[0].tolist()
    [[1, 1, 2, 2], [1, 1, 2, 2], [3, 3, 4, 4], [3, 3, 4, 4]]
    """
    footprint = sitk.Resample(
        own.image(np.ones(own.shape, np.uint8)),
        grid.image(),
        sitk.Transform(),
        sitk.sitkNearestNeighbor,
        0,
        sitk.sitkUInt8,
    )
    if not sitk.GetArrayViewFromImage(footprint).any():
        raise InputError(
            f"{what} does not overlap the reference grid at all: the label map has {own.describe()}; "
            f"the reference has {grid.describe()}. Check that the mask belongs to this image."
        )
    warn(
        f"{what} is on another grid than the reference ({own.describe()} vs {grid.describe()}): resampled "
        "with nearest neighbour."
    )
    image = own.image(array)
    moved = sitk.Resample(image, grid.image(), sitk.Transform(), sitk.sitkNearestNeighbor, 0, image.GetPixelID())
    return sitk.GetArrayFromImage(moved)


def read_labelmap(item: VoxelSource, grid: Grid | None = None, roi_name: RoiName = None) -> dict[str, sitk.Image]:
    """One binary image per selected non-zero value of a label map, on ``grid`` (default: its own).

    Examples
    --------
    >>> from imgindex import MaskFile
    >>> masks = read_labelmap(MaskFile(image_data=np.array([[[0, 5], [5, 5]]], np.uint8)), roi_name="5")
    >>> list(masks), int(sitk.GetArrayFromImage(masks["5"]).sum())
    (['5'], 3)
    """
    own, array = read_voxels(item, nearest=True)  # a tilted or gapped DICOM label map: no mixed labels
    if array.ndim != 3:
        raise InputError(f"{_describe(item)} has {array.shape[-1]} values per voxel; a label map has one.")
    values = np.unique(array)
    values = values[values != 0]
    chosen = choose([region_name(v) for v in values], roi_name, source=_describe(item))
    if grid is not None and not own.same_as(grid):
        array = resample_to(array, own, grid, what=f"Label map {_describe(item)}")
    target = grid or own
    return {key: target.image((array == values[position]).astype(np.uint8)) for position, key in chosen.items()}


def label_values(item: VoxelSource) -> list[Any]:
    """The labels of a mask object: ROI names of an RTSTRUCT/SEG, distinct non-zero voxel values of a label map.

    A DICOM mask gives its header's names (``[None]`` when it has none); a label map's voxels are
    read. ``[None]`` when there is no label at all.

    Examples
    --------
    >>> from imgindex import MaskFile
    >>> label_values(MaskFile(image_data=np.array([[0, 3], [1, 3]], np.uint8)))
    [1, 3]
    """
    if item.file_type == "dicom" and item.image_data is None:
        return list(getattr(item, "roi_names", None) or [None])
    values = [v.item() for v in np.unique(read_voxels(item, nearest=True)[1]) if v != 0]
    return values or [None]
