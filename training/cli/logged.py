"""``selector ope`` and ``compare``: policies judged on the decision log."""

from __future__ import annotations

from typing import Any

import click

from selector.cli_options import Progress, db_overrides, existing_log, log_settings
from selector.config import load_settings
from training.cli.options import estimate_options, resolve_tracking_uri, tracking_option

__all__ = ["compare", "ope"]


@click.command()
@estimate_options
@click.option("--policy", default=None, help="Candidate policy [SELECTOR_POLICY].")
@click.option(
    "--quality-model",
    default=None,
    help="Its quality model: models:/<name>@<alias>, a folder, or 'prior' "
    "[SELECTOR_QUALITY_MODEL].",
)
@tracking_option
@click.option("--no-track", is_flag=True, help="Do not record the estimate in MLflow.")
def ope(
    db_path: str | None,
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
    from training.logged_decisions import load_logged
    from training.policy_eval import evaluate_policy, log_to_mlflow

    overrides: dict[str, Any] = {"mlflow_tracking_uri": resolve_tracking_uri(tracking_uri)}
    overrides.update(db_overrides(db_path))
    for key, value in (("policy", policy), ("quality_model", quality_model)):
        if value is not None:
            overrides[key] = value
    settings = load_settings(**overrides)
    decision_log = existing_log(settings)
    logged = load_logged(decision_log, settings.reward.late_penalty, since)
    service = build_service(settings)
    candidate = service.policy
    label = f"{candidate.name}+{service.quality_status.serving}"
    with Progress(len(logged.ids), "scoring") as bar:
        result = evaluate_policy(
            logged, candidate, min_ess, folds, seed, progress=lambda _n: bar("")
        )
    click.echo(
        f"{label} on {result['decisions']:,} logged decisions of {decision_log.where} "
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
            "log": decision_log.where,
            "policy": candidate.name,
            "quality_model": service.quality_status.serving,
            "min_ess": min_ess,
            "folds": folds,
            "seed": seed,
        }
        run = log_to_mlflow(result, params, settings.models.mlflow_tracking_uri)
        click.echo(f"MLflow run {run} (experiment model-selector-ope)")


@click.command()
@estimate_options
@tracking_option
@click.option("--no-track", is_flag=True, help="Do not record the comparison in MLflow.")
def compare(
    db_path: str | None,
    min_ess: float,
    folds: int,
    seed: int,
    since: float,
    tracking_uri: str | None,
    no_track: bool,
) -> None:
    """Compare the policies of a shadow or canary experiment: live outcomes of the
    decisions each served, and each one's DR estimate on every decision it made."""
    from training.logged_decisions import load_logged
    from training.policy_eval import compare as run_compare
    from training.policy_eval import log_comparison

    settings = log_settings(db_path)
    decision_log = existing_log(settings)
    logged = load_logged(decision_log, settings.reward.late_penalty, since)
    found = run_compare(logged, min_ess, folds, seed)
    click.echo(f"{len(logged.ids):,} decisions with an outcome in {decision_log.where}")
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
        run = log_comparison(found, decision_log.where, resolve_tracking_uri(tracking_uri))
        click.echo(f"MLflow run {run} (experiment model-selector-ope)")
