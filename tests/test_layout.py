"""The project's shape: every package exports names that resolve; no module takes from
another a name that one does not export (private ones included); modules and functions
fit on a screen; the tests mirror the source tree."""

from __future__ import annotations

import ast
import importlib
import types
from pathlib import Path

import pytest

from tests.conftest import ROOT

PACKAGES = ["core", "features", "models", "selector", "training", "simulator"]


@pytest.mark.parametrize("package", PACKAGES)
def test_each_package_exports_names_that_resolve(package: str) -> None:
    pkg = importlib.import_module(package)
    assert pkg.__doc__, package
    assert pkg.__all__, package
    for name in pkg.__all__:
        value = getattr(pkg, name)
        assert not isinstance(value, types.ModuleType), f"{package}.{name} is a module"


def _exported(module: str) -> set[str] | None:
    path = ROOT.joinpath(*module.split("."))
    source = path.with_suffix(".py") if path.with_suffix(".py").exists() else path / "__init__.py"
    if not source.exists():
        return None
    tree = ast.parse(source.read_text(encoding="utf-8"))
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(
            isinstance(t, ast.Name) and t.id == "__all__" for t in node.targets
        ):
            if isinstance(node.value, ast.List):
                return set(ast.literal_eval(node.value))
            return set(importlib.import_module(module).__all__)
    return set()


def test_no_module_imports_a_name_another_does_not_export() -> None:
    taken = []
    for folder in [*PACKAGES, "bench", "tests"]:
        for source in sorted((ROOT / folder).rglob("*.py")):
            tree = ast.parse(source.read_text(encoding="utf-8"))
            for node in ast.walk(tree):
                if not (isinstance(node, ast.ImportFrom) and node.module):
                    continue
                if node.module.split(".")[0] not in PACKAGES:
                    continue
                exported = _exported(node.module)
                if exported is None:
                    continue
                base = ROOT.joinpath(*node.module.split("."))
                for alias in node.names:
                    submodule = (base / f"{alias.name}.py").exists() or (base / alias.name).is_dir()
                    if not submodule and alias.name not in exported:
                        taken.append(f"{source.relative_to(ROOT)}: {node.module}.{alias.name}")
    assert not taken, "\n".join(taken)


# a module holds one concept, as long as it needs up to this; past it, the concept is
# usually two
MODULE_LINES = 500
FUNCTION_LINES = 60
# modules allowed past MODULE_LINES, and why
LONG_MODULES: dict[str, str] = {}


def _sources() -> list[Path]:
    return sorted(
        p
        for folder in [*PACKAGES, "bench", "tests", "gateway"]
        for p in (ROOT / folder).rglob("*.py")
    )


def test_modules_and_functions_fit_on_a_screen() -> None:
    too_long = []
    for source in _sources():
        rel = source.relative_to(ROOT).as_posix()
        text = source.read_text(encoding="utf-8")
        lines = len(text.splitlines())
        if lines > MODULE_LINES and rel not in LONG_MODULES:
            too_long.append(f"{rel}: {lines} lines (at most {MODULE_LINES})")
        if lines <= MODULE_LINES and rel in LONG_MODULES:
            too_long.append(f"{rel}: {lines} lines now; remove it from LONG_MODULES")
        for node in ast.walk(ast.parse(text)):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                length = (node.end_lineno or node.lineno) - node.lineno + 1
                if length > FUNCTION_LINES:
                    too_long.append(
                        f"{rel}:{node.lineno} {node.name}: {length} lines (at most "
                        f"{FUNCTION_LINES})"
                    )
    assert not too_long, "\n".join(too_long)


# test folders that mirror no source package: shared fixtures, the benchmarks' own
# tests (bench/ is not a package of the service), the soak of the whole service, the
# docs' examples
OWN_TEST_FOLDERS = {"tests/data", "tests/bench", "tests/soak", "tests/docs", "tests/contract"}


def test_the_tests_mirror_the_source_tree() -> None:
    packages = {
        p.parent.relative_to(ROOT).as_posix()
        for name in PACKAGES
        for p in (ROOT / name).rglob("__init__.py")
        if any(m.name != "__init__.py" for m in p.parent.glob("*.py"))
    }
    folders = {
        p.relative_to(ROOT).as_posix()
        for p in (ROOT / "tests").rglob("*")
        if p.is_dir() and p.name != "__pycache__" and any(p.glob("*.py"))
    }
    mirrors = {f"tests/{p}" for p in packages}
    assert sorted(mirrors - folders) == [], "source packages without a test folder"
    assert sorted(folders - mirrors - OWN_TEST_FOLDERS - {"tests"}) == [], (
        "test folders that mirror no source package"
    )
