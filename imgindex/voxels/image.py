"""Images as voxels: ``ImageFile`` (or a label-map ``MaskFile``) → SimpleITK image or numpy array.

Every source of the index is read here: DICOM (:mod:`.dicom`; tilted and unevenly spaced
series are resampled where the patient was, see :mod:`.layout`; an object with ``frames`` is
those frames of a multi-frame file), NIfTI and NRRD through SimpleITK, numpy files and in-memory
arrays (``image_data``). Stacks of 2D slices become one 3D volume in the objects table's order.
numpy has no geometry: an array gets the object's spacing, origin and orientation when they are
set (the index gives unit spacing at the origin), else those defaults.

Before voxels are allocated, the size the headers claim is checked against the read limit and
the bytes the files hold (:mod:`.limits`); a file that fails raises
:class:`~imgindex.errors.AllocationError`, one that cannot be decoded
:class:`~imgindex.errors.DecodeError`, both naming the file.
"""

from __future__ import annotations

import os
from typing import Any, Literal, overload

import numpy as np
import numpy.typing as npt

from .._lazy import SimpleITK as sitk
from ..errors import DecodeError, InputError, InputTypeError, NotFoundError
from ..formats import HEAD_SIZE, sniff, suffix_type
from .buffer import ImageTarget
from .dicom import read_dicom
from .grid import Grid
from .limits import check_allocation, check_nifti, itk_claim, npy_claim
from .native import Allocate
from .source import VoxelSource

_IDENTITY = (1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0)


def _paths(item: VoxelSource) -> tuple[str, ...]:
    return tuple(item.file_paths) or ((item.file_path,) if item.file_path else ())


def _file_type(item: VoxelSource, paths: tuple[str, ...]) -> str:
    if item.file_type:
        return item.file_type
    with open(paths[0], "rb") as handle:
        found = sniff(handle.read(HEAD_SIZE)) or suffix_type(os.path.basename(paths[0]))
    if found is None:
        raise InputError(
            f"Cannot tell what kind of image {paths[0]} is; imgindex reads DICOM, NIfTI, NRRD and "
            "numpy files. Set file_type or index the file with imgindex.build_index."
        )
    return found


def _as_3d(array: npt.NDArray[Any], what: str) -> npt.NDArray[Any]:
    array = np.asarray(array)
    if array.ndim == 1:
        return array[None, None, :]
    if array.ndim == 2:
        return array[None]
    if array.ndim == 3:
        return array
    raise InputError(
        f"{what} has {array.ndim} dimensions {array.shape}; imgindex reads 2D and 3D images. "
        "Pass one 3D volume (z, y, x) at a time."
    )


def _field_grid(item: VoxelSource, shape: tuple[int, ...]) -> Grid:
    """The grid the object's fields describe for an array of ``shape`` (z, y, x); unit defaults."""
    spacing = item.image_spacing[::-1] if item.image_spacing else (1.0, 1.0, 1.0)
    origin = item.image_origin[::-1] if item.image_origin else (0.0, 0.0, 0.0)
    direction = _IDENTITY
    if item.image_orientation is not None:
        direction = tuple(np.asarray(item.image_orientation, dtype=float)[::-1, ::-1].ravel())
    return Grid(shape[::-1], spacing, origin, direction)


def _itk_grid(path: str) -> Grid:
    reader = sitk.ImageFileReader()
    reader.SetFileName(path)
    reader.ReadImageInformation()
    if reader.GetDimension() > 3:
        raise InputError(f"{path} has {reader.GetDimension()} dimensions; imgindex reads 2D and 3D images.")
    if reader.GetDimension() == 2:
        image = sitk.Image(list(reader.GetSize()), sitk.sitkUInt8)
        image.SetSpacing(reader.GetSpacing())
        image.SetOrigin(reader.GetOrigin())
        image.SetDirection(reader.GetDirection())
        return Grid.of(image)
    return Grid(reader.GetSize(), reader.GetSpacing(), reader.GetOrigin(), reader.GetDirection())


