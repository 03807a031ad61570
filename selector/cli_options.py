"""Command-line pieces shared by the ``selector`` commands of several packages: options,
the settings of the log commands, a progress bar."""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from core.paths import default_data_dir
from selector.config import Settings, load_settings

__all__ = ["DEFAULT_DATA", "Progress", "data_dir_option", "db_option", "log_settings"]

DEFAULT_DATA = default_data_dir()  # SELECTOR_DATA_DIR, else ../shared/data (core.paths)

db_option = click.option(
    "--db",
    "db_path",
    type=click.Path(path_type=Path),
    default=None,
    help="Decision log [SELECTOR_DB_PATH].",
)


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


def log_settings(db_path: Path | None) -> Settings:
    """The settings, with ``--db`` when given."""
    settings = load_settings()
    return settings if db_path is None else settings.model_copy(update={"db_path": db_path})


class Progress:
    """A progress bar on stderr (of known steps, or counting) that also shows each
    step's label."""

    def __init__(self, total: int | None, desc: str) -> None:
        from tqdm import tqdm

        self.bar: Any = tqdm(total=total, desc=desc, unit="step", file=sys.stderr)

    def __call__(self, message: str) -> None:
        self.bar.set_postfix_str(message[:60], refresh=False)
        self.bar.update()

    def __enter__(self) -> Progress:
        return self

    def __exit__(self, *exc: object) -> None:
        self.bar.close()
