"""bandit-v2's online layer: per-model regressions of the residual on the context,
probability matching over their posteriors, exact probabilities, JSON state."""

from __future__ import annotations

import json
import random

import numpy as np
import pytest

from features.schema import CANDIDATE_FEATURES, REQUEST_FEATURES
from selector.online import contextual
from selector.online.bandit import BanditParams, Update
from selector.online.contexts import DIM, context, context_of, contexts_of
from selector.online.contextual import ContextualBandit, probability_best


def ctx(group: int, turns: int = 3) -> list[float]:
    return context(group, turns, 400, 0, 1, 0.8, 0.0, 800)


def play(
    bandit: ContextualBandit,
    truth: dict[tuple[str, int], float],
    utilities: dict[str, float],
    n: int,
    seed: int,
) -> list[tuple[int, str]]:
    """``n`` decisions between the models of ``truth`` on groups 1 and 2, each learned
    from a Bernoulli reward; returns each decision's group and choice."""
    rng = random.Random(seed)
    models = sorted({m for m, _ in truth})
    out = []
    for _ in range(n):
        group = rng.choice((1, 2))
        xs = [ctx(group) for _ in models]
        us = [utilities[m] for m in models]
        _, probs, pick = bandit.distribution(models, "g", us, rng.random(), xs)
        assert sum(probs) == pytest.approx(1.0)
        reward = float(rng.random() < truth[models[pick], group])
        bandit.learn(Update(models, "g", us, pick, probs[pick], reward, xs))
        out.append((group, models[pick]))
    return out


TRUTH = {("a", 1): 0.9, ("a", 2): 0.5, ("b", 1): 0.6, ("b", 2): 0.85}


def test_it_learns_which_model_is_best_in_each_context() -> None:
    # the offline utility says "a" everywhere; the truth differs by intent group
    bandit = ContextualBandit(BanditParams(learner="contextual", gamma=1_000.0))
    history = play(bandit, TRUTH, {"a": 0.8, "b": 0.7}, 2_000, seed=1)
    last = history[-600:]
    right = sum(m == ("a" if g == 1 else "b") for g, m in last)
    assert right / len(last) > 0.85
    mean, _ = bandit.estimates(["a", "b"], [0.8, 0.7], [ctx(2), ctx(2)])
    assert mean[1] > mean[0]
    mean, _ = bandit.estimates(["a", "b"], [0.8, 0.7], [ctx(1), ctx(1)])
    assert mean[0] > mean[1]


def test_a_model_the_prior_undersells_is_tried_and_found() -> None:
    truth = {("a", 1): 0.6, ("a", 2): 0.6, ("b", 1): 0.9, ("b", 2): 0.9}
    bandit = ContextualBandit(BanditParams(learner="contextual", gamma=10_000.0))
    history = play(bandit, truth, {"a": 0.8, "b": 0.6}, 1_500, seed=2)
    assert sum(m == "b" for _, m in history[-500:]) > 400


def test_a_model_that_regresses_loses_its_traffic() -> None:
    bandit = ContextualBandit(BanditParams(learner="contextual", memory=300, gamma=1_000.0))
    good = {("a", 1): 0.9, ("a", 2): 0.9, ("b", 1): 0.7, ("b", 2): 0.7}
    play(bandit, good, {"a": 0.8, "b": 0.8}, 1_500, seed=3)
    bad = {**good, ("a", 1): 0.3, ("a", 2): 0.3}
    history = play(bandit, bad, {"a": 0.8, "b": 0.8}, 800, seed=4)
    assert sum(m == "b" for _, m in history[-300:]) > 250


def test_probabilities_are_exact_and_the_draw_follows_them() -> None:
    bandit = ContextualBandit(BanditParams(learner="contextual", gamma=50.0))
    models, us = ["a", "b", "c"], [0.8, 0.75, 0.5]
    xs = [ctx(1)] * 3
    counts = np.zeros(3)
    probs: list[float] = []
    rng = random.Random(5)
    n = 20_000
    for _ in range(n):
        _, probs, pick = bandit.distribution(models, "g", us, rng.random(), xs)
        counts[pick] += 1
    assert sum(probs) == pytest.approx(1.0)
    expected = np.array(probs) * n
    assert np.all(np.abs(counts - expected) < 4 * np.sqrt(expected) + 1)


