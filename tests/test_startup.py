"""Start-up: what ``import imgindex`` and ``imgindex --help``/``--version`` load, in fresh interpreters.

``import imgindex`` loads the version and the error classes only; every other public name loads
from its module at first use (PEP 562). The command line parses its arguments (``--help``,
``--version``, usage errors) before it imports pandas, numpy or the readers. The reference for
"what was imported" is the interpreter itself: ``sys.modules`` after the fact, or the list of
every module ``python -X importtime`` reports. How fast this is lives in ``benchmarks/run.py
--only startup``, not here.
"""

from __future__ import annotations

import ast
import json
import re
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest

import imgindex

slow = pytest.mark.slow  # the tests that start an interpreter

#: What ``import imgindex`` must leave unloaded (the issue's list: examples pull pydicom, pydicom pulls requests).
NOT_ON_IMPORT = ("pydicom", "SimpleITK", "imgindex.examples", "imgindex.plot", "imgindex.export", "matplotlib")
#: What argument parsing must leave unloaded.
NOT_FOR_ARGUMENTS = ("pandas", "numpy", "pyarrow", "pydicom", "SimpleITK")


def _python(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, *args], capture_output=True, text=True, timeout=300, check=False)


def _fresh(code: str) -> object:
    """Run ``code`` in a fresh interpreter; it prints one json value as its last line, returned."""
    done = _python("-c", code)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def _imported(stderr: str) -> set[str]:
    """Every module an ``-X importtime`` run imported (its lines ``import time: self | cumulative | name``)."""
    return {m[1] for m in re.finditer(r"^import time:\s+\d+ \|\s+\d+ \| +(\S+)$", stderr, re.MULTILINE)}


@slow
def test_import_imgindex_leaves_the_heavy_modules_unloaded():
    loaded = _fresh(
        f"import sys, json, imgindex; print(json.dumps([m for m in {NOT_ON_IMPORT!r} if m in sys.modules]))"
    )
    assert loaded == []


@slow
def test_first_use_loads_what_is_needed():
    # A name loads its own module (and what that imports), and the others stay unloaded.
    loaded = _fresh(
        "import sys, json, imgindex\n"
        "assert imgindex.schema.__name__ == 'imgindex.schema'\n"
        "print(json.dumps(['imgindex.schema' in sys.modules, 'imgindex.examples' in sys.modules]))"
    )
    assert loaded == [True, False]


@slow
@pytest.mark.parametrize(
    "argv",
    [
        ["-m", "imgindex", "--help"],
        ["-m", "imgindex", "--version"],
        ["-m", "imgindex", "scan", "--help"],
        # the console script ``imgindex`` is ``imgindex.cli:main``: what its wrapper runs
        ["-c", "import sys; from imgindex.cli import main; sys.exit(main())", "--help"],
        ["-c", "import sys; from imgindex.cli import main; sys.exit(main())", "--version"],
    ],
)
def test_help_and_version_do_not_import_pandas_or_the_readers(argv):
    done = _python("-X", "importtime", *argv)
    assert done.returncode == 0, done.stderr[-3000:]
    imported = _imported(done.stderr)
    assert "imgindex.cli" in imported  # the listing is complete: the command line itself is in it
    assert not imported & set(NOT_FOR_ARGUMENTS), sorted(imported & set(NOT_FOR_ARGUMENTS))
    if "--version" in argv:
        assert done.stdout.strip() == f"imgindex {imgindex._version.__version__}"
    else:
        assert done.stdout.startswith("usage: imgindex")


@slow
def test_modules_loaded_on_first_use_show_in_importtime():
    # What the tests above rely on, and what a developer looking at start-up needs: the modules
    # the package and the SimpleITK stand-in load on first use are in -X importtime's list too.
    code = (
        "import json, sys, imgindex\n"
        "imgindex.scan, imgindex.voxels, imgindex.files.sitk.Image\n"
        "print(json.dumps(sorted(m for m in sys.modules if m.split('.')[0] in ('imgindex', 'SimpleITK'))))"
    )
    done = _python("-X", "importtime", "-c", code)
    assert done.returncode == 0, done.stderr[-3000:]
    loaded = set(json.loads(done.stdout.strip().splitlines()[-1]))
    assert {"imgindex.scan", "imgindex.walk", "imgindex.voxels", "SimpleITK"} <= loaded
    assert loaded <= _imported(done.stderr), sorted(loaded - _imported(done.stderr))


@slow
def test_a_usage_error_does_not_import_pandas():
    done = _python("-X", "importtime", "-m", "imgindex", "scan")  # PATH missing
    assert done.returncode == 2
    assert "the following arguments are required: path" in done.stderr
    assert not _imported(done.stderr) & set(NOT_FOR_ARGUMENTS)


@slow
def test_a_command_still_loads_the_library(tmp_path):
    done = _python("-m", "imgindex", "xml", str(tmp_path))
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "data.xml").is_file()


#: In a fresh interpreter: every name of ``__all__`` next to the object its defining module holds.
_SAME_OBJECTS = """
import importlib, json, sys
from types import ModuleType
{before}
import imgindex
names = {{}}
exec("from imgindex import *", names)
out = {{}}
for name in imgindex.__all__:
    value = getattr(imgindex, name)
    if isinstance(value, ModuleType):
        home = value.__name__
        same = value is importlib.import_module("imgindex." + name)
    elif name == "__version__":
        home = "imgindex._version"
        same = value == importlib.import_module(home).__version__
    else:
        home = value.__module__
        same = getattr(importlib.import_module(home), name) is value
    out[name] = [home, type(value).__name__, same, names[name] is value]
print(json.dumps(out))
"""


