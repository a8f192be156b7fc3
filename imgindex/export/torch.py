"""Voxels for TorchIO and MONAI, read by imgindex (so RTSTRUCT, SEG, numpy and DICOM series work).

TorchIO and MONAI read NIfTI and NRRD files themselves, but not an RTSTRUCT, a DICOM SEG or a
``.npy`` slice stack, and they do not know which mask goes with which image. The functions here
read an index's image and its masks as imgindex does (:meth:`ImageFile.read`,
:meth:`MaskFile.read` on the image's grid) and hand over what both libraries expect: a
channel-first array indexed ``[channel, x, y, z]`` and a 4 x 4 affine in RAS+ world coordinates
(SimpleITK's geometry is LPS+, so the first two rows change sign), the convention of TorchIO's
``ScalarImage(tensor=..., affine=...)`` and of MONAI's ``MetaTensor`` after ``LoadImage``.

Only :func:`torchio_subject` and :func:`monai_item` import ``torchio`` / ``torch``; the rest needs
numpy and SimpleITK only.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from .._lazy import SimpleITK as sitk
from ..errors import InputError, InputTypeError
from ..files import ImageFile
from ..voxels import as_grid

if TYPE_CHECKING:
    from ..voxels.names import RoiName

__all__ = ["LPS_TO_RAS", "affine_of", "array_of", "monai_item", "read_item", "torchio_subject"]

#: SimpleITK's (DICOM's) LPS+ world coordinates to RAS+ (NIfTI's, TorchIO's, MONAI's): x and y change sign.
LPS_TO_RAS = np.diag([-1.0, -1.0, 1.0])
#: Keys of :func:`read_item` that are not regions (an ROI may not be named so).
RESERVED = ("image", "affine", "rois", "sample_name", "image_id", "modality")
#: Pixel types torch has no (full) tensor type for, and the type they are widened to.
_WIDER = {np.dtype(np.uint16): np.int32, np.dtype(np.uint32): np.int64, np.dtype(np.uint64): np.int64}


def affine_of(image: Any) -> npt.NDArray[np.float64]:
    """The 4 x 4 RAS+ affine (voxel index ``[x, y, z]`` to millimetres) of an image's grid.

    Parameters
    ----------
    image : SimpleITK.Image, ImageFile or Grid
        The image (an ``ImageFile`` gives its grid from the headers, no voxels are read).

    Returns
    -------
    numpy.ndarray
        ``affine @ [i, j, k, 1]`` is the RAS+ position of voxel ``(i, j, k)``: SimpleITK's
        ``TransformIndexToPhysicalPoint`` with x and y negated.

    Examples
    --------
    >>> import SimpleITK as sitk
    >>> image = sitk.Image(4, 3, 2, sitk.sitkInt16)
    >>> image.SetSpacing((0.5, 0.5, 2.0))
    >>> image.SetOrigin((10.0, 20.0, -5.0))
    >>> affine_of(image).tolist()
    [[-0.5, 0.0, 0.0, -10.0], [0.0, -0.5, 0.0, -20.0], [0.0, 0.0, 2.0, -5.0], [0.0, 0.0, 0.0, 1.0]]
    """
    grid = as_grid(image)
    direction = np.asarray(grid.direction, dtype=np.float64).reshape(3, 3)
    affine = np.eye(4)
    affine[:3, :3] = LPS_TO_RAS @ direction @ np.diag(np.asarray(grid.spacing, dtype=np.float64))
    affine[:3, 3] = LPS_TO_RAS @ np.asarray(grid.origin, dtype=np.float64)
    return affine


def array_of(image: sitk.Image) -> npt.NDArray[Any]:
    """The voxels channel first and indexed ``[channel, x, y, z]`` (SimpleITK's array is ``[z, y, x]``).

    Pixel types torch cannot hold (``uint16``, ``uint32``, ``uint64``) are widened to a signed type.

    Examples
    --------
    >>> import SimpleITK as sitk
    >>> image = sitk.Image(4, 3, 2, sitk.sitkUInt16)
    >>> image[3, 2, 1] = 7
    >>> data = array_of(image)
    >>> data.shape, data.dtype.name, int(data[0, 3, 2, 1])
    ((1, 4, 3, 2), 'int32', 7)
    """
    if not isinstance(image, sitk.Image):
        raise InputTypeError(f"array_of expects a SimpleITK image (ImageFile.read() gives one). Found: {image!r}.")
    data = sitk.GetArrayFromImage(image)
    if image.GetDimension() != 3:
        raise InputError(f"array_of expects a 3D image; this one has {image.GetDimension()} dimensions.")
    out = data.transpose(3, 2, 1, 0) if data.ndim == 4 else data.transpose(2, 1, 0)[None]
    return np.ascontiguousarray(out, dtype=_WIDER.get(out.dtype, out.dtype))


def read_item(image: ImageFile, *, roi_name: RoiName = None) -> dict[str, Any]:
    """Read an image and its masks (on the image's grid) as channel-first arrays with one affine.

    Parameters
    ----------
    image : ImageFile
        An image of an index (``index.materialise()``), with its ``associated_masks``.
    roi_name : str, list of str or dict, optional
        The regions to read and their names (the import's selection otherwise); a dict renames
        and merges, as everywhere in imgindex.

    Returns
    -------
    dict
        ``image``: the voxels (:func:`array_of`); ``affine``: :func:`affine_of`; one ``uint8``
        array (1, x, y, z) per region under its ROI name; ``rois``: those names; ``sample_name``,
        ``image_id``, ``modality``.

    Examples
    --------
    >>> import imgindex
    >>> index = imgindex.build_index(example_dir, image_sub_folder="CT/dicom/image",
    ...                              mask_sub_folder="CT/dicom/mask", mask_modality="rtstruct")
    >>> item = read_item(index.materialise()[0])
    >>> item["sample_name"], item["image"].shape, item["rois"], item["GTV_Mass"].dtype.name
    ('STS_001', (1, 32, 32, 8), ['GTV_Mass', 'GTV_2'], 'uint8')
    """
    if not isinstance(image, ImageFile):
        raise InputTypeError(
            f"read_item expects an ImageFile (index.materialise() or import_image_and_mask gives them). "
            f"Found: {type(image).__name__}."
        )
    volume = image.read()
    item: dict[str, Any] = {
        "image": array_of(volume),
        "affine": affine_of(volume),
        "sample_name": image.sample_name,
        "image_id": image.object_id,
        "modality": image.modality,
    }
    rois: list[str] = []
    for mask in image.associated_masks or []:
        if mask.file_type is None and mask.image_data is None:
            continue  # MIRP's whole-image placeholder: no mask was imported
        if roi_name is not None:
            mask.roi_name = roi_name
        for roi, region in mask.read(reference=volume).items():
            if roi in RESERVED:
                raise InputError(
                    f"The ROI {roi!r} of mask {mask.object_id} (image {image.object_id}) has the name of a key "
                    f"read_item uses for something else ({', '.join(RESERVED)}). Rename it, e.g. "
                    f"roi_name={{{roi!r}: {roi + '_roi'!r}}}."
                )
            data = array_of(region).astype(np.uint8)
            if roi in item:  # the same name in two masks (or merged by roi_name): one region
                item[roi] = np.maximum(item[roi], data)
            else:
                item[roi] = data
                rois.append(roi)
    item["rois"] = rois
    return item


def torchio_subject(image: ImageFile, *, roi_name: RoiName = None) -> Any:
    """A ``torchio.Subject``: the image as ``image`` (``ScalarImage``) and one ``LabelMap`` per ROI.

    The voxels are read now, by imgindex (:func:`read_item`); the subject also carries
    ``sample_name``, ``image_id``, ``modality`` and ``rois``. Needs ``torchio``.

    Parameters
    ----------
    image : ImageFile
        An image of an index, with its ``associated_masks``.
    roi_name : str, list of str or dict, optional
        The regions to read and their names.

    Returns
    -------
    torchio.Subject
        The subject, for ``torchio.SubjectsDataset``.

    Examples
    --------
    >>> subjects = [torchio_subject(image) for image in index.materialise()]  # doctest: +SKIP
    >>> subjects[0]["GTV_Mass"].data.shape  # doctest: +SKIP
    torch.Size([1, 32, 32, 8])
    """
    tio = _need("torchio")
    item = read_item(image, roi_name=roi_name)
    affine = item["affine"]
    images: dict[str, Any] = {"image": tio.ScalarImage(tensor=item["image"], affine=affine)}
    for roi in item["rois"]:
        images[roi] = tio.LabelMap(tensor=item[roi], affine=affine)
    facts = {key: item[key] for key in ("sample_name", "image_id", "modality", "rois")}
    return tio.Subject({**images, **facts})


def monai_item(image: ImageFile, *, roi_name: RoiName = None) -> dict[str, Any]:
    """A MONAI data dict: ``image`` and one key per ROI as ``MetaTensor`` with the RAS+ affine.

    Usable as the first transform of a ``monai.data.Dataset`` over ``index.materialise()``, so
    each item is read when it is used. Needs ``monai``.

    Parameters
    ----------
    image : ImageFile
        An image of an index, with its ``associated_masks``.
    roi_name : str, list of str or dict, optional
        The regions to read and their names.

    Returns
    -------
    dict
        As :func:`read_item`, with ``image`` and the regions as ``monai.data.MetaTensor``.

    Examples
    --------
    >>> dataset = monai.data.Dataset(index.materialise(), transform=monai_item)  # doctest: +SKIP
    >>> dataset[0]["image"].affine.shape  # doctest: +SKIP
    torch.Size([4, 4])
    """
    data = _need("monai.data")
    item = read_item(image, roi_name=roi_name)
    for key in ["image", *item["rois"]]:
        item[key] = data.MetaTensor(item[key], affine=item["affine"], meta={"space": "RAS"})
    return item


def _need(module: str) -> Any:
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError as exc:
        package = module.split(".")[0]
        raise ImportError(
            f"This needs {package}, which is not installed: pip install {package} (and torch). "
            f"read_item gives the same arrays and affine without it."
        ) from exc