def test_the_state_is_json_and_restores_the_same_estimates() -> None:
    bandit = ContextualBandit(BanditParams(learner="contextual"))
    play(bandit, TRUTH, {"a": 0.8, "b": 0.7}, 300, seed=6)
    state = json.loads(json.dumps(bandit.state()))
    back = ContextualBandit.from_state(state)
    xs = [ctx(1), ctx(2, turns=9)]
    for restored, live in zip(
        back.estimates(["a", "b"], [0.8, 0.7], xs),
        bandit.estimates(["a", "b"], [0.8, 0.7], xs),
        strict=True,
    ):
        assert restored.tolist() == live.tolist()
    assert back.updates_ == 300
    assert back.state() == state


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda s: s.update(dim=DIM + 1), "terms"),
        (lambda s: s["models"]["a"].update(b=[float("nan")] * DIM), "not finite"),
        (lambda s: s["models"]["a"].update(b=[0.0]), "wrong shape"),
        (lambda s: s.pop("models"), "not a contextual"),
    ],
)
def test_a_bad_state_is_refused_with_a_reason(change, message: str) -> None:  # type: ignore[no-untyped-def]
    bandit = ContextualBandit(BanditParams(learner="contextual"))
    bandit.update("a", ctx(1), 0.1)
    state = json.loads(json.dumps(bandit.state()))
    change(state)
    with pytest.raises(ValueError, match=message):
        ContextualBandit.from_state(state)


def test_bad_updates_are_refused_and_change_nothing() -> None:
    bandit = ContextualBandit(BanditParams(learner="contextual"))
    with pytest.raises(ValueError, match="finite"):
        bandit.update("a", ctx(1), float("inf"))
    with pytest.raises(ValueError, match="context"):
        bandit.update("a", [1.0, 2.0], 0.1)
    with pytest.raises(ValueError, match="context"):
        bandit.distribution(["a"], "g", [0.5], 0.1)
    assert bandit.updates_ == 0
    assert bandit.state()["models"] == {}


def test_n_updates_weighing_one_nth_learn_what_one_update_does() -> None:
    """A conversation's outcome credited to its n decisions counts as one observation."""
    one, split = (ContextualBandit(BanditParams(learner="contextual")) for _ in range(2))
    x = ctx(1)
    one.update("a", x, 0.4)
    for _ in range(4):
        split.update("a", x, 0.4, weight=0.25)
    models, utilities, xs = ["a", "b"], [0.5, 0.5], [x, x]
    mean_one, sd_one = one.estimates(models, utilities, xs)
    mean_split, sd_split = split.estimates(models, utilities, xs)
    assert mean_split[0] == pytest.approx(mean_one[0], rel=1e-2)
    # b learns from the shared regression only, whose target is what a's own does not
    # explain yet: the four steps see a's own grow, one step does not
    assert mean_split[1] == pytest.approx(mean_one[1], abs=0.02)
    assert sd_split == pytest.approx(sd_one, rel=0.03)
    # four full updates of the same residual are surer of it than one
    four = ContextualBandit(BanditParams(learner="contextual"))
    for _ in range(4):
        four.update("a", x, 0.4)
    assert four.estimates(models, utilities, xs)[1][0] < 0.9 * sd_one[0]
    with pytest.raises(ValueError, match="weight"):
        one.update("a", x, 0.4, weight=0.0)


def test_context_terms_stay_bounded_for_any_request() -> None:
    for args in [(0, 0, 0, 0, 0, 0.0, 0.0, 0.0), (99, 1e9, 1e12, 1, 2, 1.0, 1.0, 1e12)]:
        x = context(*args)  # type: ignore[arg-type]
        assert len(x) == DIM
        assert all(abs(v) < 10 for v in x)


