"""The ``selector`` command line."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from selector.config import load_settings
from selector.errors import SelectorError

__all__ = ["main"]

DEFAULT_DATA = Path("../shared/data")


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
def cli() -> None:
    """model-selector: which LLM should answer each conversation turn."""


@cli.command()
@click.option("--host", default=None, help="Interface to bind [SELECTOR_HOST, 127.0.0.1].")
@click.option("--port", type=int, default=None, help="Port [SELECTOR_PORT, 8080].")
@click.option(
    "--db", "db_path", type=click.Path(path_type=Path), default=None, help="Decision log."
)
@click.option("--catalog", "catalog_path", type=click.Path(path_type=Path), default=None)
@click.option("--policy", default=None, help="utility-v0 (default) or static-rules.")
@click.option("--log-level", default="info", show_default=True)
def serve(
    host: str | None,
    port: int | None,
    db_path: Path | None,
    catalog_path: Path | None,
    policy: str | None,
    log_level: str,
) -> None:
    """Run the decision service (HTTP)."""
    import uvicorn

    from selector.api.app import create_app
    from selector.service import SelectorService

    overrides = {
        k: v
        for k, v in {
            "host": host,
            "port": port,
            "db_path": db_path,
            "catalog_path": catalog_path,
            "policy": policy,
        }.items()
        if v is not None
    }
    settings = load_settings(**overrides)
    service = SelectorService.from_settings(settings)  # fail fast on a bad catalog or setting
    click.echo(
        f"selector: policy {service.policy.name}, {len(service.catalog.enabled_names)} models, "
        f"decision log {settings.db_path.resolve()}",
        err=True,
    )
    uvicorn.run(
        create_app(settings, service),
        host=settings.host,
        port=settings.port,
        log_level=log_level,
        access_log=False,
    )


@cli.command("train-intents")
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


@cli.command("export-log")
@click.option(
    "--db", "db_path", type=click.Path(path_type=Path), default=None, help="Decision log."
)
@click.option("--out", type=click.Path(path_type=Path), required=True, help="Output file.")
@click.option("--format", "fmt", type=click.Choice(["parquet", "csv"]), default=None)
@click.option("--since", type=float, default=0.0, help="Only decisions after this Unix time.")
def export_log_cmd(db_path: Path | None, out: Path, fmt: str | None, since: float) -> None:
    """Write the joined decision log to Parquet or CSV for training."""
    from selector.export import export_log
    from selector.store import DecisionLog

    settings = load_settings(**({"db_path": db_path} if db_path else {}))
    if not settings.db_path.is_file():
        raise click.UsageError(f"no decision log at {settings.db_path}; pass --db")
    n = export_log(DecisionLog(settings.db_path), out, fmt, since)
    click.echo(f"wrote {n} decisions to {out}")


@cli.command()
@click.option(
    "--source",
    required=True,
    help="routellm-mmlu, routellm-gsm8k, zeroeval-gsm, zeroeval-crux, or a .csv/.parquet table.",
)
@click.option(
    "--data",
    "data_dir",
    type=click.Path(path_type=Path),
    default=DEFAULT_DATA,
    show_default=True,
    help="Folder of the public data sets.",
)
@click.option("--folds", type=int, default=5, show_default=True, help="Cross-validation folds.")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option(
    "--out",
    type=click.Path(path_type=Path),
    default=None,
    help="Metrics JSON to write [evaluation-<source>.json].",
)
def evaluate(source: str, data_dir: Path, folds: int, seed: int, out: Path | None) -> None:
    """Cross-validate the quality model on a data source and write its metrics."""
    from tqdm import tqdm

    from models.quality import QualityModel
    from training.data import load_source
    from training.evaluate import cross_validate
    from training.evaluate import evaluate as score

    if folds < 2:
        raise click.BadParameter("need at least 2 folds", param_hint="--folds")
    data = load_source(source, data_dir)
    click.echo(
        f"{data.source}: {len(data.requests)} requests, {len(data.models)} models, "
        f"{int(data.requests['eval'].sum())} evaluated; {folds}-fold cross-validation",
        err=True,
    )
    with tqdm(total=folds, desc="folds", unit="fold") as bar:
        p = cross_validate(
            data, lambda: QualityModel(seed=seed), folds, seed, progress=lambda _m: bar.update()
        )
    ev = score(data, p, folds, seed)
    out = out or Path(f"evaluation-{data.source.replace(':', '-')}.json")
    body = {**ev.as_dict(), "content_hash": data.content_hash}
    out.write_text(json.dumps(body, indent=2) + "\n")
    click.echo(ev.table())
    click.echo(f"\nmetrics written to {out}", err=True)


@cli.command()
def policies() -> None:
    """List the decision policies SELECTOR_POLICY can name."""
    from selector.policy import POLICIES

    for name, cls in POLICIES.items():
        summary = (cls.__doc__ or "").strip().splitlines()[0]
        click.echo(f"{name:<14} v{cls.version}  {summary}")


@cli.command()
def schema() -> None:
    """Print the feature schema."""
    from features.schema import schema_markdown

    click.echo(schema_markdown())


def main() -> None:
    try:
        cli(standalone_mode=True)
    except SelectorError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(2)
