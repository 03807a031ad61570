"""The log's writes on a real PostgreSQL, from several connections at once as replicas
would write them: a schema made once by replicas starting together; 50 copies of one
event stored once; two different outcomes of one decision, one stored and the other
refused, whichever connection sends it; the join window on the database's clock; a
conversation's outcome credited once."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import pytest

from core.errors import ConflictError, NotFoundError
from selector.store import ConversationOutcome, FeedbackEvent, FeedbackResult
from selector.store.postgres.schema import SCHEMA_VERSION, prepare, version_of
from selector.store.postgres.statements import (
    insert_conversation_outcome,
    insert_decisions,
    insert_feedback,
    insert_feedbacks,
)
from tests.postgres import Postgres
from tests.selector.store.build import record

psycopg = pytest.importorskip("psycopg")
pytestmark = pytest.mark.integration
WINDOW_S = 3600.0


@pytest.fixture
def database(postgres: Postgres) -> str:
    return postgres.new_database()


@pytest.fixture
def log(database: str) -> str:
    with psycopg.connect(database, autocommit=True) as c:
        prepare(c, "test")
        with c.transaction():
            insert_decisions(c, [record("d1"), record("d2")])
    return database


def together(n: int, work: Callable[[int], Any]) -> list[Any]:
    """``work(i)`` for i < n, each on a thread of its own, started at once: results or
    the exceptions raised."""
    out: list[Any] = [None] * n
    start = threading.Barrier(n)

    def run(i: int) -> None:
        start.wait()
        try:
            out[i] = work(i)
        except Exception as exc:  # collected for the test to look at
            out[i] = exc

    threads = [threading.Thread(target=run, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return out


def write(url: str, step: Callable[[Any], Any]) -> Any:
    """``step(conn)`` in one transaction of a connection of its own, as a replica's."""
    with psycopg.connect(url, autocommit=True) as c, c.transaction():
        return step(c)


def test_replicas_starting_together_make_the_schema_once(database: str) -> None:
    found = together(4, lambda _i: write(database, lambda c: None) or prepare_on(database))
    assert found == [SCHEMA_VERSION] * 4
    with psycopg.connect(database) as c:
        assert version_of(c) == SCHEMA_VERSION
        assert c.execute("SELECT count(*) FROM meta").fetchone()[0] == 1


def prepare_on(url: str) -> int:
    with psycopg.connect(url, autocommit=True) as c:
        return prepare(c, "test")


def test_fifty_copies_of_one_event_from_five_connections_are_stored_once(log: str) -> None:
    event = FeedbackEvent("d1", {"latency_ms": 812.0, "resolved": True})

    def send(_i: int) -> list[FeedbackResult]:
        return [write(log, lambda c: insert_feedback(c, event, WINDOW_S)) for _ in range(10)]

    results = [r for batch in together(5, send) for r in batch]
    assert len(results) == 50
    assert sum(not r.duplicate for r in results) == 1
    with psycopg.connect(log) as c:
        assert c.execute("SELECT count(*) FROM feedback").fetchone()[0] == 1
        assert c.execute("SELECT resolved FROM outcomes").fetchall() == [(1,)]


def test_two_different_outcomes_sent_at_once_one_is_stored_and_the_other_refused(
    log: str,
) -> None:
    events = [FeedbackEvent("d1", {"resolved": r}) for r in (True, False)] * 4
    found = together(
        len(events), lambda i: write(log, lambda c: insert_feedback(c, events[i], WINDOW_S))
    )
    refused = [r for r in found if isinstance(r, ConflictError)]
    stored = [r for r in found if isinstance(r, FeedbackResult)]
    assert len(refused) == 4  # every copy of the outcome that lost
    assert len(stored) == 4  # the winner, and its copies (duplicates)
    with psycopg.connect(log) as c:
        [(resolved,)] = c.execute("SELECT resolved FROM outcomes").fetchall()
        kept = c.execute("SELECT resolved FROM feedback").fetchall()
    assert kept == [(resolved,)]  # the refused outcome left nothing behind


