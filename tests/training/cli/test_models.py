from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from models import registry
from selector.cli import cli
from tests.generated_routing import generated


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
    c = registry.client(store)
    runs = c.search_runs([registry.experiment_id(c, store)])
    assert [r.data.tags["job"] for r in runs] == ["evaluate"]
    assert runs[0].data.metrics["cv_AIQ"] == metrics["summary"]["AIQ"]
    assert runs[0].data.tags["data.content_hash"] == metrics["content_hash"]


def test_evaluate_needs_two_folds() -> None:
    result = CliRunner().invoke(cli, ["evaluate", "--source", "routellm-mmlu", "--folds", "1"])
    assert result.exit_code != 0
    assert "--folds" in result.output
