"""The SQLite log on a disk that fills up, then is cleared: writes are refused (nothing
acknowledged), the log reports itself unhealthy, and once space is free again it says
it is healthy on its own, before any client writes (a load balancer that stopped
sending on ``/readyz`` 503 must see 200 again). A real, small tmpfs (root only)."""

from __future__ import annotations

import contextlib
import dataclasses
import os
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from core.errors import StoreError
from selector.store import SQLiteLog
from tests.selector.store.build import record


@pytest.fixture
def small_disk() -> Iterator[Path]:
    if os.geteuid() != 0:
        pytest.skip("mounting a small tmpfs needs root")
    folder = Path(tempfile.mkdtemp(prefix="selector-disk-"))
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", str(folder)],
        capture_output=True,
        text=True,
        check=False,
    )
    if mounted.returncode != 0:
        folder.rmdir()
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.strip()}")
    try:
        yield folder
    finally:
        subprocess.run(["umount", "-l", str(folder)], check=False)
        folder.rmdir()


def fill(folder: Path) -> Path:
    """A file taking every free byte of ``folder``'s file system."""
    filler = folder / "filler"
    with filler.open("wb", buffering=0) as f:
        for size in (65536, 4096, 1):  # big blocks, then what is left of the last ones
            with contextlib.suppress(OSError):
                while True:
                    f.write(b"\0" * size)
    return filler


def test_health_comes_back_by_itself_when_the_disk_is_cleared(small_disk: Path) -> None:
    log = SQLiteLog(small_disk / "selector.db")
    log.start()
    try:
        filler = fill(small_disk)
        refused = None
        for i in range(5_000):  # the WAL's free pages go first
            try:
                big = dataclasses.replace(record(f"d{i:05d}"), text="x" * 2_000)
                log.submit_decision(big).result(timeout=30)
            except StoreError as exc:
                refused = exc
                break
        assert refused is not None, "the disk never filled"
        assert "full" in str(refused)
        assert "nothing from this request" in str(refused)
        assert not log.healthy[0]
        time.sleep(2.5)  # idle checks while the disk is still full: still unhealthy
        assert not log.healthy[0]

        filler.unlink()
        cleared = time.monotonic()
        while not log.healthy[0]:  # no write of ours: the log's own check
            assert time.monotonic() < cleared + 30, log.healthy
            time.sleep(0.05)
        print(f"healthy {time.monotonic() - cleared:.2f} s after the disk was cleared")
        log.submit_decision(record("after")).result(timeout=30)
    finally:
        log.close()