def test_the_join_window_is_on_the_database_clock(log: str) -> None:
    with psycopg.connect(log, autocommit=True) as c:
        c.execute("UPDATE decisions SET ts = ts - 7200 WHERE decision_id = 'd2'")
    late = write(
        log, lambda c: insert_feedback(c, FeedbackEvent("d2", {"resolved": True}), WINDOW_S)
    )
    on_time = write(
        log, lambda c: insert_feedback(c, FeedbackEvent("d1", {"resolved": True}), WINDOW_S)
    )
    assert late.late
    assert not on_time.late
    with psycopg.connect(log) as c:
        assert c.execute("SELECT decision_id FROM outcomes").fetchall() == [("d1",)]
    with pytest.raises(NotFoundError, match="no decision with decision_id 'nope'"):
        write(
            log, lambda c: insert_feedback(c, FeedbackEvent("nope", {"resolved": True}), WINDOW_S)
        )


def test_a_conversations_outcome_is_credited_once(log: str) -> None:
    won = ConversationOutcome("c", {"resolved": True})
    results = together(
        3, lambda _i: write(log, lambda c: insert_conversation_outcome(c, won, WINDOW_S))
    )
    assert sorted(len(r.credited) for r in results) == [0, 0, 2]
    other = ConversationOutcome("c", {"resolved": False})
    with pytest.raises(ConflictError):
        write(log, lambda c: insert_conversation_outcome(c, other, WINDOW_S))


def test_a_conversations_outcome_no_decision_takes_is_recorded_once(log: str) -> None:
    for did in ("d1", "d2"):
        write(log, lambda c, d=did: insert_feedback(c, FeedbackEvent(d, {"resolved": True}), 60))
    lost = ConversationOutcome("c", {"resolved": False})
    results = together(
        3, lambda _i: write(log, lambda c: insert_conversation_outcome(c, lost, WINDOW_S))
    )
    assert sorted(r.duplicate for r in results) == [False, True, True]
    assert all((r.credited, r.kept) == ([], 2) for r in results)
    won = ConversationOutcome("c", {"resolved": True})
    with pytest.raises(ConflictError, match="conversation c already has an outcome"):
        write(log, lambda c: insert_conversation_outcome(c, won, WINDOW_S))
    with psycopg.connect(log) as c:
        assert c.execute("SELECT resolved FROM conversation_outcomes").fetchall() == [(0,)]


def test_a_conversations_outcome_credited_before_version_2_is_known_after_it(log: str) -> None:
    won = ConversationOutcome("c", {"resolved": True})
    write(log, lambda c: insert_conversation_outcome(c, won, WINDOW_S))
    with psycopg.connect(log, autocommit=True) as c:  # as a version-1 build left it
        c.execute("DELETE FROM conversation_outcomes")
        c.execute("ALTER TABLE feedback DROP COLUMN cached_tokens")
        c.execute("UPDATE meta SET value = '1' WHERE key = 'schema_version'")
        assert prepare(c, "test") == 1
        assert version_of(c) == SCHEMA_VERSION == 3
    call = FeedbackEvent("d1", {"latency_ms": 420.0, "prompt_tokens": 900, "cached_tokens": 800})
    write(log, lambda c: insert_feedback(c, call, 60))
    with psycopg.connect(log) as c:  # version 3: a call result's cached tokens are kept
        found = c.execute("SELECT cached_tokens FROM feedback WHERE latency_ms = 420").fetchall()
        assert found == [(800,)]
    assert write(log, lambda c: insert_conversation_outcome(c, won, WINDOW_S)).duplicate
    lost = ConversationOutcome("c", {"resolved": False})
    with pytest.raises(ConflictError):
        write(log, lambda c: insert_conversation_outcome(c, lost, WINDOW_S))


def test_events_sent_together_settle_as_one_by_one(log: str) -> None:
    first, second = (FeedbackEvent("d1", {"resolved": r}) for r in (True, False))
    call = FeedbackEvent("d1", {"latency_ms": 420.0})
    sent = [first, second, second, call, call, FeedbackEvent("nope", {"resolved": True})]
    found = write(log, lambda c: insert_feedbacks(c, sent, WINDOW_S))
    assert not found[0].duplicate  # the first outcome is recorded
    assert isinstance(found[1], ConflictError)  # the second is refused,
    assert isinstance(found[2], ConflictError)  # and so is its resend in the same batch
    assert not found[3].duplicate
    assert found[4].duplicate
    assert isinstance(found[5], NotFoundError)
    with psycopg.connect(log) as c:
        rows = c.execute("SELECT resolved, latency_ms FROM feedback ORDER BY seq").fetchall()
        assert rows == [(1, None), (None, 420.0)]  # nothing of the refused outcome
        assert c.execute("SELECT resolved FROM outcomes").fetchall() == [(1,)]
