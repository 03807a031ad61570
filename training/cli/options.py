"""Options the offline commands share."""

from __future__ import annotations

from typing import Any

import click

from core.errors import SelectorError
from selector.cli_options import data_dir_option, db_option
from selector.config import load_settings

__all__ = [
    "REPRESENTATIONS",
    "data_options",
    "difficulty_option",
    "estimate_options",
    "representation_option",
    "resolve_tracking_uri",
    "target_options",
    "target_value",
    "tracking_option",
]


def estimate_options(f: Any) -> Any:
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
    "routellm-mmlu, routellm-gsm8k, zeroeval-gsm, zeroeval-crux, a decision log (.db, or "
    "postgresql://USER:PASSWORD@HOST/DB) or its export, or a .csv/.parquet table."
)


def data_options(f: Any) -> Any:
    f = click.option("--seed", type=int, default=0, show_default=True)(f)
    f = data_dir_option()(f)
    return click.option("--source", required=True, help=SOURCE_HELP)(f)


REPRESENTATIONS = ("auto", "always", "never")  # models.quality.trainer.REPRESENTATION_MODES


def representation_option(f: Any) -> Any:
    return click.option(
        "--representation",
        type=click.Choice(REPRESENTATIONS),
        default="auto",
        show_default=True,
        help="The pretrained text representation's two scorers: kept where the held-out "
        "loss is lower with them (auto), always (wordings the table never had are "
        "expected), or never fitted.",
    )(f)


def difficulty_option(f: Any) -> Any:
    return click.option(
        "--difficulty/--no-difficulty",
        default=True,
        show_default=True,
        help="Read the request difficulty learned from public outcome tables beside the "
        "representation's scorers (features/difficulty.py).",
    )(f)


def target_options(f: Any) -> Any:
    f = click.option(
        "--strong",
        default=None,
        help="The strong models of a strong-share target, comma-separated (and of a two-model "
        "table's APGR) [every model at the data's top list price].",
    )(f)
    return click.option(
        "--target",
        default=None,
        metavar="KIND=VALUE",
        help="Calibrate λ (SELECTOR_COST_WEIGHT) to strong-share=0–1, budget=USD per 1,000 "
        "requests or min-quality=0–1.",
    )(f)


def target_value(value: str | None) -> Any:
    from training.tradeoff import Target

    try:
        return None if value is None else Target.parse(value)
    except SelectorError as exc:
        raise click.BadParameter(str(exc), param_hint="--target") from None


def tracking_option(f: Any) -> Any:
    return click.option(
        "--tracking-uri",
        default=None,
        help="MLflow tracking store [SELECTOR_MLFLOW_TRACKING_URI, else mlflow.db in "
        "SELECTOR_HOME].",
    )(f)


def resolve_tracking_uri(value: str | None) -> str:
    return value or load_settings().models.mlflow_tracking_uri
