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
    representation_option,
    resolve_tracking_uri,
    target_options,
    target_value,
    tracking_option,
)

__all__ = ["evaluate", "promote", "train", "train_intents"]


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


def _tradeoff(data: Any, oof: Any, goal: Any, strong: str | None, folds: int) -> Any:
    """The λ meeting ``goal`` on the out-of-fold predictions, printed; its record."""
    from training.tradeoff import calibrate

    found = calibrate(data, oof.p, goal, strong, f"{folds}-fold cross-validation", oof.completion)
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
@representation_option
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
    representation: str,
    target: str | None,
    strong: str | None,
    tracking_uri: str | None,
    no_track: bool,
) -> None:
    """Cross-validate the quality model on a data source; write and log its metrics."""
    from models.quality import QualityTrainer
    from training.baselines import PerModel
    from training.data import load_source
    from training.evaluate import cross_validate, strong_and_weak
    from training.evaluate import evaluate as score
    from training.tracking import log_evaluation

    if folds < 2:
        raise click.BadParameter("need at least 2 folds", param_hint="--folds")
    goal = target_value(target)
    data = load_source(source, data_dir)
    strong_and_weak(data, strong)  # a --strong the data lacks fails before the work
    n = int(data.requests["eval"].sum())
    heading = f"{len(data.requests)} requests, {len(data.models)} models, {n} evaluated"
    click.echo(f"{data.source}: {heading}; {folds}-fold cross-validation")
    click.echo("".join(f"note: {note}\n" for note in data.notes), err=True, nl=False)
    model = QualityTrainer(seed=seed, use_embeddings=representation)

    def make() -> QualityTrainer | PerModel:
        if variant == "per-model":
            return PerModel(lambda: QualityTrainer(seed=seed, use_embeddings=representation))
        return QualityTrainer(seed=seed, use_embeddings=representation)

    with Progress(folds, "cross-validation") as bar:
        oof = cross_validate(data, make, folds, seed, progress=lambda m: bar(m), baselines=True)
    ev = score(data, oof, folds, seed, strong)
    out = out or Path(f"evaluation-{data.source.replace(':', '-')}.json")
    body = {**ev.as_dict(), "content_hash": data.content_hash, "cost_weight": None}
    out.write_text(json.dumps(body, indent=2) + "\n")  # kept even if the target is missed
    click.echo(ev.table())
    click.echo("\n" + _compared(ev, strong is not None))
    click.echo(_calibration_line(ev, out))
    if curve:
        body["learning_curve"] = _learning_curve(data, make, folds, seed, strong, (oof, ev), out)
        out.write_text(json.dumps(body, indent=2) + "\n")
    if goal is not None:
        body["cost_weight"] = _tradeoff(data, oof, goal, strong, folds)
        out.write_text(json.dumps(body, indent=2) + "\n")
    click.echo(f"\nmetrics written to {out}", err=True)
    if not no_track:
        uri = resolve_tracking_uri(tracking_uri)
        params = {**model.logged_params(), "folds": folds, "variant": variant}
        run_id = log_evaluation(uri, data, ev, params, out)
        click.echo(f"MLflow run {run_id} in {uri}", err=True)


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
) -> None:
    """Train the quality model, evaluate it, log the run to MLflow and register it."""
    from models.quality import QualityTrainer
    from models.registry import DEFAULT_MODEL_NAME
    from training.train import train as run_training

    if folds == 1 or folds < 0:
        raise click.BadParameter("use 0 (no cross-validation) or at least 2", param_hint="--folds")
    goal = target_value(target)
    uri = resolve_tracking_uri(tracking_uri)
    name = name or DEFAULT_MODEL_NAME
    # steps: load, each fold, the fit (start, 5 inner folds, all, 2 for the rounds), logging
    with Progress(11 + folds, "train") as bar:
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
            make_model=lambda: QualityTrainer(
                seed=seed, dask_scheduler=dask_scheduler, use_embeddings=representation
            ),
        )
    for note in result.data_notes:
        click.echo(f"note: {note}", err=True)
    if result.cv is not None:
        click.echo(f"{result.cv.folds}-fold cross-validation on {result.cv.source}:")
        click.echo(result.cv.table())
    click.echo(f"\nhold-out ({result.holdout.n_requests} requests never trained on):")
    click.echo(result.holdout.table())
    if result.tradeoff is not None:
        click.echo("\n" + result.tradeoff.summary())
    click.echo(
        f"\nregistered {name} version {result.version} (MLflow run {result.run_id})\n"
        f"promote it:  selector promote --name {name} --version {result.version}\n"
        f"browse runs: mlflow ui --backend-store-uri {uri}"
    )


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
