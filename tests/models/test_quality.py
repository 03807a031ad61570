"""The quality model on generated data whose answer is known."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from models.quality import NotFittedError, QualityModel
from training.data import RoutingData
from training.evaluate import cross_validate, evaluate

TOPICS = {
    "easy": "what time do you open today",
    "hard": "dispute the duplicate charge of 42 dollars on my statement from march",
}


def generated(n: int = 600, seed: int = 0) -> RoutingData:
    """'cheap' resolves easy requests; only 'strong' resolves most hard ones."""
    rng = np.random.default_rng(seed)
    kind = rng.choice(["easy", "hard"], n)
    requests = pd.DataFrame(
        {
            "request_id": [f"r{i}" for i in range(n)],
            "text": [TOPICS[k] + f" ref {rng.integers(1000)}" for k in kind],
            "intent": np.where(rng.random(n) < 0.5, kind, ""),
            "turns": 1,
            "prompt_tokens": 30,
            "eval": True,
        }
    )
    p_cheap = np.where(kind == "easy", 0.97, 0.2)
    p_strong = np.where(kind == "easy", 0.95, 0.85)
    rows = []
    for model, p, cost in (("cheap", p_cheap, 0.001), ("strong", p_strong, 0.02)):
        rows.append(
            pd.DataFrame(
                {
                    "request_id": requests["request_id"],
                    "model": model,
                    "resolved": (rng.random(n) < p).astype(float),
                    "cost_usd": cost,
                    "completion_tokens": 100.0,
                }
            )
        )
    models = pd.DataFrame(
        {
            "model": ["cheap", "strong"],
            "input_usd_per_mtok": [0.1, 3.0],
            "output_usd_per_mtok": [0.4, 15.0],
        }
    )
    return RoutingData(requests, pd.concat(rows, ignore_index=True), models, "generated", "x")


def test_it_learns_where_each_model_resolves() -> None:
    data = generated()
    model = QualityModel(inner_folds=3).fit(data.requests, data.outcomes, data.models)
    p = model.predict_proba(data.requests, data.models)
    easy = data.requests["text"].str.startswith("what").to_numpy()
    assert p.shape == (len(data.requests), 2)
    assert p[easy, 0].mean() > 0.8
    assert p[~easy, 0].mean() < 0.35
    assert p[~easy, 1].mean() > 0.7


def test_cross_validated_routing_beats_random() -> None:
    data = generated()
    p = cross_validate(data, lambda: QualityModel(inner_folds=3), folds=3)
    ev = evaluate(data, p, folds=3)
    by = {r["router"]: r for r in ev.rows}
    assert by["quality model (λ sweep)"]["cost vs best single"] is not None
    assert by["quality model (λ sweep)"]["cost vs best single"] < 0.8


def test_requests_without_text_still_get_predictions() -> None:
    data = generated(200)
    data.requests["text"] = ""
    model = QualityModel(inner_folds=2).fit(data.requests, data.outcomes, data.models)
    p = model.predict_proba(data.requests, data.models)
    assert np.isfinite(p).all()


def test_predicting_before_fitting_says_what_to_do() -> None:
    with pytest.raises(NotFittedError, match="Call 'fit'"):
        QualityModel().predict_proba(generated(10).requests, generated(10).models)
