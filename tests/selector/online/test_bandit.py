from __future__ import annotations

import random

import pytest

from selector.online.bandit import BanditParams, ResidualBandit, sample, squarecb


def test_squarecb_probabilities_sum_to_one_and_favour_the_best() -> None:
    rng = random.Random(1)
    for _ in range(200):
        k = rng.randint(1, 8)
        est = [rng.uniform(-0.2, 1.0) for _ in range(k)]
        probs = squarecb(est, gamma=rng.uniform(1, 1000), floor=rng.choice([0.0, 0.05]))
        assert sum(probs) == pytest.approx(1.0)
        assert all(p > 0 for p in probs)
        assert probs.index(max(probs)) == est.index(max(est))


def test_expected_cost_of_exploring_is_at_most_k_minus_1_over_gamma() -> None:
    rng = random.Random(2)
    for _ in range(500):
        k, gamma = rng.randint(2, 20), rng.uniform(10, 2000)
        est = [rng.uniform(0, 1) for _ in range(k)]
        probs = squarecb(est, gamma)
        regret = sum(p * (max(est) - y) for p, y in zip(probs, est, strict=True))
        assert regret <= (k - 1) / gamma + 1e-12


def test_the_floor_gives_every_candidate_at_least_epsilon_over_k() -> None:
    probs = squarecb([1.0, 0.0, -5.0, -9.0], gamma=1e6, floor=0.08)
    assert min(probs) >= 0.08 / 4 - 1e-12


def test_sampling_follows_the_probabilities() -> None:
    probs = [0.1, 0.6, 0.3]
    rng = random.Random(3)
    counts = [0, 0, 0]
    for _ in range(20_000):
        counts[sample(probs, rng.random())] += 1
    for c, p in zip(counts, probs, strict=True):
        assert c / 20_000 == pytest.approx(p, abs=0.015)


def test_a_correction_is_learned_for_the_model_and_more_for_its_group() -> None:
    b = ResidualBandit(BanditParams(memory=50, prior_weight=5))
    for _ in range(40):
        b.update("m", "payments", -0.3)
    on_group = b.correction("m", "payments")
    elsewhere = b.correction("m", "account")
    assert -0.3 < on_group < -0.2
    assert on_group < elsewhere < 0  # other groups share the model-level part only
    assert b.correction("other-model", "payments") == 0.0


def test_a_long_good_history_is_forgotten_after_a_regression() -> None:
    b = ResidualBandit(BanditParams(memory=50, prior_weight=5))
    for _ in range(5_000):
        b.update("m", "payments", 0.05)
    n = 0
    while b.correction("m", "payments") > -0.15:
        b.update("m", "payments", -0.30)
        n += 1
    assert n < 60  # a running mean would need thousands


def test_state_round_trips_through_json() -> None:
    import json

    b = ResidualBandit(BanditParams(memory=20, gamma=50))
    for i in range(30):
        b.update(f"m{i % 3}", f"g{i % 2}", (i % 7) / 10 - 0.3)
    again = ResidualBandit.from_state(json.loads(json.dumps(b.state())))
    assert again.state() == b.state()
    assert again.correction("m1", "g0") == b.correction("m1", "g0")


def test_bad_parameters_and_states_are_refused_with_the_reason() -> None:
    with pytest.raises(ValueError, match="min_exploration"):
        BanditParams(min_exploration=1.0)
    with pytest.raises(ValueError, match="memory"):
        BanditParams(memory=0.5)
    with pytest.raises(ValueError, match="not a bandit state"):
        ResidualBandit.from_state({"params": {}})
    with pytest.raises(ValueError, match="finite"):
        ResidualBandit().update("m", "g", float("nan"))


def test_a_state_with_sums_that_are_not_finite_is_refused() -> None:
    """A state saved by a build that learned from an overflowing reward: refused (the
    service then rebuilds the state from the log, skipping what cannot be learned)."""
    state = ResidualBandit().state()
    state["sums"] = {"gpt-5": [float("-inf"), 3.0], "gpt-5|billing": [1.0, 2.0]}
    with pytest.raises(ValueError, match="not finite"):
        ResidualBandit.from_state(state)
