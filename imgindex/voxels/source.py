"""What the voxel readers read of an image or mask object: a structural type, no import of the objects.

:class:`imgindex.ImageFile` and :class:`imgindex.MaskFile` have every attribute listed here, so
they are :class:`VoxelSource` / :class:`MaskSource` objects; so is any object with the same
attributes. The readers of :mod:`imgindex.voxels` never import :mod:`imgindex.files` (which
imports them).

One attribute is optional and read with ``getattr``: ``frames``, the 0-based frame numbers of a
multi-frame DICOM file that make the object (one volume of an enhanced multi-volume file);
``None`` or absent means every frame.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

import numpy as np
import numpy.typing as npt

if TYPE_CHECKING:
    from .names import RoiName

__all__ = ["MaskSource", "VoxelSource"]


@runtime_checkable
class VoxelSource(Protocol):
    """An image (or label-map) object: its files or in-memory array, and the geometry of the index."""

    file_type: str | None
    file_path: str | None
    file_paths: tuple[str, ...]
    image_data: npt.NDArray[Any] | None
    image_dimension: tuple[int, int, int] | None
    image_spacing: tuple[float, float, float] | None
    image_origin: tuple[float, float, float] | None
    image_orientation: npt.NDArray[np.float64] | None
    modality: str | None
    frame_of_reference_uid: str | None
    sop_instance_uid: tuple[str, ...] | str | None


@runtime_checkable
class MaskSource(VoxelSource, Protocol):
    """A mask object: a :class:`VoxelSource` with the ROI selection and the ROI names of its header."""

    roi_name: RoiName
    roi_names: tuple[str, ...] | None
