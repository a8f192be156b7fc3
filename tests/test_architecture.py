"""The house rules of the module list: imports point down the layers, no cycles, small modules.

The layers are the data flow of DESIGN.md: a module may import modules of its own layer or of
layers below, never above, and no import chain may come back to where it started. Imports under
``if TYPE_CHECKING:`` count too (a type-level cycle is still a cycle in the design).
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "imgindex"

#: Lowest first. Each entry: module names (dotted, below imgindex) or package prefixes ending in ".".
LAYERS: list[tuple[str, ...]] = [
    ("_version", "_lazy", "_memory", "_distinct", "errors"),
    ("formats", "schema", "patterns", "folders", "arguments", "geometry", "parallel"),
    ("options", "persist", "saved", "atomic", "dataxml"),
    ("walk", "inputs", "headers."),
    ("chunks", "scan", "distributed"),
    ("filters", "samples", "roles", "scanner"),
    ("curate",),
    ("stacking.",),
    ("association.",),
    ("voxels.",),
    ("files",),
    ("index", "plot"),
    ("api", "load"),
    ("export", "export.", "report", "report."),
    ("examples.",),
    ("cli_output", "cli_report"),
    ("__init__", "cli", "__main__"),
]


def _modules() -> dict[str, Path]:
    out = {}
    for path in PACKAGE.rglob("*.py"):
        parts = path.relative_to(PACKAGE).with_suffix("").parts
        out[".".join(parts)] = path
    return out


def _layer(module: str) -> int:
    bare = module[: -len(".__init__")] if module.endswith(".__init__") else module
    for number, names in enumerate(LAYERS):
        for name in names:
            if bare == name or (name.endswith(".") and (bare + ".").startswith(name)):
                return number
    raise AssertionError(f"imgindex.{module} is in no layer of tests/test_architecture.py: add it to LAYERS")


def _imports(module: str, path: Path, modules: dict[str, Path]) -> set[str]:
    """The imgindex modules ``module`` imports (relative and absolute, at any depth)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    package = module.split(".")[:-1]  # "headers.dicom" and "headers.__init__" are both in headers
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[: len(package) - (node.level - 1)]
                target = ".".join(base + ([node.module] if node.module else []))
            elif (node.module or "").startswith("imgindex"):
                target = node.module[len("imgindex.") :] if node.module != "imgindex" else ""
            else:
                continue
            for alias in node.names:
                candidate = f"{target}.{alias.name}" if target else alias.name
                if candidate in modules or f"{candidate}.__init__" in modules:
                    found.add(candidate if candidate in modules else f"{candidate}.__init__")
                else:
                    found.add(target if target in modules else f"{target}.__init__" if target else "__init__")
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.startswith("imgindex."):
                    name = alias.name[len("imgindex.") :]
                    found.add(name if name in modules else f"{name}.__init__")
    found.discard(module)
    return {m for m in found if m in modules}


@pytest.fixture(scope="module")
def graph() -> dict[str, set[str]]:
    modules = _modules()
    return {m: _imports(m, p, modules) for m, p in modules.items()}


def test_every_module_is_in_a_layer(graph):
    for module in graph:
        _layer(module)


def test_imports_point_down_the_layers(graph):
    upward = [
        f"imgindex.{m} (layer {_layer(m)}) imports imgindex.{t} (layer {_layer(t)})"
        for m, targets in graph.items()
        for t in targets
        if _layer(t) > _layer(m) and not (m.endswith("__init__") and t.startswith(m[: -len("__init__")]))
    ]
    assert not upward, "\n".join(upward)


def test_no_import_cycles(graph):
    seen: dict[str, int] = {}
    cycles: list[list[str]] = []

    def visit(node: str, path: list[str]) -> None:
        seen[node] = 1
        for target in sorted(graph[node]):
            if seen.get(target) == 1:
                cycles.append([*path[path.index(target) :], target])
            elif target not in seen:
                visit(target, [*path, target])
        seen[node] = 2

    for module in sorted(graph):
        if module not in seen:
            visit(module, [module])
    assert not cycles, "import cycles: " + "; ".join(" -> ".join(c) for c in cycles)


#: Modules allowed over MAX_LINES, and why (the same reasons are in the CHANGELOG / session notes).
LONG = {
    "schema": "the declarations of the three tables' columns, each with its doc line, are one list per table",
}
MAX_LINES = 450


def test_modules_are_small():
    long = {
        m: n
        for m, p in _modules().items()
        if (n := len(p.read_text(encoding="utf-8").splitlines())) > MAX_LINES and m not in LONG
    }
    assert not long, f"modules over {MAX_LINES} lines: {long}"


def test_the_fast_dicom_reader_is_imported_plainly():
    """No try/except ImportError that would silently fall back to pydicom for every file."""
    for path in (PACKAGE / "headers").glob("*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.Try):
                caught = [ast.unparse(h.type) for h in node.handlers if h.type is not None]
                assert not any("ImportError" in c for c in caught), f"{path.name} hides an ImportError"
