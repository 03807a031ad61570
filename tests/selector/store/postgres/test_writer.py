"""The PostgreSQL log's writer against a real server: an acknowledged write is committed
(another connection reads it); a refused event in a batch undoes nothing else; writes
from threads and from an event loop; with the server stopped nothing is acknowledged and
the log says why, and once it is back the writer reconnects."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest

from core.errors import ConflictError, NotFoundError, StoreError
from selector.store import ConversationOutcome, FeedbackEvent
from selector.store.postgres.writer import PostgresLog
from tests.postgres import Postgres, postgres_bin
from tests.selector.store.build import a_record_no_write_can_take, record

psycopg = pytest.importorskip("psycopg")
pytestmark = pytest.mark.integration


@pytest.fixture
def log(postgres: Postgres) -> Iterator[PostgresLog]:
    writer = PostgresLog(postgres.new_database())
    writer.start()
    yield writer
    writer.close()


def count(url: str, table: str) -> int:
    with psycopg.connect(url) as c:
        return int(c.execute(f"SELECT count(*) FROM {table}").fetchone()[0])


def test_what_is_acknowledged_is_committed(log: PostgresLog) -> None:
    with ThreadPoolExecutor(6) as pool:
        futures = [pool.submit(log.submit_decision, record(f"d{i:03d}")) for i in range(300)]
        for f in futures:
            f.result().result(timeout=10)
    assert count(log.url, "decisions") == 300  # read by another connection
    assert 1 <= log.commits <= 300
    assert log.healthy == (True, "ok")


def test_a_refused_event_undoes_nothing_else_in_its_batch(log: PostgresLog) -> None:
    log.submit_decision(record("d1")).result(timeout=10)
    log.submit_feedback(FeedbackEvent("d1", {"resolved": True})).result(timeout=10)
    sent = [
        log.submit_feedback(FeedbackEvent("d1", {"latency_ms": 900.0})),
        log.submit_feedback(FeedbackEvent("d1", {"resolved": False})),  # a second outcome
        log.submit_feedback(FeedbackEvent("nope", {"resolved": True})),
        log.submit_feedback(FeedbackEvent("d1", {"latency_ms": 950.0})),
    ]
    assert not sent[0].result(timeout=10).duplicate
    with pytest.raises(ConflictError):
        sent[1].result(timeout=10)
    with pytest.raises(NotFoundError):
        sent[2].result(timeout=10)
    assert not sent[3].result(timeout=10).duplicate
    assert count(log.url, "feedback") == 3  # the outcome and both call results


def test_an_event_loop_awaits_its_commits(log: PostgresLog) -> None:
    async def run() -> tuple[bool, list[str]]:
        await log.write_decision(record("d1"))
        fed = await log.write_feedback(FeedbackEvent("d1", {"latency_ms": 700.0}))
        credited = await log.write_conversation_outcome(ConversationOutcome("c", {"reward": 0.5}))
        return fed.duplicate, credited.credited

    duplicate, credited = asyncio.run(run())
    assert not duplicate
    assert credited == ["d1"]


def test_with_the_server_down_nothing_is_acknowledged_and_it_resumes() -> None:
    found = postgres_bin()
    if found is None:
        pytest.skip("PostgreSQL's server is not installed")
    server = Postgres(found).start()
    try:
        server.wait_ready()
        writer = PostgresLog(server.new_database())
        writer.start()
        writer.submit_decision(record("d1")).result(timeout=10)
        server.stop("immediate")
        with pytest.raises(StoreError, match="nothing from this request was acknowledged"):
            writer.submit_decision(record("d2")).result(timeout=30)
        assert writer.healthy[0] is False
        server.start_again()
        server.wait_ready()
        writer.submit_decision(record("d3")).result(timeout=30)
        assert writer.healthy == (True, "ok")
        assert count(writer.url, "decisions") == 2  # d1 and d3: d2 was never acknowledged
        writer.close()
    finally:
        server.stop()
        server.remove()


def test_a_record_no_write_can_take_fails_alone(log: PostgresLog) -> None:
    a_record_no_write_can_take(log)


def test_a_database_that_answers_but_refuses_writes_stays_unhealthy_until_it_takes_them(
    postgres: Postgres,
) -> None:
    """What a full disk looks like to the writer (reads answer, writes fail): health
    comes back by the writer's own write, not by a read, and not by a client's write."""
    url = postgres.new_database()
    role = f"writer_{url.rsplit('_', 1)[-1]}"
    with psycopg.connect(url, autocommit=True) as admin:
        admin.execute(f"CREATE ROLE {role} LOGIN")
        admin.execute(f"GRANT USAGE, CREATE ON SCHEMA public TO {role}")
    tables = "ALL TABLES IN SCHEMA public"
    log = PostgresLog(url.replace("postgres@", f"{role}@"))  # it owns the tables
    log.start()
    try:
        log.submit_decision(record("d1")).result(timeout=10)
        with psycopg.connect(url, autocommit=True) as admin:
            admin.execute(f"REVOKE INSERT, UPDATE ON {tables} FROM {role}")
        with pytest.raises(StoreError, match="nothing from this request"):
            log.submit_decision(record("d2")).result(timeout=10)
        assert not log.healthy[0]
        time.sleep(2.5)  # two idle checks: the database answers reads, not writes
        assert not log.healthy[0]
        with psycopg.connect(url, autocommit=True) as admin:
            admin.execute(f"GRANT INSERT, UPDATE ON {tables} TO {role}")
        deadline = time.monotonic() + 30
        while not log.healthy[0]:  # no client write: the writer's own check
            assert time.monotonic() < deadline, log.healthy
            time.sleep(0.05)
        log.submit_decision(record("d3")).result(timeout=10)
    finally:
        log.close()
