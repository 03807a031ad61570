"""When the online layer learns a decision: whatever the order its call result and its
outcome arrive in, and from a conversation's outcome credited to its decisions."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from features.extractor import Conversation
from selector.decisions import RouteInput
from selector.online.updates import update_for
from selector.store import ConversationOutcome, SQLiteLog
from selector.wiring import build_service
from tests.selector.online.traffic import (
    CARD,
    DISPUTE,
    LogTime,
    first_correction,
    route,
    send,
    settings_for,
)


@pytest.mark.parametrize("outcome_first", [False, True])
def test_the_reward_does_not_depend_on_the_order_of_call_result_and_outcome(
    tmp_path: Path, outcome_first: bool
) -> None:
    """An outcome that arrives before its call result waits for it: a call result
    reported after the outcome still counts, and both orders learn the same reward."""
    svc = build_service(settings_for(tmp_path))
    svc.start()
    try:
        res = route(svc, DISPUTE)
        call = {"latency_ms": 2400.0, "cost_usd": 0.01}
        if outcome_first:
            send(svc, res.decision_id, resolved=False)
            assert svc.learner is not None
            assert svc.learner.bandit.updates_ == 0  # waiting for the call result
            send(svc, res.decision_id, **call)
        else:
            send(svc, res.decision_id, **call)
            send(svc, res.decision_id, resolved=False)
        assert svc.learner is not None
        assert svc.learner.bandit.updates_ == 1
        send(svc, res.decision_id, latency_ms=20.0)  # a later call result changes nothing
        assert svc.learner.bandit.updates_ == 1
        expected = first_correction(svc, res, 0.0, 0.01)
        got = svc.learner.bandit.correction(res.decision.model, res.intent_group)  # type: ignore[attr-defined]
        assert got == pytest.approx(expected)
    finally:
        svc.stop()


def test_an_outcome_without_a_call_result_is_learned_when_its_window_closes(
    tmp_path: Path,
) -> None:
    log_time = LogTime()
    svc = build_service(settings_for(tmp_path, join_window_s=0.2), log_clock=log_time)
    svc.start()
    try:
        quiet = route(svc, CARD, 0)
        send(svc, quiet.decision_id, resolved=True)
        assert svc.learner is not None
        assert svc.learner.bandit.updates_ == 0
        log_time.advance(1.5)  # windows close in whole seconds of the log's time
        for i in range(2):
            later = route(svc, DISPUTE, i + 1)
            send(svc, later.decision_id, latency_ms=400.0)
            log_time.advance(0.6)
        assert svc.learner.counts["without_calls"] == 1
        assert svc.learner.bandit.updates_ == 1
    finally:
        svc.stop()


def test_a_conversation_outcome_is_learned_for_each_decision_it_credits(tmp_path: Path) -> None:
    svc = build_service(settings_for(tmp_path))
    svc.start()
    try:
        conv = Conversation(messages=[("user", DISPUTE)])
        results = [
            asyncio.run(svc.route(RouteInput("whole", conv, max_latency_ms=3000))) for _ in range(3)
        ]
        for res in results[:2]:  # the third never got a call result: it waits
            send(svc, res.decision_id, latency_ms=800.0, cost_usd=0.002)
        credited = asyncio.run(
            svc.conversation_outcome(ConversationOutcome("whole", {"resolved": True}))
        )
        assert sorted(credited.credited) == sorted(r.decision_id for r in results)
        assert svc.learner is not None
        assert svc.learner.bandit.updates_ == 2
        send(svc, results[2].decision_id, latency_ms=700.0)  # its call result completes it
        assert svc.learner.bandit.updates_ == 3
    finally:
        svc.stop()


def test_a_conversation_outcome_weighs_as_one_observation_over_its_decisions(
    tmp_path: Path,
) -> None:
    settings = settings_for(tmp_path)
    svc = build_service(settings)
    svc.start()
    try:
        conv = Conversation(messages=[("user", DISPUTE)])
        results = [
            asyncio.run(svc.route(RouteInput("whole", conv, max_latency_ms=3000))) for _ in range(4)
        ]
        own = route(svc, CARD, 9)
        for res in [*results, own]:
            send(svc, res.decision_id, latency_ms=800.0, cost_usd=0.002)
        send(svc, own.decision_id, resolved=True)
        asyncio.run(svc.conversation_outcome(ConversationOutcome("whole", {"resolved": False})))
        assert svc.learner is not None
        with SQLiteLog(settings.store.db_path).reader() as reader:
            assert [reader.credited_with(r.decision_id) for r in results] == [4] * 4
            assert reader.credited_with(own.decision_id) == 1
            weights = [
                update_for(reader, r.decision_id, reader.calls(r.decision_id, 10**9), 0.0, True)
                for r in [*results, own]
            ]
        assert [u.weight for u in weights] == [0.25] * 4 + [1.0]  # type: ignore[union-attr]
        assert svc.learner.bandit.updates_ == 5
    finally:
        svc.stop()


@pytest.mark.parametrize("default_outcome", [None, 0.0])
def test_the_learned_state_is_the_same_however_early_the_log_is_read(
    tmp_path: Path, default_outcome: float | None
) -> None:
    """A decision's window closes at a row of the log; an outcome committed after that
    row (its event's time still inside the window) must not count at the close, whether
    the reader reached the closing row before the outcome was committed (learning as
    the traffic comes) or after (a replay of the finished log): same state, bit for bit."""
    import hashlib

    from selector.online.state import body_of
    from selector.wiring import new_learner

    settings = settings_for(tmp_path, join_window_s=60.0, reward_default_outcome=default_outcome)
    log_time = LogTime()
    svc = build_service(settings, log_clock=log_time)  # learns inline: after each write
    svc.start()
    try:
        quiet = route(svc, CARD, 0)  # no call result: learned only when its window closes
        log_time.advance(100.0)  # a row 100 s later in the log's time closes quiet's window
        send(svc, route(svc, DISPUTE, 1).decision_id, latency_ms=400.0)
        log_time.advance(-70.0)  # quiet's outcome, inside its window, committed after that row
        send(svc, quiet.decision_id, resolved=True)
        assert svc.learner is not None
        live = svc.learner.state()
    finally:
        svc.stop()
    replay = new_learner(settings, svc.log)
    replay.stop(None)  # reads the finished log at once

    def digest(state: dict[str, object]) -> str:
        return hashlib.sha256(body_of(state).encode()).hexdigest()

    assert live["counts"].get("without_calls", 0) == 0  # type: ignore[union-attr]
    assert replay.state()["counts"] == live["counts"]
    assert digest(replay.state()) == digest(live)
