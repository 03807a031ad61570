"""Where a conversation's prefix is cached (:mod:`selector.prompt_caches`) and how the
feature extractor prices it (:meth:`features.extractor.CandidateInfo.cached_tokens`)."""

from __future__ import annotations

import pytest

from features.extractor import C, CachedPrefix, Conversation
from selector.prompt_caches import PromptCaches
from tests.builders import Parts


@pytest.fixture(scope="module")
def parts() -> Parts:
    return Parts()


def test_a_served_call_moves_the_cache_and_a_failed_one_gives_it_back() -> None:
    caches = PromptCaches()
    assert caches.lookup("c", 0.0) is None
    caches.decided("d1", "c", "a", 2_000, 0.0, now=10.0)
    assert caches.lookup("c", 15.0) == CachedPrefix("a", 2_000, 5.0)
    caches.served("d1", "a", 2_100, None, now=12.0)  # the gateway's count wins
    assert caches.lookup("c", 15.0) == CachedPrefix("a", 2_100, 3.0)

    caches.decided("d2", "c", "b", 2_600, 0.0, now=40.0)
    caches.failed("d2", "b")  # b wrote nothing: a still holds the first turn's prompt
    assert caches.lookup("c", 50.0) == CachedPrefix("a", 2_100, 38.0)
    caches.served("d2", "a", None, None, now=45.0)  # the fallback answered
    assert caches.lookup("c", 50.0) == CachedPrefix("a", 2_600, 5.0)

    caches.served("d1", "b", 9_999, None, now=60.0)  # a result of an older turn: ignored
    assert caches.lookup("c", 60.0) == CachedPrefix("a", 2_600, 15.0)


def test_a_first_turn_that_fails_leaves_nothing_cached() -> None:
    caches = PromptCaches()
    caches.decided("d1", "c", "a", 2_000, 0.0, now=0.0)
    caches.failed("d1", "a")
    assert caches.lookup("c", 1.0) is None


def test_the_memory_forgets_the_least_recent_conversations() -> None:
    caches = PromptCaches(max_conversations=2)
    for i, conversation in enumerate(("c1", "c2", "c3")):
        caches.decided(f"d{i}", conversation, "a", 2_000, 0.0, now=float(i))
    assert len(caches) == 2
    assert caches.lookup("c1", 5.0) is None
    assert caches.lookup("c3", 5.0) is not None
    caches.served("d0", "a", None, None, now=6.0)  # forgotten with its conversation
    assert caches.lookup("c1", 6.0) is None


def test_reported_cache_reads_teach_the_share_a_provider_caches() -> None:
    caches = PromptCaches()
    for i in range(40):  # priced 2,000 cached tokens; the provider reads none
        caches.decided(f"d{i}", f"c{i}", "a", 2_500, 2_000.0 * caches.shares.get("a", 1.0), 0.0)
        caches.served(f"d{i}", "a", 2_500, 0, now=1.0)
    low = caches.shares["a"]
    assert 0.05 <= low < 0.1  # toward none, never quite: a cache that starts is seen
    found = caches.lookup("c0", 2.0)
    assert found is not None
    assert found.share == low
    for i in range(40, 80):  # now it reads all it was priced for
        caches.decided(f"d{i}", f"c{i}", "a", 2_500, 2_000.0 * caches.shares["a"], 0.0)
        caches.served(f"d{i}", "a", 2_500, 2_000, now=1.0)
    assert caches.shares["a"] > 0.95
    caches.decided("x", "cx", "b", 2_500, 0.0, 0.0)
    caches.served("x", "b", 2_500, 0, now=1.0)  # nothing was priced as cached: nothing learnt
    assert "b" not in caches.shares


@pytest.mark.parametrize(
    ("cache", "cached"),
    [
        (CachedPrefix("gpt-5", 3_000, 10.0), 3_000.0),
        (CachedPrefix("gpt-5", 3_000, 10.0, share=0.5), 1_500.0),
        (CachedPrefix("gpt-5", 9_000, 10.0), 4_000.0),  # never more than the prompt
        (CachedPrefix("gpt-5", 3_000, 301.0), 0.0),  # expired (300 s)
        (CachedPrefix("gpt-5", 1_000, 10.0), 0.0),  # too short to be cached (1,024)
        (CachedPrefix("gemini-2.5-pro", 3_000, 10.0), 0.0),  # another model holds it
        (None, 0.0),
    ],
)
def test_the_holder_alone_reads_a_fresh_long_enough_prefix(
    parts: Parts, cache: CachedPrefix | None, cached: float
) -> None:
    conv = Conversation(turns=9, prompt_tokens=4_000, cache=cache)
    fv = parts.extractor.extract(conv, ["gpt-5", "gpt-5-mini"])
    assert fv.cached_tokens == [cached, 0.0]
    gpt5 = parts.catalog["gpt-5"]
    assert gpt5.cached_input_usd_per_mtok is not None
    completion = parts.extractor.models["gpt-5"].completion_tokens
    expected = gpt5.cost_usd(4_000, completion, cached)
    assert fv.candidate_rows[0][C["expected_cost_usd"]] == pytest.approx(expected)
    mini = parts.catalog["gpt-5-mini"]
    completion = parts.extractor.models["gpt-5-mini"].completion_tokens
    assert fv.candidate_rows[1][C["expected_cost_usd"]] == pytest.approx(
        mini.cost_usd(4_000, completion)
    )
