"""POST /v1/route in process: the service's decision as the wire contract has it."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from starlette.testclient import TestClient

from core.errors import StoreError
from selector.api.errors import STORE_UNAVAILABLE
from selector.api.hot import ROUTE_RESPONSE
from selector.decisions import RouteInput, RouteResult
from selector.service import SelectorService
from selector.wiring import build_service

BODY = {
    "conversation_id": "c-1",
    "messages": [{"role": "user", "content": "I was charged twice for my order"}],
}


def test_the_answer_is_the_stored_decision_with_exactly_the_contract_fields(
    client: TestClient, service: SelectorService
) -> None:
    r = client.post("/v1/route", json=BODY)
    assert r.status_code == 200, r.text
    body = ROUTE_RESPONSE.validate_json(r.content)  # exactly the declared fields
    assert body["model"] in service.catalog.names
    with service.log.reader() as reader:
        assert reader.decision(body["decision_id"]) is not None


def test_an_ineligible_candidate_says_why_in_one_string(
    client: TestClient, service: SelectorService
) -> None:
    # a deadline between the fastest and the slowest prior p95 (2 × the expected latency)
    p95 = sorted(2 * m.expected_latency_ms for m in service.catalog)
    r = client.post("/v1/route", json={**BODY, "max_latency_ms": (p95[0] + p95[-1]) / 2})
    body = ROUTE_RESPONSE.validate_json(r.content)
    assert body["relaxed"] == []
    scores = body["scores"]
    reasons = [s["reason"] for s in scores if not s["eligible"]]
    assert reasons
    assert all(isinstance(x, str) and "deadline" in x for x in reasons)


def test_a_bad_field_is_refused_before_the_service_is_asked(
    serve: Callable[[Any], TestClient],
) -> None:
    class Unreachable:
        async def route(self, req: RouteInput) -> RouteResult:
            raise AssertionError("the service was asked")

    r = serve(Unreachable()).post("/v1/route", json={**BODY, "max_cost_usd": -1})
    assert r.status_code == 422
    assert r.json()["error"]["fields"][0]["field"] == "max_cost_usd"


def test_a_log_that_cannot_write_is_503_without_the_databases_details(
    serve: Callable[[Any], TestClient], caplog: pytest.LogCaptureFixture
) -> None:
    cause = (
        'decision log write failed: connection to server at "10.1.2.3", port 5432 failed: '
        "FATAL: password authentication failed for user selector"
    )

    class Unreachable:
        async def route(self, req: RouteInput) -> RouteResult:
            raise StoreError(cause)

    r = serve(Unreachable()).post("/v1/route", json=BODY)
    assert r.status_code == 503
    assert r.json()["error"] == {"code": "store_unavailable", "message": STORE_UNAVAILABLE}
    assert cause in caplog.text  # the operator's log has it


def test_an_online_policy_s_scores_carry_their_probabilities(
    serve: Callable[[Any], TestClient], settings: Any
) -> None:
    online = build_service(settings.replace(policy="bandit-v1"))
    online.start()
    try:
        body = ROUTE_RESPONSE.validate_json(serve(online).post("/v1/route", json=BODY).content)
    finally:
        online.stop()
    probabilities = [s["probability"] for s in body["scores"] if s["eligible"]]
    assert abs(sum(probabilities) - 1.0) < 1e-9
    assert all("estimate" in s for s in body["scores"] if "probability" in s)


@pytest.mark.parametrize("role", ["user", "system", "tool"])
def test_a_message_without_content_is_refused_unless_an_assistant_s(
    client: TestClient, role: str
) -> None:
    for message in ({"role": role, "content": None}, {"role": role}):
        body = {"conversation_id": "c", "messages": [message]}
        r = client.post("/v1/route", json=body)
        assert r.status_code == 422, r.text
        (problem,) = r.json()["error"]["fields"]
        assert problem["field"] == "messages[0].content"
        assert f"null or missing in a {role} message" in problem["problem"]
    calls = {"role": "assistant", "content": None, "tool_calls": [{"id": "t1"}]}
    body = {"conversation_id": "c", "messages": [{"role": "user", "content": "hi"}, calls]}
    assert client.post("/v1/route", json=body).status_code == 200
