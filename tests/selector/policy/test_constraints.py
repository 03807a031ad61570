"""Constraints judged with their uncertainty: relaxation to the smallest violation, the
deadline on the probability of breaking it, and probe traffic with exact propensities."""

from __future__ import annotations

from collections import Counter

import pytest

from features.extractor import Conversation
from selector.policy import DecisionContext, ProbeConfig, UtilityPolicy
from selector.policy.constraints import mix_probes, probe_share, relax
from tests.builders import Parts
from tests.selector.policy.conftest import Clock

PROBES = ProbeConfig(share=0.05, max_share=0.2, evidence=10.0)


@pytest.fixture
def with_priors() -> Parts:
    return Parts(with_classifier=False, clock=Clock(), priors=True)


def _p(score: object) -> float:
    p = score.p_over_deadline  # type: ignore[attr-defined]
    assert p is not None
    return float(p)


def decide(parts: Parts, policy: UtilityPolicy, ctx: DecisionContext, turns: int = 4):  # type: ignore[no-untyped-def]
    fv = parts.extractor.extract(
        Conversation(turns=turns, intent="card_arrival"), parts.catalog.enabled_names
    )
    return policy.decide(fv, ctx)


def test_a_budget_below_every_model_picks_the_one_that_breaks_it_least(parts: Parts) -> None:
    policy = UtilityPolicy(parts.quality, parts.providers)
    free = decide(parts, policy, DecisionContext())
    cheapest = min(free.scores, key=lambda s: s.expected_cost_usd)
    budget = cheapest.expected_cost_usd / 1.0417
    d = decide(parts, policy, DecisionContext(max_cost_usd=budget))
    assert d.model == cheapest.model
    assert d.relaxed == ["budget"]
    assert d.relaxed_by["budget"] == pytest.approx(0.0417, abs=1e-6)
    assert [s.model for s in d.scores if s.eligible] == [cheapest.model]


def test_a_deadline_below_every_model_picks_the_fastest(parts: Parts) -> None:
    policy = UtilityPolicy(parts.quality, parts.providers)
    d = decide(parts, policy, DecisionContext(max_latency_ms=100.0))
    fastest = min(parts.catalog[m].expected_latency_ms for m in parts.catalog.enabled_names)
    assert parts.catalog[d.model].expected_latency_ms == fastest
    assert d.relaxed == ["deadline"]
    assert d.relaxed_by["deadline"] == pytest.approx(2 * fastest / 100.0 - 1.0)


def test_relaxing_budget_then_deadline_keeps_the_least_of_each(parts: Parts) -> None:
    policy = UtilityPolicy(parts.quality, parts.providers)
    d = decide(parts, policy, DecisionContext(max_cost_usd=1e-9, max_latency_ms=1.0))
    assert d.relaxed == ["budget", "deadline"]
    assert set(d.relaxed_by) == {"budget", "deadline"}
    chosen = next(s for s in d.scores if s.model == d.model)
    assert chosen.over == d.relaxed_by


def test_the_deadline_is_judged_on_the_probability_of_breaking_it(with_priors: Parts) -> None:
    parts = with_priors
    policy = UtilityPolicy(parts.quality, parts.providers)
    d = decide(parts, policy, DecisionContext(max_latency_ms=4_000.0))
    by = {s.model: s for s in d.scores}
    # gpt-5: prior p50 2,800 ms, p95 5,600 ms: over the deadline, but only on a guess
    assert "deadline" in by["gpt-5"].reasons
    assert 0.5 < _p(by["gpt-5"]) < 0.95
    assert _p(by["gemini-2.5-flash-lite"]) < 0.05
    for _ in range(30):  # it is much faster than its catalog says
        parts.tracker.record("gpt-5", 900.0, error=False)
    d = decide(parts, policy, DecisionContext(max_latency_ms=4_000.0))
    gpt5 = next(s for s in d.scores if s.model == "gpt-5")
    assert gpt5.reasons == ()
    assert _p(gpt5) < 0.01


def test_a_model_judged_on_a_guess_gets_its_probe_share_with_exact_propensities(
    with_priors: Parts,
) -> None:
    parts = with_priors
    policy = UtilityPolicy(parts.quality, parts.providers, seed=3)
    policy.probes = PROBES
    ctx = DecisionContext(max_latency_ms=4_000.0)
    first = decide(parts, policy, ctx)
    probes = [s.model for s in first.scores if s.probe]
    assert probes
    assert all("deadline" in s.reasons for s in first.scores if s.probe)
    q = probe_share(PROBES, len(probes))
    n = 4_000
    chosen: Counter[str] = Counter()
    for _ in range(n):
        d = decide(parts, policy, ctx)
        probs = d.probabilities()
        assert sum(probs.values()) == pytest.approx(1.0)
        assert d.propensity == pytest.approx(probs[d.model])
        chosen[d.model] += 1
    for m in probes:
        assert abs(chosen[m] - n * q) < 4 * (n * q * (1 - q)) ** 0.5, (m, chosen[m], n * q)
    assert chosen[first.model] == pytest.approx(n * (1 - q * len(probes)), rel=0.05)


