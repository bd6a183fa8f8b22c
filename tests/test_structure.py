"""The shape of the code: one import namespace (submit.*) over the root folders, imports that only point down
the floors of docs/architecture.md, and no import cycles among modules, counting the imports made inside
functions too (a late import that only hides a cycle is still a cycle)."""

from __future__ import annotations

import ast
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# root folder -> the package it is under the one namespace
FOLDERS = {"submit": "submit", "kernel": "submit.kernel", "models": "submit.models", "curation": "submit.curation",
           "cv": "submit.cv", "ensembles": "submit.ensembles", "competitions": "submit.competitions"}
# folder -> the folders it may import: each floor only what stands below it (plugins stand above the heads)
MAY_IMPORT = {
    "kernel": set(),
    "models": {"kernel"},
    "competitions": {"models", "kernel"},
    "curation": {"models", "kernel"},
    "cv": {"curation", "models", "kernel"},
    "ensembles": {"cv", "curation", "models", "kernel"},
    "submit": {"ensembles", "cv", "curation", "models", "kernel"},
}


def _module(path: Path) -> str:
    folder, *parts = path.relative_to(ROOT).with_suffix("").parts
    dotted = ".".join([FOLDERS[folder], *parts])
    return dotted.removesuffix(".__init__")


def _files() -> dict[str, Path]:
    return {_module(p): p for folder in FOLDERS for p in (ROOT / folder).rglob("*.py")}


def _imports(path: Path, known: set[str]) -> set[str]:
    """Project modules imported anywhere in the file (`from package import name` counts name when a module)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            names = [node.module, *(f"{node.module}.{alias.name}" for alias in node.names)]
        else:
            continue
        found |= {name for name in names if name in known}
    return found


def _folder(module: str) -> str:
    by_length = sorted(FOLDERS.items(), key=lambda item: -len(item[1]))
    return next(folder for folder, package in by_length if module == package or module.startswith(package + "."))


def test_every_package_folder_is_installed_under_the_namespace():
    setuptools = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["tool"]["setuptools"]
    assert {package: folder for package, folder in setuptools["package-dir"].items()} == \
        {package: folder for folder, package in FOLDERS.items()}
    packages = {_module(p.parent / "__init__.py") for folder in FOLDERS for p in (ROOT / folder).rglob("__init__.py")}
    assert packages == set(setuptools["packages"])


def test_imports_point_down_the_floors():
    files = _files()
    upward = []
    for name, path in files.items():
        here = _folder(name)
        for other in _imports(path, set(files)):
            if _folder(other) != here and _folder(other) not in MAY_IMPORT[here]:
                upward.append(f"{path.relative_to(ROOT)} imports {other}")
    assert not upward, "imports that run back up a floor:\n" + "\n".join(upward)


def test_nothing_imports_a_plugin_but_its_own_package():
    """Plugins are found through the registry (module names as strings), never imported by the harness."""
    files = _files()
    reaching = [f"{path.relative_to(ROOT)} imports {other}" for name, path in files.items()
                if _folder(name) != "competitions"
                for other in _imports(path, set(files)) if _folder(other) == "competitions"]
    assert not reaching, "\n".join(reaching)


def test_no_import_cycles():
    files = _files()
    graph = {name: _imports(path, set(files)) - {name} for name, path in files.items()}
    cycles, state = [], {}

    def visit(name: str, stack: list[str]) -> None:
        state[name] = "open"
        for other in sorted(graph[name]):
            if state.get(other) == "open":
                cycles.append(" -> ".join([*stack[stack.index(other):], other]))
            elif other not in state:
                visit(other, [*stack, other])
        state[name] = "done"

    for name in sorted(graph):
        if name not in state:
            visit(name, [name])
    assert not cycles, "import cycles:\n" + "\n".join(cycles)


def test_no_function_outside_tests_is_longer_than_50_lines():
    """A function that fits on a screen; ruff holds complexity (C90) and statements (PLR0915) beside this."""
    long = []
    for path in ROOT.rglob("*.py"):
        parts = path.relative_to(ROOT).parts
        if parts[0] in {"tests", ".venv", "build"} or any(part.startswith(".") for part in parts):
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node.end_lineno - node.lineno >= 50:
                long.append(f"{path.relative_to(ROOT)}:{node.lineno} {node.name} ({node.end_lineno - node.lineno + 1})")
    assert not long, "functions over 50 lines:\n" + "\n".join(long)
