"""The online layer's fold over the real service's decision log."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from selector.config import Settings
from selector.engine import state_store
from selector.online import OnlineLearner, StateFile
from selector.online.learners import build
from selector.reward import RewardConfig
from selector.service import SelectorService
from selector.wiring import build_service
from tests.selector.online.traffic import (
    CARD,
    DISPUTE,
    LogTime,
    first_correction,
    metrics,
    route,
    run_traffic,
    send,
    settings_for,
)


def state_file(settings: Settings) -> Path:
    """Where the online layer saved its state (beside the SQLite log)."""
    store = state_store(settings)
    assert isinstance(store, StateFile)
    return store.path


def test_an_outcome_updates_the_decided_model_by_reward_minus_utility(
    service: SelectorService,
) -> None:
    res = route(service, DISPUTE)
    send(service, res.decision_id, latency_ms=2400.0, cost_usd=0.01)
    send(service, res.decision_id, resolved=False)
    assert service.learner is not None
    bandit = service.learner.bandit
    assert bandit.updates_ == 1
    assert "selector_online_updates 1.0" in metrics(service)
    expected = first_correction(service, res, 0.0, 0.01)
    assert bandit.correction(res.decision.model, res.intent_group) == pytest.approx(expected)


@pytest.mark.parametrize(
    "call",
    [
        {"latency_ms": 3400.0, "cost_usd": 0.01},  # past the request's 3 s deadline
        {"latency_ms": 3000.0, "cost_usd": 0.01, "error": "timeout"},
        {"latency_ms": 150.0, "error": "rate limited"},
    ],
)
def test_a_model_in_trouble_teaches_the_live_estimates_not_its_quality(
    service: SelectorService, call: dict[str, Any]
) -> None:
    """A call that failed or came past the deadline is the model's passing trouble: its
    latency and error reach the live estimates, the outcome is not learned as quality."""
    res = route(service, DISPUTE)
    model = res.decision.model
    before = service.tracker.health(model).samples
    send(service, res.decision_id, **call)
    send(service, res.decision_id, resolved=False)
    assert service.learner is not None
    assert service.learner.bandit.updates_ == 0
    assert service.learner.counts["transient"] == 1
    assert service.tracker.health(model).samples == before + 1
    # the same outcome of a call that went well is learned
    res = route(service, DISPUTE, 1)
    send(service, res.decision_id, latency_ms=2900.0, cost_usd=0.01)
    send(service, res.decision_id, resolved=False)
    assert service.learner.bandit.updates_ == 1


def test_a_decision_the_gateway_overrode_is_not_learned(service: SelectorService) -> None:
    res = route(service, DISPUTE)
    other = next(m for m in service.catalog.enabled_names if m != res.decision.model)
    send(service, res.decision_id, model=other, latency_ms=900.0)
    send(service, res.decision_id, resolved=True)
    assert service.learner is not None
    assert service.learner.bandit.updates_ == 0
    assert service.learner.counts["overridden"] == 1
    # the served model's latency still counts, for the model that served
    assert service.tracker.health(other).samples == 1


def test_late_outcomes_are_not_learned(tmp_path: Path) -> None:
    log_time = LogTime()
    svc = build_service(settings_for(tmp_path, join_window_s=0.05), log_clock=log_time)
    svc.start()
    try:
        res = route(svc, CARD)
        log_time.advance(0.1)
        send(svc, res.decision_id, resolved=True)
        assert svc.learner is not None
        assert svc.learner.bandit.updates_ == 0
        assert svc.learner.counts["late"] == 1
    finally:
        svc.stop()


def test_the_default_outcome_applies_once_when_the_window_closes(tmp_path: Path) -> None:
    log_time = LogTime()
    settings = settings_for(tmp_path, join_window_s=0.2, reward_default_outcome=0.0)
    svc = build_service(settings, log_clock=log_time)
    svc.start()
    try:
        silent = route(svc, CARD, 0)
        send(svc, silent.decision_id, latency_ms=500.0, cost_usd=0.001)
        log_time.advance(1.5)  # windows close in whole seconds of the log's time
        for i in range(3):  # later traffic, answered, moves the log's time on
            later = route(svc, DISPUTE, i + 1)
            send(svc, later.decision_id, latency_ms=400.0, resolved=True)
            log_time.advance(0.5)
        assert svc.learner is not None
        assert svc.learner.counts["defaults"] == 1
        assert svc.learner.bandit.updates_ == 4
    finally:
        svc.stop()


def test_without_a_default_an_unanswered_decision_is_dropped(tmp_path: Path) -> None:
    log_time = LogTime()
    svc = build_service(settings_for(tmp_path, join_window_s=0.2), log_clock=log_time)
    svc.start()
    try:
        silent = route(svc, CARD, 0)
        send(svc, silent.decision_id, latency_ms=500.0)
        log_time.advance(1.5)
        later = route(svc, DISPUTE, 1)
        send(svc, later.decision_id, latency_ms=400.0)
        log_time.advance(0.6)
        send(svc, later.decision_id, latency_ms=410.0)
        send(svc, silent.decision_id, resolved=True)  # late: after its window
        assert svc.learner is not None
        assert svc.learner.bandit.updates_ == 0
        assert svc.learner.counts["late"] >= 1
        assert "selector_online_updates 0.0" in metrics(svc)
    finally:
        svc.stop()


def test_decisions_waiting_for_their_outcome_hold_no_memory(tmp_path: Path) -> None:
    """Call results waiting for an outcome stay in the log: the learner's state is the
    same size after 1 or 300 unanswered decisions, and the outcome still finds them."""
    svc = build_service(settings_for(tmp_path))
    svc.start()
    try:
        assert svc.learner is not None
        first = route(svc, DISPUTE, 0)
        send(svc, first.decision_id, latency_ms=2400.0, cost_usd=0.01)
        size = len(json.dumps(svc.learner.state()))
        waiting = []
        for i in range(1, 300):
            res = route(svc, CARD, i)
            send(svc, res.decision_id, latency_ms=500.0, cost_usd=0.001)
            waiting.append(res.decision_id)
        state = json.dumps(svc.learner.state())
        assert len(state) <= size + 10  # the cursor's digits, not one entry per decision
        assert not [d for d in [first.decision_id, *waiting] if d in state]
        assert not [k for k, v in vars(svc.learner).items() if isinstance(v, dict) and v]
        send(svc, first.decision_id, resolved=False)
        expected = first_correction(svc, first, 0.0, 0.01)
        got = svc.learner.bandit.correction(first.decision.model, first.intent_group)  # type: ignore[attr-defined]
        assert got == pytest.approx(expected)
    finally:
        svc.stop()


@pytest.mark.parametrize("learner", ["residual", "vw"])
def test_replaying_the_log_reproduces_the_live_state(tmp_path: Path, learner: str) -> None:
    settings = settings_for(tmp_path, bandit_learner=learner)
    svc = build_service(settings)
    svc.start()
    run_traffic(svc, 150)
    svc.stop()
    # the learner's reader closed before the log's writer, which removed the WAL file
    assert not settings.store.db_path.with_name(settings.store.db_path.name + "-wal").exists()
    saved = json.loads(state_file(settings).read_text())["state"]
    assert saved["bandit"]["updates"] == 150

    fresh = OnlineLearner(
        build(svc.learner.bandit.params),  # type: ignore[union-attr]
        svc.log,
        RewardConfig(settings.reward.late_penalty, settings.reward.deadline_ms),
        settings.store.join_window_s,
    )
    fresh.catch_up()
    if learner == "residual":
        assert fresh.state() == saved
    else:  # VW counts predictions in its saved model: what it would decide must agree
        live = build(svc.learner.bandit.params, saved["bandit"])  # type: ignore[union-attr]
        for group in ("card", "billing_dispute", "payments"):
            args = (svc.catalog.enabled_names, group, [0.9] * 7, 0.5)
            assert fresh.bandit.distribution(*args) == live.distribution(*args)
        assert {k: v for k, v in fresh.state().items() if k != "bandit"} == {
            k: v for k, v in saved.items() if k != "bandit"
        }


def test_the_bandit_moves_traffic_off_a_model_failing_one_group(tmp_path: Path) -> None:
    svc = build_service(
        settings_for(tmp_path, bandit_gamma=200, bandit_prior_weight=5, bandit_memory=50)
    )
    svc.start()
    try:
        run_traffic(svc, 300)
        assert svc.learner is not None
        bad = svc.catalog.enabled_names[0]
        card_group = route(svc, CARD, 999).intent_group
        assert svc.learner.bandit.correction(bad, card_group) < -0.2
    finally:
        svc.stop()


def test_selector_bandit_shows_the_state_and_replays_the_log(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from selector.cli import cli

    settings = settings_for(tmp_path)
    svc = build_service(settings)
    svc.start()
    run_traffic(svc, 60)
    svc.stop()
    out = tmp_path / "rebuilt.json"
    result = CliRunner(env={"SELECTOR_POLICY": settings.decision.policy}).invoke(
        cli, ["bandit", "--db", str(settings.store.db_path), "--replay", "--out", str(out)]
    )
    assert result.exit_code == 0, result.output
    assert f"restored from {state_file(settings)}" in result.output
    assert "a replay of the log gives the same state" in result.output
    assert "learned 60" in result.output
    assert (
        json.loads(out.read_text())["state"]
        == json.loads(state_file(settings).read_text())["state"]
    )
