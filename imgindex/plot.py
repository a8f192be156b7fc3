"""Pictures for quick visual QC: thumbnails with mask outlines, and a matplotlib grid of them.

:func:`thumbnail` draws one image's slice through the middle of its masks (or its middle slice),
downsampled, with the outline of each region, as a small PNG; it needs only numpy and SimpleITK
(the PNG is written by :func:`encode_png`, a few lines over :mod:`zlib`), so the HTML report works
with the core install. :func:`plot_overview` draws a matplotlib figure; matplotlib is an optional
extra (``pip install imgindex[plot]``) and without it that function raises a clear error.
"""

from __future__ import annotations

import math
import struct
import warnings
import zlib
from collections.abc import Mapping
from dataclasses import dataclass, field
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


# --- thumbnails: numpy only --------------------------------------------------------------------

#: Grey levels of a thumbnail's palette; the indices above them are the outline colours.
GREYS = 240
#: Outline colours of regions (RGB), in order; more regions reuse them.
OUTLINE_COLOURS = (
    (228, 26, 28), (77, 175, 74), (55, 126, 184), (255, 127, 0), (152, 78, 163), (255, 255, 51),
    (166, 86, 40), (247, 129, 191), (0, 206, 209), (154, 205, 50), (255, 20, 147), (30, 144, 255),
)  # fmt: skip


def encode_png(indices: npt.NDArray[np.uint8], palette: list[tuple[int, int, int]]) -> bytes:
    """A palette PNG (8-bit indices, one row filter 0 per row) of a (height, width) array.

    Examples
    --------
    >>> png = encode_png(np.zeros((2, 3), np.uint8), [(0, 0, 0)])
    >>> png[1:4], struct.unpack(">II", png[16:24])  # the signature, width and height
    (b'PNG', (3, 2))
    """
    height, width = indices.shape

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    rows = np.concatenate([np.zeros((height, 1), np.uint8), indices.astype(np.uint8)], axis=1)
    return b"".join(
        [
            b"\x89PNG\r\n\x1a\n",
            chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 3, 0, 0, 0)),
            chunk(b"PLTE", bytes(v for colour in palette for v in colour)),
            chunk(b"IDAT", zlib.compress(rows.tobytes(), 9)),
            chunk(b"IEND", b""),
        ]
    )


def outline(mask: npt.NDArray[np.bool_]) -> npt.NDArray[np.bool_]:
    """The pixels of ``mask`` with a 4-neighbour outside it (the image border does not count).

    The same pixels as SimpleITK's ``BinaryContour(fullyConnected=False)``: an 8-connected line.

    Examples
    --------
    >>> outline(np.ones((3, 3), bool)).astype(int).tolist()
    [[0, 0, 0], [0, 0, 0], [0, 0, 0]]
    >>> int(outline(np.pad(np.ones((3, 3), bool), 1)).sum())
    8
    """
    p = np.pad(mask, 1, mode="edge")
    inner = p[:-2, 1:-1] & p[2:, 1:-1] & p[1:-1, :-2] & p[1:-1, 2:]
    return mask & ~inner


@dataclass
class Thumbnail:
    """One image's thumbnail: the PNG, its display size, the slice, the regions drawn and what failed."""

    png: bytes | None = None
    width: int = 0
    height: int = 0
    z: int | None = None
    n_slices: int = 0
    regions: dict[str, int] = field(default_factory=dict)  # region name: outline colour (regions drawn)
    masks: dict[str, list[str]] = field(default_factory=dict)  # region name: the masks that have it
    empty: list[str] = field(default_factory=list)  # regions not on the drawn slice (or empty)
    problems: list[str] = field(default_factory=list)


