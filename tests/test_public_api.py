"""``imgindex.__all__`` is the package's public namespace: sorted, without duplicates, complete.

Public means: every name of ``vars(imgindex)`` that does not start with ``_`` and is not a module
(functions, classes, exceptions imported into ``imgindex/__init__.py``), plus the submodules and
dunder names that ``__all__`` itself lists (``examples``, ``plot``, ``schema``, ``__version__``).
Other submodules (``imgindex.api``, ``imgindex.scan``, ...) are attributes of the package only
because they were imported, and are not public. A name added to ``__init__.py`` must be added to
``__all__``, and the other way round.
"""

from __future__ import annotations

from types import ModuleType

import imgindex

ALL = list(imgindex.__all__)


def _listed_modules() -> set[str]:
    return {name for name in ALL if isinstance(getattr(imgindex, name, None), ModuleType)}


def _listed_dunders() -> set[str]:
    return {name for name in ALL if name.startswith("__") and name.endswith("__")}


def test_all_is_sorted_without_duplicates():
    assert sorted(ALL) == ALL
    assert len(ALL) == len(set(ALL))
    assert all(isinstance(name, str) for name in ALL)


def test_every_name_in_all_resolves():
    missing = [name for name in ALL if not hasattr(imgindex, name)]
    assert not missing, f"imgindex.__all__ lists names the package does not define: {missing}"
    namespace: dict = {}
    exec("from imgindex import *", namespace)
    assert set(ALL) <= set(namespace)


def test_all_is_the_public_namespace():
    public = {
        name for name, value in vars(imgindex).items() if not name.startswith("_") and not isinstance(value, ModuleType)
    }
    expected = public | _listed_modules() | _listed_dunders()
    assert set(ALL) == expected, (
        f"not in __all__: {sorted(expected - set(ALL))}; in __all__ but not public: {sorted(set(ALL) - expected)}"
    )


def test_listed_modules_and_dunders_are_the_packages_own():
    for name in _listed_modules():
        assert getattr(imgindex, name).__name__ == f"imgindex.{name}", name
    assert _listed_dunders() <= {"__version__"}
    assert isinstance(imgindex.__version__, str)
