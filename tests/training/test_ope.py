"""The off-policy estimators on logged bandit data whose truth is known."""

from __future__ import annotations

import numpy as np
import pytest

from core.errors import ConfigError
from training.ope import cross_fit, estimate_all

N, K = 6_000, 3


def logged_data(seed: int) -> dict[str, np.ndarray]:
    """Contexts x ∈ [0, 1]; action a's mean reward μ_a(x); a softmax logging policy; a
    deterministic target policy; rewards drawn as 0/1."""
    rng = np.random.default_rng(seed)
    x = rng.random(N)
    mu = np.column_stack([0.3 + 0.5 * x, 0.7 - 0.4 * x, np.full(N, 0.5)])
    logits = np.column_stack([x, 1 - x, np.full(N, 0.5)]) * 2
    probs = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    chosen = np.array([rng.choice(K, p=p) for p in probs])
    reward = (rng.random(N) < mu[np.arange(N), chosen]).astype(float)
    target = np.where(x > 0.5, 0, 1)
    features = np.column_stack(
        [np.tile(np.eye(K), (N, 1)), np.repeat(x, K)]
    )  # one row per (decision, action)
    return {
        "x": x,
        "mu": mu,
        "probs": probs,
        "chosen": chosen,
        "reward": reward,
        "target": target,
        "features": features,
        "truth": np.asarray(mu[np.arange(N), target].mean()),
    }


@pytest.mark.parametrize("seed", [1, 2])
def test_every_interval_covers_the_true_value_and_dr_is_the_tightest(seed: int) -> None:
    d = logged_data(seed)
    rows = np.arange(N)
    target_p = (d["target"] == d["chosen"]).astype(float)
    q = cross_fit(d["features"], d["reward"], rows * K + d["chosen"], np.repeat(rows, K))
    q_policy = q.reshape(N, K)[rows, d["target"]]
    out = estimate_all(
        d["probs"][rows, d["chosen"]], target_p, d["reward"], q[rows * K + d["chosen"]], q_policy
    )
    truth = float(d["truth"])
    for est in ("ips", "snips", "dr"):
        assert out[est]["low"] <= truth <= out[est]["high"], (est, out[est], truth)
    width = {e: out[e]["high"] - out[e]["low"] for e in ("ips", "snips", "dr")}
    assert width["dr"] < width["ips"]
    assert 0 < out["ess"] < N


def test_an_estimate_on_too_few_matching_decisions_is_refused() -> None:
    # a greedy log (every propensity 1) and a policy that agrees on 30 decisions
    target_p = np.zeros(2_000)
    target_p[:30] = 1.0
    with pytest.raises(ConfigError, match=r"effective sample size 30\.0 is under"):
        estimate_all(np.ones(2_000), target_p, np.ones(2_000), min_ess=100)


def test_damaged_propensities_are_refused() -> None:
    with pytest.raises(ConfigError, match=r"propensities must be in \(0, 1\]"):
        estimate_all(np.array([0.5, 0.0]), np.ones(2), np.ones(2))


def test_the_reward_model_of_a_decision_is_fitted_without_it() -> None:
    """A feature that identifies each decision lets a model fitted on it memorise the
    rewards; cross-fitted predictions cannot."""
    rng = np.random.default_rng(0)
    n = 400
    reward = (rng.random(n) < 0.5).astype(float)
    ident = rng.permutation(n).astype(float)
    features = np.column_stack([ident, ident])
    q = cross_fit(features, reward, np.arange(n), np.arange(n))
    assert abs(np.corrcoef(q, reward)[0, 1]) < 0.2
