"""imgindex: index medical-imaging datasets into pandas DataFrames.

The first step is :func:`scan`, which turns a directory, a file, a list of paths or numpy arrays
into the file-reference DataFrame (one row per imaging file, with its header values).

Examples
--------
>>> import imgindex
>>> files = imgindex.scan(example_dir)  # 2 samples, each with CT, PET and MR in every format
>>> files.groupby("file_type").size().to_dict()
{'dicom': 56, 'nifti': 12, 'nrrd': 12, 'numpy': 108}
>>> int(files["error"].notna().sum())
0
"""

from . import examples, plot, schema
from ._version import __version__
from .api import build_index, extract_mask_labels, import_image, import_image_and_mask, import_mask
from .dataxml import get_data_xml
from .errors import (
    ExportError,
    HeaderError,
    ImgIndexError,
    ImgIndexWarning,
    InputError,
    InputTypeError,
    NotFoundError,
    SchemaVersionError,
)
from .export import export
from .files import ImageFile, MaskFile
from .index import Index, read_index
from .options import ImportOptions
from .report import write_report
from .saved import read_files, to_parquet, write_files
from .scan import scan, summary

__all__ = [
    "ExportError",
    "HeaderError",
    "ImageFile",
    "ImgIndexError",
    "ImgIndexWarning",
    "ImportOptions",
    "Index",
    "InputError",
    "InputTypeError",
    "MaskFile",
    "NotFoundError",
    "SchemaVersionError",
    "__version__",
    "build_index",
    "examples",
    "export",
    "extract_mask_labels",
    "get_data_xml",
    "import_image",
    "import_image_and_mask",
    "import_mask",
    "plot",
    "read_files",
    "read_index",
    "scan",
    "schema",
    "summary",
    "to_parquet",
    "write_files",
    "write_report",
]
