"""The gateway replay: fallbacks, timeouts, the oracle, and the real service on loopback."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from selector.catalog import Catalog
from selector.config import load_settings
from simulator.corpus import Corpus
from simulator.loopback import SimClock, serve_on_loopback
from simulator.replay import ReplayResult, Route, Turn, replay
from simulator.report import summarize, targets
from simulator.routers import FixedRouter, OracleRouter, RulesRouter, ServiceRouter
from simulator.scenario import Event, Scenario
from simulator.world import Conversation, Load, World
from tests.simulator.conftest import needs_data, shrink

pytestmark = needs_data


def _changed(
    sc: Scenario, catalog: Catalog, corpus: Corpus, changes: dict[str, dict[str, float]]
) -> World:
    models = {n: m.model_copy(update=changes.get(n, {})) for n, m in sc.models.items()}
    return World(sc.model_copy(update={"models": models}), catalog, corpus)


def test_a_failing_model_sends_every_turn_to_the_fallback(
    incident: Scenario, catalog: Catalog, corpus: Corpus
) -> None:
    sc = shrink(incident, 30)
    heavy, fallback = sc.heavy_model, sc.gateway.fallback_model
    failing = _changed(
        sc, catalog, corpus, {heavy: {"error_rate": 1.0}, fallback: {"error_rate": 0.0}}
    )
    day = failing.traffic()
    result = replay(failing, day, FixedRouter("always-heavy", [heavy, sc.gateway.fallback_model]))
    t = result.turns
    assert (t["served"] == sc.gateway.fallback_model).all()
    assert (t["attempts"] == 2).all()
    assert (t["errors"] == 1).all()
    # an error answers fast (after the model's base time): no turn waits a timeout for it
    assert (t["latency_ms"] < sc.gateway.timeout_ms).all()


def test_a_call_past_the_timeout_is_abandoned_for_the_next_model(
    incident: Scenario, catalog: Catalog, corpus: Corpus
) -> None:
    sc = shrink(incident, 30)
    heavy, fallback = sc.heavy_model, sc.gateway.fallback_model
    slow = _changed(
        sc,
        catalog,
        corpus,
        {heavy: {"base_ms": 9000, "jitter": 0.0}, fallback: {"error_rate": 0.0}},
    )
    result = replay(
        slow, slow.traffic(), FixedRouter("always-heavy", [heavy, sc.gateway.fallback_model])
    )
    t = result.turns
    assert (t["served"] == sc.gateway.fallback_model).all()
    assert (t["latency_ms"] > sc.gateway.timeout_ms).all()
    assert t["late"].all()


def test_an_escalated_conversation_ends_and_is_not_resolved(world: World) -> None:
    day = world.traffic(conversations=200)
    result = replay(world, day, RulesRouter("gemini-2.5-flash-lite", "claude-opus-4.1", 8))
    turns, convs = result.turns, result.conversations.set_index("conversation")
    bad = turns[~turns["good"]]
    assert len(bad) > 0
    for _, row in bad.iterrows():
        conv = convs.loc[row["conversation"]]
        assert not conv["resolved"]
        assert conv["turns_reached"] == row["user_turn"]
    resolved = convs[convs["resolved"]]
    assert (resolved["turns_reached"] == resolved["user_turns"]).all()


def test_the_rule_sends_short_conversations_to_the_small_model(world: World) -> None:
    result = replay(
        world,
        world.traffic(conversations=100),
        RulesRouter("gemini-2.5-flash-lite", "claude-opus-4.1", 8),
    )
    t = result.turns
    assert (t.loc[2 * t["user_turn"] - 1 <= 8, "chosen"] == "gemini-2.5-flash-lite").all()
    assert (t.loc[2 * t["user_turn"] - 1 > 8, "chosen"] == "claude-opus-4.1").all()


def test_the_oracle_picks_the_heavy_model_for_billing_disputes_only_when_it_is_fast(
    world: World,
) -> None:
    day = world.traffic(conversations=400)
    billing = next(c for c in day if c.group == "billing_dispute")
    account = next(c for c in day if c.group == "account")
    quiet, spike = 8 * 3600.0, 11 * 3600.0
    oracle = OracleRouter(world, Load(60))
    assert oracle.route(Turn(billing, 3, 1500, quiet)).chain[0] == "claude-opus-4.1"
    assert oracle.route(Turn(account, 3, 1500, quiet)).chain[0] != "claude-opus-4.1"
    assert oracle.route(Turn(billing, 3, 1500, spike)).chain[0] != "claude-opus-4.1"


def test_the_oracle_earns_more_reward_than_the_gateway_baselines(world: World) -> None:
    sc = world.scenario
    day = world.traffic(conversations=400)
    load = Load(sc.load_window_s)
    results = [
        replay(
            world, day, FixedRouter("always-heavy", [sc.heavy_model, sc.gateway.fallback_model])
        ),
        replay(
            world, day, RulesRouter(sc.static_rules.small_model, sc.static_rules.heavy_model, 8)
        ),
        replay(world, day, OracleRouter(world, load), load=load),
    ]
    s = summarize(results)
    assert (
        s.loc["oracle", "reward_per_conversation"]
        > s.loc["always-heavy", "reward_per_conversation"]
    )
    assert (
        s.loc["oracle", "reward_per_conversation"]
        > s.loc["static-rules", "reward_per_conversation"]
    )
    assert s.loc["oracle", "reward_share_of_oracle"] == 1.0
    assert targets(s) == []  # no selector row: nothing to check


def through_the_service(
    world: World, day: list[Conversation], db_path: Path
) -> tuple[ReplayResult, float]:
    """``day`` replayed through the real service on loopback (prior quality model, its
    log at ``db_path``), and the service's clock at the end."""
    clock = SimClock()
    settings = load_settings(db_path=db_path, quality_model="prior")
    with serve_on_loopback(settings, clock) as server:
        router = ServiceRouter(
            "selector", server.host, server.port, world.scenario.gateway.deadline_ms, clock.set
        )
        try:
            return replay(world, day, router), clock()
        finally:
            router.close()


