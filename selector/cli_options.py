"""Command-line options shared by the ``selector`` commands of several packages."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import click

__all__ = ["DEFAULT_DATA", "data_dir_option"]

DEFAULT_DATA = Path("../shared/data")


def data_dir_option(
    help_text: str = "Folder of the public data sets.",
) -> Callable[[Callable[..., None]], Callable[..., None]]:
    """``--data DIR`` (as ``data_dir``), defaulting to the shared public data."""
    return click.option(
        "--data",
        "data_dir",
        type=click.Path(path_type=Path),
        default=DEFAULT_DATA,
        show_default=True,
        help=help_text,
    )
