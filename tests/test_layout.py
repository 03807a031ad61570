"""The project's public surface: every package exports names that resolve, and no module
takes from another a name that one does not export (private ones included)."""

from __future__ import annotations

import ast
import importlib
import types

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
    for folder in [*PACKAGES, "bench"]:
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
