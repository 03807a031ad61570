"""Rows of the decision log no reward can be computed from: the online layer skips them
(counted, logged, listed by ``selector bandit``) and goes on learning; nothing in the log
can stop the service from starting, the replay or off-policy evaluation."""

from __future__ import annotations

import asyncio
import json
import re
import sqlite3
import time
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from selector.cli import cli
from selector.store import FeedbackEvent
from selector.wiring import build_service
from tests.selector.online.traffic import (
    CARD,
    DISPUTE,
    metrics,
    route,
    run_traffic,
    send,
    settings_for,
)


def write_outcome(db: Path, decision_id: str, outcome: bool = True, **fields: Any) -> None:
    """A feedback event: a call result (900 ms unless ``fields`` say) with an outcome
    unless ``outcome`` is False, written straight into the log (as a damaged log, an
    older build or a hand could)."""
    fields = {"latency_ms": 900.0, **fields}
    event = f"poison-{decision_id}-{len(fields)}-{time.monotonic_ns()}"
    with sqlite3.connect(db) as conn:
        conn.execute(
            "INSERT INTO feedback (event_id, decision_id, ts, latency_ms, cost_usd, resolved, "
            "late, override) VALUES (?, ?, ?, ?, ?, 1, 0, 0)",
            (event, decision_id, time.time(), fields.get("latency_ms"), fields.get("cost_usd")),
        )
        if outcome:
            conn.execute(
                "INSERT INTO outcomes VALUES (?, 1, NULL, ?, ?, NULL)",
                (decision_id, event, time.time()),
            )


def damage_decision(db: Path, decision_id: str, column: str, value: Any) -> None:
    with sqlite3.connect(db) as conn:
        conn.execute(
            f"UPDATE decisions SET {column} = ? WHERE decision_id = ?", (value, decision_id)
        )


POISONS: dict[str, Any] = {
    "cost past the float range": lambda db, d: write_outcome(db, d, cost_usd=1e308),
    "latency that is text": lambda db, d: write_outcome(db, d, latency_ms="slow"),
    "latencies summing past the float range": lambda db, d: (
        write_outcome(db, d, outcome=False, latency_ms=1.5e308),
        write_outcome(db, d, latency_ms=1.5e308),
    ),
    "request that is not JSON": lambda db, d: (
        damage_decision(db, d, "request", b"{not json"),
        write_outcome(db, d),
    ),
    "features without an intent group": lambda db, d: (
        damage_decision(db, d, "features", b"{}"),
        write_outcome(db, d),
    ),
    "a zero propensity": lambda db, d: (
        damage_decision(db, d, "propensity", 0.0),
        write_outcome(db, d),
    ),
    "a lambda past the float range": lambda db, d: (
        damage_decision(
            db,
            d,
            "request",
            json.dumps(
                {"lambda": 1e308, "latency_weight_per_s": 0.02, "deadline_ms": 3000}
            ).encode(),
        ),
        write_outcome(db, d, cost_usd=100.0),
    ),
}


@pytest.mark.parametrize("kind", list(POISONS))
def test_an_unusable_event_is_skipped_and_learning_goes_on(tmp_path: Path, kind: str) -> None:
    settings = settings_for(tmp_path)
    svc = build_service(settings)
    svc.start()
    try:
        bad = route(svc, DISPUTE, 0)
        POISONS[kind](settings.store.db_path, bad.decision_id)
        good = route(svc, CARD, 1)
        send(svc, good.decision_id, latency_ms=900.0, resolved=True)  # learned inline
        assert svc.learner is not None
        assert svc.learner.counts["skipped"] == 1, svc.learner.counts
        assert svc.learner.counts["learned"] == 1
        assert svc.learner.skipped[0][1] == bad.decision_id
        assert "selector_online_skipped_events 1.0" in metrics(svc)
        assert "selector_online_learner_up 1.0" in metrics(svc)
        assert not [p for p in svc.health().degraded if p.part == "online_learner"]
    finally:
        svc.stop()


