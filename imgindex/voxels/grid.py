"""A voxel grid (size, spacing, origin, direction) and the maps between world and index space.

SimpleITK's convention throughout: sizes, spacings, origins and indices in (x, y, z) order,
the direction a 3 x 3 matrix stored row-major whose *columns* are the directions of the voxel
axes, and ``world = origin + direction @ (spacing * index)`` with the origin at the centre of the
first voxel. numpy arrays of a grid are (z, y, x).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from .._lazy import SimpleITK as sitk
from ..errors import InputError
from ..geometry import oblique

#: Grids whose origins differ by less than this (mm), or whose spacings and direction cosines
#: differ by less than this relative amount, are the same grid.
SAME_GRID_TOLERANCE = 1e-4

#: What the constructor takes for a size, spacing, origin or direction: any sequence of numbers.
Numbers = Sequence[float] | npt.NDArray[Any]


@dataclass(frozen=True, init=False)
class Grid:
    """The geometry of a 3D image, SimpleITK order: ``size``, ``spacing``, ``origin`` in (x, y, z).

    Examples
    --------
    >>> g = Grid((4, 3, 2), (1.0, 1.0, 2.5), (0.0, 0.0, -10.0), (1, 0, 0, 0, 1, 0, 0, 0, 1))
    >>> g.shape
    (2, 3, 4)
    >>> g.to_index(np.array([[1.0, 2.0, -5.0]])).tolist()
    [[1.0, 2.0, 2.0]]
    """

    size: tuple[int, int, int]
    spacing: tuple[float, float, float]
    origin: tuple[float, float, float]
    direction: tuple[float, ...]

    def __init__(self, size: Numbers, spacing: Numbers, origin: Numbers, direction: Numbers) -> None:
        # Written out rather than generated: the fields are tuples, the arguments any sequence of numbers.
        sizes = tuple(int(v) for v in size)
        spacings = tuple(float(v) for v in spacing)
        origins = tuple(float(v) for v in origin)
        cosines = tuple(float(v) for v in direction)
        if len(sizes) != 3 or len(spacings) != 3 or len(origins) != 3 or len(cosines) != 9:
            raise InputError(
                f"A grid needs 3 sizes, spacings and origin values and 9 direction cosines; found "
                f"{sizes}, {spacings}, {origins}, {cosines}."
            )
        object.__setattr__(self, "size", sizes)
        object.__setattr__(self, "spacing", spacings)
        object.__setattr__(self, "origin", origins)
        object.__setattr__(self, "direction", cosines)

    @classmethod
    def of(cls, image: sitk.Image) -> Grid:
        """The grid of a 3D SimpleITK image (a 2D image is one slice thick, spacing 1 along z).

        Examples
        --------
        >>> grid = Grid.of(sitk.Image(4, 3, sitk.sitkUInt8))
        >>> grid.size, grid.spacing
        ((4, 3, 1), (1.0, 1.0, 1.0))
        """
        if image.GetDimension() == 2:
            image = sitk.JoinSeries(image)
        if image.GetDimension() != 3:
            raise InputError(
                f"Only 2D and 3D images have a voxel grid here; this image has {image.GetDimension()} dimensions."
            )
        return cls(image.GetSize(), image.GetSpacing(), image.GetOrigin(), image.GetDirection())

    @property
    def shape(self) -> tuple[int, int, int]:
        """The numpy shape (z, y, x)."""
        return self.size[::-1]

    @property
    def matrix(self) -> npt.NDArray[np.float64]:
        """The 3 x 3 direction matrix (columns: the voxel axes in world space)."""
        return np.asarray(self.direction, dtype=np.float64).reshape(3, 3)

    def to_index(self, points: npt.ArrayLike) -> npt.NDArray[np.float64]:
        """Continuous (x, y, z) indices of world points, shape (n, 3) in and out."""
        offset = np.asarray(points, dtype=np.float64) - np.asarray(self.origin, dtype=np.float64)
        spacing = np.asarray(self.spacing, dtype=np.float64)
        axes = _signed_axes(self.matrix)
        if axes is not None:  # axes along the patient's: the solve picks coordinates, exactly
            columns, signs = axes
            return offset[:, columns] * signs / spacing
        return np.linalg.solve(self.matrix, offset.T).T / spacing

    def to_world(self, index: npt.ArrayLike) -> npt.NDArray[np.float64]:
        """World points of continuous (x, y, z) indices, shape (n, 3) in and out."""
        scaled = np.asarray(index, dtype=np.float64) * np.asarray(self.spacing, dtype=np.float64)
        return scaled @ self.matrix.T + np.asarray(self.origin, dtype=np.float64)

    def image(self, array: npt.NDArray[Any] | None = None) -> sitk.Image:
        """A SimpleITK image on this grid: ``array`` (z, y, x) or zeros (uint8)."""
        if array is None:
            array = np.zeros(self.shape, dtype=np.uint8)
        image = sitk.GetImageFromArray(array)
        image.SetSpacing(self.spacing)
        image.SetOrigin(self.origin)
        image.SetDirection(self.direction)
        return image

    def same_as(self, other: Grid) -> bool:
        """Whether ``other`` is this grid (sizes equal, the rest within :data:`SAME_GRID_TOLERANCE`)."""
        tol = SAME_GRID_TOLERANCE
        return (
            self.size == other.size
            and np.allclose(self.spacing, other.spacing, rtol=tol, atol=0)
            and np.allclose(self.direction, other.direction, rtol=0, atol=tol)
            and np.allclose(self.origin, other.origin, rtol=0, atol=tol * max(1.0, *self.spacing))
        )

    def describe(self) -> str:
        """A one-line description for messages."""

        def fmt(values: Sequence[float]) -> str:
            return "(" + ", ".join(f"{v:.6g}" for v in values) + ")"

        identity = np.allclose(self.direction, np.eye(3).ravel(), atol=1e-6)
        axes = "axial" if identity else f"direction {fmt(self.direction)}"
        return f"size {self.size}, spacing {fmt(self.spacing)} mm, origin {fmt(self.origin)} mm, {axes}"


def _signed_axes(matrix: npt.NDArray[np.float64]) -> tuple[npt.NDArray[np.intp], npt.NDArray[np.float64]] | None:
    """For a direction whose columns are patient axes (a signed permutation), the world axis and sign of each."""
    if not np.isin(matrix, (-1.0, 0.0, 1.0)).all() or not (np.abs(matrix).sum(axis=0) == 1).all():
        return None
    columns = np.abs(matrix).argmax(axis=0)
    if len(set(columns.tolist())) != 3:
        return None
    return columns, matrix[columns, np.arange(3)]


def is_oblique(direction: Numbers) -> bool:
    """Whether a direction matrix has an axis that is not along a patient axis.

    Examples
    --------
    >>> is_oblique((1, 0, 0, 0, 0, -1, 0, 1, 0)), is_oblique((0.8, -0.6, 0, 0.6, 0.8, 0, 0, 0, 1))
    (False, True)
    """
    return bool(oblique(np.asarray(direction, dtype=float).reshape(1, 9))[0] == 1.0)
