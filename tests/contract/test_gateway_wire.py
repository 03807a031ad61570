"""The contract between the server and its gateway distribution
(``model_selector_gateway``), which share no code: every body the client sends is a
valid request of the server's schema, every answer the server gives (its published
types, and real answers of a real server) is read by the client without loss, and the
two ends agree on errors."""

from __future__ import annotations

import asyncio
from typing import Any, get_type_hints

import pytest
from model_selector_gateway import (
    AsyncSelectorClient,
    Decision,
    ModelScore,
    SelectorClient,
    SelectorRejectedError,
)
from model_selector_gateway.results import accepted_from, decision_from
from model_selector_gateway.wire import (
    catalog_names,
    conversation_body,
    feedback_body,
    route_body,
)

from selector.api.hot import (
    CONVERSATION_OUTCOME_ACCEPTED,
    FEEDBACK_ACCEPTED,
    ROUTE_RESPONSE,
    RouteResponse,
    Score,
)
from selector.api.schemas import FeedbackRequest, RouteRequest
from tests.conftest import Server

SMALL, LARGE = "gemini-2.5-flash-lite", "gpt-5"
HELLO = [{"role": "user", "content": "I was charged twice for my order"}]


@pytest.mark.parametrize(
    "body",
    [
        route_body("c-1", HELLO),
        route_body("c-1", [{"role": "assistant", "content": None}, *HELLO]),
        route_body("c-1", None, turns=3, prompt_tokens=120, candidates=[SMALL, LARGE]),
        route_body("c-1", HELLO, max_latency_ms=4000, max_cost_usd=0.01, cost_weight=2.0),
    ],
)
def test_every_route_body_the_client_builds_is_a_valid_request(body: dict[str, Any]) -> None:
    RouteRequest.model_validate(body)


@pytest.mark.parametrize(
    "body",
    [
        feedback_body("d-1", latency_ms=840.0, prompt_tokens=30, completion_tokens=90),
        feedback_body("d-1", model=SMALL, error="Timeout", latency_ms=250.0),
        feedback_body("d-1", resolved=True, reward=0.8),
        feedback_body("d-1", cost_usd=0.002),
        conversation_body("c-1", True, None),
        conversation_body("c-1", None, 0.4),
    ],
)
def test_every_feedback_body_the_client_builds_is_a_valid_request(body: dict[str, Any]) -> None:
    FeedbackRequest.model_validate(body)


def test_the_client_reads_every_field_of_a_route_answer() -> None:
    answer_fields = set(get_type_hints(RouteResponse))
    kept = {"decision_id", "model", "fallbacks", "propensity", "scores", "relaxed", "intent"}
    kept |= {"intent_group", "policy"}
    assert answer_fields - kept == {"relaxed_by", "budget", "prompt_cache"}  # in Decision.raw
    score_fields = {k for k, v in get_type_hints(Score, include_extras=True).items()}
    read = set(ModelScore.__dataclass_fields__)
    assert read - {"reason"} <= score_fields
    assert set(get_type_hints(Decision)) >= kept - {"scores", "policy"}


def test_a_published_route_answer_is_read_whole() -> None:
    body = {
        "decision_id": "d-1",
        "model": LARGE,
        "fallbacks": [SMALL],
        "propensity": 0.4,
        "policy": {"name": "bandit-v2", "version": "2.0", "quality_model": "prior"},
        "scores": [
            {
                "model": m,
                "p_resolved": 0.7,
                "expected_cost_usd": 0.001,
                "expected_latency_ms": 900.0,
                "utility": 0.6,
                "eligible": True,
                "probability": 0.5,
                "estimate": None,
            }
            for m in (LARGE, SMALL)
        ],
        "relaxed": [],
        "relaxed_by": {},
        "intent": "card_payment_fee_charged",
        "intent_group": "billing",
    }
    ROUTE_RESPONSE.validate_python(body)  # the server's own type accepts it
    d = decision_from(body)
    assert (d.model, d.fallbacks, d.policy, d.quality_model) == (
        LARGE,
        (SMALL,),
        "bandit-v2",
        "prior",
    )
    assert [s.model for s in d.scores] == [LARGE, SMALL]


def test_published_feedback_answers_are_read_whole() -> None:
    event = {"decision_id": "d-1", "duplicate": True, "late": False, "override": True}
    FEEDBACK_ACCEPTED.validate_python(event)
    assert accepted_from(event).override
    assert accepted_from(event).duplicate
    outcome = {
        "conversation_id": "c",
        "credited": ["d-1"],
        "kept": 0,
        "late": 0,
        "duplicate": False,
    }
    CONVERSATION_OUTCOME_ACCEPTED.validate_python(outcome)
    assert accepted_from(outcome).credited == ("d-1",)


@pytest.mark.integration
def test_a_decision_and_its_feedback_round_trip(server: Server) -> None:
    with SelectorClient(server.url, timeout_s=5) as client:
        assert set(client.catalog()) >= {SMALL, LARGE}
        d = client.route("client-c1", HELLO, candidates=[SMALL, LARGE], max_latency_ms=30_000)
        assert d.decision_id is not None
        assert set(d.chain) == {SMALL, LARGE}
        assert {s.model for s in d.scores} == {SMALL, LARGE}
        assert 0 < (d.propensity or 0) <= 1
        call = client.report_call(d, latency_ms=850, prompt_tokens=30, completion_tokens=90)
        outcome = client.report_outcome(d, resolved=True)
        again = client.report_outcome(d.decision_id, resolved=True)
    assert call is not None
    assert not call.duplicate
    assert not call.override
    assert outcome is not None
    assert not outcome.duplicate
    assert again is not None
    assert again.duplicate


@pytest.mark.integration
def test_a_conversations_outcome_credits_its_decisions(server: Server) -> None:
    with SelectorClient(server.url, timeout_s=5) as client:
        first = client.route("client-c2", HELLO)
        second = client.route("client-c2", [*HELLO, {"role": "user", "content": "still no"}])
        accepted = client.report_conversation("client-c2", resolved=False)
    assert set(accepted.credited) == {first.decision_id, second.decision_id}


@pytest.mark.integration
def test_a_refusal_is_an_error_naming_the_field(server: Server) -> None:
    client = SelectorClient(server.url, timeout_s=5, default_model=SMALL)
    with client, pytest.raises(SelectorRejectedError) as refused:
        client.route("client-c3", [])  # a refusal is the caller's to fix: no default
    assert refused.value.status == 422
    assert "messages" in str(refused.value.fields)
    assert client.breaker_state == "closed"  # a refusal is an answer


@pytest.mark.integration
def test_the_async_client_decides_reports_and_reads_the_catalog(server: Server) -> None:
    async def run() -> tuple[Decision, bool, tuple[str, ...]]:
        async with AsyncSelectorClient(server.url, timeout_s=5) as client:
            d = await client.route("client-c4", HELLO, candidates=[SMALL])
            accepted = await client.report_outcome(d, reward=0.5)
            names = await client.catalog()
        return d, accepted is not None and not accepted.duplicate, names

    d, stored, names = asyncio.run(run())
    assert (d.model, d.fallbacks) == (SMALL, ())
    assert stored
    assert SMALL in names


@pytest.mark.integration
def test_the_catalog_the_client_reads_is_the_servers_enabled_models(server: Server) -> None:
    import httpx

    body = httpx.get(f"{server.url}/v1/models", timeout=10).json()
    assert catalog_names(body) == tuple(m["name"] for m in body["models"] if m["enabled"])
