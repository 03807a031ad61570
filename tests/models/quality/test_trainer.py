"""The quality model's trainer on generated data whose answer is known."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from models.quality import NotFittedError, QualityPredictor, QualityTrainer
from tests.generated_routing import generated
from training.baselines import PerModel
from training.data import RoutingData
from training.evaluate import cross_validate, evaluate


def test_it_learns_where_each_model_resolves() -> None:
    data = generated()
    model = QualityTrainer(inner_folds=3).fit(data.requests, data.outcomes, data.models)
    p = model.predict_proba(data.requests, data.models)
    easy = data.requests["text"].str.startswith("what").to_numpy()
    assert p.shape == (len(data.requests), 2)
    assert p[easy, 0].mean() > 0.8
    assert p[~easy, 0].mean() < 0.35
    assert p[~easy, 1].mean() > 0.7


def test_cross_validated_routing_beats_random() -> None:
    data = generated()
    p = cross_validate(data, lambda: QualityTrainer(inner_folds=3), folds=3)
    ev = evaluate(data, p, folds=3)
    by = {r["router"]: r for r in ev.rows}
    assert by["quality model (λ sweep)"]["cost at parity"] is not None
    assert by["quality model (λ sweep)"]["cost at parity"] < 0.8


def test_requests_without_text_still_get_predictions() -> None:
    data = generated(200)
    data.requests["text"] = ""
    model = QualityTrainer(inner_folds=2).fit(data.requests, data.outcomes, data.models)
    p = model.predict_proba(data.requests, data.models)
    assert np.isfinite(p).all()


def test_predicting_before_fitting_says_what_to_do() -> None:
    with pytest.raises(NotFittedError, match="call 'fit'"):
        QualityTrainer().predict_proba(generated(10).requests, generated(10).models)


def test_completion_lengths_are_learned_per_model_and_request(
    fitted: tuple[RoutingData, QualityTrainer],
) -> None:
    data, model = fitted
    _, _, lengths = model.predict_frames(data.requests, data.models)
    assert lengths is not None
    easy = data.requests["text"].str.startswith("what").to_numpy()
    assert lengths[:, 0].mean() == pytest.approx(40, rel=0.15)  # cheap: terse
    assert lengths[easy, 1].mean() == pytest.approx(60, rel=0.15)
    assert lengths[~easy, 1].mean() == pytest.approx(220, rel=0.15)
    # a model it never saw has no length: the catalog's estimate stays in use
    newcomer = pd.DataFrame(
        {"model": ["other"], "input_usd_per_mtok": [1.0], "output_usd_per_mtok": [1.0]}
    )
    _, _, unknown = model.predict_frames(data.requests, newcomer)
    assert unknown is not None
    assert np.isnan(unknown).all()


def test_without_lengths_in_the_data_there_is_no_length_model() -> None:
    data = generated(200, seed=2)
    outcomes = data.outcomes.drop(columns="completion_tokens")
    model = QualityTrainer(inner_folds=2).fit(data.requests, outcomes, data.models)
    assert model.predictor_.completion is None
    assert model.predict_frames(data.requests, data.models)[2] is None


def test_a_model_it_never_saw_is_scored_by_its_prices(
    fitted: tuple[RoutingData, QualityTrainer],
) -> None:
    data, model = fitted
    newcomers = pd.DataFrame(
        {
            "model": ["cheap-2", "strong-2"],
            "input_usd_per_mtok": [0.1, 3.0],
            "output_usd_per_mtok": [0.4, 15.0],
        }
    )
    p = model.predict_proba(data.requests, newcomers)
    hard = ~data.requests["text"].str.startswith("what").to_numpy()
    assert np.isfinite(p).all()
    # the dear newcomer is trusted more on hard requests than the cheap one
    assert p[hard, 1].mean() > p[hard, 0].mean()


def test_calibration_modes(fitted: tuple[RoutingData, QualityTrainer]) -> None:
    data, _ = fitted
    fit = data.requests, data.outcomes, data.models
    none = QualityTrainer(inner_folds=2, calibrate="none").fit(*fit)
    assert none.calibration_ is None
    platt = QualityTrainer(inner_folds=2, calibrate="platt").fit(*fit)
    assert platt.calibration_ is not None
    raw = platt.predict_proba(data.requests, data.models, calibrated=False)
    np.testing.assert_allclose(raw, none.predict_proba(data.requests, data.models))
    assert not np.allclose(raw, platt.predict_proba(data.requests, data.models))
    auto = QualityTrainer(inner_folds=2).fit(*fit)
    assert isinstance(auto.calibration_check_, float)
    assert (auto.calibration_ is not None) == (auto.calibration_check_ > 0)
    with pytest.raises(ValueError, match="calibrate must be one of"):
        QualityTrainer(calibrate="isotonic")


def test_one_model_per_candidate_is_available_for_comparison() -> None:
    data = generated(300, seed=2)
    oof = cross_validate(data, lambda: PerModel(lambda: QualityTrainer(inner_folds=2)), folds=2)
    easy = data.requests["text"].str.startswith("what").to_numpy()
    assert oof.p.shape == (300, 2)
    assert oof.p[~easy, 0].mean() < 0.4 < oof.p[~easy, 1].mean()


def test_outcome_weights_are_honoured() -> None:
    """Logged decisions are importance-weighted: a weight counts as that many copies."""
    n = 400
    requests = pd.DataFrame(
        {
            "request_id": [f"r{i}" for i in range(n)],
            "text": [f"where is my parcel number {i % 7}" for i in range(n)],
            "intent": "",
            "turns": 1,
            "prompt_tokens": 20,
            "eval": True,
        }
    )
    resolved = (np.arange(n) % 2).astype(float)
    outcomes = pd.DataFrame(
        {"request_id": requests["request_id"], "model": "only", "resolved": resolved}
    )
    models = pd.DataFrame(
        {"model": ["only"], "input_usd_per_mtok": [1.0], "output_usd_per_mtok": [2.0]}
    )

    def mean_p(out: pd.DataFrame) -> float:
        m = QualityTrainer(inner_folds=2, calibrate="none").fit(requests, out, models)
        return float(m.predict_proba(requests, models).mean())

    assert mean_p(outcomes) == pytest.approx(0.5, abs=0.05)
    weighted = outcomes.assign(weight=np.where(resolved > 0, 3.0, 1.0))
    assert mean_p(weighted) == pytest.approx(0.75, abs=0.05)


def test_the_trainer_keeps_scikit_learns_parameter_contract() -> None:
    from sklearn.base import clone

    model = QualityTrainer(text_c=0.5, lgb_params={"num_leaves": 5}, calibrate="platt", seed=3)
    copy = clone(model)
    assert copy is not model
    assert copy.get_params() == model.get_params()
    assert copy.get_params(deep=False)["lgb_params"] == {"num_leaves": 5}
    assert model.set_params(seed=4, early_stopping=10) is model
    assert (model.seed, model.early_stopping, model.text_c) == (4, 10, 0.5)
    with pytest.raises(ValueError, match="not parameters of QualityTrainer: \\['seeds'\\]"):
        model.set_params(seeds=1)
    with pytest.raises(ValueError, match="calibrate must be one of"):
        model.set_params(calibrate="isotonic")
    # what a training run logs: LightGBM's parameters resolved and flattened
    logged = model.logged_params()
    assert logged["lgb_num_leaves"] == 5
    assert logged["seed"] == 4
    assert "lgb_params" not in logged


def test_held_out_loss_chooses_the_difficulty_apart_from_the_scorers(tmp_path: Path) -> None:
    """Three inputs are probed (everything, without the difficulty, without anything
    of the representation); whichever is kept, serving computes only what it reads."""
    data = generated(300, seed=5)
    model = QualityTrainer(inner_folds=2, use_embeddings="auto")
    messages: list[str] = []
    model.fit(data.requests, data.outcomes, data.models, progress=messages.append)
    assert any("(inputs 3 of 3)" in m for m in messages)
    always = QualityTrainer(inner_folds=2, use_embeddings="always")
    messages.clear()
    always.fit(data.requests, data.outcomes, data.models, progress=messages.append)
    assert any("(inputs 2 of 2)" in m for m in messages)
    assert always.predictor_.embedded is not None  # the scorers are kept, always
    none = QualityTrainer(inner_folds=2, use_embeddings="always", difficulty="none")
    none.fit(data.requests, data.outcomes, data.models)
    assert none.predictor_.embedded is not None
    assert none.predictor_.embedded.difficulty is None
    with pytest.raises(ValueError, match="difficulty must be a Difficulty or one of"):
        QualityTrainer(difficulty="guess")
    for fitted in (model, always, none):  # as saved, so served
        loaded = QualityPredictor.load(fitted.save(tmp_path / str(id(fitted))))
        served = loaded.predict_frames(data.requests, data.models)[0]
        assert served == pytest.approx(fitted.predict_frames(data.requests, data.models)[0])
        column = fitted.predictor_.embedded
        assert (loaded.embedded is None) == (column is None)
        if column is not None:
            assert (loaded.embedded.difficulty is None) == (column.difficulty is None)
