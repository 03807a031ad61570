"""A decision log on a temporary file, with a clock the test moves."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from selector.store import SQLiteLog
from tests.selector.store.build import Clock


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def log(tmp_path: Path, clock: Clock) -> Iterator[SQLiteLog]:
    store = SQLiteLog(tmp_path / "d.db", join_window_s=60.0, clock=clock)
    store.start()
    yield store
    store.close()
