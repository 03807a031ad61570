"""The service on a PostgreSQL log, through the same calls as on SQLite: the online layer
learns the same state from the same traffic, restarts from the log's snapshot table,
and retention and export read it alike."""

from __future__ import annotations

import asyncio
import hashlib
import time
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from click.testing import CliRunner

from features.extractor import Conversation
from selector.cli import cli
from selector.decisions import RouteInput
from selector.engine import state_store
from selector.online import StateError
from selector.online.state import body_of
from selector.retention import prune
from selector.store import ConversationOutcome
from selector.wiring import build_service, new_learner
from tests.postgres import Postgres
from tests.selector.online.traffic import DISPUTE, run_traffic, settings_for

psycopg = pytest.importorskip("psycopg")
pytestmark = pytest.mark.integration
DAY = 86_400.0


def route_input(conversation: str) -> RouteInput:
    return RouteInput(conversation, Conversation(messages=[("user", DISPUTE)]), max_latency_ms=3000)


def digest(state: Any) -> str:
    return hashlib.sha256(body_of(state).encode()).hexdigest()


def traffic(settings: Any) -> dict[str, Any]:
    """Traffic through a service on ``settings``, with conversation-level outcomes too;
    its online layer's state. The live statistics run on a clock that stands still, so
    the decisions depend on the traffic alone, not on how fast this machine serves it."""
    svc = build_service(settings, clock=lambda: 1_800_000_000.0)
    svc.start()
    try:
        run_traffic(svc, 80)
        for conversation in ("c900", "c900", "c901"):  # c900: two turns, one outcome
            asyncio.run(svc.route(route_input(conversation)))
        for conversation in ("c900", "c901"):
            outcome = ConversationOutcome(conversation, {"resolved": True})
            asyncio.run(svc.conversation_outcome(outcome))
        assert svc.learner is not None
        return svc.learner.state()
    finally:
        svc.stop()


@pytest.mark.parametrize("policy", ["bandit-v1", "bandit-v2"])
def test_the_online_layer_learns_the_same_on_either_engine(
    tmp_path: Path, postgres: Postgres, policy: str
) -> None:
    on_sqlite = traffic(settings_for(tmp_path, policy=policy))
    on_postgres = traffic(
        settings_for(tmp_path / "pg", policy=policy, database_url=postgres.new_database())
    )
    assert on_sqlite["counts"]["learned"] >= 80
    assert on_postgres["counts"] == on_sqlite["counts"]
    assert digest(on_postgres["bandit"]) == digest(on_sqlite["bandit"])  # bit for bit
    assert isinstance(on_postgres["cursor"], list)  # (xid, seq), not a row id


def test_a_replica_starts_from_the_snapshot_and_reads_only_the_rest(
    tmp_path: Path, postgres: Postgres
) -> None:
    settings = settings_for(tmp_path, database_url=postgres.new_database())
    first = build_service(settings)
    first.start()
    run_traffic(first, 40)
    first.stop()  # saves the state in the log's snapshot table
    assert state_store(settings).cursor() == first.learner.state()["cursor"]  # type: ignore[union-attr]

    again = build_service(settings)
    assert again.learner is not None
    assert again.learner.cursor == first.learner.cursor  # type: ignore[union-attr]
    again.start()
    try:
        run_traffic(again, 20, seed=5)
        replay = new_learner(settings, again.log)
        replay.stop(None)  # reads the whole log, then closes its reader
        assert replay.state() == again.learner.state()
    finally:
        again.stop()


def test_a_snapshot_under_another_configuration_is_not_used(
    tmp_path: Path, postgres: Postgres
) -> None:
    settings = settings_for(tmp_path, database_url=postgres.new_database())
    svc = build_service(settings)
    svc.start()
    run_traffic(svc, 10)
    svc.stop()
    other = settings.replace(bandit_gamma=settings.online.gamma * 2)
    fresh = new_learner(other, svc.log)
    with pytest.raises(StateError, match="no state saved under this configuration"):
        state_store(other).read(fresh.config())
    assert build_service(other).learner.cursor == svc.log.dialect.start  # type: ignore[union-attr]


def test_retention_and_export_read_the_postgresql_log(tmp_path: Path, postgres: Postgres) -> None:
    url = postgres.new_database()
    settings = settings_for(tmp_path, database_url=url)
    svc = build_service(settings)
    svc.start()
    try:
        run_traffic(svc, 12)
        out = tmp_path / "export.parquet"
        exported = CliRunner().invoke(cli, ["export-log", "--db", url, "--out", str(out)])
        assert exported.exit_code == 0, exported.output
        frame = pd.read_parquet(out)
        assert len(frame) == 12
        assert frame["resolved"].notna().all()
        assert not {"xid", "seq"} & set(frame.columns)

        archive = tmp_path / "archive"
        assert svc.learner is not None
        result = prune(
            svc.log, DAY, archive, learned_through=svc.learner.cursor, now=time.time() + 2 * DAY
        )
        assert result.decisions == 12
        assert result.feedback == 24
        assert svc.log.counts() == {"decisions": 0, "feedback": 0, "outcomes": 0}
        raw = pd.read_parquet(next(archive.glob("raw-*.parquet")))
        assert raw.groupby("table").size().to_dict() == {
            "decisions": 12,
            "feedback": 24,
            "outcomes": 12,
        }
        before = svc.learner.counts["learned"]
        run_traffic(svc, 5, seed=9)  # learning goes on after the prune
        assert svc.learner.counts["learned"] == before + 5
    finally:
        svc.stop()
