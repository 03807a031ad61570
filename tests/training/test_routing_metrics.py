from __future__ import annotations

import numpy as np
import pytest

from training.routing_metrics import aiq, apgr, cost_at_parity, cpt, pgr_curve, upper_hull


def outcomes(n: int = 4000, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    weak = (rng.random(n) < 0.6).astype(float)
    strong = np.maximum(weak, (rng.random(n) < 0.5).astype(float))
    return weak, strong


def test_random_scores_recover_about_half_the_gap() -> None:
    weak, strong = outcomes()
    rng = np.random.default_rng(1)
    assert apgr(rng.random(len(weak)), weak, strong) == pytest.approx(0.5, abs=0.03)


def test_the_oracle_beats_any_router_and_apgr_ignores_monotone_rescaling() -> None:
    weak, strong = outcomes()
    oracle = strong - weak
    noisy = oracle + np.random.default_rng(2).normal(0, 0.7, len(weak))
    assert apgr(oracle, weak, strong) > apgr(noisy, weak, strong) > 0.5
    assert apgr(noisy, weak, strong) == pytest.approx(apgr(np.exp(noisy), weak, strong))


def test_pgr_runs_from_zero_to_one_and_cpt_grows_with_the_target() -> None:
    weak, strong = outcomes()
    score = np.random.default_rng(3).random(len(weak))
    share, pgr = pgr_curve(score, weak, strong)
    assert (share[0], pgr[0]) == (0.0, 0.0)
    assert (share[-1], pgr[-1]) == (1.0, pytest.approx(1.0))
    assert (
        cpt(score, weak, strong, 0.2)
        <= cpt(score, weak, strong, 0.5)
        <= cpt(score, weak, strong, 0.8)
    )


def test_equal_models_are_refused() -> None:
    with pytest.raises(ValueError, match="same quality"):
        apgr([0.1, 0.2], [1, 0], [0, 1])


def test_hull_aiq_and_parity() -> None:
    costs, quals = [1.0, 2.0, 4.0, 3.0], [0.6, 0.75, 0.9, 0.65]  # (3, 0.65) is dominated
    hc, _ = upper_hull(costs, quals)
    assert hc.tolist() == [1.0, 2.0, 4.0]
    assert 0.6 <= aiq(costs, quals, 1.0, 4.0) <= 0.9
    assert cost_at_parity(costs, quals, best_quality=0.9, best_cost=8.0) == 0.5
    assert cost_at_parity(costs, quals, best_quality=0.95, best_cost=8.0) is None