def test_the_replay_drives_the_real_service_as_a_gateway_would(
    world: World, tmp_path: Path
) -> None:
    day = world.traffic(conversations=40)
    result, clock = through_the_service(world, day, tmp_path / "selector.db")
    assert clock >= max(c.start_s for c in day)  # the service ran on simulated time
    t = result.turns
    with sqlite3.connect(tmp_path / "selector.db") as db:
        decisions = dict(db.execute("SELECT decision_id, model FROM decisions"))
        outcomes = dict(db.execute("SELECT decision_id, resolved FROM outcomes"))
        calls = db.execute(
            "SELECT decision_id, model, error, override, cost_usd FROM feedback "
            "WHERE latency_ms IS NOT NULL"
        ).fetchall()
    assert len(decisions) == len(t) == len(result.decisions)
    assert set(outcomes) == set(decisions)  # every decision's outcome arrived, once
    assert sum(outcomes.values()) == int(t["good"].sum())
    assert len(calls) == int(t["attempts"].sum())  # every call's result was reported
    assert [d["decision_id"] for d in result.decisions]
    assert all(
        decisions[d["decision_id"]] == chosen
        for d, chosen in zip(result.decisions, t["chosen"], strict=True)
    )
    for decision_id, model, error, override, cost in calls:
        assert bool(override) == (model is not None and model != decisions[decision_id])
        assert (cost is None) == (error is not None)
    assert t["cost_usd"].sum() == pytest.approx(sum(c[4] or 0 for c in calls))


