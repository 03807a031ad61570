"""``selector measure-online``: the online layer measured against the simulator's truth.

One offline model is trained on the calm world's history (as ``selector demo`` does),
then each experiment replays a day through the service on loopback:

- **latency cliff** (scenario ``cliff``): the model the online layer used most before
  10:00 turns slower (at least ×4, enough for its p95 to reach 1.5 × the deadline);
  its traffic share is compared, decision by decision, with the share the oracle would
  give it *on the same turns under the same load* (its new optimum), over a sliding
  window of decisions. Measured: decisions after the change until the share is within
  the tolerance of the optimum.
- **quality regression** (scenario ``regression``): the model the online layer used
  most on payment questions answers them 30 points worse from 14:00; the same
  comparison on that group's turns, counted in feedback events (call results and
  outcomes) the gateway sent after the change.
- **stationary world** (scenario ``calm``): reward per conversation with the online
  layer against the greedy offline policy (``utility-v0``) on the same day.
- **propensities**: the calm day's logged probabilities against the choices made, by a
  χ² test per model (covariance of the multinomial draws, :func:`propensity_test`).

Both selectors run every experiment, so the report shows what the online layer adds.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from selector.store import LogReader
from simulator.demo import Bars, Prepared, no_bar, prepare, service_router
from simulator.replay import Call, OracleRouter, ReplayResult, Route, ServiceRouter, Turn, replay
from simulator.scenario import Scenario, load_scenario
from simulator.world import Load, World, load_corpus
from training.plots import pyplot

__all__ = ["Watched", "adaptation", "checks", "dr_coverage", "measure_online", "propensity_test"]

ONLINE, OFFLINE = "bandit-v1", "utility-v0"
TOLERANCE = 0.05
TARGETS = {
    "cliff_decisions": 300,
    "regression_feedback": 1_500,
    "exploration_cost": 0.02,
    "dr_coverage": 0.90,
}


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

    def frame(self) -> pd.DataFrame:
        return pd.DataFrame(self.choices, columns=["t", "group", "chosen", "optimum"])


def adaptation(
    choices: pd.DataFrame,
    model: str,
    start_s: float,
    end_s: float,
    window: int,
    group: str | None = None,
    feedback_t: list[float] | None = None,
    tolerance: float = TOLERANCE,
) -> dict[str, Any]:
    """How long after ``start_s`` the share of ``model`` (on ``group``'s turns, if given)
    over the last ``window`` decisions came within ``tolerance`` of the oracle's share on
    the same turns. Counted in decisions since the change (all groups), and in feedback
    events since the change when ``feedback_t`` is given.

    >>> rows = [(i, "g", "a" if i < 130 else "b", "b") for i in range(300)]
    >>> a = adaptation(pd.DataFrame(rows, columns=["t", "group", "chosen", "optimum"]),
    ...                "a", 100, 300, window=20)
    >>> a["decisions"], a["share_before"], a["optimum_after"]
    (49, 1.0, 0.0)
    """
    period = choices[(choices["t"] >= start_s) & (choices["t"] < end_s)].reset_index(drop=True)
    scope = period if group is None else period[period["group"] == group]
    before = choices[choices["t"] < start_s]
    if group is not None:
        before = before[before["group"] == group]
    before = before.tail(window)
    sel = (scope["chosen"] == model).astype(float).rolling(window).mean()
    opt = (scope["optimum"] == model).astype(float).rolling(window).mean()
    within = ((sel - opt).abs() <= tolerance + 1e-12).to_numpy()
    hits = np.flatnonzero(within)
    share_before = float((before["chosen"] == model).mean()) if len(before) else None
    optimum_after = float((scope["optimum"] == model).iloc[window:].mean())
    out: dict[str, Any] = {
        "model": model,
        "group": group,
        # a change that did not move the optimum away from the share has nothing to measure
        "measurable": share_before is not None and abs(share_before - optimum_after) > tolerance,
        "window": window,
        "tolerance": tolerance,
        "turns_in_scope": len(scope),
        "share_before": share_before,
        "optimum_before": float((before["optimum"] == model).mean()) if len(before) else None,
        "share_after": float((scope["chosen"] == model).iloc[window:].mean()),
        "optimum_after": optimum_after,
        "decisions": None,
        "feedback_events": None,
        "windows_within_after": None,
    }
    if len(hits) and out["measurable"]:
        i = int(hits[0])
        t_hit = float(scope["t"].iloc[i])
        out["decisions"] = int(scope.index[i]) + 1  # decisions since the change, all groups
        if feedback_t is not None:
            ft = np.asarray(feedback_t)
            out["feedback_events"] = int(((ft >= start_s) & (ft <= t_hit)).sum())
        out["windows_within_after"] = float(within[i:].mean())
    # the curve to plot starts two windows before the change (x < 0), so the fall shows
    ordered = choices.reset_index(drop=True)
    first = int(np.searchsorted(ordered["t"].to_numpy(), start_s))
    pre = ordered.iloc[:first]
    if group is not None:
        pre = pre[pre["group"] == group]
    pre = pre.tail(2 * window)
    pre_pos = [int(i) - first + 1 for i in pre.index]
    joined = pd.concat([pre, scope])
    x_all = pre_pos + [int(x) + 1 for x in scope.index]
    sel_all = (joined["chosen"] == model).astype(float).rolling(window).mean()
    opt_all = (joined["optimum"] == model).astype(float).rolling(window).mean()
    out["curve"] = {
        "index": x_all[window - 1 :],
        "share": sel_all.iloc[window - 1 :].round(4).tolist(),
        "optimum": opt_all.iloc[window - 1 :].round(4).tolist(),
    }
    if feedback_t is not None:
        ft = np.sort(np.asarray(feedback_t))
        times = joined["t"].iloc[window - 1 :].to_numpy()
        out["curve"]["feedback"] = (
            np.searchsorted(ft, times, side="right") - np.searchsorted(ft, start_s)
        ).tolist()
    return out


def propensity_test(db_path: Path, policy: str = ONLINE) -> dict[str, Any]:
    """χ² test of the models chosen against the probabilities logged with each decision.

    For decision i with logged distribution pᵢ over models, the count vector O has mean
    E = Σ pᵢ and covariance Σᵢ (diag pᵢ − pᵢpᵢᵀ); (O − E)ᵀ Σ⁺ (O − E) is χ² with
    (models − 1) degrees of freedom when the choices follow the logged probabilities.
    """
    with LogReader(db_path) as reader:
        rows = reader.choices(policy)
    if not rows:
        raise ValueError(f"no {policy} decisions in {db_path}")
    models = sorted({s["model"] for _, scores in rows for s in scores})
    col = {m: j for j, m in enumerate(models)}
    observed = np.zeros(len(models))
    expected = np.zeros(len(models))
    cov = np.zeros((len(models), len(models)))
    for chosen, scores in rows:
        p = np.zeros(len(models))
        for s in scores:
            p[col[s["model"]]] = s.get("probability") or 0.0
        observed[col[chosen]] += 1
        expected += p
        cov += np.diag(p) - np.outer(p, p)
    diff = observed - expected
    stat = float(diff @ np.linalg.pinv(cov, rcond=1e-10) @ diff)
    dof = int(np.linalg.matrix_rank(cov, tol=1e-10))
    return {
        "decisions": len(rows),
        "chi2": stat,
        "dof": dof,
        "p_value": float(stats.chi2.sf(stat, dof)),
        "observed": dict(zip(models, observed.astype(int).tolist(), strict=True)),
        "expected": dict(zip(models, expected.round(1).tolist(), strict=True)),
    }


def dr_coverage(
    world: World,
    replicates: int = 50,
    decisions: int = 4_000,
    seed: int = 0,
    gamma: float = 2_000.0,
    floor: float = 0.2,
    progress: Callable[[int], None] = lambda _n: None,
) -> dict[str, Any]:
    """How often DR's 95 % interval covers the true value of known policies.

    The day's first ``decisions`` user turns are the contexts. Each model's true mean
    reward on a turn comes from the world (:meth:`OracleRouter.expected_reward`, at the
    background load). A logging policy explores with SquareCB (``gamma``, ``floor``)
    over the truth plus fixed noise (an imperfect model). Two target policies, whose
    true values are known exactly: ``greedy`` (the logging policy without exploring)
    and ``other model`` (greedy on the truth plus other noise: a policy that disagrees
    with the log on most turns). Each replicate draws the logged choices and their
    rewards (good answers) anew and estimates both values with the same estimators and
    cross-fitted reward model as ``selector ope``.
    """
    from models.bandit import squarecb
    from training.ope import cross_fit, estimate_all

    sc = world.scenario
    oracle = OracleRouter(world, Load(sc.load_window_s))
    models = list(world.models)
    day = world.traffic()
    groups = sorted({c.group for c in day})
    turns: list[Turn] = []
    for c in day:
        t, prompt = c.start_s, sc.conversation.system_prompt_tokens
        for k in range(1, c.user_turns + 1):
            prompt += c.user_tokens
            turns.append(Turn(c, k, prompt, t))
            prompt += int(sc.models[models[0]].completion_tokens)
            t += float(c.think_s[k - 1])
    turns = sorted(turns, key=lambda x: x.t)[:decisions]
    n, k = len(turns), len(models)
    rows = np.arange(n)
    mu = np.array([[oracle.expected_reward(m, x) for m in models] for x in turns])
    good = np.array(
        [[world.p_good(m, x.conversation.group, x.user_turn, x.t) for m in models] for x in turns]
    )
    rng = np.random.default_rng(seed)
    logging_view = mu + rng.normal(0.0, 0.02, mu.shape)  # what the logging policy believes
    probs = np.array([squarecb(list(row), gamma, floor) for row in logging_view])
    targets = {
        "greedy": np.argmax(logging_view, axis=1),
        "other model": np.argmax(mu + rng.normal(0.0, 0.02, mu.shape), axis=1),
    }
    # the reward model sees what a log holds: the model, intent group, turn and the
    # logging policy's estimate (not the truth)
    g = np.array([groups.index(x.conversation.group) for x in turns])
    features = np.column_stack(
        [
            np.tile(np.eye(k), (n, 1)),
            np.repeat(np.eye(len(groups))[g], k, axis=0),
            logging_view.reshape(-1),
            np.repeat([x.user_turn for x in turns], k),
        ]
    )
    decision_of_row = np.repeat(rows, k)
    found: dict[str, list[tuple[float, float, float, float]]] = {t: [] for t in targets}
    for r in range(replicates):
        rr = np.random.default_rng(seed + 1 + r)
        chosen = np.array([rr.choice(k, p=p / p.sum()) for p in probs])
        # the realised reward: the mean reward with a drawn good answer for P(good)
        reward = mu[rows, chosen] - good[rows, chosen] + (rr.random(n) < good[rows, chosen])
        q = cross_fit(features, reward, rows * k + chosen, decision_of_row, seed=seed + r)
        for name, target in targets.items():
            est = estimate_all(
                probs[rows, chosen],
                (target == chosen).astype(float),
                reward,
                q[rows * k + chosen],
                q.reshape(n, k)[rows, target],
                min_ess=1.0,
            )
            dr = est["dr"]
            found[name].append((dr["value"], dr["low"], dr["high"], est["ess"]))
        progress(1)
    out: dict[str, Any] = {
        "replicates": replicates,
        "decisions": n,
        "logging": {"gamma": gamma, "floor": floor},
        "targets": {},
    }
    for name, target in targets.items():
        v = np.asarray(found[name])
        truth = float(mu[rows, target].mean())
        out["targets"][name] = {
            "true_value": truth,
            "agreement_with_logged_greedy": float((target == targets["greedy"]).mean()),
            "coverage": float(((v[:, 1] <= truth) & (truth <= v[:, 2])).mean()),
            "mean_estimate": float(v[:, 0].mean()),
            "sd_of_estimates": float(v[:, 0].std()),
            "mean_interval_width": float((v[:, 2] - v[:, 1]).mean()),
            "mean_ess": float(v[:, 3].mean()),
        }
    return out


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
    """Run every experiment of the module docstring; write ``online.md``, ``online.json``
    and plots under ``out``. ``settings``: overrides of the service's settings (e.g. the
    online layer's) in every replay."""
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
    # The changes hit the model the online layer used most before them, in the calm day
    # (the days are identical until then): overall for the cliff, on the intent group for
    # the regression.
    calm_choices = runs["calm", ONLINE].watched.frame()
    changed: dict[str, Scenario] = {}
    for name, kind in (("cliff", "latency"), ("regression", "quality")):
        e = _event(sc[name], kind)
        before = calm_choices[calm_choices["t"] < e.start_hour * 3600]
        if e.group is not None:
            before = before[before["group"] == e.group]
        top = str(before["chosen"].value_counts().index[0])
        update: dict[str, Any] = {"model": top}
        if kind == "latency":
            update["multiplier"] = cliff_multiplier(sc[name], prepared, data_dir, top, e)
        events = [x.model_copy(update=update) if x is e else x for x in sc[name].events]
        changed[name] = sc[name].model_copy(update={"events": events})
        echo(f"{name}: the {kind} event hits {top}, the most used model before it ({update})")
        run(name, changed[name])
    sc = {**sc, **changed}

    results: dict[str, Any] = {"tolerance": TOLERANCE, "targets": TARGETS, "timings_s": timings}
    cliff = _event(sc["cliff"], "latency")
    results["cliff"] = {
        policy: adaptation(
            runs["cliff", policy].watched.frame(),
            cliff.model,
            cliff.start_hour * 3600,
            cliff.end_hour * 3600,
            cliff_window,
        )
        for policy in (ONLINE, OFFLINE)
    }
    reg = _event(sc["regression"], "quality")
    results["regression"] = {
        policy: adaptation(
            runs["regression", policy].watched.frame(),
            reg.model,
            reg.start_hour * 3600,
            reg.end_hour * 3600,
            regression_window,
            group=reg.group,
            feedback_t=runs["regression", policy].watched.feedback_t,
        )
        for policy in (ONLINE, OFFLINE)
    }
    calm = {
        p: float(runs["calm", p].result.conversations["reward"].mean()) for p in (ONLINE, OFFLINE)
    }
    results["stationary"] = {
        "reward_per_conversation": calm,
        "resolution_rate": {
            p: float(runs["calm", p].result.conversations["resolved"].mean())
            for p in (ONLINE, OFFLINE)
        },
        "exploration_cost": 1.0 - calm[ONLINE] / calm[OFFLINE],
    }
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
    plots = _plot(results, sc, out / "plots")
    report = out / "online.md"
    report.write_text(_markdown(results, sc, plots), encoding="utf-8")
    slim = json.loads(json.dumps(results))
    (out / "online.json").write_text(json.dumps(slim, indent=2) + "\n", encoding="utf-8")
    return OnlineReport(out, report, results, list(runs.values()))


def checks(results: dict[str, Any]) -> list[tuple[str, str, str, bool]]:
    """(target, measured, goal, met) of the online layer."""
    c, r = results["cliff"][ONLINE], results["regression"][ONLINE]
    s, p, d = results["stationary"], results["propensities"], results["dr_coverage"]
    rows = [
        (
            "latency cliff: decisions until the share is within 5 points of its optimum",
            _n(c["decisions"], c["measurable"]),
            f"≤ {TARGETS['cliff_decisions']}",
            c["decisions"] is not None and c["decisions"] <= TARGETS["cliff_decisions"],
        ),
        (
            "quality regression: feedback events until the share is within 5 points",
            _n(r["feedback_events"], r["measurable"]),
            f"≤ {TARGETS['regression_feedback']:,}",
            r["feedback_events"] is not None
            and r["feedback_events"] <= TARGETS["regression_feedback"],
        ),
        (
            "stationary: exploration cost, share of the greedy offline policy's reward",
            f"{s['exploration_cost']:.2%}",
            f"≤ {TARGETS['exploration_cost']:.0%}",
            s["exploration_cost"] <= TARGETS["exploration_cost"],
        ),
        (
            f"propensities: χ² over {p['decisions']:,} decisions (p-value)",
            f"{p['p_value']:.3f}",
            "> 0.05",
            p["p_value"] > 0.05,
        ),
        *[
            (
                f"OPE: DR's 95 % interval covers the true value of the {name} policy, over "
                f"{d['replicates']} replicates",
                f"{t['coverage']:.0%}",
                f"≥ {TARGETS['dr_coverage']:.0%}",
                t["coverage"] >= TARGETS["dr_coverage"],
            )
            for name, t in d["targets"].items()
        ],
    ]
    return rows


def _markdown(results: dict[str, Any], sc: dict[str, Scenario], plots: list[Path]) -> str:
    lines = [
        "# The online layer in the simulator",
        "",
        "Every figure below comes from `selector measure-online` (seeded: a rerun gives the "
        "same numbers). The offline model is trained on the calm world's history; the online "
        "layer (`bandit-v1`) and the offline policy alone (`utility-v0`) then serve the same "
        "days. A share is the model's share over a sliding window of decisions; its optimum "
        "is the oracle's share on the same turns under the same load.",
        "",
        "## Targets",
        "",
        "| target | measured | goal | met |",
        "|---|---|---|---|",
        *[f"| {t} | {m} | {g} | {'yes' if ok else 'no'} |" for t, m, g, ok in checks(results)],
        "",
        "## Adaptation",
        "",
        "| experiment | policy | share before | optimum after | share after | decisions | "
        "feedback events | windows within 5 pts after |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for exp in ("cliff", "regression"):
        for policy, a in results[exp].items():
            lines.append(
                f"| {exp} ({a['model']}{', ' + a['group'] if a['group'] else ''}) | {policy} "
                f"| {_pct(a['share_before'])} | {_pct(a['optimum_after'])} "
                f"| {_pct(a['share_after'])} | {_n(a['decisions'], a['measurable'])} "
                f"| {_n(a['feedback_events'], a['measurable'])} "
                f"| {_pct(a['windows_within_after'])} |"
            )
    s = results["stationary"]
    p = results["propensities"]
    d = results["dr_coverage"]
    lines += [
        "",
        f"## Off-policy evaluation ({d['replicates']} replicates of {d['decisions']:,} "
        f"decisions logged with SquareCB, γ = {d['logging']['gamma']:g}, floor "
        f"{d['logging']['floor']:g})",
        "",
        "| target policy | agrees with the log's greedy choice | true value | mean DR estimate "
        "| sd of estimates | mean interval width | mean ESS | coverage |",
        "|---|---|---|---|---|---|---|---|",
        *[
            f"| {name} | {t['agreement_with_logged_greedy']:.0%} | {t['true_value']:.4f} "
            f"| {t['mean_estimate']:.4f} | {t['sd_of_estimates']:.4f} "
            f"| {t['mean_interval_width']:.4f} | {t['mean_ess']:,.0f} | {t['coverage']:.0%} |"
            for name, t in d["targets"].items()
        ],
        "",
        "## Stationary world",
        "",
        "| policy | reward / conversation | resolution rate |",
        "|---|---|---|",
        *[
            f"| {k} | {v:.4f} | {s['resolution_rate'][k]:.1%} |"
            for k, v in s["reward_per_conversation"].items()
        ],
        "",
        f"## Propensities (χ² = {p['chi2']:.2f}, {p['dof']} degrees of freedom, "
        f"p = {p['p_value']:.3f})",
        "",
        "| model | chosen | expected from the logged probabilities |",
        "|---|---|---|",
        *[f"| {m} | {o:,} | {p['expected'][m]:,.1f} |" for m, o in p["observed"].items()],
        "",
        "## Plots",
        "",
        *[f"![{q.stem}](plots/{q.name})\n" for q in plots],
        "Time taken: " + ", ".join(f"{k} {v:.1f} s" for k, v in results["timings_s"].items()) + ".",
        "",
    ]
    return "\n".join(lines)


def _pct(v: float | None) -> str:
    return "—" if v is None else f"{v:.1%}"


def _n(v: int | None, measurable: bool = True) -> str:
    if not measurable:
        return "— (already within 5 points)"
    return "never" if v is None else f"{v:,}"


def _plot(results: dict[str, Any], sc: dict[str, Scenario], folder: Path) -> list[Path]:
    plt = pyplot()
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for exp, xkey, xlabel in (
        ("cliff", "index", "decisions since the change (dotted line)"),
        ("regression", "feedback", "feedback events since the change (dotted line)"),
    ):
        fig, ax = plt.subplots(figsize=(8, 3.8))
        first = next(iter(results[exp].values()))
        for policy, a in results[exp].items():
            x = a["curve"][xkey]
            ax.plot(x, a["curve"]["share"], lw=1.2, label=f"{policy}")
            ax.plot(x, a["curve"]["optimum"], lw=0.8, ls=":", label=f"optimum ({policy}'s turns)")
            if a["decisions"] is not None:
                hit = a["decisions"] if xkey == "index" else a["feedback_events"]
                ax.axvline(hit, color=ax.lines[-2].get_color(), ls="--", lw=0.8)
        limit = TARGETS["cliff_decisions" if exp == "cliff" else "regression_feedback"]
        ax.axvline(limit, color="k", lw=0.8, label=f"target ({limit:,})")
        scope = first["model"] + (f" on {first['group']}" if first["group"] else "")
        ax.set_title(f"{exp}: share of {scope} (window of {first['window']} decisions)")
        ax.set_xlabel(xlabel)
        ax.set_ylabel("share")
        ax.set_ylim(-0.02, 1.02)
        ax.axvline(0, color="0.5", lw=0.8, ls=":")
        ax.set_xlim(min(min(a["curve"][xkey][:1] or [0]) for a in results[exp].values()), 3 * limit)
        ax.legend(fontsize=7)
        fig.tight_layout()
        paths.append(folder / f"online_{exp}.png")
        fig.savefig(paths[-1], dpi=110)
        plt.close(fig)
    return paths
