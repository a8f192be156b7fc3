"""imgindex: index medical-imaging datasets into pandas DataFrames.

The first step is :func:`scan`, which turns a directory, a file, a list of paths or numpy arrays
into the file-reference DataFrame (one row per imaging file, with its header values).

Examples
--------
>>> import imgindex, tempfile
>>> root = tempfile.mkdtemp()
>>> _ = imgindex.examples.write_example_dataset(root, n_samples=1)
>>> files = imgindex.scan(root)
>>> int(files["error"].isna().sum()) == len(files) - files.attrs["scan"]["n_errors"]
True
"""

from . import examples, plot, schema
from ._version import __version__
from .api import build_index, extract_mask_labels, import_image, import_image_and_mask, import_mask
from .dataxml import get_data_xml
from .errors import (
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
from .persist import read_files, to_parquet
from .scan import scan, summary

__all__ = [
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
]
