"""The naive baseline (TF-IDF + a logistic regression per model) learns what the text
says and nothing else, and every evaluation reports it on the same folds."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from models.quality import QualityTrainer
from tests.generated_routing import generated
from training.baselines import KNN, NAIVE, NaiveText
from training.data import RoutingData
from training.evaluate import cross_validate, evaluate


def test_the_naive_model_learns_each_models_strengths_from_the_text() -> None:
    data = generated(400)
    fitted = NaiveText().fit(data.requests, data.outcomes, data.models)
    p, _, lengths = fitted.predict_frames(data.requests, data.models)
    hard = data.requests["text"].str.startswith("dispute").to_numpy()
    cheap, strong = p[:, 0], p[:, 1]
    assert cheap[~hard].mean() > 0.8 > 0.4 > cheap[hard].mean()
    assert strong[hard].mean() > cheap[hard].mean() + 0.4
    assert lengths is None


def test_graded_outcomes_and_degenerate_ones_are_fitted() -> None:
    requests = pd.DataFrame(
        {"request_id": ["a", "b", "c", "d"], "text": ["card lost", "card", "refund", ""]}
    )
    outcomes = pd.DataFrame(
        {
            "request_id": ["a", "b", "c", "d", "a", "b"],
            "model": ["m1"] * 4 + ["m2"] * 2,
            "resolved": [1.0, 0.75, 0.0, 0.25, 1.0, 1.0],
        }
    )
    models = pd.DataFrame({"model": ["m1", "m2", "m3"]})
    p, _, _ = NaiveText().fit(requests, outcomes, models).predict_frames(requests, models)
    assert (p[:, 0] > 0).all()
    assert (p[:, 0] < 1).all()
    assert p[0, 0] > p[2, 0]  # "card lost" resolved, "refund" did not
    assert (p[:, 1] == 1.0).all()  # resolved every time: its mean
    assert p[:, 2] == pytest.approx(np.full(4, outcomes["resolved"].mean()))  # no outcomes
    blank = requests.assign(text="")
    p, _, _ = NaiveText().fit(blank, outcomes, models).predict_frames(blank, models)
    assert p[0, 0] == pytest.approx(0.5)  # no words: the model's mean


def without_text_signal(seed: int = 0) -> RoutingData:
    """The generated data with every text made the same: what separates the requests is
    only in the intent the quality model reads."""
    data = generated(600, seed)
    hard = data.requests["text"].str.startswith("dispute")
    requests = data.requests.assign(text="hello, a question", intent=np.where(hard, "hard", "easy"))
    return RoutingData(requests, data.outcomes, data.models, "no-text", "x")


@pytest.mark.parametrize(
    ("make", "naive_beats_random"), [(generated, True), (without_text_signal, False)]
)
def test_every_evaluation_reports_both_baselines_on_the_same_folds(
    make: object, naive_beats_random: bool
) -> None:
    data = make()  # type: ignore[operator]
    oof = cross_validate(data, lambda: QualityTrainer(inner_folds=2), folds=3, baselines=True)
    ev = evaluate(data, oof, folds=3)
    routers = [r["router"] for r in ev.rows]
    assert routers[:3] == [
        "quality model (λ sweep)",
        f"{NAIVE} (λ sweep)",
        f"{KNN} (λ sweep)",
    ]
    naive, knn, quality = ev.summary["APGR_naive"], ev.summary["APGR_knn"], ev.summary["APGR"]
    assert (naive > 0.6) is naive_beats_random  # random routing's APGR is 0.5
    assert (knn > 0.6) is naive_beats_random  # the neighbours read the same text
    assert quality > 0.6  # the quality model also reads the intent


def test_many_models_get_both_baselines_lambda_sweeps() -> None:
    data = generated(300)
    third = data.outcomes[data.outcomes["model"] == "cheap"].assign(model="mid")
    models = pd.concat(
        [
            data.models,
            pd.DataFrame({"model": ["mid"], "input_usd_per_mtok": [1], "output_usd_per_mtok": [4]}),
        ],
        ignore_index=True,
    )
    data = RoutingData(data.requests, pd.concat([data.outcomes, third]), models, "three", "x")
    oof = cross_validate(data, lambda: QualityTrainer(inner_folds=2), folds=2, baselines=True)
    ev = evaluate(data, oof, folds=2)
    assert ev.rows[1]["router"] == f"{NAIVE} (λ sweep)"
    assert ev.rows[2]["router"] == f"{KNN} (λ sweep)"
    assert ev.summary["AIQ_naive"] == ev.rows[1]["AIQ"]
    assert ev.summary["AIQ_knn"] == ev.rows[2]["AIQ"]
    assert 0 < ev.summary["AIQ_naive"] <= 1
    assert 0 < ev.summary["AIQ_knn"] <= 1


def test_routellms_pair_reports_apgr_rows_and_every_routers_aiq() -> None:
    from training.data import STRONG, WEAK

    data = generated(300)
    names = {"cheap": WEAK, "strong": STRONG}
    models = data.models.assign(model=data.models["model"].map(names))
    outcomes = data.outcomes.assign(model=data.outcomes["model"].map(names))
    pair = RoutingData(data.requests, outcomes, models, "routellm-like", "x")
    oof = cross_validate(pair, lambda: QualityTrainer(inner_folds=2), folds=2, baselines=True)
    ev = evaluate(pair, oof, folds=2)
    assert "APGR" in ev.rows[0]  # RouteLLM's own table stays in APGR and CPT
    for key in ("AIQ", "AIQ_naive", "AIQ_knn"):
        assert 0 < ev.summary[key] <= 1
    assert ev.summary["AIQ"] != ev.summary["AIQ_knn"]
