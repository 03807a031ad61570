"""Retention: old decisions leave the log, archived to Parquet first; what the online
layer has not read stays; learning goes on; the stored text is capped."""

from __future__ import annotations

import asyncio
import json
import sqlite3
import time
from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner

from features.extractor import Conversation
from selector.cli import cli
from selector.decisions import RouteInput
from selector.retention import prune
from selector.store import ConversationOutcome, id_prefix
from selector.wiring import build_service
from tests.selector.online.traffic import CARD, DISPUTE, route, run_traffic, send, settings_for

DAY = 86_400.0


def rows(db: Path, sql: str) -> list[tuple[object, ...]]:
    with sqlite3.connect(db) as conn:
        return conn.execute(sql).fetchall()


def age(db: Path, decision_id: str, days: float) -> str:
    """Move a decision (before any feedback names it) ``days`` into the past."""
    ts = time.time() - days * DAY
    old = id_prefix(ts) + decision_id[12:]
    with sqlite3.connect(db) as conn:
        conn.execute(
            "UPDATE decisions SET decision_id = ?, ts = ? WHERE decision_id = ?",
            (old, ts, decision_id),
        )
    return old


def test_old_decisions_are_archived_then_pruned(tmp_path: Path) -> None:
    settings = settings_for(tmp_path, policy="utility-v0")
    svc = build_service(settings)
    svc.start()
    try:
        run_traffic(svc, 30)
        newest = route(svc, CARD, 99)
        send(svc, newest.decision_id, latency_ms=300.0)
        for conversation in ("c3", "c99"):  # recorded for the conversation
            done = ConversationOutcome(conversation, {"resolved": True})
            asyncio.run(svc.conversation_outcome(done))
        archive = tmp_path / "archive"
        result = prune(svc.log, 2 * DAY, archive, now=time.time() + 3 * DAY)
    finally:
        svc.stop()
    db = settings.store.db_path
    # every decision was due; the one holding the newest feedback row stays, so row ids
    # keep growing for the online layer's cursor
    assert result.decisions == 30
    assert rows(db, "SELECT decision_id FROM decisions") == [(newest.decision_id,)]
    assert rows(db, "SELECT COUNT(*) FROM outcomes") == [(1,)]  # c99's, credited
    # a conversation's outcome goes with the last of its decisions
    assert rows(db, "SELECT conversation_id FROM conversation_outcomes") == [("c99",)]
    assert rows(db, "SELECT value FROM meta WHERE key = 'pruned_through'")[0][0]
    joined = pd.read_parquet(next(archive.glob("decisions-*.parquet")))
    raw = pd.read_parquet(next(archive.glob("raw-*.parquet")))
    assert len(joined) == 30
    assert joined["resolved"].notna().all()
    assert {"candidate_features", "scores", "propensity", "latency_ms"} <= set(joined.columns)
    assert raw.groupby("table").size().to_dict() == {
        "decisions": 30,
        "feedback": 60,
        "outcomes": 30,
    }
    assert all(json.loads(r)["decision_id"] for r in raw["row"])
    assert result.archived == sorted(archive.glob("*.parquet"), key=lambda p: p.name[0] != "d")


def test_decisions_the_online_layer_has_not_read_stay(tmp_path: Path) -> None:
    settings = settings_for(tmp_path)
    svc = build_service(settings)
    svc.start()
    try:
        run_traffic(svc, 10)
        assert svc.learner is not None
        read = svc.learner.cursor
        run_traffic(svc, 10, seed=8)
        result = prune(svc.log, DAY, None, learned_through=read, now=time.time() + 2 * DAY)
        assert result.decisions == 10
        assert result.kept_unread == 10
        assert rows(settings.store.db_path, "SELECT COUNT(*) FROM decisions") == [(10,)]
        # learning goes on after the prune: the log's row ids keep growing
        before = svc.learner.counts["learned"]
        run_traffic(svc, 5, seed=9)
        assert svc.learner.counts["learned"] == before + 5
    finally:
        svc.stop()


def test_the_service_prunes_by_itself(tmp_path: Path) -> None:
    settings = settings_for(
        tmp_path,
        policy="utility-v0",
        join_window_s=1.0,
        retention_days=2 / DAY,
        prune_every_s=0.5,
    )
    svc = build_service(settings)
    svc.start()
    try:
        run_traffic(svc, 5)
        last = route(svc, DISPUTE, 50)
        send(svc, last.decision_id, latency_ms=100.0)
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            if rows(settings.store.db_path, "SELECT COUNT(*) FROM decisions") == [(1,)]:
                break
            time.sleep(0.2)
        assert rows(settings.store.db_path, "SELECT decision_id FROM decisions") == [
            (last.decision_id,)
        ]
        assert len(list(settings.archive_folder().glob("decisions-*.parquet"))) >= 1
        assert not [p for p in svc.health().degraded if p.part == "retention"]
    finally:
        svc.stop()


def test_selector_prune_archives_what_is_older_than_asked(tmp_path: Path) -> None:
    settings = settings_for(tmp_path, policy="utility-v0")
    svc = build_service(settings)
    svc.start()
    try:
        old = [age(settings.store.db_path, route(svc, CARD, i).decision_id, 10) for i in range(4)]
        for did in old:
            send(svc, did, latency_ms=200.0)
        recent = route(svc, DISPUTE, 9)
        send(svc, recent.decision_id, resolved=True)
    finally:
        svc.stop()
    out = CliRunner().invoke(
        cli, ["prune", "--db", str(settings.store.db_path), "--older-than-days", "5"]
    )
    assert out.exit_code == 0, out.output
    assert "pruned 4 decisions" in out.output
    assert rows(settings.store.db_path, "SELECT decision_id FROM decisions") == [
        (recent.decision_id,)
    ]
    archived = pd.read_parquet(next(settings.archive_folder().glob("decisions-*.parquet")))
    assert sorted(archived["decision_id"]) == sorted(old)
    refused = CliRunner().invoke(
        cli, ["prune", "--db", str(settings.store.db_path), "--older-than-days", "0.5"]
    )
    assert refused.exit_code != 0
    assert "join window" in refused.output


def test_retention_shorter_than_the_join_window_is_refused() -> None:
    from core.errors import ConfigError
    from selector.config import load_settings

    with pytest.raises(ConfigError, match="SELECTOR_RETENTION_DAYS"):
        load_settings(retention_days=0.5, join_window_s=DAY)


def test_the_stored_text_of_a_decision_is_capped(tmp_path: Path) -> None:
    settings = settings_for(tmp_path, log_text_max_chars=100)
    svc = build_service(settings)
    svc.start()
    try:
        long = "my card was charged twice " * 40_000  # about 1 MB
        conv = Conversation(messages=[("user", long)])
        res = asyncio.run(svc.route(RouteInput("c", conv, text=long)))
    finally:
        svc.stop()
    stored = rows(
        settings.store.db_path,
        f"SELECT text FROM decisions WHERE decision_id = '{res.decision_id}'",
    )
    assert stored == [(long[:100],)]
