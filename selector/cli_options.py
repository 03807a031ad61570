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
from selector.store.base import DecisionLog

__all__ = [
    "DEFAULT_DATA",
    "Progress",
    "data_dir_option",
    "db_option",
    "db_overrides",
    "existing_log",
    "log_settings",
]

DEFAULT_DATA = default_data_dir()  # SELECTOR_DATA_DIR, else ../shared/data (core.paths)

db_option = click.option(
    "--db",
    "db_path",
    metavar="PATH|URL",
    default=None,
    help="Decision log: a SQLite file, or postgresql://USER:PASSWORD@HOST:PORT/DB "
    "[SELECTOR_DATABASE_URL, SELECTOR_DB_PATH].",
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


def db_overrides(db: str | Path | None) -> dict[str, object]:
    """The settings ``--db`` overrides: a URL names the database, a path the SQLite file
    (in place of any SELECTOR_DATABASE_URL)."""
    if db is None:
        return {}
    if "://" in str(db):
        return {"database_url": str(db)}
    return {"db_path": Path(db), "database_url": None}


def log_settings(db: str | Path | None) -> Settings:
    """The settings, with ``--db`` when given."""
    return load_settings(**db_overrides(db))


def existing_log(settings: Settings) -> DecisionLog:
    """The decision log the settings name, not started (a SQLite file must exist: else
    a usage error)."""
    from core.errors import ConfigError
    from selector.engine import existing_log as existing

    try:
        return existing(settings)
    except ConfigError as exc:
        raise click.UsageError(str(exc)) from exc


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
