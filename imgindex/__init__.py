"""imgindex: index medical-imaging datasets into pandas DataFrames.

The first step is :func:`scan`, which turns a directory, a file, a list of paths or numpy arrays
into the file-reference DataFrame (one row per imaging file, with its header values).

``import imgindex`` loads only the version and the error classes; every other public name is
imported from its module at its first use (PEP 562), so that the command line and programs that
need one function start quickly. ``from imgindex import *`` and ``imgindex.examples`` work as usual.

Examples
--------
>>> import imgindex
>>> files = imgindex.scan(example_dir)  # 2 samples, each with CT, PET and MR in every format
>>> files.groupby("file_type").size().to_dict()
{'dicom': 56, 'nifti': 12, 'nrrd': 12, 'numpy': 108}
>>> int(files["error"].notna().sum())
0
"""

import typing as _typing

from . import _lazy
from ._version import __version__
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

if _typing.TYPE_CHECKING:  # pragma: no cover - what type checkers and IDEs see; at run time they load on first use
    from . import examples, plot, schema
    from .api import build_index, extract_mask_labels, import_image, import_image_and_mask, import_mask
    from .dataxml import get_data_xml
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

#: Public name → where it is defined: ``".module:attribute"``, or ``".module:"`` for a submodule.
_lazy.install(
    __name__,
    {
        "build_index": ".api:build_index",
        "examples": ".examples:",
        "export": ".export:export",
        "extract_mask_labels": ".api:extract_mask_labels",
        "get_data_xml": ".dataxml:get_data_xml",
        "ImageFile": ".files:ImageFile",
        "import_image": ".api:import_image",
        "import_image_and_mask": ".api:import_image_and_mask",
        "import_mask": ".api:import_mask",
        "ImportOptions": ".options:ImportOptions",
        "Index": ".index:Index",
        "MaskFile": ".files:MaskFile",
        "plot": ".plot:",
        "read_files": ".saved:read_files",
        "read_index": ".index:read_index",
        "scan": ".scan:scan",
        "schema": ".schema:",
        "summary": ".scan:summary",
        "to_parquet": ".saved:to_parquet",
        "write_files": ".saved:write_files",
        "write_report": ".report:write_report",
    },
)
