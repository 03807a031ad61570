"""Package surfaces that cost nothing to import: a package's ``__init__`` lists its
public names and the module of each, and a name's module is imported the first time
the name is used (PEP 562), so ``import training`` does not load pandas or MLflow."""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from typing import Any

__all__ = ["load"]


def load(package: str, exports: Mapping[str, str], name: str) -> Any:
    """``name`` of ``package``, from its module in ``exports``.

    >>> load("core", {"sha256_file": "core.artifacts"}, "sha256_file").__name__
    'sha256_file'
    """
    module = exports.get(name)
    if module is None:
        raise AttributeError(f"module {package!r} has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)
