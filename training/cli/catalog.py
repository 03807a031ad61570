"""``selector catalog init`` and ``selector catalog check``: a catalog written from an
outcome table, and a catalog file validated as the service would load it."""

from __future__ import annotations

from pathlib import Path

import click

__all__ = ["catalog"]


@click.group()
def catalog() -> None:
    """Write a catalog from your outcome table, or check one."""


@catalog.command("init")
@click.option(
    "--from",
    "source",
    required=True,
    help="An outcome table (.csv/.parquet) or a decision log: its models become the entries.",
)
@click.option(
    "--out",
    type=click.Path(path_type=Path),
    default=Path("catalog.yaml"),
    show_default=True,
    help="Where to write it (an existing file is kept unless --force).",
)
@click.option("--force", is_flag=True, help="Replace --out if it exists.")
def init(source: str, out: Path, force: bool) -> None:
    """Write a catalog of the table's models: prices, latencies and completion lengths
    from the table; tiers, providers and whatever the table lacks guessed, each guess
    commented '# guessed'."""
    from selector.catalog import load_catalog
    from selector.config import load_settings
    from training.catalog_init import catalog_yaml
    from training.data import load_source

    if out.exists() and not force:
        raise click.BadParameter(f"{out} exists: pass --force to replace it", param_hint="--out")
    data = load_source(source)
    text = catalog_yaml(data, load_settings().decision.default_completion_tokens)
    out.write_text(text, encoding="utf-8")
    checked = load_catalog(out)  # what the service will load, or the reason it will not
    guesses = [line.split(":", 1)[0].strip() for line in text.splitlines() if "# guessed" in line]
    by_field = ", ".join(f"{f} ×{guesses.count(f)}" for f in dict.fromkeys(guesses))
    click.echo(
        f"wrote {out}: {len(checked)} models from {data.source}; {len(guesses)} fields "
        f"guessed ({by_field}), each marked '# guessed': check them, then serve it with "
        f"SELECTOR_CATALOG_PATH={out.resolve()}"
    )
    if "expected_completion_tokens" in guesses:
        click.echo(
            "note: the table has no completion_tokens, so every model's cost rests on the "
            "guessed expected_completion_tokens: set each model's typical answer length",
            err=True,
        )


@catalog.command("check")
@click.argument("path", type=click.Path(path_type=Path), required=False)
def check(path: Path | None) -> None:
    """Validate a catalog file (default: SELECTOR_CATALOG_PATH, else the built-in one)."""
    from selector.catalog import load_catalog
    from selector.config import load_settings

    path = path or load_settings().models.catalog_path
    cat = load_catalog(path)
    click.echo(
        f"{path}: valid, {len(cat)} models ({len(cat.enabled_names)} enabled): "
        + ", ".join(cat.names)
    )
