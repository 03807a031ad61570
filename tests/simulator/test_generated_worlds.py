"""The world generator: reproducible, and its worlds break what the selector might
assume (quality by price, catalog priors, one deadline), over many seeds."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from selector.catalog import load_catalog
from simulator.corpus import Corpus
from simulator.generated_worlds import GeneratedWorld, catalog_yaml, generate
from simulator.scenario import GROUPS
from simulator.world import World

SEEDS = range(200)
TINY = Corpus(np.array([3]), np.array([80.0]), ["hi"], ["card_arrival"], ["other"])


@pytest.fixture(scope="module")
def worlds(tmp_path_factory: pytest.TempPathFactory) -> list[tuple[GeneratedWorld, World]]:
    folder = tmp_path_factory.mktemp("worlds")
    out = []
    for seed in SEEDS:
        w = generate(seed)
        path = folder / f"catalog-{seed}.yaml"
        path.write_text(catalog_yaml(w), encoding="utf-8")
        out.append((w, World(w.scenario, load_catalog(path), TINY)))
    return out


def quality(world: World) -> np.ndarray:
    """P(good answer) at the first turn, models (in price order) × intent groups."""
    return np.array([[world.p_good(m, g, 1) for g in GROUPS] for m in world.models])


def test_the_same_seed_gives_the_same_world(tmp_path: Path) -> None:
    assert generate(7) == generate(7)
    assert catalog_yaml(generate(7)) == catalog_yaml(generate(7))
    assert generate(7).scenario != generate(8).scenario


def test_catalog_sizes_span_three_to_twelve_models(
    worlds: list[tuple[GeneratedWorld, World]],
) -> None:
    sizes = [len(w.catalog) for w, _ in worlds]
    assert min(sizes) == 3
    assert max(sizes) == 12


def test_quality_is_not_the_price_tiers(worlds: list[tuple[GeneratedWorld, World]]) -> None:
    cheapest_best_somewhere = dearest_worst_somewhere = dearest_best_overall = 0
    correlations = []
    for _, world in worlds:
        q = quality(world)
        best_by_group = q.argmax(axis=0)
        cheapest_best_somewhere += bool((best_by_group == 0).any())
        dearest_worst_somewhere += bool((q.argmin(axis=0) == len(q) - 1).any())
        dearest_best_overall += int(q.mean(axis=1).argmax() == len(q) - 1)
        prices = np.arange(len(q))
        correlations.append(np.corrcoef(prices, q.mean(axis=1))[0, 1])
    n = len(worlds)
    assert cheapest_best_somewhere > 0.15 * n  # a cheap model is the best on some intents
    assert dearest_worst_somewhere > 0.05 * n  # a dear one the worst on some
    assert dearest_best_overall < 0.5 * n  # the dearest is not simply the best
    assert min(correlations) < -0.3
    assert max(correlations) > 0.6


def test_the_catalog_s_priors_are_off_both_ways(
    worlds: list[tuple[GeneratedWorld, World]],
) -> None:
    ratios = [r for w, _ in worlds for r in w.prior_latency_ratio.values()]
    assert 1 / 3 <= min(ratios) < 0.4
    assert 2.5 < max(ratios) <= 3.0
    assert 0.3 < float(np.mean(np.array(ratios) > 1.0)) < 0.7


def test_deadlines_events_and_spikes_vary(worlds: list[tuple[GeneratedWorld, World]]) -> None:
    deadlines = [w.scenario.gateway.deadline_ms for w, _ in worlds]
    assert min(deadlines) < 2_000
    assert max(deadlines) > 7_000
    kinds = [e.kind for w, _ in worlds for e in w.scenario.events]
    assert 0.3 * len(worlds) < kinds.count("latency") < 0.7 * len(worlds)
    assert 0.3 * len(worlds) < kinds.count("quality") < 0.7 * len(worlds)
    spiked = sum(bool(w.scenario.day.spikes) for w, _ in worlds)
    assert 0.3 * len(worlds) < spiked < 0.7 * len(worlds)


def test_prices_deployments_outcomes_and_intents_change_too(
    worlds: list[tuple[GeneratedWorld, World]],
) -> None:
    n = len(worlds)
    kinds = [e.kind for w, _ in worlds for e in w.scenario.events]
    assert 0.2 * n < kinds.count("price") < 0.5 * n
    assert 0.1 * n < kinds.count("added") < 0.4 * n
    assert 0.1 * n < kinds.count("removed") < 0.4 * n
    by_conversation = sum(
        w.scenario.conversation.outcome_level == "conversation" for w, _ in worlds
    )
    assert 0.2 * n < by_conversation < 0.5 * n
    unseen = [w.scenario.day.unseen_intents for w, _ in worlds]
    shares = [u.share for u in unseen if u is not None]
    assert 0.3 * n < len(shares) < 0.7 * n
    assert min(shares) < 0.2
    assert max(shares) > 0.4
    for w, world in worlds:
        moved = {e.model for e in w.scenario.events if e.kind in ("added", "removed")}
        assert w.catalog[0]["name"] not in moved  # one model is always deployed
        for hour in (0.0, 12.0, 23.9):
            assert world.deployed(hour * 3600)
    prices = [e.multiplier for w, _ in worlds for e in w.scenario.events if e.kind == "price"]
    assert min(prices) < 0.5
    assert max(prices) > 2.0


def test_a_third_of_the_gateways_send_a_budget_that_some_models_fit(
    worlds: list[tuple[GeneratedWorld, World]],
) -> None:
    budgets = 0
    for w, _ in worlds:
        budget = w.scenario.gateway.budget_usd
        if budget is None:
            continue
        budgets += 1
        typical = sorted(
            (
                e["input_usd_per_mtok"] * 2_000
                + e["output_usd_per_mtok"] * e["expected_completion_tokens"]
            )
            / 1e6
            for e in w.catalog
        )
        assert sum(c <= budget for c in typical) >= 2
        assert typical[-1] >= budget
    assert 0.2 * len(worlds) < budgets < 0.5 * len(worlds)


def test_events_change_the_truth_from_their_hour(
    worlds: list[tuple[GeneratedWorld, World]],
) -> None:
    seen = set()
    for w, world in worlds:
        for e in w.scenario.events:
            before, after = (e.start_hour - 0.01) * 3600, (e.start_hour + 0.01) * 3600
            if e.kind == "price":
                ratio = world.cost_usd(e.model, 1000, 100, after) / world.cost_usd(
                    e.model, 1000, 100, before
                )
                assert ratio == pytest.approx(e.multiplier)
            elif e.kind in ("added", "removed"):
                assert world.available(e.model, after) == (e.kind == "added")
                assert world.available(e.model, before) == (e.kind == "removed")
                assert (e.model in world.deployed(after)) == (e.kind == "added")
            seen.add(e.kind)
    assert seen == {"latency", "quality", "price", "added", "removed"}


def test_every_probability_of_the_truth_is_a_probability(
    worlds: list[tuple[GeneratedWorld, World]],
) -> None:
    for _, world in worlds:
        q = quality(world)
        assert ((q > 0) & (q < 1)).all()
        assert q.std() > 0  # the models differ


def test_two_worlds_in_three_cache_prompts_and_the_cache_bills_as_drawn(
    worlds: list[tuple[GeneratedWorld, World]],
) -> None:
    cached = [w for w, _ in worlds if any("cached_input_usd_per_mtok" in e for e in w.catalog)]
    assert 0.55 < len(cached) / len(worlds) < 0.78
    entries = [e for w in cached for e in w.catalog]
    priced = [e for e in entries if "cached_input_usd_per_mtok" in e]
    assert 0.7 < len(priced) / len(entries) < 0.9  # 80 % of a caching world's models
    shares = np.array([e["cached_input_usd_per_mtok"] / e["input_usd_per_mtok"] for e in priced])
    assert shares.min() >= 0.099
    assert shares.max() <= 0.501
    assert {e["cache_min_tokens"] for e in priced} == {512, 1_024, 2_048}
    stated = [e for e in priced if "cache_lifetime_s" in e]
    assert 0.35 < len(stated) / len(priced) < 0.65  # the rest keep the default, 300 s

    w, world = next((w, x) for w, x in worlds if w in cached)
    e = next(e for e in w.catalog if "cached_input_usd_per_mtok" in e)
    m, truth = e["name"], w.scenario.models[e["name"]]
    assert truth.cache_lifetime_s is not None
    assert truth.cache_min_tokens is not None
    long = truth.cache_min_tokens + 500
    held = (m, long, 100.0)
    assert world.cached_tokens(m, held, long + 300, 100.0 + truth.cache_lifetime_s) == long
    assert world.cached_tokens(m, held, long - 100, 101.0) == long - 100  # at most the prompt
    assert world.cached_tokens(m, held, long + 300, 100.1 + truth.cache_lifetime_s) == 0
    assert world.cached_tokens(m, (m, truth.cache_min_tokens - 1, 100.0), long, 101.0) == 0
    other = next(x for x in w.catalog if x["name"] != m)["name"]
    assert world.cached_tokens(other, held, long, 101.0) == 0
    full = world.cost_usd(m, long + 300, 200, 101.0)
    cheap = world.cost_usd(m, long + 300, 200, 101.0, long)
    saving = long * (e["input_usd_per_mtok"] - e["cached_input_usd_per_mtok"]) / 1e6
    assert cheap == pytest.approx(full - saving)
