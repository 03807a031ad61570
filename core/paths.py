"""Where the project's files are, whatever the current folder: the public data sets
default to ``../shared/data`` beside the project, not beside the shell."""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["PROJECT_ROOT", "default_data_dir"]

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
