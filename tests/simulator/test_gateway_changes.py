"""What a gateway changes during a day, replayed: models deployed or retired, outcomes
reported once per conversation, a budget per turn."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

from selector.catalog import Catalog
from simulator.corpus import Corpus
from simulator.replay import Route, Turn, replay
from simulator.routers import FixedRouter, OracleRouter
from simulator.scenario import Event, Scenario
from simulator.world import Conversation, Load, World
from tests.simulator.conftest import needs_data, shrink, through_the_service

pytestmark = needs_data


def test_under_a_budget_the_oracle_ranks_the_models_within_it_first(
    incident: Scenario, catalog: Catalog, corpus: Corpus
) -> None:
    sc = shrink(incident, 20)
    free = World(sc, catalog, corpus)
    day = free.traffic()
    turn = Turn(day[0], 1, 3000, day[0].start_s)
    oracle = OracleRouter(free, Load(sc.load_window_s))
    costs = sorted(oracle.expected_cost(m, turn) for m in free.models)
    budget = (costs[0] + costs[1]) / 2  # only the cheapest fits
    gateway = sc.gateway.model_copy(update={"budget_usd": budget})
    tight = World(sc.model_copy(update={"gateway": gateway}), catalog, corpus)
    chain = OracleRouter(tight, Load(sc.load_window_s)).route(turn).chain
    spent = [oracle.expected_cost(m, turn) for m in chain]
    assert spent[0] == costs[0]
    assert spent[1:] == sorted(spent[1:])  # then the rest, cheapest first
    nothing_fits = tight.scenario.model_copy(
        update={"gateway": gateway.model_copy(update={"budget_usd": costs[0] / 2})}
    )
    chain = OracleRouter(World(nothing_fits, catalog, corpus), Load(60)).route(turn).chain
    assert [oracle.expected_cost(m, turn) for m in chain] == costs


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


def test_the_gateway_s_budget_reaches_the_service(world: World, tmp_path: Path) -> None:
    sc = world.scenario
    gateway = sc.gateway.model_copy(update={"budget_usd": 0.002})
    world = World(sc.model_copy(update={"gateway": gateway}), world.catalog, world.corpus)
    through_the_service(world, world.traffic(conversations=20), tmp_path / "selector.db")
    with sqlite3.connect(tmp_path / "selector.db") as db:
        logged = [
            (model, json.loads(scores))
            for model, scores in db.execute("SELECT model, scores FROM decisions")
        ]
    assert logged
    for model, scores in logged:
        chosen = next(s for s in scores if s["model"] == model)
        over = [s for s in scores if s["expected_cost_usd"] > 0.002]
        assert over  # the budget rules some out
        assert all(not s["eligible"] for s in over)
        assert chosen["expected_cost_usd"] <= 0.002 or not any(s["eligible"] for s in scores)
