"""Across sources: trained on all of one table, judged on every request of another,
among the models both share."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from core.errors import ConfigError
from models.quality import QualityTrainer
from selector.cli import cli
from tests.generated_routing import as_table, generated
from training.cross_source import across_sources, shared_models
from training.data import RoutingData
from training.evaluate import evaluate


def _with_third(data: RoutingData, name: str) -> RoutingData:
    """``data`` with one more model, resolving half the requests."""
    third = data.outcomes[data.outcomes["model"] == "cheap"].copy()
    third["model"] = name
    third["resolved"] = (np.arange(len(third)) % 2).astype(float)
    models = pd.concat(
        [
            data.models,
            pd.DataFrame(
                {"model": [name], "input_usd_per_mtok": [1.0], "output_usd_per_mtok": [2.0]}
            ),
        ],
        ignore_index=True,
    )
    return RoutingData(
        data.requests,
        pd.concat([data.outcomes, third], ignore_index=True),
        models,
        data.source,
        data.content_hash,
    )


def test_judged_among_the_models_both_tables_share() -> None:
    train = _with_third(generated(300, seed=0), "only-in-training")
    test = _with_third(generated(200, seed=1), "only-judged")
    test.source = "other"
    judged, oof = across_sources(train, test, lambda: QualityTrainer(inner_folds=2), seed=0)
    assert list(judged.models["model"]) == ["cheap", "strong"]
    assert set(judged.outcomes["model"]) == {"cheap", "strong"}
    assert oof.p.shape == (200, 2)
    assert set(oof.baselines) == {"naive", "knn"}
    ev = evaluate(judged, oof, 0, 0)
    # the same kinds of request: what was learned carries over, ahead of random (0.5)
    assert ev.summary["APGR"] > 0.6
    assert ev.summary["APGR_naive"] > 0.6


def test_tables_sharing_fewer_than_two_models_are_refused() -> None:
    train, test = generated(100, seed=0), generated(100, seed=1)
    test.models = test.models.assign(model=["cheap", "another"])
    test.outcomes = test.outcomes.replace({"model": {"strong": "another"}})
    with pytest.raises(ConfigError, match=r"share 1 model\(s\) \(\['cheap'\]\)"):
        shared_models(train, test)


def test_evaluate_trains_on_one_source_and_judges_another(tmp_path: Path) -> None:
    first, second = tmp_path / "first.csv", tmp_path / "second.csv"
    as_table(generated(300, seed=2)).to_csv(first, index=False)
    as_table(generated(200, seed=3)).to_csv(second, index=False)
    out = tmp_path / "across.json"
    args = ["evaluate", "--source", str(second), "--train-source", str(first), "--no-track"]
    result = CliRunner().invoke(cli, [*args, "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "trained on all 300 requests of table:first.csv" in result.output
    assert "none of this table's texts among them" in result.output
    body = json.loads(out.read_text())
    assert body["trained_on"] == str(first)
    assert body["folds"] == 0
    assert body["n_requests"] == 200
    both = CliRunner().invoke(cli, [*args, "--learning-curve"])
    assert both.exit_code == 2
    assert "leave out --train-source" in both.output
