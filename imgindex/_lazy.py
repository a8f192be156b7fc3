"""Modules imported on first use, so that ``import imgindex`` stays light.

SimpleITK takes about 100 MB of memory and a third of a second to import; indexing a DICOM tree
never needs it (only NIfTI/NRRD headers and voxels do). Modules write
``from ._lazy import SimpleITK as sitk`` and use ``sitk.ReadImage`` as usual; the real import
happens at the first attribute access.
"""

from __future__ import annotations

import sys
from types import ModuleType
from typing import TYPE_CHECKING, Any


def load(name: str) -> ModuleType:
    """The module ``name``, imported as the ``import`` statement does.

    Unlike :func:`importlib.import_module`, this path is the one ``python -X importtime`` times, so
    modules loaded on first use show in its list like the others.

    Examples
    --------
    >>> load("json.decoder").__name__
    'json.decoder'
    """
    __import__(name)
    return sys.modules[name]


class LazyModule(ModuleType):
    """A stand-in for the module ``name`` that imports it at the first attribute access.

    Examples
    --------
    >>> math = LazyModule("math")
    >>> math.sqrt(4.0)
    2.0
    """

    def __getattr__(self, attr: str) -> Any:
        module = load(self.__name__)
        value = getattr(module, attr)
        setattr(self, attr, value)  # later accesses skip __getattr__
        return value

    def __dir__(self) -> list[str]:
        return dir(load(self.__name__))


if TYPE_CHECKING:  # the type checker sees the real module
    import SimpleITK as SimpleITK
else:
    SimpleITK = LazyModule("SimpleITK")


class LazyPackage(ModuleType):
    """A package whose public names are imported from their submodules at first access (PEP 562).

    :func:`install` gives the package its module ``__getattr__`` and ``__dir__`` and this class.
    What a plain module cannot do: when the import system loads a submodule, it sets it as an
    attribute of its package, and for a submodule named like the function it exports
    (``imgindex.scan`` the module, ``imgindex.scan`` the function) that would replace the function.
    This class keeps the exported name instead: the submodule stays in ``sys.modules``.

    Examples
    --------
    >>> import sys
    >>> package = sys.modules["imgindex"]
    >>> isinstance(package, LazyPackage), callable(package.scan), callable(package.export)
    (True, True, True)
    """

    def __setattr__(self, name: str, value: Any) -> None:
        exports: dict[str, str] = self.__dict__.get("_EXPORTS", {})
        where = exports.get(name)
        if (
            isinstance(value, ModuleType)
            and where is not None
            and where != f".{name}:"  # the export is the module itself (imgindex.examples)
            and value.__name__ == f"{self.__name__}.{name}"
        ):
            return  # the submodule named like an exported function: the function stays the attribute
        super().__setattr__(name, value)


def install(package: str, exports: dict[str, str]) -> None:
    """Make ``package`` load the names of ``exports`` on first access.

    Parameters
    ----------
    package : str
        The package's ``__name__`` (it must be in ``sys.modules``, as during its own import).
    exports : dict of str to str
        Public name → ``".submodule:attribute"``, or ``".submodule:"`` for the submodule itself.
        Any other name of a submodule of a package (``imgindex.voxels``) imports that submodule.

    Examples
    --------
    >>> import sys, types
    >>> sys.modules["lazydemo"] = types.ModuleType("lazydemo")
    >>> install("lazydemo", {"dumps": "json:dumps", "json": "json:"})
    >>> sys.modules["lazydemo"].dumps([1])
    '[1]'
    >>> hasattr(sys.modules["lazydemo"], "loads")  # not exported, and a module has no submodules
    False
    >>> del sys.modules["lazydemo"]
    """
    module = sys.modules[package]
    namespace = module.__dict__

    def __getattr__(name: str) -> Any:
        where = exports.get(name)
        if where is None:
            return _submodule(name)
        submodule, _, attribute = where.partition(":")
        loaded = load(package + submodule if submodule.startswith(".") else submodule)
        value = getattr(loaded, attribute) if attribute else loaded
        namespace[name] = value  # later accesses find it in the namespace and skip __getattr__
        return value

    def _submodule(name: str) -> ModuleType:
        # Any other submodule, as when the eager package had loaded them all: `imgindex.voxels.read_image`
        # works after a bare `import imgindex`. Dunder probes (`__wrapped__` ...) are not submodules.
        missing = AttributeError(f"module {package!r} has no attribute {name!r}")
        if name.startswith("__") or "__path__" not in namespace:
            raise missing
        try:
            return load(f"{package}.{name}")
        except ModuleNotFoundError as exc:
            if exc.name != f"{package}.{name}":
                raise  # the submodule exists, a module it needs does not: say that, not "no attribute"
            raise missing from None

    def __dir__() -> list[str]:
        return sorted(set(namespace) | set(exports))

    namespace["_EXPORTS"] = exports
    namespace["__getattr__"] = __getattr__
    namespace["__dir__"] = __dir__
    module.__class__ = LazyPackage
