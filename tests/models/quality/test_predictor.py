"""What serving loads: the same predictions, one request at a time, as the batch."""

from __future__ import annotations

import copy

import pandas as pd
import pytest

from features.extractor import C, FeatureVector, R
from models.quality import QualityTrainer
from selector.policy.base import DecisionContext
from training.data import RoutingData


def test_the_text_scorers_read_text_as_scikit_learn_does(
    fitted: tuple[RoutingData, QualityTrainer],
) -> None:
    data, model = fitted
    predictor = model.predictor_
    for text in [*data.requests["text"].head(20), "", "the the dispute 42 CHARGE"]:
        expected = model.vectorizer_.transform([text]).tocoo()
        cols, vals = predictor._words(text)
        got = dict(zip(cols, vals.tolist(), strict=True))
        want = dict(zip(expected.col.tolist(), expected.data.tolist(), strict=True))
        assert got.keys() == want.keys()
        for k in want:
            assert got[k] == pytest.approx(want[k], abs=1e-12)


def features_of(data: RoutingData, row: pd.DataFrame, candidates: list[str]) -> FeatureVector:
    """The feature vector the service builds for request ``row`` of ``data``."""
    request = [0.0] * len(R)
    request[R["turns"]] = float(row["turns"][0])
    request[R["prompt_tokens"]] = float(row["prompt_tokens"][0])
    prices = data.models.set_index("model")
    rows = []
    for name in candidates:
        cand = [0.0] * len(C)
        cand[C["input_usd_per_mtok"]] = float(prices.loc[name, "input_usd_per_mtok"])
        cand[C["output_usd_per_mtok"]] = float(prices.loc[name, "output_usd_per_mtok"])
        rows.append(cand)
    flags = [False] * len(candidates)
    return FeatureVector(
        request, candidates, rows, str(row["intent"][0]), "other", flags, row["text"][0]
    )


def test_without_a_length_model_each_models_mean_on_the_training_data_is_served(
    fitted: tuple[RoutingData, QualityTrainer],
) -> None:
    data, model = fitted
    means = data.outcomes.groupby("model")["completion_tokens"].mean()
    assert model.predictor_.completion_means == pytest.approx(means.to_dict())
    alone = copy.copy(model.predictor_)
    alone.completion = None  # as when the table had too few lengths for a length model
    row = data.requests.iloc[[3]].reset_index(drop=True)
    _, lengths = alone.predict_all(features_of(data, row, ["strong", "cheap"]))
    assert lengths == pytest.approx([means["strong"], means["cheap"]])
    alone.completion_means = {}
    assert alone.predict_all(features_of(data, row, ["cheap"]))[1] is None


def test_serving_predictions_match_the_batch_ones(
    fitted: tuple[RoutingData, QualityTrainer],
) -> None:
    data, model = fitted
    row = data.requests.iloc[[3]].reset_index(drop=True)
    candidates = ["strong", "cheap"]
    fv = features_of(data, row, candidates)
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
    prices = data.models.set_index("model")
    for score, length, name in zip(decision.scores, served, candidates, strict=True):
        assert length is not None
        expected = (
            tokens * prices.loc[name, "input_usd_per_mtok"]
            + length * prices.loc[name, "output_usd_per_mtok"]
        ) / 1e6
        assert score.expected_cost_usd == pytest.approx(expected)


def test_the_decisions_path_to_the_trees_is_lightgbms_own_predict(
    fitted: tuple[RoutingData, QualityTrainer],
) -> None:
    """A decision calls LightGBM's C function directly; what it serves is what
    ``Booster.predict`` gives on the same rows, for any set of candidates (one the model
    never saw among them) and any request."""
    import numpy as np

    from models.quality.layout import clip

    data, model = fitted
    predictor = model.predictor_
    assert predictor.completion is not None
    rng = np.random.default_rng(11)
    names = list(data.models["model"])
    worst = 0.0
    for i in rng.choice(len(data.requests), 60, replace=False):
        row = data.requests.iloc[[i]].reset_index(drop=True)
        candidates = list(rng.permutation(names)[: rng.integers(1, len(names) + 1)])
        fv = features_of(data, row, candidates)
        if i % 3 == 0:  # a model the quality model never saw, priced like another
            fv.candidates.append("unseen")
            fv.candidate_rows.append(list(fv.candidate_rows[0]))
            fv.probing.append(False)
        p, lengths = predictor.predict_all(fv)
        x = predictor._rows(fv, clip(fv.text))
        own = predictor._calibrate(predictor.booster.predict(x, num_threads=1))
        known = np.array([c in predictor.models for c in fv.candidates])
        own_lengths = np.full(len(x), np.nan)
        own_lengths[known] = predictor.completion.predict(x[known], num_threads=1)
        worst = max(worst, float(np.max(np.abs(np.asarray(p) - own))))
        assert lengths is not None
        for got, want in zip(lengths, own_lengths, strict=True):
            assert (got is None) == bool(np.isnan(want))
            if got is not None:
                worst = max(worst, abs(got - want))
    assert worst <= 1e-9


def test_both_paths_to_the_trees_give_lightgbms_predictions(
    fitted: tuple[RoutingData, QualityTrainer],
) -> None:
    """A decision's few rows take the single-row path, a batch the batch call: both
    are ``Booster.predict`` to the bit, at every size around the switch."""
    import numpy as np

    from models.quality.predictor import Trees

    data, model = fitted
    predictor = model.predictor_
    rng = np.random.default_rng(5)
    rows = predictor._rows(
        features_of(
            data, data.requests.iloc[[0]].reset_index(drop=True), list(data.models["model"])
        ),
        "",
    )
    for booster in (predictor.booster, predictor.completion):
        trees = Trees(booster)
        for n in (1, 2, trees.FAST_ROWS, trees.FAST_ROWS + 1, 300):
            x = rows[rng.integers(0, len(rows), n)] * rng.uniform(0.5, 1.5, (n, rows.shape[1]))
            x[rng.random(x.shape) < 0.05] = np.nan  # missing values take the trees' default
            assert np.array_equal(trees(x), booster.predict(x, num_threads=1))
        fortran = np.asfortranarray(rows)  # copied into rows, not misread
        assert np.array_equal(trees(fortran), booster.predict(rows, num_threads=1))


def test_the_single_row_path_is_safe_across_threads(
    fitted: tuple[RoutingData, QualityTrainer],
) -> None:
    """Decisions may run on several threads at once (the simulator, a reload beside
    serving): the prepared single-row path gives each one its own rows' predictions."""
    import threading

    import numpy as np

    from models.quality.predictor import Trees

    _, model = fitted
    booster = model.predictor_.booster
    rng = np.random.default_rng(3)
    rows = [rng.normal(size=(6, booster.num_feature())) for _ in range(40)]
    want = [booster.predict(r, num_threads=1) for r in rows]
    trees = Trees(booster)
    wrong: list[int] = []

    def work() -> None:
        for _ in range(25):
            wrong.extend(i for i, r in enumerate(rows) if not np.array_equal(trees(r), want[i]))

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not wrong
