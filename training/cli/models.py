"""``selector train-intents``, ``evaluate``, ``train`` and ``promote``: fitting, judging
and promoting models."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

from selector.cli_options import DEFAULT_DATA, Progress, data_dir_option
from selector.config import load_settings
from training.cli.options import (
    data_options,
    difficulty_option,
    representation_option,
    resolve_tracking_uri,
    target_options,
    target_value,
    tracking_option,
)

__all__ = ["evaluate", "promote", "train", "train_difficulty", "train_intents"]


@click.command("train-intents")
@click.option(
    "--data",
    type=click.Path(path_type=Path),
    default=DEFAULT_DATA / "intents",
    show_default=True,
    help="Folder with BANKING77 and CLINC150 files.",
)
@click.option(
    "--out",
    type=click.Path(path_type=Path),
    default=None,
    help="Artifact folder [the built-in classifier's folder].",
)
def train_intents(data: Path, out: Path | None) -> None:
    """Train the built-in intent classifier and print its held-out accuracy."""
    from features.intents import DEFAULT_INTENT_DIR
    from training.intents import train_and_export

    if not (data / "banking77_train.csv").is_file():
        raise click.UsageError(f"{data} does not hold banking77_train.csv; pass --data")
    metrics = train_and_export(
        data, out or DEFAULT_INTENT_DIR, progress=lambda m: click.echo(m, err=True)
    )
    click.echo(json.dumps(metrics, indent=2))


@click.command("train-difficulty")
@data_dir_option()
@click.option(
    "--out",
    type=click.Path(path_type=Path),
    default=None,
    help="Artifact folder [the shipped difficulty's folder].",
)
def train_difficulty(data_dir: Path, out: Path | None) -> None:
    """Learn the request difficulty from the public outcome tables and print how well it
    transfers to each table from the others."""
    from training.difficulty import build_difficulty

    spec = build_difficulty(data_dir, out, progress=lambda m: click.echo(m, err=True))
    rows = spec["meta"]["transfer"]
    click.echo(f"C = {spec['meta']['c']}; AUC of failure, learned from the other tables:")
    click.echo("| judged | learned from | difficulty | shape counts only | length only |")
    click.echo("|---|---|---|---|---|")
    for r in rows:
        click.echo(
            f"| {r['evaluated_on']} | {', '.join(r['learned_from'])} | {r['auc']:.3f} | "
            f"{r['auc_shape_only']:.3f} | {r['auc_length']:.3f} |"
        )


def _compared(ev: Any, strong_named: bool) -> str:
    """Which requests the router and the baselines were replayed on, and for two models
    what their APGR and CPT are measured on."""
    from training.evaluate import two_model_line

    summary = ev.summary
    lines = [f"compared on {summary['compared_on']}"] if "compared_on" in summary else []
    if "strong_model" in summary:
        which = "the second table" if ev.pair_rows else "the table"
        lines.append(two_model_line(summary, strong_named, which))
    if "APGR" in ev.rows[0] and summary.get("AIQ") is not None:  # RouteLLM's pair
        from training.baselines import BASELINES

        areas = [f"quality model {summary['AIQ']:.3f}"] + [
            f"{key} {summary[f'AIQ_{key}']:.3f}"
            for key in BASELINES
            if summary.get(f"AIQ_{key}") is not None
        ]
        lines.append("AIQ of each λ sweep at the table's prices: " + ", ".join(areas))
    return "\n".join(lines)


def _tradeoff(data: Any, oof: Any, goal: Any, strong: str | None, how: str) -> Any:
    """The λ meeting ``goal`` on the out-of-fold predictions (made ``how``), printed;
    its record."""
    from training.tradeoff import calibrate

    found = calibrate(data, oof.p, goal, strong, how, oof.completion)
    click.echo("\n" + found.summary())
    return found.as_dict()


def _calibration_line(ev: Any, out: Path) -> str:
    """The out-of-fold calibration of P(resolved), and its reliability plot (written with
    the routing curve into a folder beside ``out``)."""
    from training.plots import plot_evaluation

    cal = ev.calibration
    plots = plot_evaluation(ev, out.with_name(f"{out.stem}-plots"))
    raw, served = cal["raw"], cal["calibrated"]
    return (
        f"calibration of P(resolved), out-of-fold over {cal['outcomes']:,} outcomes: "
        f"Brier {raw['brier']:.4f} raw, {served['brier']:.4f} served; expected calibration "
        f"error {raw['ece']:.4f} raw, {served['ece']:.4f} served "
        f"(reliability plot: {plots[-1]})"
    )


def _learning_curve(
    data: Any,
    make: Any,
    folds: int,
    seed: int,
    strong: str | None,
    full: Any,
    out: Path,
) -> dict[str, Any]:
    """``selector evaluate --learning-curve``: the table, and the plot beside ``out``."""
    from training.learning_curve import SHARES, learning_curve, plot_learning_curve

    with Progress(folds * (len(SHARES) - 1) * 2, "learning curve") as bar:
        found = learning_curve(data, make, folds, seed, strong, full=full, progress=bar)
    png = plot_learning_curve(found, out.with_name(f"{out.stem}-learning-curve.png"))
    click.echo("\n" + found.table())
    click.echo(f"learning curve plot: {png}", err=True)
    return found.as_dict()


@click.command()
@data_options
@click.option("--folds", type=int, default=5, show_default=True, help="Cross-validation folds.")
@click.option(
    "--out",
    type=click.Path(path_type=Path),
    default=None,
    help="Metrics JSON to write [evaluation-<source>.json].",
)
@click.option(
    "--variant",
    type=click.Choice(["one-model", "per-model"]),
    default="one-model",
    show_default=True,
    help="One model across candidates (served), or one independent model per candidate.",
)
@click.option(
    "--learning-curve",
    "curve",
    is_flag=True,
    help="Also cross-validate on 10, 25 and 50 %% of each fold's training groups (the same "
    "test requests): the quality model and both baselines as a table and a plot.",
)
@click.option(
    "--train-source",
    default=None,
    metavar="SOURCE",
    help="Train on all of this source instead and judge every request of --source (the "
    "models both share): how the router does on requests of another kind.",
)
@representation_option
@difficulty_option
@target_options
@tracking_option
@click.option("--no-track", is_flag=True, help="Do not log the run to MLflow.")
def evaluate(
    source: str,
    data_dir: Path,
    seed: int,
    folds: int,
    out: Path | None,
    variant: str,
    curve: bool,
    train_source: str | None,
    representation: str,
    difficulty: bool,
    target: str | None,
    strong: str | None,
    tracking_uri: str | None,
    no_track: bool,
) -> None:
    """Cross-validate the quality model on a data source (or train it on another); write
    and log its metrics."""
    from training.data import load_source
    from training.evaluate import evaluate as score
    from training.evaluate import strong_and_weak
    from training.tracking import log_evaluation

    if folds < 2:
        raise click.BadParameter("need at least 2 folds", param_hint="--folds")
    if curve and train_source:
        raise click.UsageError("--learning-curve cross-validates: leave out --train-source")
    goal = target_value(target)
    data = load_source(source, data_dir)
    strong_and_weak(data, strong)  # a --strong the data lacks fails before the work
    read = _difficulty(data, data_dir, representation) if difficulty else "none"
    make = _trainers(seed, representation, variant, read)
    if train_source:
        data, oof = _across(load_source(train_source, data_dir), data, make, seed)
        folds = 0
    else:
        oof = _cross_validated(data, make, folds, seed)
    ev = score(data, oof, folds, seed, strong)
    out = out or Path(f"evaluation-{data.source.replace(':', '-')}.json")
    body = {**ev.as_dict(), "content_hash": data.content_hash, "cost_weight": None}
    if train_source:
        body["trained_on"] = train_source
    _report(ev, body, out, strong)
    if curve:
        body["learning_curve"] = _learning_curve(data, make, folds, seed, strong, (oof, ev), out)
        out.write_text(json.dumps(body, indent=2) + "\n")
    if goal is not None:
        how = f"trained on {train_source}" if train_source else f"{folds}-fold cross-validation"
        body["cost_weight"] = _tradeoff(data, oof, goal, strong, how)
        out.write_text(json.dumps(body, indent=2) + "\n")
    click.echo(f"\nmetrics written to {out}", err=True)
    if not no_track:
        uri = resolve_tracking_uri(tracking_uri)
        from models.quality import QualityTrainer

        model = QualityTrainer(seed=seed, use_embeddings=representation, difficulty=read)
        params = {**model.logged_params(), "folds": folds, "variant": variant}
        run_id = log_evaluation(uri, data, ev, params, out)
        click.echo(f"MLflow run {run_id} in {uri}", err=True)


def _report(ev: Any, body: dict[str, Any], out: Path, strong: str | None) -> None:
    """Write the metrics (kept even if a target is missed) and print the tables."""
    out.write_text(json.dumps(body, indent=2) + "\n")
    click.echo(ev.table())
    click.echo("\n" + _compared(ev, strong is not None))
    click.echo(_calibration_line(ev, out))


def _trainers(seed: int, representation: str, variant: str, difficulty: Any) -> Any:
    """What ``selector evaluate`` fits in each fold: the quality model (or one a
    candidate, ``--variant per-model``)."""
    from models.quality import QualityTrainer
    from training.baselines import PerModel

    def one() -> QualityTrainer:
        return QualityTrainer(seed=seed, use_embeddings=representation, difficulty=difficulty)

    def make() -> QualityTrainer | PerModel:
        return PerModel(one) if variant == "per-model" else one()

    return make


def _difficulty(data: Any, data_dir: Path, representation: str) -> Any:
    """The request difficulty an evaluation's models read: one that learned from none of
    the judged table's texts (:func:`training.difficulty.held_out_difficulty`); the
    shipped one, noted, when the public tables to refit it are not in ``data_dir``."""
    if representation == "never":
        return "none"
    from training.difficulty import held_out_difficulty

    texts = data.requests["text"].fillna("").astype(str).tolist()
    found, seen = held_out_difficulty(texts, data_dir)
    if found is None:
        click.echo(
            f"note: the shipped request difficulty learned from {seen:,} of this table's "
            f"texts, and the public tables to learn it without them are not in {data_dir}: "
            "the figures may flatter the model",
            err=True,
        )
        return "shipped"
    learned = ", ".join(found.meta["sources"])
    how = (
        f"refitted without the {seen:,} texts it shared with this table"
        if seen
        else ("none of this table's texts among them")
    )
    click.echo(f"request difficulty learned from {learned} ({how})")
    return found


def _cross_validated(data: Any, make: Any, folds: int, seed: int) -> Any:
    from training.evaluate import cross_validate

    n = int(data.requests["eval"].sum())
    heading = f"{len(data.requests)} requests, {len(data.models)} models, {n} evaluated"
    click.echo(f"{data.source}: {heading}; {folds}-fold cross-validation")
    click.echo("".join(f"note: {note}\n" for note in data.notes), err=True, nl=False)
    with Progress(folds, "cross-validation") as bar:
        return cross_validate(data, make, folds, seed, progress=lambda m: bar(m), baselines=True)


def _across(train: Any, test: Any, make: Any, seed: int) -> tuple[Any, Any]:
    from training.cross_source import across_sources

    click.echo("".join(f"note: {note}\n" for note in train.notes), err=True, nl=False)
    with Progress(1, f"training on {train.source}") as bar:
        test, oof = across_sources(train, test, make, seed)
        bar("trained and predicted")
    n = int(test.requests["eval"].sum())
    click.echo(
        f"{test.source}: {n} requests judged, {len(test.models)} models shared; trained on "
        f"all {len(train.requests)} requests of {train.source}"
    )
    return test, oof


@click.command()
@data_options
@click.option(
    "--folds",
    type=int,
    default=5,
    show_default=True,
    help="Cross-validation folds for the reported figures (0: skip, hold-out figures only).",
)
@click.option("--name", default=None, help="Registered model name [model-selector-quality].")
@click.option(
    "--out", type=click.Path(path_type=Path), default=None, help="Also keep the model here."
)
@target_options
@tracking_option
@click.option(
    "--dask-scheduler",
    metavar="ADDRESS",
    default=None,
    help="Train the gradient-boosted stage on this Dask cluster (e.g. tcp://10.0.0.5:8786; "
    "pip install '.[dask]').",
)
@representation_option
@difficulty_option
def train(
    source: str,
    data_dir: Path,
    seed: int,
    folds: int,
    name: str | None,
    out: Path | None,
    target: str | None,
    strong: str | None,
    tracking_uri: str | None,
    dask_scheduler: str | None,
    representation: str,
    difficulty: bool,
) -> None:
    """Train the quality model, evaluate it, log the run to MLflow and register it."""
    from models.quality import QualityTrainer
    from models.registry import DEFAULT_MODEL_NAME
    from training.data import load_source
    from training.train import train as run_training

    if folds == 1 or folds < 0:
        raise click.BadParameter("use 0 (no cross-validation) or at least 2", param_hint="--folds")
    goal = target_value(target)
    uri = resolve_tracking_uri(tracking_uri)
    name = name or DEFAULT_MODEL_NAME
    data = load_source(source, data_dir)  # read once: the difficulty must not know its texts
    read = _difficulty(data, data_dir, representation) if difficulty else "none"
    # steps: load, each fold, the fit (start, 5 inner folds, all, 3 for the rounds), logging
    with Progress(12 + folds, "train") as bar:
        result = run_training(
            source,
            data_dir,
            folds,
            seed,
            uri,
            name,
            out,
            progress=lambda m: bar(m),
            target=goal,
            strong=strong,
            data=data,
            make_model=lambda: QualityTrainer(
                seed=seed,
                dask_scheduler=dask_scheduler,
                use_embeddings=representation,
                difficulty=read,
            ),
        )
    _print_trained(result)
    click.echo(
        f"\nregistered {name} version {result.version} (MLflow run {result.run_id})\n"
        f"promote it:  selector promote --name {name} --version {result.version}\n"
        f"browse runs: mlflow ui --backend-store-uri {uri}"
    )


def _print_trained(result: Any) -> None:
    """A training run's notes, cross-validated and hold-out tables, and λ setting."""
    for note in result.data_notes:
        click.echo(f"note: {note}", err=True)
    if result.cv is not None:
        click.echo(f"{result.cv.folds}-fold cross-validation on {result.cv.source}:")
        click.echo(result.cv.table())
    click.echo(f"\nhold-out ({result.holdout.n_requests} requests never trained on):")
    click.echo(result.holdout.table())
    if result.tradeoff is not None:
        click.echo("\n" + result.tradeoff.summary())


