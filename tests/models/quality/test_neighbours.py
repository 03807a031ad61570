"""The neighbour scorer: the outcomes of the nearest training rows, k and the weighting
chosen by cross-validation, unknown outcomes skipped."""

from __future__ import annotations

import numpy as np
import pytest

from models.quality.neighbours import KS, PRIOR_VOTES, Neighbours, fit_neighbours


def _clusters(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Unit rows around 4 directions; model 0 resolves cluster c with rate 0.2 + 0.2c,
    model 1 always in clusters 0-1, never in 2-3."""
    centres = np.linalg.qr(np.random.default_rng(0).normal(size=(16, 4)))[0].T  # orthonormal
    rng = np.random.default_rng(seed)
    c = rng.integers(0, 4, n)
    rows = centres[c] + 0.25 * rng.normal(size=(n, 16))
    rows /= np.linalg.norm(rows, axis=1, keepdims=True)
    y = np.column_stack([rng.random(n) < 0.2 + 0.2 * c, c < 2]).astype(float)
    return rows, y, c


def test_the_nearest_requests_outcomes_give_each_cluster_its_rate() -> None:
    rows, y, _c = _clusters(2_000)
    scorer = fit_neighbours(rows, y, seed=1)
    assert scorer.k in KS
    test_rows, _, tc = _clusters(400, seed=9)
    p = scorer.predict(test_rows)
    for cluster in range(4):
        mine = p[tc == cluster]
        assert mine[:, 0].mean() == pytest.approx(0.2 + 0.2 * cluster, abs=0.07)
        assert mine[:, 1].mean() == pytest.approx(1.0 if cluster < 2 else 0.0, abs=0.08)


def test_cross_validation_prefers_many_neighbours_for_noisy_outcomes() -> None:
    rows, _, c = _clusters(1_500)
    noisy = (np.random.default_rng(3).random((1_500, 1)) < 0.3 + 0.1 * c[:, None]).astype(float)
    assert fit_neighbours(rows, noisy).k >= 20  # a few neighbours' votes are mostly noise
    exact = (c[:, None] == 2).astype(float)
    tight = fit_neighbours(rows, exact)
    p = tight.predict(rows)
    assert np.abs(p[:, 0] - exact[:, 0]).mean() < 0.1


def test_unknown_outcomes_do_not_vote_and_a_model_without_any_gets_the_mean() -> None:
    rows, y, c = _clusters(800)
    y = np.column_stack([y, np.full(800, np.nan)])
    y[c == 3, 1] = np.nan  # model 1 never tried in cluster 3
    scorer = Neighbours(rows, y, np.array([0.5, 0.6, np.nanmean(y)]), 10, "uniform")
    p = scorer.predict(rows[c == 3])
    assert p[:, 1].mean() > 0.3  # its nearest known rows are in other clusters
    assert np.allclose(p[:, 2], np.nanmean(y))  # no outcomes: the prior only
    fitted = fit_neighbours(rows, y)
    assert fitted.prior[2] == pytest.approx(np.nanmean(y))


def test_the_vote_is_shrunk_to_the_prior_and_ties_go_to_the_first_row() -> None:
    rows = np.array([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0]])  # rows 0 and 1 are the same
    y = np.array([[1.0], [0.0], [0.0]])
    scorer = Neighbours(rows, y, np.array([1 / 3]), 1, "uniform")
    expected = (1 + PRIOR_VOTES / 3) / (1 + PRIOR_VOTES)  # row 0's vote, not row 1's
    for _ in range(3):  # the same neighbours every time, one query or a batch
        assert scorer.predict_one(rows[0])[0] == pytest.approx(expected)
        assert scorer.predict(rows[:2])[:, 0] == pytest.approx([expected, expected])


def test_a_large_table_keeps_a_bounded_sample_and_bad_input_is_refused() -> None:
    rows, y, _ = _clusters(1_000)
    assert len(fit_neighbours(rows, y, ks=(5,), max_rows=300).rows) == 300
    with pytest.raises(ValueError, match="1000 rows but 10 outcome rows"):
        fit_neighbours(rows, y[:10])
    with pytest.raises(ValueError, match="no training requests"):
        fit_neighbours(rows[:0], y[:0])
