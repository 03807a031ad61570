"""``selector catalog init`` and ``check``: a catalog from a user's table that the
service loads and serves."""

from __future__ import annotations

import asyncio
from pathlib import Path

import numpy as np
import pandas as pd
from click.testing import CliRunner

from features.extractor import Conversation
from selector.catalog import load_catalog
from selector.cli import cli
from selector.config import load_settings
from selector.decisions import RouteInput
from selector.wiring import build_service

MODELS = {  # name: (input price, output price, median latency, mean completion)
    "gpt-4o-mini": (0.15, 0.6, 400.0, 120.0),
    "claude-3-5-sonnet": (3.0, 15.0, 900.0, 300.0),
    "house/llama-3-70b": (0.9, 0.9, 700.0, 200.0),
    "in-house-tuned": (0.000012, 0.00005, 250.0, 80.0),
}


def table(tmp_path: Path, with_figures: bool = True) -> Path:
    rng = np.random.default_rng(0)
    rows = []
    for i in range(200):
        for name, (p_in, p_out, latency, tokens) in MODELS.items():
            row = {
                "request_id": f"r{i}",
                "model": name,
                "resolved": int(rng.random() < 0.8),
                "text": f"where is my card {i}",
                "input_usd_per_mtok": p_in,
                "output_usd_per_mtok": p_out,
            }
            if with_figures:
                row["latency_ms"] = latency * float(np.exp(rng.normal(0, 0.3)))
                row["completion_tokens"] = float(rng.poisson(tokens))
            rows.append(row)
    path = tmp_path / "outcomes.csv"
    pd.DataFrame(rows).to_csv(path, index=False)
    return path


def test_init_writes_a_catalog_from_the_table_that_the_service_serves(tmp_path: Path) -> None:
    out = tmp_path / "catalog.yaml"
    result = CliRunner().invoke(
        cli, ["catalog", "init", "--from", str(table(tmp_path)), "--out", str(out)]
    )
    assert result.exit_code == 0, result.output
    cat = load_catalog(out)
    assert set(cat.names) == set(MODELS)
    for name, (p_in, p_out, latency, tokens) in MODELS.items():
        spec = cat[name]
        assert (spec.input_usd_per_mtok, spec.output_usd_per_mtok) == (p_in, p_out)
        assert abs(spec.expected_latency_ms - latency) < 0.1 * latency
        assert spec.latency_slo_ms > spec.expected_latency_ms
        assert abs((spec.expected_completion_tokens or 0) - tokens) < 0.1 * tokens
    assert [cat[m].tier for m in ("in-house-tuned", "gpt-4o-mini", "claude-3-5-sonnet")] == [
        "small",
        "small",
        "large",
    ]
    assert cat["gpt-4o-mini"].provider == "openai"
    assert cat["claude-3-5-sonnet"].provider == "anthropic"
    assert cat["house/llama-3-70b"].provider == "meta"
    assert cat["in-house-tuned"].provider == "unknown"
    text = out.read_text()
    # per model: its context window, tier and provider (from the name, or none)
    assert text.count("# guessed") == 3 * len(MODELS)
    assert text.count("# guessed from the name") == len(MODELS) - 1
    settings = load_settings(
        catalog_path=out, db_path=tmp_path / "selector.db", quality_model="prior"
    )
    service = build_service(settings)
    service.start()
    try:
        res = asyncio.run(
            service.route(RouteInput("c1", Conversation(messages=[("user", "where is my card")])))
        )
        assert res.decision.model in MODELS
    finally:
        service.stop()


def test_without_latencies_and_lengths_the_guesses_are_marked(tmp_path: Path) -> None:
    out = tmp_path / "catalog.yaml"
    source = table(tmp_path, with_figures=False)
    result = CliRunner().invoke(cli, ["catalog", "init", "--from", str(source), "--out", str(out)])
    assert result.exit_code == 0, result.output
    text = out.read_text()
    assert text.count("# guessed: no latency_ms in the table") == 2 * len(MODELS)
    assert text.count("# guessed: no completion_tokens in the table") == len(MODELS)
    assert all(load_catalog(out)[m].expected_completion_tokens == 350 for m in MODELS)
    assert "expected_completion_tokens ×4" in result.output
    assert "no completion_tokens" in result.output
    again = CliRunner().invoke(cli, ["catalog", "init", "--from", str(source), "--out", str(out)])
    assert again.exit_code != 0
    assert "--force" in again.output


def test_models_of_one_price_share_a_tier(tmp_path: Path) -> None:
    rows = [
        {"request_id": f"r{i}", "model": m, "resolved": 1, "input_usd_per_mtok": p,
         "output_usd_per_mtok": p}
        for i in range(20)
        for m, p in (("a", 1.0), ("b", 10.0), ("c", 10.0), ("d", 10.0))
    ]  # fmt: skip
    source = tmp_path / "t.csv"
    pd.DataFrame(rows).to_csv(source, index=False)
    out = tmp_path / "catalog.yaml"
    result = CliRunner().invoke(cli, ["catalog", "init", "--from", str(source), "--out", str(out)])
    assert result.exit_code == 0, result.output
    cat = load_catalog(out)
    assert [cat[m].tier for m in "abcd"] == ["small", "large", "large", "large"]


def test_check_validates_a_catalog_and_names_what_is_wrong(tmp_path: Path) -> None:
    out = tmp_path / "catalog.yaml"
    CliRunner().invoke(cli, ["catalog", "init", "--from", str(table(tmp_path)), "--out", str(out)])
    ok = CliRunner().invoke(cli, ["catalog", "check", str(out)])
    assert ok.exit_code == 0, ok.output
    assert "valid, 4 models" in ok.output
    out.write_text(out.read_text().replace("tier: large", "tier: huge", 1))
    bad = CliRunner().invoke(cli, ["catalog", "check", str(out)])
    assert bad.exit_code != 0
    assert "tier" in str(bad.exception)


def test_a_cached_price_in_the_table_goes_to_the_catalog(tmp_path: Path) -> None:
    path = table(tmp_path)
    df = pd.read_csv(path)
    cached = {"gpt-4o-mini": 0.075, "claude-3-5-sonnet": 0.3}  # the others cache nothing
    df["cached_input_price_per_mtok"] = df["model"].map(cached)
    df.to_csv(path, index=False)
    out = tmp_path / "catalog.yaml"
    result = CliRunner().invoke(cli, ["catalog", "init", "--from", str(path), "--out", str(out)])
    assert result.exit_code == 0, result.output
    cat = load_catalog(out)
    assert {m.name: m.cached_input_usd_per_mtok for m in cat} == {
        "gpt-4o-mini": 0.075,
        "claude-3-5-sonnet": 0.3,
        "house/llama-3-70b": None,
        "in-house-tuned": None,
    }

    df.loc[df["model"] == "gpt-4o-mini", "cached_input_price_per_mtok"] = 1.0
    df.to_csv(path, index=False)
    args = ["catalog", "init", "--from", str(path), "--out", str(out), "--force"]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code != 0
    assert "cached_input_usd_per_mtok above input_usd_per_mtok for model(s) ['gpt-4o-mini']" in (
        str(result.exception)
    )
