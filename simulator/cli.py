"""``selector demo``, ``simulate`` and ``measure-online``: the simulator's commands (found
by ``selector`` through the ``model_selector.commands`` entry point)."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import click

from core.errors import SelectorError
from selector.cli_options import data_dir_option
from simulator.scenario import Scenario

__all__ = ["COMMANDS", "demo", "measure_online", "measure_worlds", "simulate"]


@contextmanager
def _bar(total: int, desc: str) -> Iterator[Callable[[int], None]]:
    from tqdm import tqdm

    with tqdm(total=total, desc=f"{desc:>13}", unit="", file=sys.stderr, leave=True) as bar:
        yield bar.update


def _scenario(spec: str) -> Scenario:
    from simulator.scenario import load_scenario

    try:
        return load_scenario(spec)
    except SelectorError as exc:
        raise click.BadParameter(str(exc), param_hint="--scenario") from None


_scenario_option = click.option(
    "--scenario",
    default="incident",
    show_default=True,
    help="Scenario YAML file, or the name of a built-in one (simulator/scenarios/).",
)
_data_option = data_dir_option("Folder of the public data sets (dialogues/, intents/).")


@click.command()
@_scenario_option
@_data_option
@click.option(
    "--out",
    type=click.Path(path_type=Path),
    default=Path("demo"),
    show_default=True,
    help="Folder of the report, MLflow store and decision log (earlier demo files replaced).",
)
def demo(scenario: str, data_dir: Path, out: Path) -> None:
    """Replay a day with an incident through the selector and the baselines; write a report.

    Generates a training history, trains and registers the offline model (MLflow),
    starts the service on loopback and replays the scenario's day through it, then
    through always-heavy, the static rules and the oracle.
    """
    from simulator.demo import run_demo

    sc = _scenario(scenario)
    result = run_demo(sc, out, data_dir, echo=lambda m: click.echo(m, err=True), bars=_bar)
    click.echo(result.report.read_text(encoding="utf-8").split("## Plots")[0].rstrip())
    click.echo("")
    click.echo(f"report:      {result.report.resolve()}")
    click.echo(f"results:     {(out / 'results.json').resolve()}")
    click.echo(f"decisions:   {(out / 'selector.db').resolve()}")
    click.echo(
        f"MLflow run:  .venv/bin/mlflow ui --backend-store-uri {result.tracking_uri}"
        f"   (run {result.run_id}, model version {result.version})"
    )


@click.command()
@_scenario_option
@_data_option
@click.option(
    "--out",
    type=click.Path(path_type=Path),
    default=None,
    help="Folder to write traffic.parquet, truth.parquet and history.parquet into.",
)
@click.option("--seed", type=int, default=None, help="Seed of the day [the scenario's].")
def simulate(scenario: str, data_dir: Path, out: Path | None, seed: int | None) -> None:
    """Generate a scenario's day and print what it holds; with --out, write the traffic,
    the world's truth per turn and model, and a graded training history."""
    from features.intents import IntentClassifier, IntentTaxonomy
    from selector.catalog import load_catalog
    from selector.config import load_settings
    from simulator.corpus import load_corpus
    from simulator.history import history_table
    from simulator.inspect import describe, traffic_table, truth_table
    from simulator.world import World

    sc = _scenario(scenario)
    settings = load_settings()
    classifier = IntentClassifier.load(settings.models.intent_model_dir)
    taxonomy = IntentTaxonomy.from_classifier(classifier)
    try:
        world = World(
            sc, load_catalog(settings.models.catalog_path), load_corpus(data_dir, taxonomy, "test")
        )
    except SelectorError as exc:
        raise click.UsageError(str(exc)) from None
    day = world.traffic(seed)
    click.echo(describe(world, day))
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
        traffic_table(day).to_parquet(out / "traffic.parquet", index=False)
        truth_table(world, day).to_parquet(out / "truth.parquet", index=False)
        past = World(sc, world.catalog, load_corpus(data_dir, taxonomy, "train"))
        with _bar(sc.history.conversations, "history") as advance:
            history_table(past, classifier, progress=advance).to_parquet(
                out / "history.parquet", index=False
            )
        click.echo(f"wrote traffic.parquet, truth.parquet and history.parquet to {out}")