@click.command()
@click.option("--name", default=None, help="Registered model name [model-selector-quality].")
@click.option("--version", "version", required=True, help="Model version to promote.")
@data_dir_option("Folder of the public data sets (for the hold-out evaluation).")
@click.option("--force", is_flag=True, help="Promote even if it does not beat the champion.")
@click.option(
    "--min-ess",
    type=float,
    default=200.0,
    show_default=True,
    help="Models learned from a decision log: refuse a DR estimate on a smaller effective sample.",
)
@tracking_option
def promote(
    name: str | None,
    version: str,
    data_dir: Path,
    force: bool,
    min_ess: float,
    tracking_uri: str | None,
) -> None:
    """Move the alias 'champion' to a model version that beats the current champion.

    Models trained on a public benchmark are compared by their hold-out APGR or AIQ;
    models learned from the service's decision log by the doubly robust value of the
    policy each would serve, on the log's hold-out decisions.
    """
    from models.registry import DEFAULT_MODEL_NAME
    from training.promotion import promote as run_promotion

    result = run_promotion(
        name or DEFAULT_MODEL_NAME,
        version,
        resolve_tracking_uri(tracking_uri),
        data_dir,
        force,
        min_ess=min_ess,
        settings=load_settings(),
    )
    click.echo(result.message())