def _read_itk(path: str, kind: str, max_bytes: int | None) -> sitk.Image:
    """A NIfTI or NRRD file read by SimpleITK after its claim is checked (bounded read)."""
    claimed, what, _size = itk_claim(path)
    if kind == "nifti":
        check_nifti(path, claimed, what=what, max_bytes=max_bytes)
    else:
        check_allocation(path, claimed, what=what, max_bytes=max_bytes)
    try:
        return sitk.ReadImage(path)
    except RuntimeError as error:
        lines = [line for line in str(error).strip().splitlines() if line.strip()]
        raise DecodeError(f"SimpleITK could not read the voxels of {path}: {lines[-1] if lines else error}") from None


def _load_npy(path: str, max_bytes: int | None) -> npt.NDArray[Any]:
    """A ``.npy`` file after its claim is checked against the limit and the bytes it holds."""
    claimed, present, what, _shape, _dtype = npy_claim(path)
    check_allocation(path, claimed, what=what, present=present, max_bytes=max_bytes)
    return np.asarray(np.load(path, allow_pickle=False))


def _check_paths(paths: tuple[str, ...]) -> None:
    missing = [p for p in paths if not os.path.isfile(p)]
    if missing:
        raise NotFoundError(
            f"{len(missing)} file(s) of this object no longer exist, e.g. {missing[0]}. "
            "Re-index the data with imgindex.build_index."
        )