def test_probing_stops_once_the_evidence_is_in(with_priors: Parts) -> None:
    parts = with_priors
    policy = UtilityPolicy(parts.quality, parts.providers)
    policy.probes = PROBES
    ctx = DecisionContext(max_latency_ms=4_000.0)
    for _ in range(12):  # as slow as the catalog says: the probes confirm it
        parts.tracker.record("gpt-5", 2_800.0 * 2.2, error=False)
    d = decide(parts, policy, ctx)
    gpt5 = next(s for s in d.scores if s.model == "gpt-5")
    assert "deadline" in gpt5.reasons
    assert not gpt5.probe
    assert _p(gpt5) > 0.95


def test_the_probe_shares_are_cut_to_fit_the_total() -> None:
    assert probe_share(ProbeConfig(share=0.05, max_share=0.1), 4) == pytest.approx(0.025)
    assert probe_share(ProbeConfig(share=0.05, max_share=0.1), 0) == 0.0
    with pytest.raises(ValueError, match="share"):
        ProbeConfig(share=1.5)


def test_nothing_relaxed_when_a_candidate_meets_every_constraint() -> None:
    class S:
        def __init__(self, reasons: tuple[str, ...], over: dict[str, float] | None) -> None:
            self.reasons, self.over = reasons, over

    found = relax([S(("budget",), {"budget": 0.5}), S((), None)])
    assert (found.eligible, found.relaxed, found.relaxed_by) == ([1], [], {})
    found = relax([S(("circuit_open",), None), S(("context_window",), None)])
    assert (found.eligible, found.relaxed) == ([0], ["circuit_open"])


def _score(d, model: str):  # type: ignore[no-untyped-def]
    return next(s for s in d.scores if s.model == model)


def test_a_model_in_trouble_keeps_a_probe_share_until_its_recovery_is_seen() -> None:
    clock = Clock()
    parts = Parts(with_classifier=False, clock=clock, priors=True)
    policy = UtilityPolicy(parts.quality, parts.providers, seed=5)
    policy.probes = PROBES
    ctx = DecisionContext(late_penalty=0.5, deadline_ms=3_000.0)
    usual = decide(parts, policy, ctx).model
    p50 = parts.catalog[usual].expected_latency_ms
    for _ in range(40):
        parts.tracker.record(usual, p50, error=False)
    assert decide(parts, policy, ctx).model == usual
    for _ in range(20):  # an incident: ten times slower, past the deadline
        parts.tracker.record(usual, 10 * p50 + 3_000.0, error=False)
    d = decide(parts, policy, ctx)
    assert d.model != usual
    assert not _score(d, usual).probe  # twenty calls of evidence: judged on them
    clock.t += 1_800.0  # nobody calls it: two half-lives later the evidence is thin
    d = decide(parts, policy, ctx)
    troubled = _score(d, usual)
    assert troubled.probe
    assert troubled.reasons == ()
    q = probe_share(PROBES, sum(s.probe for s in d.scores))
    n, chosen = 2_000, 0
    for _ in range(n):
        d = decide(parts, policy, ctx)
        assert d.propensity == pytest.approx(d.probabilities()[d.model])
        assert d.model not in d.fallbacks
        chosen += d.model == usual
    assert abs(chosen - n * q) < 4 * (n * q * (1 - q)) ** 0.5, (chosen, n * q)
    for _ in range(5):  # the probes answer in time again: the incident is over
        parts.tracker.record(usual, p50, error=False)
    d = decide(parts, policy, ctx)
    assert d.model == usual
    assert not _score(d, usual).probe


def test_a_probed_model_the_policy_may_choose_too_has_both_chances() -> None:
    class S:
        def __init__(self, p: float | None) -> None:
            self.probability = p

    scores = [S(0.7), S(0.2), S(0.1)]
    config = ProbeConfig(share=0.05, max_share=0.2)
    ranking, propensity = mix_probes(config, scores, [0, 1, 2], 0.7, [1], u=0.01)
    assert ranking == [1, 0, 2]
    assert propensity == pytest.approx(0.2 * 0.95 + 0.05)
    assert sum(s.probability for s in scores) == pytest.approx(1.0)  # type: ignore[misc]
    scores = [S(0.7), S(0.2), S(0.1)]
    ranking, propensity = mix_probes(config, scores, [0, 1, 2], 0.7, [1], u=0.5)
    assert ranking == [0, 1, 2]
    assert propensity == pytest.approx(0.7 * 0.95)
