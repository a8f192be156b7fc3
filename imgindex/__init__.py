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

__version__ = "0.1.0"

from . import examples, schema
from .errors import (
    HeaderError,
    ImgIndexError,
    InputError,
    InputTypeError,
    NotFoundError,
    SchemaVersionError,
)
from .persist import read_files, to_parquet
from .scan import scan, summary

__all__ = [
    "HeaderError", "ImgIndexError", "InputError", "InputTypeError", "NotFoundError",
    "SchemaVersionError", "__version__", "examples", "read_files", "scan", "schema", "summary",
    "to_parquet",
]
