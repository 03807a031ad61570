"""The quality model's scorers on the pretrained representation: what they add over
the table's own words, and out-of-fold scores that do not invert on repeated texts."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from models.quality import QualityPredictor, QualityTrainer
from models.quality.embedded import fit_embedded
from tests.models.quality.test_predictor import features_of
from training.data import RoutingData

# what the cheap model fails on: a billing dispute, said in the test with words (and
# shapes) the training table never had
TRAIN = {
    "hard": ["refund wrong charge card", "dispute charge billing error"],
    "easy": ["weather forecast sunny today", "funny joke tell laugh"],
}
TEST = {
    "hard": ["reimburse payment taken wrongly", "overcharged money back bank"],
    "easy": ["rain tomorrow umbrella cloudy", "comedy humour amusing story"],
}


def _table(texts: dict[str, list[str]], n: int, seed: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    rng = np.random.default_rng(seed)
    kind = rng.choice(["hard", "easy"], n)
    text = [f"{texts[k][rng.integers(2)]} #{rng.integers(10_000)}" for k in kind]
    requests = pd.DataFrame(
        {
            "request_id": [f"{seed}-{i}" for i in range(n)],
            "text": text,
            "intent": "",
            "turns": 1,
            "prompt_tokens": 30,
            "eval": True,
        }
    )
    p = np.where(kind == "hard", 0.1, 0.95)
    outcomes = pd.DataFrame(
        {
            "request_id": requests["request_id"],
            "model": "cheap",
            "resolved": (rng.random(n) < p).astype(float),
        }
    )
    return requests.assign(kind=kind), outcomes


def test_the_representation_knows_words_the_table_never_showed(tmp_path: Path) -> None:
    requests, outcomes = _table(TRAIN, 500, seed=0)
    test, _ = _table(TEST, 200, seed=1)
    models = pd.DataFrame(
        {"model": ["cheap"], "input_usd_per_mtok": [0.1], "output_usd_per_mtok": [0.4]}
    )
    gaps = {}
    for use in (True, False):
        mode = "always" if use else "never"
        m = QualityTrainer(inner_folds=3, use_embeddings=mode).fit(requests, outcomes, models)
        p = m.predict_proba(test, models)[:, 0]
        hard = (test["kind"] == "hard").to_numpy()
        gaps[use] = p[~hard].mean() - p[hard].mean()
        if use:  # saved, and served as trained
            data = RoutingData(test, outcomes, models, "t", "x")
            assert m.predictor_.embedded is not None
            loaded = QualityPredictor.load(m.save(tmp_path / "m"))
            assert (tmp_path / "m" / "embedded_scorers.npz").is_file()
            np.testing.assert_allclose(
                loaded.predict_frame(test, models), m.predict_proba(test, models)
            )
            served = [
                loaded.predict(features_of(data, test.iloc[[i]].reset_index(drop=True), ["cheap"]))
                for i in range(20)
            ]  # one decision's path: one text embedded, one row
            np.testing.assert_allclose(
                np.ravel(served), m.predict_proba(test[:20], models)[:, 0], atol=1e-9
            )
    assert gaps[True] > 0.25  # new words for a billing dispute are still hard
    assert gaps[True] > gaps[False] + 0.2  # the table's own words cannot tell


def test_out_of_fold_scores_of_repeated_texts_do_not_invert() -> None:
    """Ten texts, each 40 times, outcomes independent of the text: a score computed
    with a request left out of its twins' vote would rank the resolved ones lower."""
    rng = np.random.default_rng(4)
    texts = [f"where is my parcel number {i % 10}" for i in range(400)]
    y = (rng.random((400, 1)) < 0.5).astype(float)
    (oof_linear, oof_knn, _), scorers = fit_embedded(texts, y, np.ones_like(y), folds=3, seed=0)
    for oof in (oof_linear, oof_knn):
        assert abs(np.corrcoef(oof[:, 0], y[:, 0])[0, 1]) < 0.15
    assert scorers.neighbours.k >= 5
    assert scorers.coef.shape == (1, scorers.representation.dim)
