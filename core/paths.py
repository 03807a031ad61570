"""Where the project's files are, whatever the current folder: the public data sets
default to ``../shared/data`` beside the project, and the service's own files (the
decision log, the MLflow store) to its home folder, not beside the shell."""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["PROJECT_ROOT", "default_data_dir", "default_tracking_uri", "home"]

PROJECT_ROOT = Path(__file__).resolve().parent.parent  # the folder holding core/, selector/…


def default_data_dir() -> Path:
    """``SELECTOR_DATA_DIR`` when set; else ``../shared/data`` from the current folder when
    it exists there (a checkout's root); else ``../shared/data`` beside the project."""
    if os.environ.get("SELECTOR_DATA_DIR"):
        return Path(os.environ["SELECTOR_DATA_DIR"])
    here = Path("../shared/data")
    if here.is_dir():
        return here
    return (PROJECT_ROOT.parent / "shared" / "data").resolve()


def home() -> Path:
    """The folder of the service's files by default: ``SELECTOR_HOME`` when set; else the
    project's folder when it runs from a checkout (the folder holds ``pyproject.toml``);
    else the current folder (an installed package has no folder of its own to write in)."""
    if os.environ.get("SELECTOR_HOME"):
        return Path(os.environ["SELECTOR_HOME"]).resolve()
    if (PROJECT_ROOT / "pyproject.toml").is_file():
        return PROJECT_ROOT
    return Path.cwd()


def default_tracking_uri() -> str:
    """The MLflow store by default: ``mlflow.db`` in :func:`home`, artifacts beside it."""
    return f"sqlite:///{home() / 'mlflow.db'}"
