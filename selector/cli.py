"""The ``selector`` command line: the service's commands here; the commands of the
packages above the service (training, the simulator) are found through the entry-point
group ``model_selector.commands`` when first asked for, so the service never imports
them (each entry point names a list of click commands)."""

from __future__ import annotations

import json
import logging
import os
import sys
from importlib.metadata import entry_points
from pathlib import Path

import click

from core.errors import ConfigError, SelectorError
from selector.cli_options import Progress, db_option, db_overrides, existing_log, log_settings
from selector.config import load_settings, unknown_variables

__all__ = ["cli", "main"]


COMMAND_GROUP = "model_selector.commands"


#: the project's own top-level packages: an import of one of them that fails is a bug
_OWN_PACKAGES = frozenset({"core", "selector", "features", "models", "training", "simulator"})
#: the extra that installs each entry point's commands
_EXTRAS = {"training": "train", "simulator": "sim"}


class _Commands(click.Group):
    """The service's commands, plus those registered under :data:`COMMAND_GROUP`.

    An entry point whose commands need a package that is not installed (an extra the
    installation left out) is left out of the list, and asking for one of its commands
    says what to install. Any other failure to import them is raised: a broken command
    module must not silently remove its commands."""

    _found: dict[str, click.Command] | None = None
    _missing: dict[str, str]  # entry point → the missing package

    def _discovered(self) -> dict[str, click.Command]:
        if self._found is None:
            found: dict[str, click.Command] = {}
            self._missing = {}
            for ep in entry_points(group=COMMAND_GROUP):
                try:
                    commands = ep.load()
                except ModuleNotFoundError as exc:
                    package = (exc.name or "").partition(".")[0]
                    if not package or package in _OWN_PACKAGES:
                        raise
                    logging.getLogger(__name__).debug("%s: %s", ep.name, exc)
                    self._missing[ep.name] = package
                    continue
                found.update({c.name: c for c in commands if c.name})
            self._found = found
        return self._found

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*super().list_commands(ctx), *self._discovered()})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        return super().get_command(ctx, cmd_name) or self._discovered().get(cmd_name)

    def resolve_command(
        self, ctx: click.Context, args: list[str]
    ) -> tuple[str | None, click.Command | None, list[str]]:
        name = args[0] if args else ""
        if self.get_command(ctx, name) is None and self._missing:
            needs = "; ".join(
                f"the {ep} commands need {package}: pip install "
                f"'model-selector-server[{_EXTRAS.get(ep, ep)}]'"
                for ep, package in sorted(self._missing.items())
            )
            ctx.fail(f"No such command {name!r} in this installation ({needs}).")
        return super().resolve_command(ctx, args)


@click.group(cls=_Commands, context_settings={"help_option_names": ["-h", "--help"]})
def cli() -> None:
    """model-selector: which LLM should answer each conversation turn."""


@cli.command()
@click.option("--host", default=None, help="Interface to bind [SELECTOR_HOST, 127.0.0.1].")
@click.option("--port", type=int, default=None, help="Port [SELECTOR_PORT, 8080].")
@db_option
@click.option("--catalog", "catalog_path", type=click.Path(path_type=Path), default=None)
@click.option("--policy", default=None, help="A policy of `selector policies` [SELECTOR_POLICY].")
@click.option(
    "--log-level",
    type=click.Choice(["debug", "info", "warning", "error"]),
    default=None,
    help="Lowest level logged [SELECTOR_LOG_LEVEL, info].",
)
def serve(
    host: str | None,
    port: int | None,
    db_path: str | None,
    catalog_path: Path | None,
    policy: str | None,
    log_level: str | None,
) -> None:
    """Run the decision service (HTTP)."""
    import logging

    import uvicorn

    from selector.api.app import create_app
    from selector.api.server import uvicorn_options
    from selector.logs import configure_logging
    from selector.wiring import build_service

    overrides = {
        k: v
        for k, v in {
            "host": host,
            "port": port,
            "catalog_path": catalog_path,
            "policy": policy,
            "log_level": log_level,
        }.items()
        if v is not None
    }
    settings = load_settings(**overrides, **db_overrides(db_path))
    configure_logging(settings.logs.format, settings.logs.level)
    for line in unknown_variables(os.environ):
        logging.getLogger(__name__).warning("%s: ignored", line)
    service = build_service(settings)  # fail fast on a bad catalog or setting
    logging.getLogger(__name__).info(
        "serving policy %s with %d models on %s:%d, decision log %s",
        service.policy.name,
        len(service.catalog.enabled_names),
        settings.server.host,
        settings.server.port,
        service.log.where,
        extra={"policy": service.policy.name, "quality_model": service.quality_status.serving},
    )
    uvicorn.run(create_app(settings, service), **uvicorn_options(settings))


