"""Step 7: voxels, read after the index, one object at a time.

- :func:`read_image` / :func:`read_voxels`: an image object as a SimpleITK image / numpy array
  with real-world values and the geometry of its headers (:mod:`.image`, :mod:`.dicom`; pixel
  data decoded by :mod:`.decode`; tilted and gapped DICOM stacks laid out where the patient was by
  :mod:`.layout`; sizes checked before allocating by :mod:`.limits`);
- :func:`read_mask`: a mask object as one binary image per region on a reference grid
  (:mod:`.rtstruct`, :mod:`.seg`, :mod:`.labelmap`);
- :class:`Grid`: size, spacing, origin and direction, and the world ↔ index maps.

Most users call ``ImageFile.read()``, ``ImageFile.to_numpy()`` and ``MaskFile.read(reference)``.
"""

from .grid import Grid, is_oblique
from .image import as_grid, read_grid, read_image, read_voxels
from .labelmap import label_values
from .mask import read_mask
from .rtstruct import rasterise, read_rtstruct
from .seg import read_seg

__all__ = [
    "Grid",
    "as_grid",
    "is_oblique",
    "label_values",
    "rasterise",
    "read_grid",
    "read_image",
    "read_mask",
    "read_rtstruct",
    "read_seg",
    "read_voxels",
]
