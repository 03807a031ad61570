"""The simulated world's distributions against the data and the scenario they come from."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest

from core.errors import ConfigError
from selector.catalog import Catalog
from simulator.corpus import Corpus
from simulator.generated_worlds import SGD_SERVICES
from simulator.scenario import Event, Scenario, UnseenIntents
from simulator.world import World
from tests.simulator.conftest import needs_data

pytestmark = needs_data


def test_a_day_is_reproducible_from_its_seed_and_changes_with_it(world: World) -> None:
    a, b, c = world.traffic(seed=1), world.traffic(seed=1), world.traffic(seed=2)
    assert [x.start_s for x in a] == [x.start_s for x in b]
    assert all(np.array_equal(x.u_good, y.u_good) for x, y in zip(a, b, strict=True))
    assert [x.text for x in a] != [x.text for x in c]


def test_turn_counts_follow_the_dialogue_corpus(world: World, corpus: Corpus) -> None:
    turns = np.array([c.user_turns for c in world.traffic(seed=3, conversations=4000)])
    sgd = np.minimum(corpus.user_turns, world.scenario.conversation.max_user_turns)
    assert abs(turns.mean() - sgd.mean()) < 0.15  # standard error ≈ 0.05
    for q in (0.1, 0.5, 0.9):
        assert abs(np.quantile(turns, q) - np.quantile(sgd, q)) <= 1


def test_intent_groups_follow_the_intent_data(world: World, corpus: Corpus) -> None:
    day = world.traffic(seed=4, conversations=4000)
    got = Counter(c.group for c in day)
    want = Counter(corpus.groups)
    for group, n in want.items():
        assert got[group] / len(day) == pytest.approx(n / len(corpus.groups), abs=0.03)
    assert {c.intent for c in day} <= set(corpus.intents)


def test_a_share_of_customers_opens_with_intents_the_classifier_never_saw(
    world: World, corpus: Corpus
) -> None:
    sc = world.scenario
    plain = world.traffic(seed=4, conversations=4000)
    unseen = UnseenIntents(share=0.3, groups={"Restaurants": "billing_dispute"})
    mixed = World(
        sc.model_copy(update={"day": sc.day.model_copy(update={"unseen_intents": unseen})}),
        world.catalog,
        corpus,
    ).traffic(seed=4, conversations=4000)
    new = [c for c in mixed if c.intent.startswith("sgd:")]
    assert len(new) / len(mixed) == pytest.approx(0.3, abs=0.03)
    assert {c.text for c in new} <= set(corpus.unseen_texts)
    assert not {c.text for c in new} & set(corpus.texts)
    # each service is answered as its group (restaurants → billing disputes; the rest
    # "other"), and the generator draws a group for every service of the data
    assert {c.group for c in new if c.intent == "sgd:Restaurants"} == {"billing_dispute"}
    assert {c.group for c in new if c.intent != "sgd:Restaurants"} == {"other"}
    assert {c.intent.removeprefix("sgd:") for c in new} <= set(SGD_SERVICES)
    assert set(corpus.unseen_domains) <= set(SGD_SERVICES)
    # the rest of the day is the day without them: same customers, same dice
    for a, b in zip(plain, mixed, strict=True):
        assert a.start_s == b.start_s
        assert np.array_equal(a.u_good, b.u_good)
        if not b.intent.startswith("sgd:"):
            assert (a.text, a.group) == (b.text, b.group)


def test_a_world_with_unseen_intents_needs_their_data(world: World, corpus: Corpus) -> None:
    sc = world.scenario
    unseen = UnseenIntents(share=0.1)
    bare = Corpus(corpus.user_turns, corpus.user_chars, corpus.texts, corpus.intents, corpus.groups)
    w = World(
        sc.model_copy(update={"day": sc.day.model_copy(update={"unseen_intents": unseen})}),
        world.catalog,
        bare,
    )
    with pytest.raises(ConfigError, match="first_user_utterance"):
        w.traffic(conversations=10)


def test_arrivals_follow_the_diurnal_profile_and_triple_in_the_spike(world: World) -> None:
    sc = world.scenario
    starts = np.array([c.start_s for c in world.traffic(seed=5, conversations=20000)]) / 3600
    spike = sc.day.spikes[0]
    per_hour = np.bincount(starts.astype(int), minlength=24)[:24]
    # the hours just before and after the spike, without it, would be about as busy as it
    inside = per_hour[int(spike.start_hour) : int(spike.end_hour)].mean()
    around = per_hour[[int(spike.start_hour) - 1, int(spike.end_hour)]].mean()
    assert inside / around == pytest.approx(spike.multiplier, rel=0.15)
    # diurnal: the peak hour is busier than the night by about (1 + A) / (1 − A)
    a = sc.day.diurnal_amplitude
    night = int((sc.day.peak_hour + 12) % 24)
    assert per_hour[int(sc.day.peak_hour)] / per_hour[night] == pytest.approx(
        (1 + a) / (1 - a), rel=0.25
    )


def test_quality_is_the_table_plus_offsets_minus_the_decline(world: World) -> None:
    sc = world.scenario
    small = sc.quality.tiers["small"]["billing_dispute"]
    offset = sc.models["gemini-2.5-flash-lite"].group_offsets["billing_dispute"]
    decline = sc.quality.decline_per_turn["small"]
    assert world.p_good("gemini-2.5-flash-lite", "billing_dispute", 1) == pytest.approx(
        small + offset
    )
    assert world.p_good("gemini-2.5-flash-lite", "billing_dispute", 5) == pytest.approx(
        small + offset - 4 * decline
    )
    # the smallest model is the weakest on billing disputes, not on account questions
    billing = {m: world.p_good(m, "billing_dispute", 3) for m in world.models}
    assert min(billing, key=billing.__getitem__) == "gemini-2.5-flash-lite"
    assert world.p_good("gemini-2.5-flash-lite", "account", 1) > billing["gemini-2.5-flash-lite"]


def test_a_quality_event_applies_to_its_model_group_and_hours_only(
    incident: Scenario, catalog: Catalog, corpus: Corpus
) -> None:
    event = Event(kind="quality", model="gpt-5", group="payments", start_hour=6, delta=-0.3)
    w = World(incident.model_copy(update={"events": [event]}), catalog, corpus)
    base = World(incident, catalog, corpus)
    at = 7 * 3600.0
    assert w.p_good("gpt-5", "payments", 1, at) == pytest.approx(
        base.p_good("gpt-5", "payments", 1, at) - 0.3
    )
    assert w.p_good("gpt-5", "payments", 1, 5 * 3600.0) == base.p_good("gpt-5", "payments", 1)
    assert w.p_good("gpt-5", "account", 1, at) == base.p_good("gpt-5", "account", 1)
    assert w.p_good("gemini-2.5-pro", "payments", 1, at) == base.p_good(
        "gemini-2.5-pro", "payments", 1
    )


def test_latency_falls_off_a_cliff_past_capacity(world: World) -> None:
    heavy = world.scenario.heavy_model
    idle = world.latency_ms(heavy, 1000, 0.5, 0.0, 0.0)
    at_capacity = world.latency_ms(heavy, 1000, 1.0, 0.0, 0.0)
    over = world.latency_ms(heavy, 1000, 1.5, 0.0, 0.0)
    assert at_capacity == pytest.approx(2 * idle / (1 + 0.5**8), rel=1e-9)
    assert over > 20 * idle
    assert world.p_error(heavy, 0.5) == world.scenario.models[heavy].error_rate
    assert world.p_error(heavy, 1.5) > world.p_error(heavy, 1.0)


def test_the_heavy_models_p95_goes_from_about_600_ms_to_over_3_s_in_the_spike(
    world: World,
) -> None:
    """What the scenario promises, at the load of sending it every turn."""
    sc = world.scenario
    heavy = sc.heavy_model
    quiet_t, spike_t = 8 * 3600.0, 11 * 3600.0
    day = world.traffic(seed=6)
    turn_rate = {  # all turns a minute, at each time, if every turn went to the heavy model
        t: sum(c.user_turns for c in day if t - 1800 <= c.start_s < t + 1800) / 60
        for t in (
            quiet_t,
            spike_t,
        )
    }
    z95 = 1.6449
    p95 = {
        t: world.latency_ms(heavy, 1500, world.load(heavy, turn_rate[t], t), z95, t)
        for t in (quiet_t, spike_t)
    }
    assert 400 < p95[quiet_t] < 900
    assert p95[spike_t] > 3000


def test_the_chance_of_a_late_answer_matches_sampled_latencies(world: World) -> None:
    rng = np.random.default_rng(0)
    z = rng.standard_normal(20000)
    model = "gpt-5"
    samples = np.array([world.latency_ms(model, 2000, 0.9, float(x), 0.0) for x in z])
    limit = float(np.quantile(samples, 0.8))
    assert world.p_latency_above(model, 2000, 0.9, 0.0, limit) == pytest.approx(0.2, abs=0.01)


def test_completion_lengths_have_the_models_mean(world: World) -> None:
    z = np.random.default_rng(1).standard_normal(20000)
    lengths = [world.completion_tokens("gpt-5", float(x)) for x in z]
    assert np.mean(lengths) == pytest.approx(
        world.scenario.models["gpt-5"].completion_tokens, rel=0.02
    )