def coarse_grid(grid: Any, size: int) -> Any:
    """``grid`` with every ``f`` x ``f`` block of a slice merged into one voxel (``f``: to fit ``size``).

    The centres of the merged voxels are the centres of the blocks, so block means of an image's
    slice lie on it. Slices are kept.
    """
    from .voxels import Grid

    f = max(1, math.ceil(max(grid.size[0], grid.size[1]) / size))
    shift = grid.matrix @ np.array([(f - 1) / 2 * grid.spacing[0], (f - 1) / 2 * grid.spacing[1], 0.0])
    return (
        Grid(
            (grid.size[0] // f, grid.size[1] // f, grid.size[2]),
            (grid.spacing[0] * f, grid.spacing[1] * f, grid.spacing[2]),
            np.asarray(grid.origin) + shift,
            grid.direction,
        ),
        f,
    )


def _slice_values(image: ImageFile, z: int, n_slices: int) -> npt.NDArray[Any]:
    """The voxels (y, x) of slice ``z``: of a DICOM series only that file is read."""
    from .voxels import read_voxels

    paths = image.file_paths
    if image.file_type == "dicom" and image.image_data is None and len(paths) == n_slices > 1:
        one = ImageFile(file_paths=(paths[z],), file_type="dicom")
        data: npt.NDArray[Any] = read_voxels(one)[1][0]
    else:
        data = read_voxels(image)[1][z]
    return np.asarray(data.mean(axis=-1) if data.ndim == 3 else data)  # colour: its grey


def thumbnail(
    image: ImageFile, *, size: int = 160, colours: Mapping[str, int] | None = None, roi_name: RoiName = None
) -> Thumbnail:
    """The slice through the middle of the image's masks (or its middle slice), with region outlines.

    The masks are read onto the image's grid downsampled to about ``size`` voxels a side (so a
    large series costs little), and of a DICOM series only the one slice file is read. Nothing
    raises: what fails is in ``problems`` (the picture then shows what could be drawn).

    Parameters
    ----------
    image : ImageFile
        The image, with its ``associated_masks``.
    size : int
        The longest side of the picture in pixels.
    colours : mapping of str to int, optional
        Outline colour (an index into :data:`OUTLINE_COLOURS`) of each region name; others get the
        next free colours.
    roi_name : str, list of str or dict, optional
        The regions to draw (the selection of the import otherwise).

    Returns
    -------
    Thumbnail
        The PNG and what it shows.

    Examples
    --------
    >>> import imgindex
    >>> image = imgindex.import_image_and_mask(
    ...     example_dir, image_sub_folder="CT/nifti/image", mask_sub_folder="CT/nifti/mask"
    ... )[0]
    >>> picture = thumbnail(image)
    >>> picture.png[1:4], (picture.width, picture.height), picture.z, sorted(picture.regions)
    (b'PNG', (160, 160), 3, ['region_1', 'region_2'])
    """
    from .voxels import read_grid

    out = Thumbnail()
    try:
        grid = read_grid(image)
        coarse, f = coarse_grid(grid, size)
    except Exception as exc:
        out.problems.append(f"image: {_message(exc)}")
        return out
    out.n_slices = grid.size[2]
    masks: dict[tuple[str, str], npt.NDArray[np.bool_]] = {}
    for mask in image.associated_masks or []:
        if mask.file_type is None and mask.image_data is None:
            continue  # the whole-image placeholder
        if roi_name is not None:
            mask.roi_name = roi_name
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # resampling onto the coarse grid is expected
                for roi, region in mask.read(reference=coarse).items():
                    masks[(str(mask.object_id), roi)] = _array(region) > 0
        except Exception as exc:
            out.problems.append(f"mask {mask.object_id}: {_message(exc)}")
    occupied = [np.flatnonzero(m.any(axis=(1, 2))) for m in masks.values()]
    slices = np.concatenate(occupied) if occupied else np.empty(0, int)
    z = int(np.median(slices)) if slices.size else grid.size[2] // 2
    out.z = z
    try:
        values = _slice_values(image, z, grid.size[2]).astype(np.float64)
    except Exception as exc:
        out.problems.append(f"image: {_message(exc)}")
        return out
    ny, nx = coarse.size[1], coarse.size[0]
    block = values[: ny * f, : nx * f].reshape(ny, f, nx, f).mean(axis=(1, 3))
    low, high = _window(block, image.modality)
    up = max(1, size // max(nx, ny))
    grey = np.round(np.clip((block - low) / (high - low), 0, 1) * (GREYS - 1)).astype(np.uint8)
    indices = np.kron(grey, np.ones((up, up), np.uint8))
    known = dict(colours or {})
    for (mask_id, roi), volume in masks.items():
        if roi not in known:
            known[roi] = len(set(known.values()))
        out.masks.setdefault(roi, []).append(mask_id)
        plane = np.kron(volume[z], np.ones((up, up), bool))
        if not plane.any():
            out.empty.append(roi)
            continue
        indices[outline(plane)] = GREYS + known[roi] % len(OUTLINE_COLOURS)
        out.regions[roi] = known[roi] % len(OUTLINE_COLOURS)
    palette = [(round(g * 255 / (GREYS - 1)),) * 3 for g in range(GREYS)] + list(OUTLINE_COLOURS)
    out.png = encode_png(indices, palette)
    width_mm, height_mm = nx * coarse.spacing[0], ny * coarse.spacing[1]
    scale = size / max(width_mm, height_mm)
    out.width, out.height = max(1, round(width_mm * scale)), max(1, round(height_mm * scale))
    return out


def _message(exc: Exception) -> str:
    return " ".join(str(exc).split()) or type(exc).__name__
