from __future__ import annotations

from collections import Counter

import pytest
from scipy import stats

from features.extractor import Conversation
from selector.online.bandit import BanditParams, ResidualBandit
from selector.policy import BanditPolicy, DecisionContext, UtilityPolicy
from tests.builders import Parts


def features(parts: Parts, **conv: object):  # type: ignore[no-untyped-def]
    return parts.extractor.extract(Conversation(**conv), parts.catalog.enabled_names)  # type: ignore[arg-type]


def test_propensity_is_the_logged_probability_of_the_choice(parts: Parts) -> None:
    policy = BanditPolicy(parts.quality, parts.providers, seed=1)
    fv = features(parts, turns=6, intent="card_arrival")
    for _ in range(50):
        d = policy.decide(fv, DecisionContext())
        chosen = next(s for s in d.scores if s.model == d.model)
        assert d.propensity == chosen.probability
        assert sum(s.probability or 0.0 for s in d.scores) == pytest.approx(1.0)
        assert d.fallbacks
        assert d.model not in d.fallbacks


def test_ineligible_models_have_probability_zero(parts: Parts) -> None:
    policy = BanditPolicy(parts.quality, parts.providers, seed=2)
    d = policy.decide(features(parts, turns=4), DecisionContext(max_cost_usd=0.0005))
    assert any(not s.eligible for s in d.scores)
    for s in d.scores:
        assert (s.probability or 0.0) > 0 if s.eligible else s.probability == 0.0


def test_without_corrections_it_prefers_what_the_offline_policy_picks(parts: Parts) -> None:
    fv = features(parts, turns=20, intent="transaction_charged_twice")
    greedy = UtilityPolicy(parts.quality, parts.providers).decide(fv, DecisionContext())
    d = BanditPolicy(parts.quality, parts.providers, seed=3).decide(fv, DecisionContext())
    best = max(d.scores, key=lambda s: s.probability or 0.0)
    assert best.model == greedy.model


def test_a_learned_regression_moves_the_choice_away_on_that_group_only(parts: Parts) -> None:
    fv = features(parts, turns=20, intent="transaction_charged_twice")
    group = fv.intent_group
    favourite = UtilityPolicy(parts.quality, parts.providers).decide(fv, DecisionContext()).model
    bandit = ResidualBandit(BanditParams(memory=50, prior_weight=5, gamma=400))
    for _ in range(60):
        bandit.update(favourite, group, -0.3)
    policy = BanditPolicy(parts.quality, parts.providers, seed=4, bandit=bandit)
    d = policy.decide(fv, DecisionContext())
    fav = next(s for s in d.scores if s.model == favourite)
    k = sum(s.eligible for s in d.scores)
    assert fav.probability is not None
    assert fav.probability < 1 / k
    assert max(d.scores, key=lambda s: s.probability or 0.0).model != favourite


def test_observed_choices_match_the_logged_probabilities(parts: Parts) -> None:
    """A χ² test over 6,000 seeded decisions in one context."""
    policy = BanditPolicy(
        parts.quality,
        parts.providers,
        seed=5,
        bandit=ResidualBandit(BanditParams(gamma=30, min_exploration=0.05)),
    )
    fv = features(parts, turns=6, intent="card_arrival")
    counts: Counter[str] = Counter()
    probs: dict[str, float] = {}
    n = 6_000
    for _ in range(n):
        d = policy.decide(fv, DecisionContext())
        counts[d.model] += 1
        probs = {s.model: s.probability or 0.0 for s in d.scores if s.eligible}
    models = sorted(probs)
    observed = [counts[m] for m in models]
    expected = [probs[m] * n for m in models]
    assert min(expected) > 5
    assert stats.chisquare(observed, expected).pvalue > 0.001
