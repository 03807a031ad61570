"""``selector demo``: the incident replay, end to end, on embedded defaults.

1. **History**: past conversations from the scenario's world (BANKING77's training
   messages, SGD's dialogue shapes), every model's answer to every turn graded.
2. **Offline model**: ``selector train`` on that history (an MLflow run in
   ``<out>/mlflow.db``, the model registered and promoted to ``champion``).
3. **Replay**: the day of the scenario (BANKING77's test messages, which neither the
   intent classifier nor the quality model trained on) through each policy: the
   baselines in the gateway, the selector through the real service on loopback
   (loading the champion, its decision log in ``<out>/selector.db``).
4. **Report**: ``<out>/report.md`` with PNG plots and ``<out>/results.json``.
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from features.intents import IntentClassifier, IntentTaxonomy
from selector.catalog import Catalog, load_catalog
from selector.config import Settings, load_settings
from simulator.corpus import load_corpus
from simulator.history import history_table
from simulator.loopback import SimClock, serve_on_loopback
from simulator.replay import ReplayResult, Router, replay
from simulator.replay_report import write_report
from simulator.routers import FixedRouter, OracleRouter, RulesRouter, ServiceRouter
from simulator.scenario import Scenario
from simulator.world import Load, World
from training.promotion import promote
from training.train import train

__all__ = [
    "Bars",
    "DemoResult",
    "Prepared",
    "no_bar",
    "prepare",
    "run_demo",
    "service_router",
    "write_catalog",
]

MODEL_NAME = "model-selector-quality"
# A bar factory: (total, description) → a context manager yielding an "advance by n" callable.
Bars = Callable[[int, str], AbstractContextManager[Callable[[int], None]]]


@contextmanager
def no_bar(_total: int, _desc: str) -> Iterator[Callable[[int], None]]:
    yield lambda _n: None


def write_catalog(source: Path, dest: Path, latency_ms: dict[str, float]) -> Path:
    """``source`` with each listed model's ``expected_latency_ms`` prior replaced."""
    raw = yaml.safe_load(source.read_text(encoding="utf-8"))
    for entry in raw["models"]:
        if entry.get("name") in latency_ms:
            entry["expected_latency_ms"] = round(latency_ms[entry["name"]])
    header = (
        f"# {source.name} with expected_latency_ms set to the median latency of each model\n"
        "# in the simulated history (written by `selector demo`).\n"
    )
    dest.write_text(header + yaml.safe_dump(raw, sort_keys=False), encoding="utf-8")
    load_catalog(dest)  # still valid
    return dest


@dataclass
class DemoResult:
    out: Path
    report: Path
    tracking_uri: str
    run_id: str | None
    version: str | None
    results: list[ReplayResult]
    summary: dict[str, Any]
    timings_s: dict[str, float] = field(default_factory=dict)


@dataclass
class Prepared:
    """A trained selector for a scenario: settings that serve the champion, and what
    training produced."""

    settings: Settings
    catalog: Catalog
    taxonomy: IntentTaxonomy
    run_id: str | None
    version: str | None


def _clear(out: Path) -> None:
    """``out`` created, without the results of an earlier run."""
    out.mkdir(parents=True, exist_ok=True)
    for stale in ("mlflow.db", "mlartifacts", "selector.db", "online.db", "plots"):
        path = out / stale
        if path.is_dir():
            shutil.rmtree(path)
        else:
            for p in out.glob(f"{stale}*"):
                p.unlink()


def _settings(scenario: Scenario, out: Path, catalog_path: Path | None) -> Settings:
    """The service's settings for ``scenario``: its reward weights and deadline, a log and
    an MLflow store under ``out``, the champion of the demo's model."""
    return load_settings(
        db_path=out / "selector.db",
        quality_model=f"models:/{MODEL_NAME}@champion",
        mlflow_tracking_uri=f"sqlite:///{(out / 'mlflow.db').resolve()}",
        cost_weight=scenario.reward.cost_weight,
        latency_weight=scenario.reward.latency_per_s,
        reward_late_penalty=scenario.reward.late_penalty,
        reward_deadline_ms=scenario.gateway.deadline_ms,
        seed=scenario.seed,
        bandit_updates="inline",
        **({"catalog_path": catalog_path} if catalog_path else {}),
    )


