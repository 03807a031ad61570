"""The online layer's experiments (see :mod:`simulator.online_eval`): each replays a
day through the service on loopback, with every choice watched beside the oracle's."""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from simulator.corpus import load_corpus
from simulator.demo import Bars, Prepared, no_bar, prepare, service_router
from simulator.online_eval.coverage import dr_coverage
from simulator.online_eval.measures import (
    OFFLINE,
    ONLINE,
    TARGETS,
    TOLERANCE,
    adaptation,
    propensity_test,
)
from simulator.online_eval.report import markdown, plot
from simulator.replay import Call, ReplayResult, Route, Turn, replay
from simulator.routers import OracleRouter, ServiceRouter
from simulator.scenario import Scenario, load_scenario
from simulator.world import Conversation, Load, World

__all__ = ["OnlineReport", "Run", "Watched", "measure_online", "run_day"]


class Watched:
    """A selector whose every choice is recorded beside the oracle's choice for the same
    turn under the same load, and whose feedback events are timed."""

    def __init__(self, inner: ServiceRouter, oracle: OracleRouter) -> None:
        self.name = inner.name
        self.inner = inner
        self.oracle = oracle
        self.choices: list[tuple[float, str, str, str]] = []  # t, group, chosen, optimum
        self.feedback_t: list[float] = []

    @property
    def decisions(self) -> list[dict[str, Any]]:
        return self.inner.decisions

    def route(self, turn: Turn) -> Route:
        route = self.inner.route(turn)
        best = self.oracle.route(turn).chain[0]
        self.choices.append((turn.t, turn.conversation.group, route.chain[0], best))
        return route

    def call_result(self, route: Route, call: Call) -> None:
        self.feedback_t.append(call.t)
        self.inner.call_result(route, call)

    def outcome(self, route: Route, good: bool, t: float) -> None:
        self.feedback_t.append(t)
        self.inner.outcome(route, good, t)

    def conversation_outcome(self, conversation: Conversation, resolved: bool, t: float) -> None:
        self.feedback_t.append(t)
        self.inner.conversation_outcome(conversation, resolved, t)

    def frame(self) -> pd.DataFrame:
        return pd.DataFrame(self.choices, columns=["t", "group", "chosen", "optimum"])


@dataclass
class Run:
    scenario: str
    policy: str
    result: ReplayResult
    watched: Watched
    db_path: Path
    seconds: float


@dataclass
class OnlineReport:
    out: Path
    report: Path
    results: dict[str, Any]
    runs: list[Run] = field(default_factory=list)


def run_day(
    prepared: Prepared,
    scenario: Scenario,
    data_dir: Path,
    policy: str,
    db_path: Path,
    bars: Bars = no_bar,
    echo: Callable[[str], None] = lambda _m: None,
    **overrides: Any,
) -> Run:
    """Replay ``scenario``'s day through the service serving ``policy``, watched."""
    world = World(scenario, prepared.catalog, load_corpus(data_dir, prepared.taxonomy, "test"))
    day = world.traffic()
    for stale in db_path.parent.glob(db_path.name + "*"):
        stale.unlink()
    load = Load(scenario.load_window_s)
    t0 = time.perf_counter()
    name = f"{scenario.name}: {policy}"
    with (
        service_router(
            prepared.settings, scenario, name, echo, policy=policy, db_path=db_path, **overrides
        ) as router,
        bars(sum(c.user_turns for c in day), name) as advance,
    ):
        watched = Watched(router, OracleRouter(world, load))
        result = replay(world, day, watched, load=load, progress=advance)
    return Run(scenario.name, policy, result, watched, db_path, time.perf_counter() - t0)


def cliff_multiplier(
    scenario: Scenario, prepared: Prepared, data_dir: Path, model: str, event: Any
) -> float:
    """The latency multiplier that puts ``model``'s p95 at 1.5 × the gateway's deadline
    on a typical turn (the scenario's multiplier if larger): a cliff for any model."""
    world = World(scenario, prepared.catalog, load_corpus(data_dir, prepared.taxonomy, "test"))
    t = event.start_hour * 3600
    m = scenario.models[model]
    prompt = scenario.conversation.system_prompt_tokens + 1_000  # a few turns in
    median = world.latency_ms(model, prompt, m.background_load, 0.0, t - 1.0)
    p95 = median * math.exp(1.645 * m.jitter)
    return max(float(event.multiplier), 1.5 * scenario.gateway.deadline_ms / p95)


def _event(scenario: Scenario, kind: str) -> Any:
    found = [e for e in scenario.events if e.kind == kind]
    if not found:
        raise ValueError(f"scenario {scenario.name} has no {kind} event")
    return found[0]


