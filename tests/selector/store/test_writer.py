"""The decision log's writes: stored before the answer, deduplicated, group-committed."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from core.errors import ConflictError, NotFoundError, StoreError
from selector.store import DecisionRecord, FeedbackEvent, LoggedRequest, SQLiteLog
from tests.selector.store.build import Clock, a_record_no_write_can_take, fb, record


def test_decisions_and_feedback_are_stored(log: SQLiteLog) -> None:
    log.submit_decision(record("d1")).result(timeout=5)
    r = fb(log, "d1", latency_ms=100.0, resolved=True)
    assert (r.duplicate, r.late, r.override, r.decided_model) == (False, False, False, "gpt-5")
    assert log.counts() == {"decisions": 1, "feedback": 1, "outcomes": 1}


def test_exact_repeats_are_duplicates(log: SQLiteLog) -> None:
    log.submit_decision(record("d1")).result(timeout=5)
    assert not fb(log, "d1", latency_ms=100.0).duplicate
    assert fb(log, "d1", latency_ms=100.0).duplicate
    assert not fb(log, "d1", latency_ms=101.0).duplicate  # another call (a retry)
    assert log.counts()["feedback"] == 2


def test_one_outcome_per_decision(log: SQLiteLog) -> None:
    log.submit_decision(record("d1")).result(timeout=5)
    fb(log, "d1", resolved=True)
    assert not fb(log, "d1", resolved=True, latency_ms=5.0).duplicate  # same outcome, more facts
    with pytest.raises(ConflictError):
        fb(log, "d1", resolved=False)
    with pytest.raises(ConflictError):
        fb(log, "d1", resolved=True, reward=0.2)


def test_unknown_decision_is_not_found(log: SQLiteLog) -> None:
    with pytest.raises(NotFoundError):
        fb(log, "missing", resolved=True)


def test_late_feedback_is_kept_but_not_joined(log: SQLiteLog, clock: Clock) -> None:
    log.submit_decision(record("d1", ts=clock.t)).result(timeout=5)
    clock.t += 61
    r = fb(log, "d1", resolved=True)
    assert r.late
    assert log.counts() == {"decisions": 1, "feedback": 1, "outcomes": 0}


def test_feedback_naming_another_model_is_an_override(log: SQLiteLog) -> None:
    log.submit_decision(record("d1", model="gpt-5")).result(timeout=5)
    assert fb(log, "d1", model="gpt-5-mini", latency_ms=1.0).override
    assert not fb(log, "d1", model="gpt-5", latency_ms=2.0).override


def test_concurrent_writers_are_group_committed(log: SQLiteLog) -> None:
    with ThreadPoolExecutor(16) as pool:
        futures = [pool.submit(log.submit_decision, record(f"d{i}")) for i in range(500)]
        for f in futures:
            f.result().result(timeout=10)
    assert log.counts()["decisions"] == 500


def test_everything_is_there_after_reopening(tmp_path: Path) -> None:
    first = SQLiteLog(tmp_path / "d.db")
    first.start()
    first.submit_decision(record("d1", ts=time.time())).result(timeout=5)
    first.submit_feedback(FeedbackEvent("d1", {"resolved": False})).result(timeout=5)
    first.close()
    second = SQLiteLog(tmp_path / "d.db")
    second.start()
    try:
        with pytest.raises(ConflictError):
            second.submit_feedback(FeedbackEvent("d1", {"resolved": True})).result(timeout=5)
    finally:
        second.close()


def test_a_duplicate_decision_id_fails_the_write_not_the_log(log: SQLiteLog) -> None:
    log.submit_decision(record("d1")).result(timeout=5)
    with pytest.raises(StoreError):
        log.submit_decision(record("d1")).result(timeout=5)
    log.submit_decision(record("d2")).result(timeout=5)
    assert log.counts()["decisions"] == 2


def test_writes_before_start_are_refused(tmp_path: Path) -> None:
    with pytest.raises(StoreError, match="not started"):
        SQLiteLog(tmp_path / "d.db").submit_decision(record("x")).result(timeout=1)


def test_an_unwritable_path_is_a_clear_error(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("")
    with pytest.raises(StoreError, match="cannot open the decision log"):
        SQLiteLog(tmp_path / "file" / "d.db")


@pytest.mark.parametrize("sync", ["normal", "full"])
def test_event_loop_writes_are_batched_and_checked_in_both_modes(tmp_path: Path, sync: str) -> None:
    import asyncio

    store = SQLiteLog(tmp_path / "d.db", sync=sync)
    store.start()

    async def run() -> list[object]:
        await asyncio.gather(
            *[store.write_decision(record(f"d{i}", ts=time.time())) for i in range(200)]
        )
        same = FeedbackEvent("d1", {"latency_ms": 5.0})
        return list(await asyncio.gather(*[store.write_feedback(same) for _ in range(20)]))

    results = asyncio.run(run())
    assert sum(not r.duplicate for r in results) == 1  # type: ignore[attr-defined]
    with pytest.raises(NotFoundError):
        asyncio.run(store.write_feedback(FeedbackEvent("zzz", {"resolved": True})))
    store.close()
    reopened = SQLiteLog(tmp_path / "d.db")
    assert reopened.counts() == {"decisions": 200, "feedback": 1, "outcomes": 0}


def test_an_unknown_sync_mode_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="sync"):
        SQLiteLog(tmp_path / "d.db", sync="sometimes")


def test_the_wal_file_starts_over_under_sustained_writes(tmp_path: Path) -> None:
    """Checkpoints run while the loop keeps writing; each must copy every frame so that
    the WAL file starts over (before, a checkpoint beside the writes never copied the
    last frames: the file was never reused and grew for as long as writes went on, 700 MB
    in a 25-second replay). A WAL file that starts over gets a new salt in its header:
    under writes that never pause, the salt must change again and again."""
    import asyncio

    store = SQLiteLog(tmp_path / "w.db")
    store.start()
    wal = tmp_path / "w.db-wal"
    features = {"rows": list(range(300))}

    def salt() -> bytes:
        with wal.open("rb") as f:
            return f.read(24)[16:24]  # the header's salt-1 and salt-2

    async def write_until(restarts: int, timeout_s: float = 120.0) -> int:
        n, seen, deadline = 0, 0, time.monotonic() + timeout_s
        last = None
        while seen < restarts and time.monotonic() < deadline:
            batch = [
                DecisionRecord(f"{n + i:024d}", 1.0, "c", "p", "v", "m", 1.0, [], [],
                               LoggedRequest(), features, [], None)
                for i in range(8)
            ]  # fmt: skip
            await asyncio.gather(*(store.write_decision(r) for r in batch))
            await asyncio.sleep(0.001)  # a steady load the disk keeps up with
            n += 8
            now = salt()
            seen += last is not None and now != last
            last = now
        return seen

    try:
        restarted = asyncio.run(write_until(3))
        wal_size = wal.stat().st_size
        db_size = (tmp_path / "w.db").stat().st_size
    finally:
        store.close()
    assert restarted == 3  # the WAL file started over three times while writes went on
    assert wal_size < db_size  # reused: it holds a round of writes, not all of them
    assert not wal.exists()  # removed at a clean close


@pytest.mark.parametrize("sync", ["normal", "full"])
def test_a_record_no_write_can_take_fails_alone(tmp_path: Path, sync: str) -> None:
    store = SQLiteLog(tmp_path / "d.db", sync=sync)
    store.start()
    try:
        a_record_no_write_can_take(store)
    finally:
        store.close()