@overload
def read_voxels(
    item: VoxelSource,
    *,
    pixels: Literal[True] = ...,
    resample: bool = ...,
    nearest: bool = ...,
    max_bytes: int | None = ...,
    allocate: Allocate | None = ...,
) -> tuple[Grid, npt.NDArray[Any]]: ...
@overload
def read_voxels(
    item: VoxelSource,
    *,
    pixels: Literal[False],
    resample: bool = ...,
    nearest: bool = ...,
    max_bytes: int | None = ...,
    allocate: Allocate | None = ...,
) -> tuple[Grid, None]: ...
@overload
def read_voxels(
    item: VoxelSource,
    *,
    pixels: bool = ...,
    resample: bool = ...,
    nearest: bool = ...,
    max_bytes: int | None = ...,
    allocate: Allocate | None = ...,
) -> tuple[Grid, npt.NDArray[Any] | None]: ...
def read_voxels(
    item: VoxelSource,
    *,
    pixels: bool = True,
    resample: bool = True,
    nearest: bool = False,
    max_bytes: int | None = None,
    allocate: Allocate | None = None,
) -> tuple[Grid, npt.NDArray[Any] | None]:
    """The grid and (with ``pixels``) the voxels (z, y, x) of an image or label-map object.

    Parameters
    ----------
    item : ImageFile or MaskFile
        The object: its files (DICOM, NIfTI, NRRD, numpy; a stack of 2D slices) or its in-memory
        array. An object with a ``frames`` attribute (not ``None``) is those frames (0-based) of
        its multi-frame DICOM file.
    pixels : bool
        Also read the voxels; ``False`` reads the headers only.
    resample : bool
        Lay tilted or unevenly spaced DICOM slices out where the patient was (the default);
        ``False`` gives the slices as stored, one after the other.
    nearest : bool
        Resample with nearest neighbour instead of linear interpolation (label maps).
    max_bytes : int, optional
        The read limit (default: ``IMGINDEX_MAX_VOXEL_BYTES``, else a quarter of the memory).
    allocate : callable, optional
        Where DICOM voxels read by the fast path go (see :func:`~imgindex.voxels.dicom.read_dicom`).

    Returns
    -------
    grid : Grid
        Size, spacing, origin and direction.
    voxels : numpy.ndarray or None
        Real-world values (z, y, x); ``None`` without ``pixels``.

    Examples
    --------
    >>> from imgindex import ImageFile
    >>> grid, voxels = read_voxels(ImageFile(image_data=np.zeros((2, 3, 4), np.int16)))
    >>> grid.size, grid.spacing, voxels.shape
    ((4, 3, 2), (1.0, 1.0, 1.0), (2, 3, 4))
    """
    if item.image_data is not None:
        array = _as_3d(item.image_data, "The in-memory array")
        return _field_grid(item, array.shape), array if pixels else None
    paths = _paths(item)
    if not paths:
        raise InputError(
            "This object has neither files nor an in-memory array, so it has no voxels. Build it "
            "with imgindex.import_image_and_mask or set image_data."
        )
    _check_paths(paths)
    kind = _file_type(item, paths)
    frames = getattr(item, "frames", None)
    if isinstance(frames, float) and np.isnan(frames):  # a table's null read back as NaN: all frames
        frames = None
    if kind == "dicom":
        return read_dicom(
            paths,
            pixels=pixels,
            frames=None if frames is None else [int(f) for f in frames],
            resample=resample,
            nearest=nearest,
            max_bytes=max_bytes,
            allocate=allocate,
        )
    if frames is not None:
        raise InputError(f"frames select frames of a multi-frame DICOM file; {paths[0]} is {kind}.")
    if kind == "numpy":
        if pixels:
            arrays = [_load_npy(p, max_bytes) for p in paths]
        else:
            arrays = [np.load(p, mmap_mode="r", allow_pickle=False) for p in paths]
        if len(arrays) == 1:
            array = _as_3d(arrays[0], paths[0])
        else:
            array = (
                np.stack([_as_3d(a, p)[0] if a.ndim <= 2 else a[0] for a, p in zip(arrays, paths, strict=True)])
                if pixels
                else np.empty((len(arrays), *_as_3d(arrays[0], paths[0]).shape[1:]), dtype=np.uint8)
            )
        return _field_grid(item, array.shape), (np.asarray(array) if pixels else None)
    if kind not in ("nifti", "nrrd"):
        raise InputError(f"Unknown file type {kind!r} of {paths[0]}; imgindex reads dicom, nifti, nrrd and numpy.")
    if len(paths) == 1:
        if not pixels:
            return _itk_grid(paths[0]), None
        image = _read_itk(paths[0], kind, max_bytes)
        if image.GetDimension() == 2:
            image = sitk.JoinSeries(image)
        if image.GetDimension() != 3:
            raise InputError(f"{paths[0]} has {image.GetDimension()} dimensions; imgindex reads 2D and 3D images.")
        return Grid.of(image), sitk.GetArrayFromImage(image)
    first = _itk_grid(paths[0])  # a stack of 2D slices: geometry of the index (first slice, spacing between)
    shape = (len(paths), *first.shape[1:])
    grid = (
        _field_grid(item, shape)
        if item.image_spacing
        else Grid(shape[::-1], first.spacing, first.origin, first.direction)
    )
    if not pixels:
        return grid, None
    claims = [itk_claim(p)[0] for p in paths]
    check_allocation(paths[0], sum(claims), what=f"a stack of {len(paths)} slices", max_bytes=max_bytes)
    array = np.stack([sitk.GetArrayFromImage(_read_itk(p, kind, max_bytes)).reshape(shape[1:]) for p in paths])
    return grid, array


def read_grid(item: VoxelSource) -> Grid:
    """The grid of an image object from its headers (no pixel data are decoded).

    Examples
    --------
    >>> import glob, os
    >>> from imgindex import ImageFile
    >>> paths = sorted(glob.glob(os.path.join(example_dir, "STS_001", "CT", "dicom", "image", "*.dcm")))
    >>> grid = read_grid(ImageFile(file_paths=tuple(paths), file_type="dicom"))
    >>> grid.size, grid.spacing  # 8 slices of 32 x 32 voxels, 0.9 x 0.9 x 3 mm
    ((32, 32, 8), (0.9, 0.9, 3.0))
    """
    return read_voxels(item, pixels=False)[0]