def _aim_changes(
    sc: dict[str, Scenario],
    calm_choices: pd.DataFrame,
    prepared: Prepared,
    data_dir: Path,
    windows: dict[str, int],
) -> dict[str, tuple[Scenario, dict[str, Any]]]:
    """The cliff and the regression aimed at the model the online layer used most in the
    last window of decisions before them in the calm day (the days are identical until
    then; the share before the change is measured on that window): overall for the
    cliff, on the intent group for the regression."""
    changed = {}
    for name, kind in (("cliff", "latency"), ("regression", "quality")):
        e = _event(sc[name], kind)
        before = calm_choices[calm_choices["t"] < e.start_hour * 3600]
        if e.group is not None:
            before = before[before["group"] == e.group]
        top = str(before["chosen"].tail(windows[name]).value_counts().index[0])
        update: dict[str, Any] = {"model": top}
        if kind == "latency":
            update["multiplier"] = cliff_multiplier(sc[name], prepared, data_dir, top, e)
        events = [x.model_copy(update=update) if x is e else x for x in sc[name].events]
        changed[name] = (sc[name].model_copy(update={"events": events}), update)
    return changed


def _adaptations(
    runs: dict[tuple[str, str], Run], sc: dict[str, Scenario], cliff_window: int, reg_window: int
) -> dict[str, Any]:
    cliff = _event(sc["cliff"], "latency")
    reg = _event(sc["regression"], "quality")
    return {
        "cliff": {
            policy: adaptation(
                runs["cliff", policy].watched.frame(),
                cliff.model,
                cliff.start_hour * 3600,
                cliff.end_hour * 3600,
                cliff_window,
            )
            for policy in (ONLINE, OFFLINE)
        },
        "regression": {
            policy: adaptation(
                runs["regression", policy].watched.frame(),
                reg.model,
                reg.start_hour * 3600,
                reg.end_hour * 3600,
                reg_window,
                group=reg.group,
                feedback_t=runs["regression", policy].watched.feedback_t,
            )
            for policy in (ONLINE, OFFLINE)
        },
    }


def _stationary(runs: dict[tuple[str, str], Run]) -> dict[str, Any]:
    calm = {
        p: float(runs["calm", p].result.conversations["reward"].mean()) for p in (ONLINE, OFFLINE)
    }
    return {
        "reward_per_conversation": calm,
        "resolution_rate": {
            p: float(runs["calm", p].result.conversations["resolved"].mean())
            for p in (ONLINE, OFFLINE)
        },
        "exploration_cost": 1.0 - calm[ONLINE] / calm[OFFLINE],
    }


def measure_online(
    out: Path,
    data_dir: Path,
    echo: Callable[[str], None] = lambda _m: None,
    bars: Bars = no_bar,
    scenarios: dict[str, Scenario] | None = None,
    cliff_window: int = 50,
    regression_window: int = 50,
    dr_replicates: int = 50,
    dr_decisions: int = 4_000,
    settings: dict[str, Any] | None = None,
) -> OnlineReport:
    """Run every experiment of :mod:`simulator.online_eval`; write ``online.md``,
    ``online.json`` and plots under ``out``. ``settings``: overrides of the service's
    settings (e.g. the online layer's) in every replay."""
    sc = scenarios or {n: load_scenario(n) for n in ("calm", "cliff", "regression")}
    timings: dict[str, float] = {}
    prepared = prepare(sc["calm"], out, data_dir, echo, bars, timings=timings)
    runs: dict[tuple[str, str], Run] = {}

    def run(name: str, scenario: Scenario) -> None:
        for policy in (ONLINE, OFFLINE):
            db = out / f"{name}-{policy}.db"
            r = run_day(prepared, scenario, data_dir, policy, db, bars, echo, **(settings or {}))
            runs[name, policy] = r
            timings[f"{name}: {policy}"] = r.seconds

    run("calm", sc["calm"])
    calm_choices = runs["calm", ONLINE].watched.frame()
    windows = {"cliff": cliff_window, "regression": regression_window}
    aimed = _aim_changes(sc, calm_choices, prepared, data_dir, windows)
    for name, (scenario, update) in aimed.items():
        echo(f"{name}: the event hits {update['model']}, the most used model before it ({update})")
        run(name, scenario)
        sc = {**sc, name: scenario}

    results: dict[str, Any] = {"tolerance": TOLERANCE, "targets": TARGETS, "timings_s": timings}
    results.update(_adaptations(runs, sc, cliff_window, regression_window))
    results["stationary"] = _stationary(runs)
    results["propensities"] = propensity_test(runs["calm", ONLINE].db_path)
    calm_world = World(
        sc["calm"], prepared.catalog, load_corpus(data_dir, prepared.taxonomy, "test")
    )
    t0 = time.perf_counter()
    with bars(dr_replicates, "DR coverage") as advance:
        results["dr_coverage"] = dr_coverage(
            calm_world, dr_replicates, dr_decisions, seed=sc["calm"].seed, progress=advance
        )
    timings["DR coverage"] = time.perf_counter() - t0
    plots = plot(results, out / "plots")
    report = out / "online.md"
    report.write_text(markdown(results, plots), encoding="utf-8")
    slim = json.loads(json.dumps(results))
    (out / "online.json").write_text(json.dumps(slim, indent=2) + "\n", encoding="utf-8")
    return OnlineReport(out, report, results, list(runs.values()))
