"""The schema's versions: a log written by the previous build opens and replays; a newer
one is refused."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from core.errors import StoreError
from selector.store import ConversationOutcome, SQLiteLog
from selector.store.schema import SCHEMA_VERSION
from tests.selector.store.build import record

LEGACY = Path(__file__).resolve().parents[2] / "data" / "selector-v1.db"


def test_a_log_written_by_the_previous_build_opens_and_replays(tmp_path: Path) -> None:
    """``tests/data/selector-v1.db`` was written by the build before the store package
    (30 decisions of bandit-v1, each with a call result, 22 with an outcome; its online
    state beside it): it opens at schema version 1, its rows read back typed, and a
    replay learns the decisions that build learned, with the same weights (what it learns
    of each changed since: the latency the decision expected, not the one it met)."""
    import json
    import shutil

    from selector.config import load_settings
    from selector.wiring import new_learner

    db = tmp_path / "selector.db"
    shutil.copy(LEGACY, db)
    log = SQLiteLog(db)
    assert log.schema_found == 1
    assert log.counts() == {"decisions": 30, "feedback": 52, "outcomes": 22}
    with sqlite3.connect(db) as conn:  # migrated to the current version
        found = conn.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
        assert found[0] == str(SCHEMA_VERSION) == "4"
        assert "via" in {r[1] for r in conn.execute("PRAGMA table_info(outcomes)")}
        assert "cached_tokens" in {r[1] for r in conn.execute("PRAGMA table_info(feedback)")}
        indexes = {r[1] for r in conn.execute("PRAGMA index_list(decisions)")}
        assert "decisions_conversation" in indexes
    with log.reader() as reader:
        joined = list(reader.joined())
        first = reader.decision(joined[0]["decision_id"])
    assert len(joined) == 30
    assert first is not None
    assert first.request.scored
    assert first.request.deadline_ms == 3000
    settings = load_settings(  # under the settings that build ran with
        db_path=db, policy="bandit-v1", quality_model="prior", bandit_min_exploration=0.01
    )
    learner = new_learner(settings, SQLiteLog(db))
    learner.catch_up()
    saved = json.loads(LEGACY.with_name(LEGACY.name + ".bandit.json").read_text())["state"]
    assert learner.counts["learned"] == 22
    state = learner.state()
    assert {k: v for k, v in state.items() if k not in ("version", "bandit")} == {
        k: v for k, v in saved.items() if k not in ("version", "bandit")
    }
    bandit, before = state["bandit"], saved["bandit"]
    assert (bandit["params"], bandit["updates"]) == (before["params"], before["updates"])
    assert {k: w for k, (_, w) in bandit["sums"].items()} == {
        k: w for k, (_, w) in before["sums"].items()
    }
    again = new_learner(settings, SQLiteLog(db))
    again.catch_up()
    assert again.state() == state


def test_a_log_of_a_newer_schema_is_refused(tmp_path: Path) -> None:
    db = tmp_path / "selector.db"
    SQLiteLog(db)
    with sqlite3.connect(db) as conn:
        conn.execute("UPDATE meta SET value = '99' WHERE key = 'schema_version'")
    with pytest.raises(StoreError, match="schema version 99, written by a newer build"):
        SQLiteLog(db)


def test_a_conversations_outcome_credited_before_version_3_is_known_after_it(
    tmp_path: Path,
) -> None:
    """A version-2 log holds a conversation's outcome only in its decisions' outcomes:
    migrated, the conversation has it, so a repeat is a duplicate and another a 409."""
    import asyncio
    import time

    from core.errors import ConflictError

    db = tmp_path / "selector.db"
    log = SQLiteLog(db)
    log.start()
    for did in ("d1", "d2"):
        log.submit_decision(record(did, ts=time.time())).result(timeout=10)

    async def send(resolved: bool) -> object:
        outcome = ConversationOutcome("c", {"resolved": resolved})
        return await log.write_conversation_outcome(outcome)

    assert len(asyncio.run(send(True)).credited) == 2  # type: ignore[attr-defined]
    log.close()
    with sqlite3.connect(db) as conn:  # as a version-2 build left it
        conn.execute("DELETE FROM conversation_outcomes")
        conn.execute("UPDATE meta SET value = '2' WHERE key = 'schema_version'")
    log = SQLiteLog(db)
    assert log.schema_found == 2
    log.start()
    try:
        assert asyncio.run(send(True)).duplicate  # type: ignore[attr-defined]
        with pytest.raises(ConflictError, match="conversation c already has an outcome"):
            asyncio.run(send(False))
    finally:
        log.close()
