"""``selector train``, ``evaluate``, ``promote``, ``ope``, ``compare`` and
``train-intents``: the offline jobs' commands (found by ``selector`` through the
``model_selector.commands`` entry point)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

from core.errors import SelectorError
from selector.cli_options import DEFAULT_DATA, Progress, data_dir_option, db_option, log_settings
from selector.config import load_settings

__all__ = ["COMMANDS"]


def _estimate_options(f: Any) -> Any:
    """The options of the commands that estimate from the decision log (ope, compare)."""
    options = [
        db_option,
        click.option(
            "--min-ess",
            type=float,
            default=200.0,
            show_default=True,
            help="Refuse an estimate resting on a smaller effective sample.",
        ),
        click.option(
            "--folds", type=int, default=2, show_default=True, help="Cross-fitting folds of DR."
        ),
        click.option("--seed", type=int, default=0, show_default=True),
        click.option(
            "--since", type=float, default=0.0, help="Only decisions after this Unix time."
        ),
    ]
    for option in reversed(options):
        f = option(f)
    return f


SOURCE_HELP = (
    "routellm-mmlu, routellm-gsm8k, zeroeval-gsm, zeroeval-crux, a decision log (.db) or "
    "its export, or a .csv/.parquet table."
)


def _data_options(f: Any) -> Any:
    f = click.option("--seed", type=int, default=0, show_default=True)(f)
    f = data_dir_option()(f)
    return click.option("--source", required=True, help=SOURCE_HELP)(f)


def _target_options(f: Any) -> Any:
    f = click.option(
        "--strong",
        default=None,
        help="The strong model of a strong-share target [the dearest model of the data].",
    )(f)
    return click.option(
        "--target",
        default=None,
        metavar="KIND=VALUE",
        help="Calibrate λ (SELECTOR_COST_WEIGHT) to strong-share=0–1, budget=USD per 1,000 "
        "requests or min-quality=0–1.",
    )(f)


def _target(value: str | None) -> Any:
    from training.tradeoff import Target

    try:
        return None if value is None else Target.parse(value)
    except SelectorError as exc:
        raise click.BadParameter(str(exc), param_hint="--target") from None


def _tracking_option(f: Any) -> Any:
    return click.option(
        "--tracking-uri",
        default=None,
        help="MLflow tracking store [SELECTOR_MLFLOW_TRACKING_URI, sqlite:///mlflow.db].",
    )(f)


def _tracking_uri(value: str | None) -> str:
    return value or load_settings().mlflow_tracking_uri


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


@click.command()
@_data_options
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
@_target_options
@_tracking_option
@click.option("--no-track", is_flag=True, help="Do not log the run to MLflow.")
def evaluate(
    source: str,
    data_dir: Path,
    seed: int,
    folds: int,
    out: Path | None,
    variant: str,
    target: str | None,
    strong: str | None,
    tracking_uri: str | None,
    no_track: bool,
) -> None:
    """Cross-validate the quality model on a data source; write and log its metrics."""
    from models.quality import QualityModel
    from training.data import load_source
    from training.evaluate import PerModel, cross_validate
    from training.evaluate import evaluate as score
    from training.tracking import log_evaluation

    if folds < 2:
        raise click.BadParameter("need at least 2 folds", param_hint="--folds")
    goal = _target(target)
    data = load_source(source, data_dir)
    click.echo(
        f"{data.source}: {len(data.requests)} requests, {len(data.models)} models, "
        f"{int(data.requests['eval'].sum())} evaluated; {folds}-fold cross-validation",
        err=True,
    )
    for note in data.notes:
        click.echo(f"note: {note}", err=True)
    model = QualityModel(seed=seed)

    def make() -> QualityModel | PerModel:
        if variant == "per-model":
            return PerModel(lambda: QualityModel(seed=seed))
        return QualityModel(seed=seed)

    with Progress(folds, "cross-validation") as bar:
        oof = cross_validate(data, make, folds, seed, progress=lambda m: bar(m))
    ev = score(data, oof, folds, seed)
    out = out or Path(f"evaluation-{data.source.replace(':', '-')}.json")
    body = {**ev.as_dict(), "content_hash": data.content_hash, "cost_weight": None}
    out.write_text(json.dumps(body, indent=2) + "\n")  # kept even if the target is missed
    click.echo(ev.table())
    if goal is not None:
        from training.tradeoff import calibrate

        tradeoff = calibrate(
            data, oof.p, goal, strong, f"{folds}-fold cross-validation", oof.completion
        )
        body["cost_weight"] = tradeoff.as_dict()
        out.write_text(json.dumps(body, indent=2) + "\n")
        click.echo("\n" + tradeoff.summary())
    click.echo(f"\nmetrics written to {out}", err=True)
    if not no_track:
        uri = _tracking_uri(tracking_uri)
        params = {**model.get_params(), "folds": folds, "variant": variant}
        run_id = log_evaluation(uri, data, ev, params, out)
        click.echo(f"MLflow run {run_id} in {uri}", err=True)


@click.command()
@_data_options
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
@_target_options
@_tracking_option
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
) -> None:
    """Train the quality model, evaluate it, log the run to MLflow and register it."""
    from models.registry import DEFAULT_MODEL_NAME
    from training.train import train as run_training

    if folds == 1 or folds < 0:
        raise click.BadParameter("use 0 (no cross-validation) or at least 2", param_hint="--folds")
    goal = _target(target)
    uri = _tracking_uri(tracking_uri)
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
@_tracking_option
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
        _tracking_uri(tracking_uri),
        data_dir,
        force,
        min_ess=min_ess,
        settings=load_settings(),
    )
    click.echo(result.message())


@click.command()
@_estimate_options
@click.option("--policy", default=None, help="Candidate policy [SELECTOR_POLICY].")
@click.option(
    "--quality-model",
    default=None,
    help="Its quality model: models:/<name>@<alias>, a folder, or 'prior' "
    "[SELECTOR_QUALITY_MODEL].",
)
@_tracking_option
@click.option("--no-track", is_flag=True, help="Do not record the estimate in MLflow.")
def ope(
    db_path: Path | None,
    policy: str | None,
    quality_model: str | None,
    min_ess: float,
    folds: int,
    seed: int,
    since: float,
    tracking_uri: str | None,
    no_track: bool,
) -> None:
    """Estimate a candidate policy's mean reward per decision from the decision log
    (IPS, SNIPS, doubly robust; 95 % intervals; effective sample size)."""
    from selector.wiring import build_service
    from training.policy_eval import evaluate_policy, load_logged, log_to_mlflow

    base = load_settings()
    overrides: dict[str, Any] = {"mlflow_tracking_uri": _tracking_uri(tracking_uri)}
    for key, value in (("db_path", db_path), ("policy", policy), ("quality_model", quality_model)):
        if value is not None:
            overrides[key] = value
    settings = base.model_copy(update=overrides)
    logged = load_logged(settings.db_path, settings.reward_late_penalty, since)
    service = build_service(settings)
    candidate = service.policy
    label = f"{candidate.name}+{service.quality_status.serving}"
    with Progress(len(logged.ids), "scoring") as bar:
        result = evaluate_policy(
            logged, candidate, min_ess, folds, seed, progress=lambda _n: bar("")
        )
    click.echo(
        f"{label} on {result['decisions']:,} logged decisions of {settings.db_path} "
        f"(logged by {', '.join(f'{k} ×{v:,}' for k, v in result['logged_policies'].items())}; "
        f"left out: {', '.join(f'{k} {v:,}' for k, v in result['skipped'].items() if v) or 'none'})"
    )
    click.echo(f"effective sample size: {result['ess']:,.1f}")
    click.echo("| estimator | mean reward / decision | 95 % interval |")
    click.echo("|---|---|---|")
    for est in ("ips", "snips", "dr"):
        e = result[est]
        click.echo(f"| {est.upper()} | {e['value']:.4f} | [{e['low']:.4f}, {e['high']:.4f}] |")
    click.echo(f"| logged policy (observed) | {result['logged_value']:.4f} | |")
    if not no_track:
        params = {
            "log": str(settings.db_path),
            "policy": candidate.name,
            "quality_model": service.quality_status.serving,
            "min_ess": min_ess,
            "folds": folds,
            "seed": seed,
        }
        run = log_to_mlflow(result, params, settings.mlflow_tracking_uri)
        click.echo(f"MLflow run {run} (experiment model-selector-ope)")


@click.command()
@_estimate_options
@_tracking_option
@click.option("--no-track", is_flag=True, help="Do not record the comparison in MLflow.")
def compare(
    db_path: Path | None,
    min_ess: float,
    folds: int,
    seed: int,
    since: float,
    tracking_uri: str | None,
    no_track: bool,
) -> None:
    """Compare the policies of a shadow or canary experiment: live outcomes of the
    decisions each served, and each one's DR estimate on every decision it made."""
    from training.policy_eval import compare as run_compare
    from training.policy_eval import load_logged, log_comparison

    settings = log_settings(db_path)
    logged = load_logged(settings.db_path, settings.reward_late_penalty, since)
    found = run_compare(logged, min_ess, folds, seed)
    click.echo(f"{len(logged.ids):,} decisions with an outcome in {settings.db_path}")
    click.echo(
        "| policy | served | observed reward / decision [95 %] | decided | DR estimate [95 %] "
        "| ESS | agrees with the other |"
    )
    click.echo("|---|---|---|---|---|---|---|")
    for label, e in found.items():
        live = e["live"]
        observed = (
            f"{live['reward']:.4f} [{live['low']:.4f}, {live['high']:.4f}]"
            if live["decisions"] > 1
            else "—"
        )
        dr = (
            f"{e['dr']['value']:.4f} [{e['dr']['low']:.4f}, {e['dr']['high']:.4f}]"
            if "dr" in e
            else "refused: effective sample too small"
        )
        ess = f"{e['ess']:,.0f}" if "ess" in e else "—"
        agrees = f"{e['agreement']:.1%}" if "agreement" in e else "—"
        click.echo(
            f"| {label} | {live['decisions']:,} | {observed} | {e['ope_decisions']:,} | {dr} "
            f"| {ess} | {agrees} |"
        )
    for label, e in found.items():
        if "refused" in e:
            click.echo(f"{label}: {e['refused']}", err=True)
    if not no_track:
        run = log_comparison(found, str(settings.db_path), _tracking_uri(tracking_uri))
        click.echo(f"MLflow run {run} (experiment model-selector-ope)")


COMMANDS = [train_intents, evaluate, train, promote, ope, compare]
