"""The quality model on generated data whose answer is known."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from core.errors import ArtifactError
from features.extractor import C, FeatureVector, R
from features.schema import SCHEMA_VERSION
from models.quality import (
    NotFittedError,
    QualityModel,
    QualityPredictor,
    brier_score,
    calibration_error,
)
from selector.policy.base import DecisionContext
from training.data import RoutingData
from training.evaluate import PerModel, cross_validate, evaluate

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
    # 'strong' writes long answers to hard requests; 'cheap' is terse throughout
    length_cheap = np.full(n, 40.0)
    length_strong = np.where(kind == "easy", 60.0, 220.0)
    rows = []
    for model, p, cost, length in (
        ("cheap", p_cheap, 0.001, length_cheap),
        ("strong", p_strong, 0.02, length_strong),
    ):
        rows.append(
            pd.DataFrame(
                {
                    "request_id": requests["request_id"],
                    "model": model,
                    "resolved": (rng.random(n) < p).astype(float),
                    "cost_usd": cost,
                    "completion_tokens": rng.poisson(length).astype(float),
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


@pytest.fixture(scope="module")
def fitted() -> tuple[RoutingData, QualityModel]:
    data = generated(400, seed=1)
    return data, QualityModel(inner_folds=2).fit(data.requests, data.outcomes, data.models)


def test_a_saved_model_predicts_exactly_as_the_trained_one(
    fitted: tuple[RoutingData, QualityModel], tmp_path: Path
) -> None:
    data, model = fitted
    folder = model.save(tmp_path / "m")
    assert sorted(p.name for p in folder.iterdir()) == [
        "MANIFEST.json",
        "booster.txt",
        "completion.txt",
        "model.json",
        "text_scorers.npz",
    ]
    assert (folder / "booster.txt").read_text().startswith("tree")  # LightGBM's text format
    assert (folder / "completion.txt").read_text().startswith("tree")
    loaded = QualityPredictor.load(folder)
    for again, trained in zip(
        loaded.predict_frames(data.requests, data.models),
        model.predict_frames(data.requests, data.models),
        strict=True,
    ):  # calibrated P, raw P, completion lengths
        np.testing.assert_allclose(again, trained, rtol=1e-12, atol=1e-12)
    spec = json.loads((folder / "model.json").read_text())
    assert spec["feature_schema_version"] == SCHEMA_VERSION
    assert spec["models"] == ["cheap", "strong"]


def test_the_text_scorers_read_text_as_scikit_learn_does(
    fitted: tuple[RoutingData, QualityModel],
) -> None:
    data, model = fitted
    predictor = model.predictor_
    for text in [*data.requests["text"].head(20), "", "the the dispute 42 CHARGE"]:
        expected = model.vectorizer_.transform([text]).tocoo()
        cols, vals = predictor._words(text)
        got = dict(zip(cols.tolist(), vals.tolist(), strict=True))
        want = dict(zip(expected.col.tolist(), expected.data.tolist(), strict=True))
        assert got.keys() == want.keys()
        for k in want:
            assert got[k] == pytest.approx(want[k], abs=1e-12)


def test_a_changed_file_is_refused(
    fitted: tuple[RoutingData, QualityModel], tmp_path: Path
) -> None:
    folder = fitted[1].save(tmp_path / "m")
    booster = folder / "booster.txt"
    booster.write_text(booster.read_text().replace("tree", "trees", 1))
    with pytest.raises(ArtifactError, match=r"booster\.txt fails its checksum"):
        QualityPredictor.load(folder)


def test_serving_predictions_match_the_batch_ones(
    fitted: tuple[RoutingData, QualityModel],
) -> None:
    data, model = fitted
    row = data.requests.iloc[[3]].reset_index(drop=True)
    request = [0.0] * len(R)
    request[R["turns"]] = float(row["turns"][0])
    request[R["prompt_tokens"]] = float(row["prompt_tokens"][0])
    prices = data.models.set_index("model")
    candidates, rows = [], []
    for name in ["strong", "cheap"]:
        cand = [0.0] * len(C)
        cand[C["input_usd_per_mtok"]] = float(prices.loc[name, "input_usd_per_mtok"])
        cand[C["output_usd_per_mtok"]] = float(prices.loc[name, "output_usd_per_mtok"])
        candidates.append(name)
        rows.append(cand)
    fv = FeatureVector(
        request, candidates, rows, str(row["intent"][0]), "other", [False, False], row["text"][0]
    )
    p, _, lengths = model.predict_frames(row, data.models)
    assert lengths is not None
    batch = p[0]
    assert model.predictor_.predict(fv) == pytest.approx([batch[1], batch[0]], abs=1e-12)
    _, served = model.predictor_.predict_all(fv)
    assert served == pytest.approx([lengths[0, 1], lengths[0, 0]], abs=1e-9)
    # the policy prices each candidate's expected completion, not the catalog's guess
    from selector.policy.utility import UtilityPolicy

    decision = UtilityPolicy(model.predictor_, {"strong": "a", "cheap": "b"}).decide(
        fv, DecisionContext()
    )
    tokens = float(row["prompt_tokens"][0])
    for score, length, name in zip(decision.scores, served, candidates, strict=True):
        assert length is not None
        expected = (
            tokens * prices.loc[name, "input_usd_per_mtok"]
            + length * prices.loc[name, "output_usd_per_mtok"]
        ) / 1e6
        assert score.expected_cost_usd == pytest.approx(expected)


def test_completion_lengths_are_learned_per_model_and_request(
    fitted: tuple[RoutingData, QualityModel],
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
    model = QualityModel(inner_folds=2).fit(data.requests, outcomes, data.models)
    assert model.predictor_.completion is None
    assert model.predict_frames(data.requests, data.models)[2] is None


def test_a_model_it_never_saw_is_scored_by_its_prices(
    fitted: tuple[RoutingData, QualityModel],
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


def test_calibration_modes(fitted: tuple[RoutingData, QualityModel]) -> None:
    data, _ = fitted
    fit = data.requests, data.outcomes, data.models
    none = QualityModel(inner_folds=2, calibrate="none").fit(*fit)
    assert none.calibration_ is None
    platt = QualityModel(inner_folds=2, calibrate="platt").fit(*fit)
    assert platt.calibration_ is not None
    raw = platt.predict_proba(data.requests, data.models, calibrated=False)
    np.testing.assert_allclose(raw, none.predict_proba(data.requests, data.models))
    assert not np.allclose(raw, platt.predict_proba(data.requests, data.models))
    auto = QualityModel(inner_folds=2).fit(*fit)
    assert isinstance(auto.calibration_check_, float)
    assert (auto.calibration_ is not None) == (auto.calibration_check_ > 0)
    with pytest.raises(ValueError, match="calibrate must be one of"):
        QualityModel(calibrate="isotonic")


def test_brier_and_calibration_error_of_perfect_and_poor_forecasts() -> None:
    y = np.array([0, 1] * 50, dtype=float)
    assert brier_score(y, y) == 0.0
    assert calibration_error(y, y) == 0.0
    assert brier_score(np.full(100, 0.5), y) == pytest.approx(0.25)
    assert calibration_error(np.full(100, 0.9), y) == pytest.approx(0.4)


def test_one_model_per_candidate_is_available_for_comparison() -> None:
    data = generated(300, seed=2)
    oof = cross_validate(data, lambda: PerModel(lambda: QualityModel(inner_folds=2)), folds=2)
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
        m = QualityModel(inner_folds=2, calibrate="none").fit(requests, out, models)
        return float(m.predict_proba(requests, models).mean())

    assert mean_p(outcomes) == pytest.approx(0.5, abs=0.05)
    weighted = outcomes.assign(weight=np.where(resolved > 0, 3.0, 1.0))
    assert mean_p(weighted) == pytest.approx(0.75, abs=0.05)


SERVE_WITHOUT_EXTRAS = """
import sys
for name in ("sklearn", "matplotlib", "vowpalwabbit", "threadpoolctl"):  # scipy comes with lightgbm
    sys.modules[name] = None  # an import of any of them fails, as without the extras