@cli.command("export-log")
@db_option
@click.option("--out", type=click.Path(path_type=Path), required=True, help="Output file.")
@click.option("--format", "fmt", type=click.Choice(["parquet", "csv"]), default=None)
@click.option("--since", type=float, default=0.0, help="Only decisions after this Unix time.")
def export_log_cmd(db_path: str | None, out: Path, fmt: str | None, since: float) -> None:
    """Write the joined decision log to Parquet or CSV for training."""
    from collections import Counter

    from selector.export import export_log

    skipped: Counter[str] = Counter()
    n = export_log(existing_log(log_settings(db_path)), out, fmt, since, skipped)
    click.echo(f"wrote {n} decisions to {out}")
    if skipped:
        click.echo(f"left out {skipped['unreadable']:,} rows that could not be read", err=True)


@cli.command()
@db_option
@click.option(
    "--older-than-days",
    type=click.FloatRange(min=0, min_open=True),
    default=None,
    help="Prune decisions older than this [SELECTOR_RETENTION_DAYS, 90].",
)
@click.option(
    "--archive-dir",
    type=click.Path(path_type=Path),
    default=None,
    help="Archive folder [SELECTOR_ARCHIVE_DIR, the log's path + '.archive'].",
)
@click.option("--no-archive", is_flag=True, help="Delete without writing Parquet archives.")
def prune(
    db_path: str | None, older_than_days: float | None, archive_dir: Path | None, no_archive: bool
) -> None:
    """Remove old decisions (and their feedback) from the decision log, archiving them to
    Parquet first. The running service does the same every SELECTOR_PRUNE_EVERY_S."""
    from selector.engine import state_store
    from selector.retention import prune as run_prune

    settings = log_settings(db_path)
    decision_log = existing_log(settings)
    saved = state_store(settings).cursor()
    days = older_than_days if older_than_days is not None else settings.retention.days
    if not days:
        raise click.UsageError(
            "retention is off (SELECTOR_RETENTION_DAYS=0): pass --older-than-days"
        )
    window = settings.store.join_window_s
    if days * 86_400 <= window:
        raise click.BadParameter(
            f"{days:g} days is within the join window ({window:g} s): outcomes "
            "could still arrive for those decisions",
            param_hint="--older-than-days",
        )
    folder = None if no_archive else (archive_dir or settings.archive_folder())
    with Progress(None, "prune") as bar:
        result = run_prune(
            decision_log,
            days * 86_400,
            folder,
            learned_through=None if saved is None else decision_log.dialect.load(saved),
            progress=bar,
        )
    click.echo(result.summary())


@cli.command()
@db_option
@click.option(
    "--replay",
    is_flag=True,
    help="Rebuild the state from the whole log and compare it with the saved one.",
)
@click.option(
    "--out",
    type=click.Path(path_type=Path),
    default=None,
    help="With --replay: write the rebuilt state here (e.g. to replace a lost one).",
)
def bandit(db_path: str | None, replay: bool, out: Path | None) -> None:
    """Show the online layer's state: what it learned, from how much feedback."""
    from selector.engine import state_store
    from selector.online import StateFile
    from selector.wiring import new_learner, open_learner

    settings = log_settings(db_path)
    if settings.store.postgres_url is None and not settings.store.db_path.is_file():
        raise ConfigError(f"no decision log at {settings.store.db_path}: pass --db")
    source = existing_log(settings)
    learner, how = open_learner(settings, source)
    click.echo(f"saved state {state_store(settings).where}: {how}")
    learner.catch_up()
    if replay:
        fresh = new_learner(settings, source)
        fresh.catch_up()
        same = fresh.state() == learner.state()
        click.echo(
            "a replay of the log gives the same state" if same else "a replay of the log differs"
        )
        if out is not None:
            fresh.save(StateFile(out))
            click.echo(f"rebuilt state written to {out}")
        learner = fresh
    state = learner.state()
    click.echo(
        f"feedback read up to row {state['cursor']}; "
        + ", ".join(f"{k} {v:,}" for k, v in state["counts"].items())
    )
    if state["skipped"]:
        click.echo(
            f"skipped (not learned from; the last {len(state['skipped'])} of "
            f"{state['counts'].get('skipped', 0):,}):"
        )
        for rowid, decision_id, reason in state["skipped"]:
            click.echo(f"  feedback row {rowid} (decision {decision_id}): {reason}")
    table = getattr(learner.bandit, "table", None)
    if table is not None:
        click.echo("| key | discounted outcomes | mean residual (reward − utility) |")
        click.echo("|---|---|---|")
        for key, row in table().items():
            click.echo(f"| {key} | {row['outcomes']:,.1f} | {row['mean_residual']:+.4f} |")
    else:
        click.echo(json.dumps(state["bandit"]["params"]))


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
