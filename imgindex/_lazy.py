"""Modules imported on first use, so that ``import imgindex`` stays light.

SimpleITK takes about 100 MB of memory and a third of a second to import; indexing a DICOM tree
never needs it (only NIfTI/NRRD headers and voxels do). Modules write
``from ._lazy import SimpleITK as sitk`` and use ``sitk.ReadImage`` as usual; the real import
happens at the first attribute access.
"""

from __future__ import annotations

import importlib
from types import ModuleType
from typing import TYPE_CHECKING, Any


class LazyModule(ModuleType):
    """A stand-in for the module ``name`` that imports it at the first attribute access.

    Examples
    --------
    >>> math = LazyModule("math")
    >>> math.sqrt(4.0)
    2.0
    """

    def __getattr__(self, attr: str) -> Any:
        module = importlib.import_module(self.__name__)
        value = getattr(module, attr)
        setattr(self, attr, value)  # later accesses skip __getattr__
        return value

    def __dir__(self) -> list[str]:
        return dir(importlib.import_module(self.__name__))


if TYPE_CHECKING:  # the type checker sees the real module
    import SimpleITK as SimpleITK
else:
    SimpleITK = LazyModule("SimpleITK")