import json
from pathlib import Path
import pandas as pd
from models.quality import QualityPredictor
import selector.api.app, selector.cli, selector.service, selector.retention
folder, frame, models = Path(sys.argv[1]), Path(sys.argv[2]), Path(sys.argv[3])
requests, candidates = pd.read_parquet(frame), pd.read_parquet(models)
p, _, _ = QualityPredictor.load(folder).predict_frames(requests, candidates)
print(json.dumps(p.tolist()))
"""


def test_a_trained_model_is_served_without_the_training_extras(
    fitted: tuple[RoutingData, QualityModel], tmp_path: Path
) -> None:
    """`pip install .` serves: loading and running a trained model, the service and its
    commands need none of the train/sim/vw extras."""
    import subprocess
    import sys

    from tests.conftest import ROOT

    data, model = fitted
    folder = model.save(tmp_path / "m")
    frame = tmp_path / "requests.parquet"
    data.requests.head(20).to_parquet(frame)
    models = tmp_path / "models.parquet"
    data.models.to_parquet(models)
    done = subprocess.run(
        [sys.executable, "-c", SERVE_WITHOUT_EXTRAS, str(folder), str(frame), str(models)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    served = np.array(json.loads(done.stdout))
    expected = model.predict_frames(data.requests.head(20), data.models)[0]
    np.testing.assert_allclose(served, expected, rtol=1e-12, atol=1e-12)