class _Recorder(FixedRouter):
    """A fixed chain that records what the gateway told it."""

    def __init__(self, chain: list[str]) -> None:
        super().__init__("recorder", chain)
        self.deployed: list[tuple[str, ...]] = []
        self.outcomes: list[tuple[str, bool]] = []

    def route(self, turn: Turn) -> Route:
        self.deployed.append(turn.deployed)
        return Route(list(self.chain), decision_id=f"d{len(self.deployed)}")

    def outcome(self, route: Route, good: bool, t: float) -> None:
        self.outcomes.append(("turn", good))

    def conversation_outcome(self, conversation: Conversation, resolved: bool, t: float) -> None:
        self.outcomes.append((conversation.id, resolved))


def test_a_retired_model_is_never_called_and_the_router_is_told(
    incident: Scenario, catalog: Catalog, corpus: Corpus
) -> None:
    sc = shrink(incident, 60)
    heavy, fallback = sc.heavy_model, sc.gateway.fallback_model
    retired = Event(kind="removed", model=heavy, start_hour=12.0)
    world = World(sc.model_copy(update={"events": [retired]}), catalog, corpus)
    router = _Recorder([heavy, fallback])
    t = replay(world, world.traffic(), router).turns
    after = t["t"] >= 12 * 3600
    assert after.any()
    assert (~after).any()
    assert (t.loc[after, "served"] != heavy).all()
    assert (t.loc[~after, "served"] == heavy).mean() > 0.9
    told = [d for d, late in zip(router.deployed, after, strict=True) if late]
    assert told
    assert all(heavy not in d and fallback in d for d in told)
    assert all(d == () for d, late in zip(router.deployed, after, strict=True) if not late)


def test_outcomes_by_conversation_come_once_per_conversation_after_its_last_turn(
    incident: Scenario, catalog: Catalog, corpus: Corpus
) -> None:
    sc = shrink(incident, 60)
    shape = sc.conversation.model_copy(update={"outcome_level": "conversation"})
    world = World(sc.model_copy(update={"conversation": shape}), catalog, corpus)
    router = _Recorder([sc.heavy_model, sc.gateway.fallback_model])
    day = world.traffic()
    result = replay(world, day, router)
    assert not [o for o in router.outcomes if o[0] == "turn"]
    resolved = dict(
        zip(result.conversations["conversation"], result.conversations["resolved"], strict=True)
    )
    assert dict(router.outcomes) == {c.id: bool(resolved[c.index]) for c in day}
    assert len(router.outcomes) == len(day)


def test_the_service_credits_a_conversation_s_outcome_to_each_of_its_decisions(
    world: World, tmp_path: Path
) -> None:
    sc = world.scenario
    shape = sc.conversation.model_copy(update={"outcome_level": "conversation"})
    world = World(sc.model_copy(update={"conversation": shape}), world.catalog, world.corpus)
    result, _ = through_the_service(
        world, world.traffic(conversations=30), tmp_path / "selector.db"
    )
    with sqlite3.connect(tmp_path / "selector.db") as db:
        credited = dict(
            db.execute(
                "SELECT d.conversation_id, MIN(o.resolved) = MAX(o.resolved) AND "
                "COUNT(*) = COUNT(o.decision_id) FROM decisions d "
                "LEFT JOIN outcomes o USING (decision_id) GROUP BY d.conversation_id"
            )
        )
        vias = {v for (v,) in db.execute("SELECT DISTINCT via FROM outcomes")}
        resolved = dict(
            db.execute(
                "SELECT d.conversation_id, MAX(o.resolved) FROM decisions d "
                "JOIN outcomes o USING (decision_id) GROUP BY d.conversation_id"
            )
        )
    day = {c.index: c.id for c in world.traffic(conversations=30)}
    assert all(credited.values())  # every decision credited, each with its conversation's
    assert vias == {"conversation"}
    conv = result.conversations
    assert resolved == {
        day[i]: int(r) for i, r in zip(conv["conversation"], conv["resolved"], strict=True)
    }
