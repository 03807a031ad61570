from __future__ import annotations

from collections import Counter

import pytest

from features.extractor import C, Conversation
from selector.policy import DecisionContext, StaticRulesPolicy, UtilityPolicy
from tests.builders import Parts


def decide(parts: Parts, policy: object, ctx: DecisionContext | None = None, **conv: object):  # type: ignore[no-untyped-def]
    fv = parts.extractor.extract(Conversation(**conv), parts.catalog.enabled_names)  # type: ignore[arg-type]
    return policy.decide(fv, ctx or DecisionContext())  # type: ignore[attr-defined]


def tier(parts: Parts, model: str) -> str:
    return parts.catalog[model].tier


def test_utility_is_p_resolved_minus_cost_and_latency(parts: Parts) -> None:
    policy = UtilityPolicy(parts.quality, parts.providers)
    d = decide(parts, policy, DecisionContext(cost_weight=2.0, latency_weight=0.02), turns=6)
    for s in d.scores:
        expected = s.p_resolved - 2.0 * s.expected_cost_usd - 0.02 * s.expected_latency_ms / 1000
        assert s.utility == pytest.approx(expected)
    assert d.model == max(d.scores, key=lambda s: s.utility).model
    assert d.propensity == 1.0


def test_the_utility_prices_the_late_penalty_by_the_chance_of_a_late_or_failed_call(
    parts: Parts,
) -> None:
    """With a late penalty, each candidate pays it times the chance, from its live
    estimates, that its call fails or answers past the request's deadline (else the
    reward's): a model that slowed down loses that much of its utility."""
    from features.estimates import p_slower

    policy = UtilityPolicy(parts.quality, parts.providers)
    plain = DecisionContext(cost_weight=2.0, latency_weight=0.02, max_latency_ms=4_000)
    priced = DecisionContext(
        cost_weight=2.0, latency_weight=0.02, max_latency_ms=4_000, late_penalty=0.3
    )
    fv = parts.extractor.extract(Conversation(turns=6), parts.catalog.enabled_names)
    base = {s.model: s for s in policy.decide(fv, plain).scores}
    for s, row in zip(policy.decide(fv, priced).scores, fv.candidate_rows, strict=True):
        late = p_slower(row[C["latency_p50_ms"]], row[C["latency_p95_ms"]], 4_000)
        err = row[C["error_rate"]]
        charge = 0.3 * (err + (1 - err) * late)
        assert s.utility == pytest.approx(base[s.model].utility - charge)
    # a slowdown seen in a few calls moves the charge
    slowed = parts.catalog.enabled_names[0]
    before = {s.model: s.utility for s in policy.decide(fv, priced).scores}[slowed]
    for _ in range(6):
        parts.tracker.record(slowed, 9_000.0, error=False)
    fv = parts.extractor.extract(Conversation(turns=6), parts.catalog.enabled_names)
    after = {s.model: s.utility for s in policy.decide(fv, priced).scores}[slowed]
    assert after < before - 0.2


def test_hard_long_disputes_go_large_and_short_routine_turns_do_not(parts: Parts) -> None:
    policy = UtilityPolicy(parts.quality, parts.providers)
    hard = decide(parts, policy, turns=20, intent="transaction_charged_twice")
    easy = decide(parts, policy, turns=2, intent="card_arrival")
    assert tier(parts, hard.model) == "large"
    assert tier(parts, easy.model) != "large"


def test_a_zero_cost_weight_buys_the_best_quality(parts: Parts) -> None:
    policy = UtilityPolicy(parts.quality, parts.providers)
    d = decide(parts, policy, DecisionContext(cost_weight=0.0, latency_weight=0.0), turns=2)
    assert tier(parts, d.model) == "large"


