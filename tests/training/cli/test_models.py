from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
from click.testing import CliRunner

from models import registry
from selector.cli import cli
from tests.generated_routing import as_table, generated


def test_evaluate_writes_metrics_for_a_users_table(tmp_path: Path) -> None:
    data = generated(300)
    table = data.outcomes.merge(data.requests[["request_id", "text", "intent"]], on="request_id")
    table = table.merge(data.models, on="model")
    path = tmp_path / "outcomes.parquet"
    table.to_parquet(path)
    out = tmp_path / "metrics.json"
    store = f"sqlite:///{tmp_path}/mlflow.db"
    result = CliRunner().invoke(
        cli,
        [
            *("evaluate", "--source", str(path), "--folds", "3", "--out", str(out)),
            *("--tracking-uri", store),
        ],
    )
    assert result.exit_code == 0, result.output
    metrics = json.loads(out.read_text())
    assert metrics["source"] == "table:outcomes.parquet"
    assert metrics["folds"] == 3
    assert metrics["summary"]["best_single_model"] == "strong"
    assert len(metrics["content_hash"]) == 64
    assert "quality model (λ sweep)" in result.output
    # two models: APGR and CPT beside the λ sweep, the dearer as the strong one
    assert metrics["summary"]["strong_model"] == "strong"
    assert metrics["summary"]["APGR"] > 0.6  # random's is 0.5
    assert "two models, strong the strong one (the dearer" in result.output
    c = registry.client(store)
    runs = c.search_runs([registry.experiment_id(c, store)])
    assert [r.data.tags["job"] for r in runs] == ["evaluate"]
    assert runs[0].data.metrics["cv_AIQ"] == metrics["summary"]["AIQ"]
    assert runs[0].data.tags["data.content_hash"] == metrics["content_hash"]


def test_evaluate_needs_two_folds() -> None:
    result = CliRunner().invoke(cli, ["evaluate", "--source", "routellm-mmlu", "--folds", "1"])
    assert result.exit_code != 0
    assert "--folds" in result.output


def test_a_table_with_only_the_required_columns_and_text_evaluates(tmp_path: Path) -> None:
    data = generated(240, seed=5)
    third = data.outcomes[data.outcomes["model"] == "cheap"].assign(model="middle")
    table = as_table(data, pd.concat([data.outcomes, third]))
    path = tmp_path / "plain.csv"
    table.to_csv(path, index=False)
    out = tmp_path / "metrics.json"
    result = CliRunner().invoke(
        cli,
        [
            *("evaluate", "--source", str(path), "--folds", "2", "--out", str(out)),
            *("--tracking-uri", f"sqlite:///{tmp_path}/mlflow.db"),
        ],
    )
    assert result.exit_code == 0, result.output
    summary = json.loads(out.read_text())["summary"]
    assert summary["AIQ"] is not None
    assert "APGR" not in summary  # three models


def test_a_table_of_catalog_models_with_lengths_but_no_prices_evaluates(tmp_path: Path) -> None:
    data = generated(200, seed=3)
    names = {"cheap": "gemini-2.5-flash-lite", "strong": "gpt-5"}  # both in the catalog
    table = data.outcomes.assign(model=data.outcomes["model"].map(names))
    table = table[["request_id", "model", "resolved", "completion_tokens"]]
    path = tmp_path / "lengths.csv"
    table.merge(data.requests[["request_id", "text"]], on="request_id").to_csv(path, index=False)
    out = tmp_path / "metrics.json"
    result = CliRunner().invoke(
        cli,
        ["evaluate", "--source", str(path), "--folds", "2", "--out", str(out), "--no-track"],
    )
    assert result.exit_code == 0, result.output
    summary = json.loads(out.read_text())["summary"]
    assert summary["best_single_cost_usd"] > 0  # priced from the catalog, not at 0
    assert summary["strong_model"] == "gpt-5"  # the dearer by the catalog's prices
    assert "APGR_naive" in summary


def test_the_strong_model_of_two_can_be_named(tmp_path: Path) -> None:
    data = generated(200, seed=2)
    table = data.outcomes.merge(data.requests[["request_id", "text"]], on="request_id")
    path = tmp_path / "two.parquet"
    table.merge(data.models, on="model").to_parquet(path)
    out = tmp_path / "metrics.json"
    result = CliRunner().invoke(
        cli,
        [
            *("evaluate", "--source", str(path), "--folds", "2", "--out", str(out)),
            *("--strong", "cheap", "--tracking-uri", f"sqlite:///{tmp_path}/mlflow.db"),
        ],
    )
    assert result.exit_code == 0, result.output
    assert json.loads(out.read_text())["summary"]["strong_model"] == "cheap"
    bad = CliRunner().invoke(
        cli, ["evaluate", "--source", str(path), "--folds", "2", "--strong", "nope"]
    )
    assert bad.exit_code != 0
    assert "--strong nope: not a model" in str(bad.exception)
    assert "cross-validation" not in bad.output  # refused before the work


def test_the_representation_can_be_chosen_on_the_command_line(tmp_path: Path) -> None:
    from models.quality.trainer import REPRESENTATION_MODES
    from training.cli.options import REPRESENTATIONS

    assert REPRESENTATIONS == REPRESENTATION_MODES
    path = tmp_path / "two.csv"
    as_table(generated(200, seed=4)).to_csv(path, index=False)
    out = tmp_path / "m.json"
    args = ["evaluate", "--source", str(path), "--folds", "2", "--out", str(out), "--no-track"]
    never = CliRunner().invoke(cli, [*args, "--representation", "never"])
    assert never.exit_code == 0, never.output
    bad = CliRunner().invoke(cli, [*args, "--representation", "sometimes"])
    assert bad.exit_code == 2
    assert "'sometimes' is not one of 'auto', 'always', 'never'" in bad.output