def test_a_log_with_unusable_rows_starts_replays_and_evaluates(tmp_path: Path) -> None:
    settings = settings_for(tmp_path, bandit_updates="background")
    svc = build_service(settings)
    svc.start()
    run_traffic(svc, 60)
    poisoned = [route(svc, DISPUTE, 100 + i).decision_id for i in range(len(POISONS))]
    svc.log.close()  # a crash: nothing more is saved
    svc.learner.stop(None)  # type: ignore[union-attr]
    for make, did in zip(POISONS.values(), poisoned, strict=True):
        make(settings.store.db_path, did)
    state = Path(f"{settings.store.db_path}.bandit.json")
    state.unlink(missing_ok=True)  # and the state is lost: the whole log is read at start

    again = build_service(settings)
    again.start()
    try:
        assert again.learner is not None
        assert again.learner.counts["learned"] == 60
        assert again.learner.counts["skipped"] == len(POISONS)
        run_traffic(again, 10, seed=5)
        deadline = time.monotonic() + 10
        while again.learner.counts["learned"] < 70 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert again.learner.counts["learned"] == 70
        assert again.health().ready
    finally:
        again.stop()

    runner = CliRunner()
    shown = runner.invoke(cli, ["bandit", "--db", str(settings.store.db_path), "--replay"])
    assert shown.exit_code == 0, shown.output
    assert "a replay of the log gives the same state" in shown.output
    assert f"skipped {len(POISONS)}" in shown.output
    for did in poisoned:
        assert did in shown.output
    ope = runner.invoke(
        cli,
        [
            "ope",
            "--db",
            str(settings.store.db_path),
            "--no-track",
            "--min-ess",
            "1",
            "--policy",
            "utility-v0",
        ],
    )
    assert ope.exit_code == 0, ope.output
    # the SQL sum of the joined log reads a text latency as 0: that one is evaluated
    left_out = re.search(r"unusable (\d+)", ope.output)
    assert left_out is not None, ope.output
    assert int(left_out[1]) >= len(POISONS) - 1


def test_a_stopped_or_lagging_learner_is_reported_by_readiness(tmp_path: Path) -> None:
    settings = settings_for(tmp_path, bandit_updates="background", learner_max_lag_s=0.2)
    svc = build_service(settings)
    svc.start()
    try:
        assert svc.learner is not None
        assert not [p for p in svc.health().degraded if p.part == "online_learner"]
        svc.learner.stop(None)  # the thread is gone
        run_traffic(svc, 3)

        def reasons_now() -> list[str]:
            return [p.reason for p in svc.health().degraded if p.part == "online_learner"]

        deadline = time.monotonic() + 60  # the oldest unread event gets older than 0.2 s
        while not any(r.startswith("lagging") for r in reasons_now()):
            assert time.monotonic() < deadline, reasons_now()
            time.sleep(0.05)
        health = svc.health()
        reasons = [p.reason for p in health.degraded if p.part == "online_learner"]
        assert any(r.startswith("stopped") for r in reasons), reasons
        assert any(r.startswith("lagging: 6 feedback events") for r in reasons), reasons
        assert health.ready  # decisions are still served and acknowledged
        assert "selector_online_learner_up 0.0" in metrics(svc)
        assert "selector_online_lag_events 6.0" in metrics(svc)
    finally:
        svc.stop()


def test_inline_learning_never_fails_a_stored_event(tmp_path: Path) -> None:
    """With SELECTOR_BANDIT_UPDATES=inline a feedback request learns before it is
    answered: an unusable row before it must not turn the stored event into an error."""
    settings = settings_for(tmp_path)
    svc = build_service(settings)
    svc.start()
    try:
        bad = route(svc, DISPUTE, 0)
        write_outcome(settings.store.db_path, bad.decision_id, cost_usd=1e308)
        good = route(svc, CARD, 1)
        result = asyncio.run(
            svc.feedback(FeedbackEvent(good.decision_id, {"latency_ms": 5.0, "resolved": True}))
        )
        assert not result.duplicate
        assert svc.learner is not None
        assert svc.learner.counts["learned"] == 1
    finally:
        svc.stop()
