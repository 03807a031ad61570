"""The Python client against a real server on loopback (decisions, feedback, refusals),
and its behaviour when the service cannot answer: connection failures retried with
back-off within the budget, everything else not retried, the default model answering."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any, get_type_hints

import httpx
import pytest

from selector.api.bodies import RouteResponse
from selector.client import (
    AsyncSelectorClient,
    Decision,
    Options,
    SelectorClient,
    SelectorRejectedError,
    SelectorUnavailableError,
)
from tests.conftest import Server, free_port

SMALL, LARGE = "gemini-2.5-flash-lite", "gpt-5"
HELLO = [{"role": "user", "content": "I was charged twice for my order"}]


@pytest.mark.integration
def test_a_decision_and_its_feedback_round_trip(server: Server) -> None:
    with SelectorClient(server.url, timeout_s=5) as client:
        d = client.route("client-c1", HELLO, candidates=[SMALL, LARGE], max_latency_ms=30_000)
        assert d.decision_id is not None
        assert not d.from_default
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
def test_a_refused_request_is_an_error_naming_the_field(server: Server) -> None:
    client = SelectorClient(server.url, timeout_s=5, default_model=SMALL)
    with client, pytest.raises(SelectorRejectedError) as refused:
        client.route("client-c3", [])  # a refusal is the caller's to fix: no default
    assert refused.value.status == 422
    assert "messages" in str(refused.value.fields)


@pytest.mark.integration
def test_the_async_client_decides_and_reports(server: Server) -> None:
    async def run() -> tuple[Decision, bool]:
        async with AsyncSelectorClient(server.url, timeout_s=5) as client:
            d = await client.route("client-c4", HELLO, candidates=[SMALL])
            accepted = await client.report_outcome(d, reward=0.5)
        return d, accepted is not None and not accepted.duplicate

    d, stored = asyncio.run(run())
    assert d.model == SMALL
    assert d.fallbacks == ()
    assert stored


def test_with_the_service_down_the_default_answers_or_the_error_is_raised() -> None:
    nobody = f"http://127.0.0.1:{free_port()}"
    with SelectorClient(nobody, default_model=SMALL, backoff_s=0.001) as client:
        d = client.route("c", HELLO, candidates=[LARGE, SMALL])
        assert (d.model, d.fallbacks, d.decision_id) == (SMALL, (LARGE,), None)
        assert "ConnectError" in (d.reason or "")
        assert client.report_outcome(d, resolved=True) is None  # nothing to report against
        other = client.route("c", HELLO, candidates=[LARGE])  # the default is not deployed
        assert other.model == LARGE
    with SelectorClient(nobody, backoff_s=0.001) as client, pytest.raises(SelectorUnavailableError):
        client.route("c", HELLO)


def answering(*steps: Exception | httpx.Response) -> tuple[httpx.MockTransport, list[float]]:
    """A transport that raises or answers each step in turn, and the attempts' times."""
    attempts: list[float] = []
    loop = iter(steps)

    def handle(request: httpx.Request) -> httpx.Response:
        attempts.append(time.monotonic())
        step = next(loop)
        if isinstance(step, Exception):
            raise step
        return step

    return httpx.MockTransport(handle), attempts


ROUTED = httpx.Response(
    200, json={"decision_id": "d-1", "model": LARGE, "fallbacks": [SMALL], "propensity": 1.0}
)


def client_over(transport: httpx.MockTransport, **options: Any) -> SelectorClient:
    http = httpx.Client(transport=transport, base_url="http://selector")
    return SelectorClient("http://selector", http=http, options=Options(**options))


def test_connection_failures_are_retried_with_back_off() -> None:
    refused = httpx.ConnectError("refused")
    transport, attempts = answering(refused, refused, ROUTED)
    d = client_over(transport, retries=2, backoff_s=0.01).route("c", HELLO)
    assert d.decision_id == "d-1"
    assert len(attempts) == 3
    assert attempts[2] - attempts[1] >= attempts[1] - attempts[0] >= 0.009  # doubled


@pytest.mark.parametrize(
    "failure",
    [httpx.ReadTimeout("slow"), httpx.Response(503, json={"error": {"code": "not_ready"}})],
    ids=["read-timeout", "503"],
)
def test_what_may_have_reached_the_service_is_not_retried(
    failure: Exception | httpx.Response,
) -> None:
    transport, attempts = answering(failure, ROUTED)
    d = client_over(transport, retries=3, backoff_s=0.001, default_model=SMALL).route("c", HELLO)
    assert d.from_default
    assert len(attempts) == 1


def test_retries_stop_when_the_budget_is_spent() -> None:
    refused = httpx.ConnectError("refused")
    transport, attempts = answering(*[refused] * 5, ROUTED)
    with pytest.raises(SelectorUnavailableError):
        client_over(transport, retries=5, backoff_s=0.04, timeout_s=0.1).route("c", HELLO)
    assert len(attempts) == 2  # waiting 0.08 s more would pass the 0.1 s budget


@pytest.mark.parametrize(
    ("make", "field"),
    [
        (lambda: SelectorClient("http://x", token=""), "token"),
        (lambda: SelectorClient("http://x", timeout_s=0), "timeout_s"),
        (lambda: SelectorClient("http://x", retries=-1), "retries"),
        (lambda: SelectorClient("http://x", default_model=""), "default_model"),
    ],
)
def test_bad_settings_are_errors_naming_them(make: Callable[[], object], field: str) -> None:
    with pytest.raises(ValueError, match=field):
        make()


def test_the_decision_keeps_every_field_of_the_route_answer() -> None:
    kept = {"decision_id", "model", "fallbacks", "propensity", "scores", "relaxed", "intent"}
    kept |= {"intent_group", "policy"}
    assert set(get_type_hints(RouteResponse)) - kept <= {"relaxed_by"}  # in Decision.raw