@slow
def test_every_public_name_is_the_object_its_module_defines():
    found = _fresh(_SAME_OBJECTS.format(before=""))
    assert sorted(found) == sorted(imgindex.__all__)
    for name, (home, _kind, same, star) in found.items():
        assert home.startswith("imgindex"), (name, home)
        assert same and star, name
    # the two names that are also submodules are the functions; the listed modules are modules
    assert found["scan"][:2] == ["imgindex.scan", "function"] and found["export"][:2] == ["imgindex.export", "function"]
    assert {name for name, (_home, kind, *_) in found.items() if kind == "module"} == {"examples", "plot", "schema"}


@slow
def test_submodules_imported_first_do_not_replace_the_functions_named_like_them():
    # The import system sets a loaded submodule as an attribute of its package: imgindex.scan and
    # imgindex.export (modules) must not replace imgindex.scan and imgindex.export (functions).
    first = _fresh(_SAME_OBJECTS.format(before="import imgindex.scan, imgindex.export, imgindex.api"))
    assert first == _fresh(_SAME_OBJECTS.format(before=""))
    assert first["scan"][1] == first["export"][1] == "function"


@slow
def test_dir_lists_every_public_name_before_any_is_loaded():
    listed = _fresh("import json, sys, imgindex; print(json.dumps([dir(imgindex), 'imgindex.api' in sys.modules]))")
    assert isinstance(listed, list)
    names, api_loaded = listed
    assert set(imgindex.__all__) <= set(names)
    assert names == sorted(names)
    assert api_loaded is False  # dir() lists the names without loading them


@slow
def test_other_submodules_load_on_first_use_too():
    # As with the eager package, which had imported them: no `import imgindex.voxels` needed.
    found = _fresh(
        "import json, sys, imgindex\n"
        "read = imgindex.voxels.read_image\n"
        "print(json.dumps([read is sys.modules['imgindex.voxels'].read_image, 'imgindex.export' in sys.modules]))"
    )
    assert found == [True, False]


@slow
def test_a_submodule_whose_dependency_is_missing_says_so():
    # not "module 'imgindex' has no attribute 'index'": the ImportError of what is missing
    found = _fresh(
        "import json, sys\n"
        "sys.modules['pandas'] = None  # as if pandas were not installed\n"
        "import imgindex\n"
        "try:\n"
        "    imgindex.index\n"
        "except Exception as exc:\n"
        "    print(json.dumps([type(exc).__name__, exc.name]))"
    )
    assert found == ["ModuleNotFoundError", "pandas"]


def test_unknown_names_are_attribute_errors():
    with pytest.raises(AttributeError, match="module 'imgindex' has no attribute 'no_such_name'"):
        _ = imgindex.no_such_name  # type: ignore[attr-defined]
    assert not hasattr(imgindex, "scan_files")
    assert not hasattr(imgindex, "__wrapped__")  # what inspect and doctest probe: never a submodule
    assert isinstance(imgindex.examples, ModuleType)


@slow
def test_commands_on_a_saved_index_do_not_load_the_readers(tmp_path):
    # show/pairs/errors on a saved index read parquet files only: no DICOM reader, no curation
    data = tmp_path / "data"
    imgindex.examples.write_example_dataset(data, n_samples=1, modalities=("CT",), formats=("dicom",), extras=False)
    index = imgindex.build_index(str(data), mask=str(data), workers=1)
    index.save(tmp_path / "idx")
    done = _python("-X", "importtime", "-m", "imgindex", "show", str(tmp_path / "idx"), "--json")
    assert done.returncode == 0, done.stderr[-3000:]
    summary = json.loads(done.stdout)
    assert summary["files"] == len(index.files) and summary["pairs"] == {"ok": len(index.pairs)}
    unneeded = {"pydicom", "SimpleITK", "imgindex.curate", "imgindex.scan", "imgindex.headers"}
    assert not _imported(done.stderr) & unneeded, sorted(_imported(done.stderr) & unneeded)


def test_every_public_name_is_declared_for_type_checkers_and_for_loading():
    # __init__.py names each public name three times: __all__, the TYPE_CHECKING imports (what
    # mypy and IDEs see) and the install table (what loads at run time); the three must agree.
    tree = ast.parse(Path(imgindex.__file__).read_text(encoding="utf-8"))
    eager, typed, table = set(), set(), set()
    for node in tree.body:
        if isinstance(node, ast.ImportFrom):
            eager |= {alias.asname or alias.name for alias in node.names}
        elif isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            typed |= {
                alias.asname or alias.name for n in node.body if isinstance(n, ast.ImportFrom) for alias in n.names
            }
        elif isinstance(node, ast.Expr) and isinstance(node.value, ast.Call) and "install" in ast.unparse(node.value):
            table |= {key.value for key in node.value.args[1].keys if isinstance(key, ast.Constant)}
    eager -= {"_lazy"}
    assert table and typed and eager  # the shape of __init__.py this test reads
    assert eager | typed == set(imgindex.__all__)
    assert eager | table == set(imgindex.__all__)
    assert not eager & table
