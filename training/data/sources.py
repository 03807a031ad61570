"""Every training source by name or path: :func:`load_source`."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from core.errors import ConfigError
from training.data.benchmarks import load_routellm, load_zeroeval
from training.data.logged import LOG_SUFFIXES, load_decision_log, load_shared_log
from training.data.routing import DEFAULT_DATA_DIR, RoutingData
from training.data.tables import load_table, with_served_priors

__all__ = ["SOURCES", "load_source"]

SOURCES: dict[str, Callable[[Path], RoutingData]] = {
    "routellm-gsm8k": lambda d: load_routellm("gsm8k", d),
    "routellm-mmlu": lambda d: load_routellm("mmlu", d),
    "zeroeval-gsm": lambda d: load_zeroeval("gsm", d),
    "zeroeval-crux": lambda d: load_zeroeval("crux", d),
}


def load_source(name: str, data_dir: Path = DEFAULT_DATA_DIR) -> RoutingData:
    """A named source from :data:`SOURCES`, a decision log (``.db``, or
    ``postgresql://…``), or a path to a
    table (CSV/Parquet): an export of the decision log or a user's outcome table; with
    what the service assumes of each model before any call
    (:func:`training.data.tables.with_served_priors`)."""
    if name in SOURCES:
        return with_served_priors(SOURCES[name](data_dir))
    if name.startswith(("postgresql://", "postgres://")):
        return load_shared_log(name)
    path = Path(name)
    if path.suffix in LOG_SUFFIXES:
        return load_decision_log(path)
    if path.suffix in {".csv", ".parquet"} or path.exists():
        return with_served_priors(load_table(path))
    raise ConfigError(
        f"unknown data source {name!r}: use one of {sorted(SOURCES)}, a decision log (.db, "
        "postgresql://…) or a .csv/.parquet path"
    )
