"""``selector measure-worlds``: the selector in support worlds it did not write.

Each world is drawn by :func:`simulator.generated_worlds.generate` from its seed. The selector
starts **cold**: the world's catalog (list prices, latency priors off from the truth)
and the built-in P(resolved) prior, no model trained on the world; or **warm**: with a
quality model trained on a history of the world in which one model, the dearest,
answered every turn (as a team that ran its strongest model for everything has). Its day is replayed
through the real service on loopback for each served policy, and through the gateway's
own baselines: uniform random, always the dearest model, always the cheapest, the
static rules, and the oracle that knows the world's truth. Every policy meets the same
customers and the same dice; each one's figure is its reward per conversation as a
share of the oracle's.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from features.intents import IntentClassifier, IntentTaxonomy
from selector.catalog import load_catalog
from selector.config import Settings, load_settings
from simulator.corpus import Corpus, load_corpus
from simulator.demo import Bars, no_bar, service_router
from simulator.generated_worlds import GeneratedWorld, catalog_yaml, generate
from simulator.incidents import (
    ORACLE,
    incident_lines,
    incidents,
    latency_incidents,
    recovery_summary,
)
from simulator.online_eval.budgets import POLICY as BUDGET_POLICY
from simulator.online_eval.budgets import (
    budget_lines,
    budget_summary,
    measure_budget,
    plot_budgets,
)
from simulator.online_eval.caching import (
    cache_lines,
    cache_summary,
    measure_cache,
    plot_caching,
)
from simulator.replay import ReplayResult, replay
from simulator.routers import FixedRouter, OracleRouter, RandomRouter, RulesRouter
from simulator.scenario import Scenario
from simulator.world import Load, World

__all__ = [
    "BASELINES",
    "SERVED",
    "markdown",
    "measure_world",
    "measure_worlds",
    "plot",
    "summarize",
]

SERVED = ("utility-v0", "bandit-v1", "bandit-v2")  # the service's policies, by their names
BASELINES = ("uniform-random", "always-dearest", "always-cheapest", "static-rules")


def _baselines(w: GeneratedWorld, world: World, load: Load) -> list[tuple[Any, Load | None]]:
    sc = w.scenario
    names = [e["name"] for e in w.catalog]
    return [
        (RandomRouter(names, w.seed), None),
        (FixedRouter("always-dearest", [names[-1], sc.gateway.fallback_model]), None),
        (
            FixedRouter("always-cheapest", [names[0], names[1] if len(names) > 1 else names[0]]),
            None,
        ),
        (
            RulesRouter(
                sc.static_rules.small_model,
                sc.static_rules.heavy_model,
                sc.static_rules.max_turns,
            ),
            None,
        ),
        (OracleRouter(world, load), load),
    ]


def warm_model(w: GeneratedWorld, world: World, past: Corpus, folder: Path) -> Path:
    """A quality model trained on a history of the world (before its day's events) in
    which only the dearest model answered; the folder it was written to."""
    from simulator.history import history_table
    from training.train import train

    sc = w.scenario.model_copy(update={"events": []})
    table = history_table(World(sc, world.catalog, past))
    served = w.catalog[-1]["name"]  # the catalog is ordered by price
    path = folder / "history.parquet"
    table[table["model"] == served].to_parquet(path, index=False)
    train(str(path), folds=0, seed=w.seed, track=False, out=folder / "warm")
    return folder / "warm" / "model"


def _settings(sc: Scenario, catalog_path: Path, quality: str, seed: int, folder: Path) -> Settings:
    """The service's settings in a world: its catalog, the weights of its reward, its
    static rules' models."""
    return load_settings(
        catalog_path=catalog_path,
        quality_model=quality,
        cost_weight=sc.reward.cost_weight,
        latency_weight=sc.reward.latency_per_s,
        reward_late_penalty=sc.reward.late_penalty,
        reward_deadline_ms=sc.gateway.deadline_ms,
        seed=seed,
        bandit_updates="inline",
        baseline_small_model=sc.static_rules.small_model,
        baseline_heavy_model=sc.static_rules.heavy_model,
        mlflow_tracking_uri=f"sqlite:///{folder.resolve()}/no-registry.db",
    )


def measure_world(
    seed: int,
    out: Path,
    corpus: Corpus,
    conversations: int = 400,
    policies: Sequence[str] = SERVED,
    bars: Bars = no_bar,
    past: Corpus | None = None,
    budgets: bool = False,
    cache: int = 0,
) -> dict[str, Any]:
    """Each policy's reward per conversation in the world of ``seed``, its share of the
    oracle's, and its way through latency incidents; warm when ``past`` (the history's
    corpus) is given; with ``budgets``, under a spend budget (:func:`measure_budget`);
    with ``cache`` days each way, with the prompt cache ignored (:func:`measure_cache`)."""
    w = generate(seed, conversations)
    folder = out / f"world-{seed}"
    folder.mkdir(parents=True, exist_ok=True)
    catalog_path = folder / "catalog.yaml"
    catalog_path.write_text(catalog_yaml(w), encoding="utf-8")
    world = World(w.scenario, load_catalog(catalog_path), corpus)
    day = world.traffic()
    turns = sum(c.user_turns for c in day)
    results: list[ReplayResult] = []
    for router, load in _baselines(w, world, Load(w.scenario.load_window_s)):
        with bars(turns, f"{seed}: {router.name}") as advance:
            results.append(replay(world, day, router, load=load, progress=advance))
    sc = w.scenario
    quality = "prior" if past is None else str(warm_model(w, world, past, folder))
    settings = _settings(sc, catalog_path, quality, seed, folder)

    def served(policy: str, name: str, **overrides: Any) -> ReplayResult:
        for stale in folder.glob(f"{name}.db*"):
            stale.unlink()
        with (
            service_router(
                settings, sc, name, policy=policy, db_path=folder / f"{name}.db", **overrides
            ) as router,
            bars(turns, f"{seed}: {name}") as advance,
        ):
            return replay(world, day, router, progress=advance)

    results += [served(policy, policy) for policy in policies]
    budget = _budget(seed, settings, results, served) if budgets else None
    cached = _cache(w, results, served, cache) if cache else None
    reward = {r.policy: float(r.conversations["reward"].mean()) for r in results}
    oracle = reward[ORACLE]
    return {
        "seed": seed,
        "start": "cold" if past is None else "warm",
        "models": len(w.catalog),
        "deadline_ms": sc.gateway.deadline_ms,
        "price_quality_correlation": round(w.price_quality_correlation, 3),
        "events": [e.kind for e in sc.events],
        "reward_per_conversation": reward,
        "share_of_oracle": {p: (r / oracle if oracle > 0 else None) for p, r in reward.items()},
        "incidents": incidents(latency_incidents(sc.events), results),
        "budget": budget,
        "cache": cached,
    }


def _default_day(results: list[ReplayResult], served: Callable[..., ReplayResult]) -> ReplayResult:
    """The default policy's day among ``results``, run when missing."""
    found = next((r for r in results if r.policy == BUDGET_POLICY), None)
    return found if found is not None else served(BUDGET_POLICY, BUDGET_POLICY)


def _cache(
    w: GeneratedWorld,
    results: list[ReplayResult],
    served: Callable[..., ReplayResult],
    days: int,
) -> dict[str, Any] | None:
    """The default policy's ``days`` with the prompt cache ignored, against its days as
    served (:func:`measure_cache`)."""
    if not any(e.get("cached_input_usd_per_mtok") is not None for e in w.catalog):
        return None

    def run(overrides: dict[str, Any]) -> ReplayResult:
        name = "-".join([BUDGET_POLICY, *(f"{k}-{v}" for k, v in overrides.items())])
        return served(BUDGET_POLICY, name, **overrides)

    seeds = [w.seed + _DAY_SEEDS * k for k in range(1, days)]
    return measure_cache(w.catalog, _default_day(results, served), run, seeds)


_DAY_SEEDS = 1_000_003  # a world's further days' selector seeds: its own + k × this


def _budget(
    seed: int,
    settings: Settings,
    results: list[ReplayResult],
    served: Callable[..., ReplayResult],
) -> dict[str, Any] | None:
    """The default policy's day under a spend budget (:func:`measure_budget`), from its
    unpaced day among ``results`` (run when missing); ``served(policy, name,
    **overrides)`` replays the day through the service."""
    return measure_budget(
        seed,
        settings.decision.cost_weight,
        _default_day(results, served),
        lambda overrides: served(BUDGET_POLICY, f"{BUDGET_POLICY}-budget", **overrides),
    )


def summarize(worlds: list[dict[str, Any]]) -> dict[str, Any]:
    """Per policy: the distribution of its share of the oracle's reward over the worlds,
    and how often it beat uniform random and the best static policy of each world."""
    policies = [p for p in worlds[0]["share_of_oracle"] if p != ORACLE]
    out: dict[str, Any] = {"worlds": len(worlds), "policies": {}}
    for p in policies:
        shares = np.array([w["share_of_oracle"][p] for w in worlds], dtype=float)
        beats_random = [
            w["reward_per_conversation"][p] >= w["reward_per_conversation"]["uniform-random"]
            for w in worlds
        ]
        beats_static = [
            w["reward_per_conversation"][p]
            > max(w["reward_per_conversation"][b] for b in BASELINES if b != "uniform-random")
            for w in worlds
        ]
        out["policies"][p] = {
            "median": float(np.nanmedian(shares)),
            "p10": float(np.nanpercentile(shares, 10)),
            "min": float(np.nanmin(shares)),
            "at_least_random": float(np.mean(beats_random)),
            "above_best_static": float(np.mean(beats_static)),
        }
    out["incidents"] = recovery_summary(worlds)
    out["budget"] = budget_summary(worlds)
    out["cache"] = cache_summary(worlds)
    return out


def measure_worlds(
    n: int,
    out: Path,
    data_dir: Path,
    conversations: int = 400,
    first_seed: int = 0,
    policies: Sequence[str] = SERVED,
    echo: Callable[[str], None] = lambda _m: None,
    bars: Bars = no_bar,
    warm: bool = False,
    budgets: bool = False,
    cache: int = 0,
) -> dict[str, Any]:
    """:func:`measure_world` for the seeds ``first_seed`` … ``first_seed + n − 1``, cold
    or ``warm``, with ``budgets`` or not, with ``cache`` days each way of the prompt
    cache priced and ignored (0: none); writes ``worlds.json`` under
    ``out``."""
    classifier = IntentClassifier.load()
    taxonomy = IntentTaxonomy.from_classifier(classifier)
    corpus = load_corpus(data_dir, taxonomy, "test")
    past = load_corpus(data_dir, taxonomy, "train") if warm else None
    worlds = []
    t0 = time.perf_counter()
    for seed in range(first_seed, first_seed + n):
        found = measure_world(
            seed, out, corpus, conversations, policies, bars, past, budgets, cache
        )
        worlds.append(found)
        shares = ", ".join(
            f"{p} {s:.3f}" for p, s in found["share_of_oracle"].items() if s is not None
        )
        echo(f"world {seed} ({found['models']} models): {shares}")
    summary = summarize(worlds)
    result = {
        "start": "warm" if warm else "cold",
        "conversations_per_world": conversations,
        "seconds": round(time.perf_counter() - t0, 1),
        "summary": summary,
        "worlds": worlds,
    }
    out.mkdir(parents=True, exist_ok=True)
    (out / "worlds.json").write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    plot(result, out / "worlds.png")
    if summary["budget"]:
        plot_budgets(worlds, out / "budgets.png")
    if summary["cache"]:
        plot_caching(worlds, out / "caching.png")
    (out / "worlds.md").write_text(markdown(result), encoding="utf-8")
    return result


def markdown(result: dict[str, Any]) -> str:
    """The report: the distribution of each policy's share of the oracle's reward."""
    s = result["summary"]
    lines = [
        "# The selector in worlds it did not write",
        "",
        f"{s['worlds']} worlds drawn by `simulator/generated_worlds.py` (seeds "
        f"{result['worlds'][0]['seed']}–{result['worlds'][-1]['seed']}), "
        f"{result['conversations_per_world']} conversations each, "
        + (
            "warm start (a quality model trained on a history the dearest model served alone)."
            if result.get("start") == "warm"
            else "cold start (the world's catalog and the built-in prior)."
        )
        + " Share: reward per conversation over the oracle's.",
        "",
        "| policy | median share | 10th percentile | worst | at least random | above the best "
        "static policy |",
        "|---|---|---|---|---|---|",
    ]
    for p, d in s["policies"].items():
        lines.append(
            f"| {p} | {d['median']:.3f} | {d['p10']:.3f} | {d['min']:.3f} "
            f"| {d['at_least_random']:.0%} | {d['above_best_static']:.0%} |"
        )
    lines += ["", "![shares](worlds.png)", ""]
    lines += incident_lines(s.get("incidents", {}))
    lines += budget_lines(s.get("budget", {}))
    lines += cache_lines(s.get("cache", {}))
    return "\n".join(lines)


def plot(result: dict[str, Any], path: Path) -> Path:
    """Each policy's shares over the worlds, as a box plot with every world's point."""
    from training.plots import pyplot, save

    plt = pyplot()
    policies = list(result["summary"]["policies"])
    data = [
        [w["share_of_oracle"][p] for w in result["worlds"] if w["share_of_oracle"][p] is not None]
        for p in policies
    ]
    fig, ax = plt.subplots(figsize=(8, 3.8))
    ax.boxplot(data, orientation="horizontal", tick_labels=policies, showfliers=False)
    rng = np.random.default_rng(0)
    for i, values in enumerate(data, start=1):
        ax.scatter(values, i + rng.uniform(-0.15, 0.15, len(values)), s=8, alpha=0.5)
    ax.axvline(1.0, color="0.5", ls=":", lw=0.8)
    ax.set_xlabel("reward per conversation, share of the oracle's")
    ax.set_title(f"{len(result['worlds'])} generated worlds, {result.get('start', 'cold')} start")
    return save(plt, fig, path)
