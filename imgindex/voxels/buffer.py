"""SimpleITK images whose voxels the readers write in place: one allocation, no copy into SimpleITK.

``sitk.GetImageFromArray`` allocates an image and copies the array into it, so a reader that
fills a numpy array and converts it touches every voxel twice and holds two volumes at once.
:class:`ImageTarget` allocates the SimpleITK image first and hands the reader a writable numpy
view of its buffer. The view is made from the buffer's address (SimpleITK's own view is
read-only); it is used only while the target holds the image, and the image owns the memory, so
no view outlives the voxels it points at: :meth:`ImageTarget.image_of` gives the image and drops
the view.
"""

from __future__ import annotations

import ctypes
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

import numpy as np
import numpy.typing as npt

from .._lazy import SimpleITK as sitk
from .grid import Grid

_PIXEL_IDS = {
    "uint8": "sitkUInt8",
    "int8": "sitkInt8",
    "uint16": "sitkUInt16",
    "int16": "sitkInt16",
    "uint32": "sitkUInt32",
    "int32": "sitkInt32",
    "uint64": "sitkUInt64",
    "int64": "sitkInt64",
    "float32": "sitkFloat32",
    "float64": "sitkFloat64",
}


def writable_view(image: sitk.Image) -> npt.NDArray[Any]:
    """A writable numpy view (z, y, x) of a scalar image's buffer; valid while ``image`` lives and is not resized.

    Examples
    --------
    >>> image = sitk.Image(4, 3, 2, sitk.sitkInt16)
    >>> writable_view(image)[1, 2, 3] = 7
    >>> image.GetPixel(3, 2, 1)
    7
    """
    view = sitk.GetArrayViewFromImage(image)  # makes the buffer the image's own (MakeUnique)
    address = view.__array_interface__["data"][0]
    memory = (ctypes.c_char * view.nbytes).from_address(address)
    array: npt.NDArray[Any] = np.frombuffer(memoryview(memory), dtype=view.dtype)
    return array.reshape(view.shape)


def empty_image(shape: tuple[int, ...], kind: np.dtype[Any]) -> tuple[sitk.Image, npt.NDArray[Any]] | None:
    """A zero-filled 3D SimpleITK image of numpy ``shape`` (z, y, x) and type ``kind``, with its writable view.

    ``None`` for a type SimpleITK has no scalar image of.

    Examples
    --------
    >>> image, view = empty_image((2, 3, 4), np.dtype(np.float32))
    >>> image.GetSize(), view.shape, view.dtype.name
    ((4, 3, 2), (2, 3, 4), 'float32')
    """
    pixel_id = _pixel_id(shape, kind)
    if pixel_id is None:
        return None
    image = _new_image(shape, pixel_id)
    return image, writable_view(image)


def _pixel_id(shape: tuple[int, ...], kind: np.dtype[Any]) -> int | None:
    """SimpleITK's pixel type of a 3D scalar image of ``kind``; ``None`` when it has none (or ``shape`` is not 3D)."""
    name = _PIXEL_IDS.get(np.dtype(kind).name)
    if name is None or len(shape) != 3 or not np.dtype(kind).isnative:
        return None
    return int(getattr(sitk, name))


#: Images at least this large are allocated ahead in threads by :class:`Allocations` (a thread costs more below).
AHEAD_BYTES = 4 << 20


def _new_image(shape: tuple[int, ...], pixel_id: int) -> sitk.Image:
    return sitk.Image([int(v) for v in shape[::-1]], pixel_id)  # SimpleITK releases the GIL while it zero-fills


class Allocations:
    """``n`` zero-filled images of one shape and type, allocated ahead in up to two threads.

    A new image costs its zero-fill, which is mostly the kernel mapping fresh pages (about 20 ms for
    a 512x512x130 uint8 image): for several masks of one grid this is most of the read. The
    allocations start when the object is made and run while the caller fills the previous
    images; :meth:`take` gives them in turn with their writable views. Use it as a context manager
    so that images not taken are not waited for.

    Examples
    --------
    >>> with Allocations((2, 3, 4), np.dtype(np.uint8), 2) as ahead:
    ...     image, view = ahead.take()
    >>> image.GetSize(), view.shape
    ((4, 3, 2), (2, 3, 4))
    """

    def __init__(self, shape: tuple[int, ...], kind: np.dtype[Any], n: int) -> None:
        self.shape, self.kind = shape, np.dtype(kind)
        self._pool: ThreadPoolExecutor | None = None
        self._ahead: list[Future[sitk.Image]] = []
        pixel_id = _pixel_id(shape, self.kind)
        if pixel_id is not None and n > 1 and int(np.prod(shape)) * self.kind.itemsize >= AHEAD_BYTES:
            self._pool = ThreadPoolExecutor(max_workers=min(n, 2), thread_name_prefix="imgindex-allocate")
            self._ahead = [self._pool.submit(_new_image, shape, pixel_id) for _ in range(n)]

    def take(self) -> tuple[sitk.Image, npt.NDArray[Any]] | None:
        """The next image and its writable view (allocated now if not ahead); ``None`` as :func:`empty_image`."""
        if self._ahead:
            image = self._ahead.pop(0).result()
            return image, writable_view(image)
        return empty_image(self.shape, self.kind)

    def __enter__(self) -> Allocations:
        return self

    def __exit__(self, *exc: object) -> None:
        if self._pool is not None:
            for future in self._ahead:
                future.cancel()
            self._pool.shutdown(wait=True)
            self._ahead = []


class ImageTarget:
    """Where a reader allocates its voxels when the caller wants a SimpleITK image (see the module).

    Call it as ``allocate(shape, kind)``: it returns the writable view of a new image (or a plain
    numpy array for a type SimpleITK does not hold); :meth:`image_of` turns the filled array back
    into the image.

    Examples
    --------
    >>> target = ImageTarget()
    >>> array = target((1, 2, 2), np.dtype(np.uint8))
    >>> array[:] = 1
    >>> grid = Grid((2, 2, 1), (1.0, 1.0, 2.0), (0.0, 0.0, 0.0), (1, 0, 0, 0, 1, 0, 0, 0, 1))
    >>> image = target.image_of(array, grid)
    >>> image.GetSpacing(), int(sitk.GetArrayFromImage(image).sum())
    ((1.0, 1.0, 2.0), 4)
    """

    __slots__ = ("_array", "_image")

    def __init__(self) -> None:
        self._image: sitk.Image | None = None
        self._array: npt.NDArray[Any] | None = None

    def __call__(self, shape: tuple[int, ...], kind: np.dtype[Any]) -> npt.NDArray[Any]:
        """A writable array of ``shape`` and ``kind`` to fill: the buffer of a new image when SimpleITK has the type."""
        made = empty_image(shape, kind)
        if made is None:
            return np.empty(shape, dtype=kind)
        self._image, self._array = made
        return self._array

    def image_of(self, array: npt.NDArray[Any], grid: Grid) -> sitk.Image | None:
        """The image whose buffer ``array`` is, with ``grid``'s geometry; ``None`` if ``array`` is another array."""
        if self._image is None or array is not self._array:
            return None
        image, self._image, self._array = self._image, None, None
        image.SetSpacing(grid.spacing)
        image.SetOrigin(grid.origin)
        image.SetDirection(grid.direction)
        return image
