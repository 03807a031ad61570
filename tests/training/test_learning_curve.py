"""Learning curves: each share trains on fewer whole groups and is judged on the same
test requests, for the quality model and both baselines."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from models.quality import QualityTrainer
from selector.cli import cli
from tests.generated_routing import as_table, generated
from training.baselines import BASELINES
from training.data import RoutingData
from training.evaluate import cross_validate
from training.learning_curve import learning_curve, plot_learning_curve


def _grouped(n: int = 400) -> RoutingData:
    data = generated(n, seed=2)
    requests = data.requests.assign(group=[f"g{i // 4}" for i in range(n)])  # 4 a group
    return RoutingData(requests, data.outcomes, data.models, "grouped", "x")


def test_a_share_trains_on_whole_groups_and_predicts_every_test_request() -> None:
    data = _grouped()
    seen: list[pd.DataFrame] = []

    class Spy(QualityTrainer):
        def fit(self, requests: pd.DataFrame, *rest: object) -> Spy:  # type: ignore[override]
            seen.append(requests)
            return super().fit(requests, *rest)  # type: ignore[arg-type]

    oof = cross_validate(data, lambda: Spy(inner_folds=2), folds=2, train_share=0.25)
    for requests in seen:
        assert requests.groupby("group").size().eq(4).all()  # whole groups only
    assert oof.trained == [len(r) for r in seen]
    assert all(48 <= n <= 52 for n in oof.trained)  # a quarter of 50 groups of 4, each fold
    assert np.isfinite(oof.p).all()  # every request predicted, trained on or not
    with pytest.raises(ValueError, match="train_share"):
        cross_validate(data, QualityTrainer, folds=2, train_share=0.0)


def test_the_curve_has_a_row_per_share_for_every_router(tmp_path: Path) -> None:
    data = _grouped()
    curve = learning_curve(data, lambda: QualityTrainer(inner_folds=2), 2, shares=(0.25, 1.0))
    assert curve.metric == "AIQ"  # a user's table of two models is swept over λ too
    small, full = curve.rows
    assert small["training_requests"] < full["training_requests"] == 200
    for row in curve.rows:
        for key in ("quality model", *BASELINES):
            assert 0.0 < row[key] < 1.5
        assert 0.0 <= row["ece"] <= 1.0
    assert full["quality model"] > 0.6  # the generated requests are easy to route
    assert f"| 25% | {small['training_requests']:.0f} |" in curve.table()
    assert plot_learning_curve(curve, tmp_path / "curve.png").stat().st_size > 1_000


def test_evaluate_draws_the_learning_curve_and_the_reliability_plot(tmp_path: Path) -> None:
    table = as_table(generated(240, seed=5))
    path = tmp_path / "two.csv"
    table.to_csv(path, index=False)
    out = tmp_path / "metrics.json"
    result = CliRunner().invoke(
        cli,
        [
            *("evaluate", "--source", str(path), "--folds", "2", "--out", str(out)),
            *("--no-track", "--learning-curve"),
        ],
    )
    assert result.exit_code == 0, result.output
    assert "learning curve, " in result.output
    rows = json.loads(out.read_text())["learning_curve"]["rows"]
    assert [r["share"] for r in rows] == [0.1, 0.25, 0.5, 1.0]
    assert (tmp_path / "metrics-learning-curve.png").is_file()
    ece = json.loads(out.read_text())["calibration"]["calibrated"]["ece"]
    assert "expected calibration error" in result.output
    assert f"{ece:.4f} served" in result.output
    assert (tmp_path / "metrics-plots" / "calibration.png").is_file()
