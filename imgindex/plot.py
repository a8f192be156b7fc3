"""Pictures for quick visual QC: a grid of mid-mask slices with the mask outlines.

matplotlib is an optional extra (``pip install imgindex[plot]``); without it these functions
raise a clear error saying so.
"""

from __future__ import annotations

import math
from types import ModuleType
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from ._lazy import SimpleITK as sitk
from .errors import ImgIndexError
from .files import ImageFile

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from .voxels.names import RoiName

_COLOURS = ("#e41a1c", "#4daf4a", "#377eb8", "#ff7f00", "#984ea3", "#ffff33", "#a65628", "#f781bf")


class MissingExtraError(ImgIndexError, ImportError):
    """An optional dependency is not installed."""


def _pyplot() -> ModuleType:
    try:
        import matplotlib.pyplot as plt
    except ImportError as exc:
        raise MissingExtraError("Pictures need matplotlib: pip install 'imgindex[plot]'.") from exc
    return plt


def _window(data: npt.NDArray[Any], modality: str | None) -> tuple[float, float]:
    if modality == "ct":
        return -200.0, 300.0
    finite = data[np.isfinite(data)]
    if finite.size == 0:
        return 0.0, 1.0
    low, high = np.percentile(finite, [1, 99])
    return float(low), float(high if high > low else low + 1)


def mid_slice(
    image: ImageFile, *, roi_name: RoiName = None
) -> tuple[npt.NDArray[Any], dict[str, npt.NDArray[np.bool_]], int]:
    """The image slice through the middle of its masks (or the middle slice), with mask slices.

    Parameters
    ----------
    image : ImageFile
        The image, with its ``associated_masks``.
    roi_name : str, list of str or dict, optional
        The ROIs to show (the selection of the import otherwise).

    Returns
    -------
    image_slice : numpy.ndarray
        The slice (y, x) of the image.
    masks : dict of str to numpy.ndarray
        The boolean slice (y, x) of each ROI.
    z : int
        The slice number: the median of the slices the masks occupy (the middle slice without masks).

    Examples
    --------
    >>> import imgindex
    >>> image = imgindex.import_image_and_mask(
    ...     example_dir, image_sub_folder="CT/nifti/image", mask_sub_folder="CT/nifti/mask"
    ... )[0]
    >>> pixels, masks, z = mid_slice(image)
    >>> pixels.shape, sorted(masks), z
    ((32, 32), ['region_1', 'region_2'], 3)
    """
    volume = image.read()
    data = image.to_numpy() if image.image_data is not None else _array(volume)
    masks: dict[str, npt.NDArray[np.bool_]] = {}
    for mask in image.associated_masks or []:
        if mask.file_type is None and mask.image_data is None:
            continue
        if roi_name is not None:
            mask.roi_name = roi_name
        for roi, region in mask.read(reference=volume).items():
            masks[roi] = _array(region) > 0
    occupied = [np.flatnonzero(m.any(axis=(1, 2))) for m in masks.values()]
    slices = np.concatenate(occupied) if occupied else np.empty(0, int)
    z = int(np.median(slices)) if slices.size else data.shape[0] // 2
    return data[z], {roi: m[z] for roi, m in masks.items()}, z


def _array(image: sitk.Image) -> npt.NDArray[Any]:
    return sitk.GetArrayFromImage(image)


def plot_overview(images: list[ImageFile], *, columns: int = 4, roi_name: RoiName = None, size: float = 3.0) -> Figure:
    """A matplotlib Figure: one panel per image, its mid-mask slice with mask outlines.

    Examples
    --------
    >>> import imgindex
    >>> images = imgindex.import_image_and_mask(
    ...     example_dir, image_sub_folder="CT/nifti/image", mask_sub_folder="CT/nifti/mask"
    ... )
    >>> figure = plot_overview(images)
    >>> [axes.get_title() for axes in figure.axes]
    ['STS_001 ct (nifti) z=3', 'STS_002 ct (nifti) z=4']
    """
    plt = _pyplot()
    figure: Figure  # pyplot comes through _pyplot() as a plain module: its types are lost
    rows = max(1, math.ceil(len(images) / columns))
    cols = max(1, min(columns, len(images)))
    figure, axes = plt.subplots(rows, cols, figsize=(size * cols, size * rows), squeeze=False)
    for ax in axes.ravel()[len(images) :]:
        figure.delaxes(ax)
    for ax, image in zip(axes.ravel(), images, strict=False):
        pixels, masks, z = mid_slice(image, roi_name=roi_name)
        low, high = _window(pixels, image.modality)
        ax.imshow(pixels, cmap="gray", vmin=low, vmax=high, interpolation="nearest")
        for k, (roi, mask) in enumerate(masks.items()):
            if mask.any():
                ax.contour(mask.astype(float), levels=[0.5], colors=_COLOURS[k % len(_COLOURS)], linewidths=1.0)
                ax.plot([], [], color=_COLOURS[k % len(_COLOURS)], label=roi)
        if masks:
            ax.legend(loc="lower right", fontsize=6, frameon=False, labelcolor="white")
        ax.set_title(f"{image.sample_name} {image.modality} ({image.file_type}) z={z}", fontsize=8)
        ax.set_axis_off()
    figure.tight_layout()
    return figure
