"""Small, deterministic synthetic medical-imaging datasets for tests, docs and demos.

:func:`write_example_dataset` writes a dataset shaped like a real soft-tissue-sarcoma
collection (samples ``STS_001``, ``STS_002``, ... with CT, PET and MR T1 series, each as DICOM,
NIfTI, NRRD, 3D numpy and per-slice numpy, with RTSTRUCT / SEG / label-map masks) and returns a
manifest: the ground truth of every file written. :func:`example_arrays` gives in-memory
phantoms. Everything is derived from ``seed``, so the same arguments give byte-identical files.
"""

from .phantom import MODALITIES, ROI_NAMES
from .series import SPLITS, SeriesDataset, write_series_dataset
from .shapes import SHAPES, ShapesDataset, write_shapes_dataset
from .sts import EXTRAS, FORMATS, LAYOUTS, MANIFEST_COLUMNS, example_arrays, write_example_dataset

__all__ = [
    "EXTRAS",
    "FORMATS",
    "LAYOUTS",
    "MANIFEST_COLUMNS",
    "MODALITIES",
    "ROI_NAMES",
    "SHAPES",
    "SPLITS",
    "SeriesDataset",
    "ShapesDataset",
    "example_arrays",
    "write_example_dataset",
    "write_series_dataset",
    "write_shapes_dataset",
]
