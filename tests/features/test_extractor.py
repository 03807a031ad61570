from __future__ import annotations

import pytest

from features.extractor import C, Conversation, R
from features.schema import CANDIDATE_FEATURES, REQUEST_FEATURES
from tests.builders import Parts


@pytest.fixture(scope="module")
def parts() -> Parts:
    return Parts()


def test_vector_follows_the_schema(parts: Parts) -> None:
    conv = Conversation(
        messages=[
            ("system", "be nice"),
            ("user", "my card has not arrived yet"),
            ("assistant", "Sorry to hear that. When did you order it?"),
            ("user", "two weeks ago, where is my card"),
        ]
    )
    fv = parts.extractor.extract(conv, parts.catalog.names)
    assert len(fv.request) == len(REQUEST_FEATURES)
    assert all(len(row) == len(CANDIDATE_FEATURES) for row in fv.candidate_rows)
    assert fv.request[R["turns"]] == 3
    assert fv.request[R["user_turns"]] == 2
    assert fv.request[R["last_user_chars"]] == len("two weeks ago, where is my card")
    assert fv.request[R["prompt_tokens_estimated"]] == 1.0
    assert fv.intent == "card_arrival"
    assert fv.request[R["intent_given"]] == 0.0
    assert 0 < fv.request[R["intent_confidence"]] <= 1


def test_given_intent_and_tokens_win(parts: Parts) -> None:
    conv = Conversation(messages=[("user", "hello")], prompt_tokens=1234, intent="Request Refund")
    fv = parts.extractor.extract(conv, ["gpt-5"])
    assert fv.intent == "request_refund"
    assert fv.intent_group == "billing_dispute"
    assert fv.request[R["prompt_tokens"]] == 1234
    assert fv.request[R["intent_given"]] == 1.0
    assert fv.request[R["intent_confidence"]] == 1.0


def test_unseen_intent_goes_to_other_and_group_names_are_understood(parts: Parts) -> None:
    fv = parts.extractor.extract(Conversation(turns=2, intent="warp_drive_repair"), ["gpt-5"])
    assert (fv.intent, fv.intent_group, fv.request[R["intent_id"]]) == ("other", "other", 0.0)
    fv = parts.extractor.extract(Conversation(turns=2, intent="billing_dispute"), ["gpt-5"])
    assert (fv.intent, fv.intent_group) == ("other", "billing_dispute")


def test_turns_only_estimates_tokens_per_turn(parts: Parts) -> None:
    fv = parts.extractor.extract(Conversation(turns=9), ["gpt-5"])
    assert fv.request[R["turns"]] == 9
    assert fv.request[R["user_turns"]] == 5
    assert fv.request[R["prompt_tokens"]] == 9 * 17


def test_candidate_block_prices_and_context(parts: Parts) -> None:
    fv = parts.extractor.extract(
        Conversation(turns=1, prompt_tokens=300_000), ["claude-opus-4.1", "gpt-5"]
    )
    opus, gpt5 = fv.candidate_rows
    assert opus[C["fits_context"]] == 0.0  # 200k window
    assert gpt5[C["fits_context"]] == 1.0  # 400k window
    expected = (300_000 * 1.25 + 800 * 10.0) / 1e6
    assert gpt5[C["expected_cost_usd"]] == pytest.approx(expected)


def test_priors_until_live_latency_arrives(parts: Parts) -> None:
    p = Parts(with_classifier=False)
    fv = p.extractor.extract(Conversation(turns=1), ["gemini-2.5-flash"])
    row = fv.candidate_rows[0]
    assert (row[C["latency_p50_ms"]], row[C["latency_p95_ms"]], row[C["latency_samples"]]) == (
        800.0,
        1600.0,
        0.0,
    )
    for ms in (100.0, 300.0, 500.0):
        p.tracker.record("gemini-2.5-flash", ms, error=False)
    p.tracker.record("gemini-2.5-flash", None, error=True)
    row = p.extractor.extract(Conversation(turns=1), ["gemini-2.5-flash"]).candidate_rows[0]
    assert row[C["latency_p50_ms"]] == 300.0
    assert row[C["error_rate"]] == 0.25
    assert row[C["latency_samples"]] == 4.0


def test_without_classifier_or_text_the_intent_is_other() -> None:
    p = Parts(with_classifier=False)
    fv = p.extractor.extract(Conversation(messages=[("user", "refund please")]), ["gpt-5"])
    assert fv.intent == "other"