def test_deadline_and_budget_make_models_ineligible(parts: Parts) -> None:
    policy = UtilityPolicy(parts.quality, parts.providers)
    d = decide(
        parts,
        policy,
        DecisionContext(max_latency_ms=2000, max_cost_usd=0.002),
        turns=20,
        intent="request_refund",
    )
    by = {s.model: s for s in d.scores}
    assert by["gpt-5"].reasons == ("budget", "deadline")
    assert not by["gpt-5"].eligible
    assert by[d.model].eligible
    assert not by[d.model].reasons
    assert d.relaxed == []


def test_relaxation_goes_budget_then_deadline(parts: Parts) -> None:
    policy = UtilityPolicy(parts.quality, parts.providers)
    d = decide(parts, policy, DecisionContext(max_cost_usd=1e-9), turns=2)
    assert d.relaxed == ["budget"]
    d = decide(parts, policy, DecisionContext(max_cost_usd=1e-9, max_latency_ms=1.0), turns=2)
    assert d.relaxed == ["budget", "deadline"]
    assert d.model  # always a model


def test_context_window_excludes_small_windows(parts: Parts) -> None:
    policy = UtilityPolicy(parts.quality, parts.providers)
    d = decide(parts, policy, turns=2, prompt_tokens=350_000)
    by = {s.model: s for s in d.scores}
    assert "context_window" in by["claude-opus-4.1"].reasons
    assert parts.catalog[d.model].context_window >= 350_000
    huge = decide(parts, policy, turns=2, prompt_tokens=5_000_000)
    assert huge.relaxed == ["context_window"]
    assert huge.model


def test_an_open_circuit_moves_traffic_away(parts: Parts) -> None:
    policy = UtilityPolicy(parts.quality, parts.providers)
    before = decide(parts, policy, turns=2, intent="card_arrival")
    for _ in range(5):
        parts.tracker.record(before.model, None, error=True)
    after = decide(parts, policy, turns=2, intent="card_arrival")
    assert after.model != before.model
    assert before.model not in after.fallbacks
    assert {s.model: s for s in after.scores}[before.model].reasons == ("circuit_open",)


def test_fallbacks_are_ordered_without_the_choice_and_start_with_another_provider(
    parts: Parts,
) -> None:
    policy = UtilityPolicy(parts.quality, parts.providers, max_fallbacks=3)
    d = decide(parts, policy, turns=6)
    assert d.model not in d.fallbacks
    assert len(d.fallbacks) == 3
    assert parts.providers[d.fallbacks[0]] != parts.providers[d.model]


def test_exploration_logs_exact_propensities(parts: Parts) -> None:
    eps = 0.3
    policy = UtilityPolicy(parts.quality, parts.providers, seed=7, exploration=eps)
    fv = parts.extractor.extract(Conversation(turns=6), parts.catalog.enabled_names)
    k = len(fv.candidates)
    counts: Counter[str] = Counter()
    props: dict[str, float] = {}
    n = 20_000
    for _ in range(n):
        d = policy.decide(fv, DecisionContext())
        counts[d.model] += 1
        props[d.model] = d.propensity
    greedy = max(d.scores, key=lambda s: s.utility).model
    assert props[greedy] == pytest.approx(1 - eps + eps / k)
    for model, c in counts.items():
        assert c / n == pytest.approx(props[model], abs=0.015)


def test_static_rules_reproduce_the_gateway_rules(parts: Parts) -> None:
    policy = StaticRulesPolicy(parts.quality, parts.providers)
    assert decide(parts, policy, turns=8).model == "gemini-2.5-flash-lite"
    assert decide(parts, policy, turns=9).model == "claude-opus-4.1"
    assert decide(parts, policy, turns=3, priority="high").model == "claude-opus-4.1"
    assert decide(parts, policy, turns=3, intent="request_refund").model == "gemini-2.5-flash-lite"


def test_static_rules_fail_over_when_the_rule_model_cannot_serve(parts: Parts) -> None:
    policy = StaticRulesPolicy(parts.quality, parts.providers)
    for _ in range(5):
        parts.tracker.record("claude-opus-4.1", None, error=True)
    d = decide(parts, policy, turns=12)
    assert d.model != "claude-opus-4.1"
    assert tier(parts, d.model) == "large"