def read_image(item: VoxelSource, *, resample: bool = True, max_bytes: int | None = None) -> sitk.Image:
    """The image as a 3D SimpleITK image with real-world values and the headers' geometry.

    ``resample`` and ``max_bytes`` are those of :func:`read_voxels`. Colour images are vector
    images of 3 components (RGB).

    Examples
    --------
    >>> from imgindex import ImageFile
    >>> read_image(ImageFile(image_data=np.ones((3, 4), np.float32))).GetSize()
    (4, 3, 1)
    """
    target = ImageTarget()  # DICOM voxels are written into the image's own buffer (no copy)
    grid, array = read_voxels(item, resample=resample, max_bytes=max_bytes, allocate=target)
    image = target.image_of(array, grid)
    if image is not None:
        return image
    if array.ndim == 4:  # colour
        image = sitk.GetImageFromArray(array, isVector=True)
        image.SetSpacing(grid.spacing)
        image.SetOrigin(grid.origin)
        image.SetDirection(grid.direction)
        return image
    return grid.image(array)


def index_grid(item: VoxelSource) -> Grid | None:
    """The grid of a DICOM stack from the geometry the index holds (no file is read), or ``None``.

    It is the grid :func:`read_image` gives when the index found nothing doubtful about the
    stack: one file per slice (at least two), size, spacing, origin and orientation known, no
    gantry tilt and no ``geometry_warning`` (uneven spacing, missing or duplicate slices, ...),
    so the slices are laid out as stored: the origin of the first slice along the normal, the
    median spacing between slices, the axes of the first slice. The axes must be those of the
    patient (direction cosines 0 and 1): along an oblique normal the index projects the slice
    positions with other rounding than the image reader (the spacing differs in the tenth
    decimal), and a mask's grid must be the image's to the last bit. Otherwise ``None``: the
    headers decide (a tilted or gapped stack is resampled onto another grid).

    Examples
    --------
    >>> import imgindex
    >>> image = imgindex.import_image(example_dir, image_sub_folder="CT/dicom/image")[0]
    >>> index_grid(image) == read_grid(image)
    True
    """
    frames = getattr(item, "frames", None)
    tilt = getattr(item, "tilt_angle", None)
    paths = _paths(item)
    if (
        item.image_data is not None
        or item.file_type != "dicom"
        or (frames is not None and not (isinstance(frames, float) and np.isnan(frames)))
        or getattr(item, "geometry_warning", None)
        or (tilt is not None and np.isfinite(tilt) and tilt != 0)
        or item.image_dimension is None
        or item.image_spacing is None
        or item.image_origin is None
        or item.image_orientation is None
        or len(paths) < 2
        or len(paths) != item.image_dimension[0]
        or not np.isin(np.asarray(item.image_orientation, dtype=float), (-1.0, 0.0, 1.0)).all()
    ):
        return None
    return _field_grid(item, item.image_dimension)


def as_grid(reference: object) -> Grid:
    """The grid of a reference: a :class:`Grid`, a SimpleITK image or an ``ImageFile``.

    An ``ImageFile`` gives its grid from the index's geometry when that is the grid of its voxels
    (:func:`index_grid`), else from its headers; no voxels are read.

    Examples
    --------
    >>> as_grid(sitk.Image(4, 3, 2, sitk.sitkUInt8)).size
    (4, 3, 2)
    """
    if isinstance(reference, Grid):
        return reference
    if isinstance(reference, sitk.Image):
        return Grid.of(reference)
    if isinstance(reference, VoxelSource):
        return index_grid(reference) or read_grid(reference)
    raise InputTypeError(
        f"The reference is expected to be an imgindex.ImageFile or a SimpleITK.Image. Found: "
        f"{type(reference).__name__}. Pass the image the masks belong to, e.g. "
        "mask.read(reference=image)."
    )