def prepare(
    scenario: Scenario,
    out: Path,
    data_dir: Path,
    echo: Callable[[str], None] = lambda _m: None,
    bars: Bars = no_bar,
    catalog_path: Path | None = None,
    timings: dict[str, float] | None = None,
) -> Prepared:
    """Steps 1 and 2 of the module docstring, under ``out`` (stale results removed)."""
    timings = {} if timings is None else timings
    _clear(out)
    settings = _settings(scenario, out, catalog_path)
    tracking_uri = settings.models.mlflow_tracking_uri
    classifier = IntentClassifier.load(settings.models.intent_model_dir)
    taxonomy = IntentTaxonomy.from_classifier(classifier)

    t0 = time.perf_counter()
    catalog = load_catalog(settings.models.catalog_path)
    past = World(scenario, catalog, load_corpus(data_dir, taxonomy, "train"))
    with bars(scenario.history.conversations, "history") as advance:
        table = history_table(past, classifier, progress=advance)
    history = out / "history.parquet"
    table.to_parquet(history, index=False)
    echo(
        f"history: {table['request_id'].nunique():,} past turns × {table['model'].nunique()} "
        f"models graded → {history}"
    )
    # The catalog's latency priors, set from the history as an operator would from their
    # own traffic (they are used until a model has live samples).
    medians = table.groupby("model")["latency_ms"].median()
    catalog_file = write_catalog(
        settings.models.catalog_path,
        out / "catalog.yaml",
        {str(m): float(v) for m, v in medians.items()},
    )
    settings = settings.replace(catalog_path=catalog_file)
    catalog = load_catalog(catalog_file)
    timings["history"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    with bars(4, "training") as advance:
        trained = train(
            str(history),
            data_dir,
            folds=0,
            seed=scenario.seed,
            tracking_uri=tracking_uri,
            name=MODEL_NAME,
            progress=lambda _m: advance(1),
        )
    promotion = promote(MODEL_NAME, str(trained.version), tracking_uri, data_dir, settings=settings)
    echo(f"trained and registered: {promotion.message()}")
    timings["training"] = time.perf_counter() - t0
    return Prepared(settings, catalog, taxonomy, trained.run_id, trained.version)


@contextmanager
def service_router(
    settings: Settings,
    scenario: Scenario,
    name: str,
    echo: Callable[[str], None] = lambda _m: None,
    **overrides: Any,
) -> Iterator[ServiceRouter]:
    """The selector on loopback, on the simulation's clock, with ``overrides`` of its
    settings, as the router ``name``."""
    clock = SimClock()
    with serve_on_loopback(settings.replace(**overrides), clock) as server:
        svc = server.service
        echo(
            f"{name} on {server.url}: policy {svc.policy.name}, quality model "
            f"{svc.quality_status.serving}, λ {svc.cost_weight():g}"
        )
        gw = scenario.gateway
        router = ServiceRouter(
            name, server.host, server.port, gw.deadline_ms, clock.set, budget_usd=gw.budget_usd
        )
        try:
            yield router
        finally:
            router.close()


def run_demo(
    scenario: Scenario,
    out: Path,
    data_dir: Path,
    echo: Callable[[str], None] = lambda _m: None,
    bars: Bars = no_bar,
    catalog_path: Path | None = None,
) -> DemoResult:
    """Run the four steps of the module docstring; everything is written under ``out``."""
    timings: dict[str, float] = {}
    prepared = prepare(scenario, out, data_dir, echo, bars, catalog_path, timings)
    settings, catalog, taxonomy = prepared.settings, prepared.catalog, prepared.taxonomy
    tracking_uri = settings.models.mlflow_tracking_uri

    world = World(scenario, catalog, load_corpus(data_dir, taxonomy, "test"))
    day = world.traffic()
    turns = sum(c.user_turns for c in day)
    results: list[ReplayResult] = []
    t0 = time.perf_counter()
    oracle_load = Load(scenario.load_window_s)
    gateway_side: list[tuple[Router, Load | None]] = [
        (
            FixedRouter("always-heavy", [scenario.heavy_model, scenario.gateway.fallback_model]),
            None,
        ),
        (
            RulesRouter(
                scenario.static_rules.small_model,
                scenario.static_rules.heavy_model,
                scenario.static_rules.max_turns,
            ),
            None,
        ),
        (OracleRouter(world, oracle_load), oracle_load),
    ]
    for router, load in gateway_side:
        with bars(turns, router.name) as advance:
            results.append(replay(world, day, router, load=load, progress=advance))
    timings["baselines"] = time.perf_counter() - t0

    for name, policy, db in (
        ("selector", "utility-v0", "selector.db"),
        ("selector + online", "bandit-v2", "online.db"),
    ):
        t0 = time.perf_counter()
        with (
            service_router(
                settings, scenario, name, echo, policy=policy, db_path=out / db
            ) as router,
            bars(turns, name) as advance,
        ):
            results.append(replay(world, day, router, progress=advance))
        timings[name] = time.perf_counter() - t0

    report, summary = write_report(scenario, world, results, out, timings)
    return DemoResult(
        out, report, tracking_uri, prepared.run_id, prepared.version, results, summary, timings
    )