@click.command("measure-online")
@_data_option
@click.option(
    "--out",
    type=click.Path(path_type=Path),
    default=Path("online"),
    show_default=True,
    help="Folder of the report, plots, MLflow store and decision logs (earlier files replaced).",
)
def measure_online(data_dir: Path, out: Path) -> None:
    """Measure the online layer in the simulator: a latency cliff, a quality regression,
    the cost of exploring in a calm world, and its logged propensities.

    Trains the offline model once, then replays the built-in scenarios cliff,
    regression and calm through the service with the online layer (bandit-v2) and
    without it (utility-v0). Writes online.md, online.json and plots.
    """
    from simulator.online_eval import checks
    from simulator.online_eval import measure_online as run

    report = run(out, data_dir, echo=lambda m: click.echo(m, err=True), bars=_bar)
    click.echo(report.report.read_text(encoding="utf-8").split("## Adaptation")[0].rstrip())
    click.echo("")
    click.echo(f"report:  {report.report.resolve()}")
    click.echo(f"results: {(out / 'online.json').resolve()}")
    failed = [t for t, _, _, ok in checks(report.results) if not ok]
    if failed:
        click.echo(f"{len(failed)} target(s) missed", err=True)


@click.command("measure-worlds")
@_data_option
@click.option("--worlds", "n", type=click.IntRange(1, 10_000), default=50, show_default=True)
@click.option("--first-seed", type=int, default=0, show_default=True)
@click.option(
    "--conversations",
    type=click.IntRange(10, 100_000),
    default=400,
    show_default=True,
    help="Conversations in each world's day.",
)
@click.option(
    "--out",
    type=click.Path(path_type=Path),
    default=Path("worlds"),
    show_default=True,
    help="Folder of the report (worlds.md, worlds.json, worlds.png) and each world's files.",
)
@click.option(
    "--start",
    type=click.Choice(["cold", "warm"]),
    default="cold",
    show_default=True,
    help="cold: the catalog and the built-in prior; warm: a quality model trained on a "
    "history of the world that its dearest model served alone.",
)
@click.option(
    "--budgets/--no-budgets",
    default=False,
    show_default=True,
    help="Also run each world's day under a spend budget (20–80 %% of the way from the "
    "least a fixed cost weight spends to what the default policy spends unpaced), against "
    "13 fixed cost weights: about 14 more days per world.",
)
@click.option(
    "--cache/--no-cache",
    default=False,
    show_default=True,
    help="Also run the default policy's day with the prompt cache ignored "
    "(SELECTOR_PROMPT_CACHE=false) in each world whose providers cache prompts, and "
    "compare cost and reward on conversations of 6 user turns or more.",
)
@click.option(
    "--cache-days",
    type=click.IntRange(1, 20),
    default=3,
    show_default=True,
    help="With --cache: days each way per world (the same customers, the selector's seed "
    "varied), compared as means: about 3 × this more days per world whose providers cache.",
)
def measure_worlds(
    n: int,
    first_seed: int,
    conversations: int,
    data_dir: Path,
    out: Path,
    start: str,
    budgets: bool,
    cache: bool,
    cache_days: int,
) -> None:
    """Measure the selector in generated worlds it did not write, from a cold or a warm
    start: each policy's reward per conversation as a share of the oracle's, per world
    and as a distribution, beside uniform random, the dearest, the cheapest and the
    static rules; how each went through latency incidents; with --budgets, the
    default policy under a spend budget; with --cache, what pricing the prompt cache
    saves."""
    from simulator.online_eval.worlds import markdown
    from simulator.online_eval.worlds import measure_worlds as run

    result = run(
        n,
        out,
        data_dir,
        conversations,
        first_seed,
        echo=lambda m: click.echo(m, err=True),
        warm=start == "warm",
        budgets=budgets,
        cache=cache_days if cache else 0,
    )
    click.echo(markdown(result))
    click.echo(f"report: {(out / 'worlds.md').resolve()}")


COMMANDS = [demo, simulate, measure_online, measure_worlds]
