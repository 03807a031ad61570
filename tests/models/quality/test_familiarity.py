"""Requests unlike the training ones are scored nearer each model's training success
rate: the rule, and a trained model serving it alike in a batch and one decision."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from features.text import TEXT_FEATURES
from models.quality import QualityPredictor, QualityTrainer
from models.quality.familiarity import (
    OUTSIDE_FOR_FALLBACK,
    TOLERATED,
    Familiarity,
    fit_familiarity,
)
from tests.models.quality.test_predictor import features_of
from training.data import RoutingData

CODE = (
    "def f(xs):\n    total = 0\n    for i, x in enumerate(xs):\n        if x % 3 == 0 and "
    "i > 2:\n            total += x * i ** 2 - 7\n    return total\n"
) * 12 + "assert f([3, 6, 9, 12, 15, 18, 21, 24, 27, 30]) == ??"


def _familiar(rates: list[float]) -> Familiarity:
    n = len(TEXT_FEATURES)
    return Familiarity(np.zeros(n), np.ones(n), np.array(rates))


def test_trust_falls_with_each_count_outside_the_range() -> None:
    fam = _familiar([0.5])
    shape = np.full((OUTSIDE_FOR_FALLBACK + 2, len(TEXT_FEATURES)), 0.5)
    for k in range(len(shape)):
        shape[k, :k] = 7.0  # k counts beyond the training's largest
    trust = fam.trust(shape)
    assert trust[: TOLERATED + 1].tolist() == [1.0] * (TOLERATED + 1)  # one is tolerated
    assert np.all(np.diff(trust[TOLERATED : OUTSIDE_FOR_FALLBACK + 1]) < 0)
    assert trust[OUTSIDE_FOR_FALLBACK] == 0.0
    assert trust[-1] == 0.0


def test_blend_keeps_familiar_requests_and_unknown_models() -> None:
    fam = _familiar([0.9, 0.2])
    p = np.array([[0.3, 0.8], [0.3, 0.8], [0.3, 0.8]])
    codes = np.array([0, 1, -1])  # the third candidate is a model training never saw
    out = fam.blend(np.hstack([p, p[:, :1]]), codes, np.array([1.0, 0.0, 0.5]))
    assert out[0].tolist() == [0.3, 0.8, 0.3]  # trusted: unchanged
    assert out[1, :2] == pytest.approx([0.9, 0.2])  # not at all: the rates
    assert 0.3 < out[2, 0] < 0.9
    assert 0.2 < out[2, 1] < 0.8
    assert out[:, 2].tolist() == [0.3, 0.3, 0.3]  # no rate: kept


def test_rates_are_weighted_and_skip_unknown_outcomes() -> None:
    y = np.array([[1.0, np.nan], [0.0, 1.0], [1.0, 0.0]])
    w = np.array([[1.0, 1.0], [3.0, 1.0], [1.0, 1.0]])
    fam = fit_familiarity(np.zeros((3, len(TEXT_FEATURES))), y, w)
    assert fam.rates == pytest.approx([2 / 5, 1 / 2])


def test_a_request_unlike_any_trained_on_gets_the_training_rates(
    fitted: tuple[RoutingData, QualityTrainer], tmp_path: Path
) -> None:
    data, model = fitted
    request = pd.DataFrame(
        {"request_id": ["odd"], "text": [CODE], "intent": [""], "turns": [1], "prompt_tokens": 30}
    )
    served, raw, _ = model.predict_frames(request, data.models)
    rates = data.outcomes.groupby("model")["resolved"].mean()[list(data.models["model"])]
    assert served[0] == pytest.approx(rates.to_numpy(), abs=1e-6)
    assert raw[0] == pytest.approx(rates.to_numpy(), abs=1e-6)
    # one decision, as the service asks, and the saved model, say the same
    loaded = QualityPredictor.load(model.save(tmp_path / "m"))
    fv = features_of(data, request, list(data.models["model"]))
    assert loaded.predict(fv) == pytest.approx(served[0].tolist(), abs=1e-9)
    # a request like the training ones is not moved
    usual = data.requests.iloc[:1].reset_index(drop=True)
    blind = QualityPredictor.load(tmp_path / "m")
    blind.familiarity = None
    assert loaded.predict_frames(usual, data.models)[0] == pytest.approx(
        blind.predict_frames(usual, data.models)[0]
    )
