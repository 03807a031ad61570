"""The decision log's engine, chosen by ``SELECTOR_DATABASE_URL``: the SQLite file at
``SELECTOR_DB_PATH`` (the default: one process, or several on one host), or a
PostgreSQL database that replicas share (``postgresql://…``). Everything above reads
and writes the log through what this returns; nothing else tells the engines apart.

With PostgreSQL, the online layer keeps its state in the log's snapshot table (a new
replica starts from the furthest one) instead of a file beside the log."""

from __future__ import annotations

import os
import socket
import time
from collections.abc import Callable

from core.errors import ConfigError
from selector.config import Settings
from selector.online.state import StateFile, StateStore
from selector.store import SQLiteLog
from selector.store.base import DecisionLog

__all__ = ["existing_log", "open_log", "replica_id", "state_store"]


def replica_id(settings: Settings) -> str:
    """This replica's name on the feedback it stores (``SELECTOR_REPLICA_ID``, else the
    host's name and the process id)."""
    return settings.store.replica_id or f"{socket.gethostname()}:{os.getpid()}"


def open_log(settings: Settings, clock: Callable[[], float] = time.time) -> DecisionLog:
    """The decision log ``settings`` name, not started (``start()`` it to write); a
    StoreError says why it cannot be opened. ``clock``: the SQLite log's time (a
    PostgreSQL log keeps the database's)."""
    url = settings.store.postgres_url
    if url is None:
        return SQLiteLog(
            settings.store.db_path,
            sync=settings.store.db_sync,
            join_window_s=settings.store.join_window_s,
            clock=clock,
            check_s=settings.store.db_check_s,
        )
    try:
        from selector.store.postgres.writer import PostgresLog
    except ImportError as exc:  # pragma: no cover - the extra is part of the dev install
        raise ConfigError(
            "SELECTOR_DATABASE_URL names PostgreSQL, whose driver is not installed: "
            "pip install 'model-selector[postgres]'"
        ) from exc
    return PostgresLog(url, settings.store.join_window_s, origin=replica_id(settings))


def existing_log(settings: Settings) -> DecisionLog:
    """The decision log the settings name, to read (not started); a ConfigError when the
    SQLite file does not exist (a PostgreSQL log is made when missing)."""
    if settings.store.postgres_url is None and not settings.store.db_path.is_file():
        raise ConfigError(
            f"no decision log at {settings.store.db_path}: pass --db with the service's log"
        )
    return open_log(settings)


def state_store(settings: Settings) -> StateStore:
    """Where the online layer saves its state: SELECTOR_BANDIT_STATE_PATH (default: the
    SQLite log's path + '.bandit.json'), or the PostgreSQL log's snapshot table."""
    url = settings.store.postgres_url
    if url is not None and settings.online.state_path is None:
        from selector.online.snapshots import SnapshotTable

        return SnapshotTable(url)
    return StateFile(
        settings.online.state_path
        or settings.store.db_path.with_name(settings.store.db_path.name + ".bandit.json")
    )