def test_probability_best_follows_the_overlap_of_the_estimates() -> None:
    probs = probability_best(np.array([0.9, 0.88, 0.5]), np.array([0.02, 0.02, 0.02]))
    assert sum(probs) == pytest.approx(1.0)
    assert 0.6 < probs[0] < 0.8  # a 0.71 chance that 0.9 ± 0.02 beats 0.88 ± 0.02
    assert probs[2] < 1e-6
    wide = probability_best(np.array([0.9, 0.5]), np.array([0.02, 0.5]))
    assert 0.15 < wide[1] < 0.25  # the uncertain one is tried as often as it may be best


def reference_probability_best(mean: np.ndarray, sd: np.ndarray) -> np.ndarray:
    """The same grid integral written plainly: Φ and φ each interpolated on their own
    from the module's tables, every step in arrays."""
    k, grid = len(mean), len(contextual._UNIT)
    sd = np.maximum(sd, 1e-9)
    lo, hi = (mean - 6 * sd).min(), (mean + 6 * sd).max()
    z = ((lo + (hi - lo) * contextual._UNIT)[None, :] - mean[:, None]) / sd[:, None]
    log_cdf = np.interp(z.ravel(), contextual._Z, contextual._LOG_CDF).reshape(k, grid)
    pdf = np.interp(z.ravel(), contextual._Z, contextual._PDF, left=0.0, right=0.0)
    pdf = pdf.reshape(k, grid) / sd[:, None]
    mass = (pdf * np.exp(log_cdf.sum(axis=0)[None, :] - log_cdf)).sum(axis=1)
    return mass / mass.sum()


def test_probability_best_is_the_grid_integral_and_close_to_the_exact_one() -> None:
    rng = np.random.default_rng(7)
    worst = 0.0
    for _ in range(2_000):
        k = int(rng.integers(2, 21))
        mean = rng.normal(0.5, rng.choice([0.001, 0.05, 0.3]), k)
        sd = rng.exponential(rng.choice([1e-6, 0.01, 0.1, 1.0]), k)
        got = np.array(probability_best(mean, sd))
        worst = max(worst, float(np.abs(got - reference_probability_best(mean, sd)).max()))
        assert got.sum() == pytest.approx(1.0, abs=1e-12)
    assert worst < 1e-12
    # and the grid integral is the probability of being the best: against draws
    mean, sd = np.array([0.60, 0.58, 0.55, 0.40]), np.array([0.03, 0.05, 0.10, 0.20])
    draws = rng.normal(mean, sd, size=(400_000, 4)).argmax(axis=1)
    sampled = np.bincount(draws, minlength=4) / len(draws)
    assert np.abs(np.array(probability_best(mean, sd)) - sampled).max() < 0.005


def test_contexts_of_a_request_are_each_candidates_context_to_the_bit() -> None:
    rng = np.random.default_rng(3)
    for _ in range(200):
        request = rng.uniform(0, 50, len(REQUEST_FEATURES)).tolist()
        request[[n for n, _ in REQUEST_FEATURES].index("intent_group_id")] = rng.integers(-1, 30)
        rows = rng.uniform(0, 5_000, (int(rng.integers(1, 9)), len(CANDIDATE_FEATURES)))
        p = rng.uniform(0, 1, len(rows)).tolist()
        one_by_one = [context_of(request, row.tolist(), q) for row, q in zip(rows, p, strict=True)]
        assert np.array_equal(contexts_of(request, rows.tolist(), p), np.array(one_by_one))


def test_estimates_are_each_models_posterior() -> None:
    bandit = ContextualBandit(BanditParams(learner="contextual"))
    rng = np.random.default_rng(5)
    for _ in range(300):
        bandit.update(str(rng.choice(["a", "b", "c"])), ctx(int(rng.integers(0, 5))), rng.normal())
    xs = rng.normal(0, 1, (3, DIM))
    mean, sd = bandit.estimates(["a", "b", "c"], [0.1, 0.2, 0.3], xs)
    for j, m in enumerate("abc"):
        theta = np.linalg.solve(bandit._a[m], bandit._b[m]) + bandit._shared
        assert mean[j] == pytest.approx([0.1, 0.2, 0.3][j] + xs[j] @ theta, abs=1e-9)
        spread = xs[j] @ np.linalg.solve(bandit._a[m], xs[j])
        assert sd[j] == pytest.approx(np.sqrt(bandit._noise * spread), rel=1e-9)
