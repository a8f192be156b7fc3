"""numpy ``.npy`` headers: shape and dtype from the header, never the data, never unpickling."""

from __future__ import annotations

from typing import Any

import numpy as np

_IDENTITY = (1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0)


def array_info(shape: tuple[int, ...], dtype: np.dtype) -> dict[str, Any]:
    """Geometry columns for an array of ``shape`` (numpy order: z, y, x) and ``dtype``.

    numpy has no geometry: spacing is 1, origin 0 and the direction the identity.

    Examples
    --------
    >>> info = array_info((5, 4, 3), np.dtype("uint8"))
    >>> info["size_x"], info["size_z"], info["pixel_type"]
    (3, 5, 'uint8')
    """
    dims = list(reversed(shape))  # x, y, z
    sx, sy, sz = (dims + [1, 1, 1])[:3]
    error = None
    if len(shape) > 3:
        error = (
            f"The array has {len(shape)} dimensions {tuple(shape)}; imgindex imports images of up to 3 "
            "dimensions (z, y, x). Split it into 3D arrays first."
        )
    return {
        "error": error,
        "ndim": len(shape),
        "size_x": sx,
        "size_y": sy,
        "size_z": sz,
        "spacing_x": 1.0,
        "spacing_y": 1.0,
        "spacing_z": 1.0,
        "origin_x": 0.0,
        "origin_y": 0.0,
        "origin_z": 0.0,
        "direction": _IDENTITY,
        "pixel_type": dtype.name,
        "n_components": 1,
    }


def read(path: str) -> dict[str, Any]:
    """Read shape and dtype from the header of a ``.npy`` file.

    Parameters
    ----------
    path
        The ``.npy`` file.

    Returns
    -------
    dict
        The columns of :func:`array_info`.

    Raises
    ------
    ValueError
        For object arrays, which could only be read by unpickling, and structured dtypes.

    Examples
    --------
    A slice of the example dataset's CT (per-slice numpy form): a 2D int16 array of 32 x 32.

    >>> import os
    >>> info = read(os.path.join(example_dir, "STS_001", "CT", "numpy_slice", "image", "STS_001_00_image.npy"))
    >>> info["ndim"], info["size_x"], info["size_z"], info["pixel_type"]
    (2, 32, 1, 'int16')
    """
    with open(path, "rb") as handle:
        version = np.lib.format.read_magic(handle)
        if version == (1, 0):
            shape, _fortran, dtype = np.lib.format.read_array_header_1_0(handle)
        else:  # 2.0 and 3.0 share the layout; 3.0 only allows utf-8 field names
            shape, _fortran, dtype = np.lib.format.read_array_header_2_0(handle)
    if dtype.hasobject:
        raise ValueError(
            f"The array holds Python objects (dtype {dtype}); reading it would need unpickling, "
            "which imgindex never does. Save the array with a numeric dtype."
        )
    if dtype.names is not None or dtype.subdtype is not None:
        raise ValueError(f"The array has a structured dtype ({dtype}); save plain numbers instead.")
    return array_info(tuple(int(s) for s in shape), dtype)
