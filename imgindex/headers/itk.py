"""NIfTI and NRRD headers through SimpleITK's ``ReadImageInformation`` (never the voxels)."""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import Any

from .._lazy import SimpleITK

#: SimpleITK, typed as ``Any``: the package ships ``py.typed`` but its SWIG-generated functions carry
#: no annotations, so strict mypy would reject every call as untyped. The same lazy module object.
sitk: Any = SimpleITK

_IO = {"nifti": "NiftiImageIO", "nrrd": "NrrdImageIO"}

#: The numeric pixel types (scalar, or "Vector" + type), by SimpleITK's name without ``sitk``.
_NUMERIC = ("UInt8", "Int8", "UInt16", "Int16", "UInt32", "Int32", "UInt64", "Int64", "Float32", "Float64")


@functools.cache
def _pixel_types() -> dict[int, str]:
    """SimpleITK pixel ID → numpy-style name (built at first use: SimpleITK is imported lazily)."""
    return {getattr(sitk, f"sitk{kind}{name}"): name.lower() for name in _NUMERIC for kind in ("", "Vector")}


def _pad3(values: Sequence[float], fill: float) -> list[float]:
    padded = [float(v) for v in values[:3]]
    return padded + [fill] * (3 - len(padded))


def read(path: str, file_type: str) -> dict[str, Any]:
    """Read the geometry and pixel type of a NIfTI or NRRD file from its header.

    Parameters
    ----------
    path
        The file.
    file_type
        ``"nifti"`` or ``"nrrd"``: which SimpleITK image IO reads it.

    Returns
    -------
    dict
        The geometry columns of the files table (``ndim``, ``size_x`` ... ``origin_z``,
        ``direction``), ``pixel_type`` and ``n_components``.

    Examples
    --------
    The example dataset's CT label map: 32 x 32 pixels, 8 slices, stored as uint8.

    >>> import os
    >>> info = read(os.path.join(example_dir, "STS_001", "CT", "nifti", "mask", "mask.nii.gz"), "nifti")
    >>> info["size_x"], info["size_z"], info["pixel_type"]
    (32, 8, 'uint8')
    """
    reader = sitk.ImageFileReader()
    reader.SetImageIO(_IO[file_type])
    reader.SetFileName(path)
    reader.ReadImageInformation()
    dim = reader.GetDimension()
    size = list(reader.GetSize())
    pixel_id = reader.GetPixelID()
    direction = list(reader.GetDirection())
    # Embed the upper-left (up to 3x3) block of the direction matrix in a 3x3 identity.
    square = [[1.0 if i == j else 0.0 for j in range(3)] for i in range(3)]
    for i in range(min(dim, 3)):
        for j in range(min(dim, 3)):
            square[i][j] = float(direction[i * dim + j])
    sx, sy, sz = (size + [1, 1])[:3]
    spacing = _pad3(reader.GetSpacing(), 1.0)
    origin = _pad3(reader.GetOrigin(), 0.0)
    return {
        "ndim": dim,
        "size_x": sx,
        "size_y": sy,
        "size_z": sz,
        "spacing_x": spacing[0],
        "spacing_y": spacing[1],
        "spacing_z": spacing[2],
        "origin_x": origin[0],
        "origin_y": origin[1],
        "origin_z": origin[2],
        "direction": tuple(v for row in square for v in row),
        "pixel_type": _pixel_types().get(pixel_id) or sitk.GetPixelIDValueAsString(pixel_id),
        "n_components": reader.GetNumberOfComponents(),
    }
