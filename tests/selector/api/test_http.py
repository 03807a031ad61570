"""The HTTP contract, against a real server on loopback."""

from __future__ import annotations

import httpx
import pytest

from tests.conftest import Server

ROUTE = {
    "conversation_id": "conv-1",
    "messages": [
        {"role": "system", "content": "You are a support assistant."},
        {"role": "user", "content": "Hi, I was charged twice for the same purchase"},
    ],
}


def route(client: httpx.Client, **extra: object) -> dict[str, object]:
    r = client.post("/v1/route", json={**ROUTE, **extra})
    assert r.status_code == 200, r.text
    body: dict[str, object] = r.json()
    return body


def fields_of(r: httpx.Response) -> list[str]:
    return [f["field"] for f in r.json()["error"]["fields"]]


def test_route_answers_the_full_contract(client: httpx.Client) -> None:
    body = route(client)
    assert isinstance(body["decision_id"], str)
    assert body["decision_id"]
    scores = body["scores"]
    assert isinstance(scores, list)
    assert len(scores) == 7
    names = {s["model"] for s in scores}
    assert body["model"] in names
    assert body["model"] not in body["fallbacks"]  # type: ignore[operator]
    assert set(body["fallbacks"]) <= names  # type: ignore[arg-type]
    assert 0 < body["propensity"] <= 1  # type: ignore[operator]
    assert body["policy"] == {"name": "utility-v0", "version": "0.1", "quality_model": "prior"}
    assert body["relaxed"] == []
    for s in scores:
        assert set(s) >= {
            "model",
            "p_resolved",
            "expected_cost_usd",
            "expected_latency_ms",
            "utility",
            "eligible",
        }
    assert body["intent_group"] == "billing_dispute"


def test_billing_dispute_goes_to_a_large_model_and_small_talk_does_not(
    client: httpx.Client,
) -> None:
    dispute = route(client, intent="transaction_charged_twice", turns=14)
    chat = route(client, intent="greeting", messages=[{"role": "user", "content": "hello!"}])
    tiers = {m["name"]: m["tier"] for m in client.get("/v1/models").json()["models"]}
    assert tiers[dispute["model"]] == "large"  # type: ignore[index]
    assert tiers[chat["model"]] != "large"  # type: ignore[index]


def test_an_integral_number_counts_as_an_integer(client: httpx.Client) -> None:
    r = client.post("/v1/route", json={"conversation_id": "c", "turns": 12.0})
    assert r.status_code == 200


def test_route_with_turns_only(client: httpx.Client) -> None:
    r = client.post("/v1/route", json={"conversation_id": "c", "turns": 3})
    assert r.status_code == 200
    assert r.json()["intent"] == "other"


def test_route_respects_the_candidate_subset(client: httpx.Client) -> None:
    body = route(client, candidates=["gpt-5-mini", "gemini-2.5-flash"])
    assert body["model"] in {"gpt-5-mini", "gemini-2.5-flash"}
    assert [s["model"] for s in body["scores"]] == ["gpt-5-mini", "gemini-2.5-flash"]  # type: ignore[attr-defined]


def test_deadline_excludes_slow_models_with_a_reason(client: httpx.Client) -> None:
    body = route(client, max_latency_ms=1500)
    by_model = {s["model"]: s for s in body["scores"]}  # type: ignore[attr-defined]
    assert by_model["gpt-5"]["eligible"] is False
    assert by_model["gpt-5"]["reason"] == "deadline"
    assert by_model[body["model"]]["eligible"] is True


def test_impossible_constraints_are_relaxed_and_named(client: httpx.Client) -> None:
    body = route(client, max_latency_ms=1, max_cost_usd=1e-12)
    assert body["model"]
    assert body["relaxed"] == ["budget", "deadline"]


def test_unknown_candidate_is_422_naming_the_entry(client: httpx.Client) -> None:
    r = client.post("/v1/route", json={**ROUTE, "candidates": ["gpt-5", "gpt-9"]})
    assert r.status_code == 422
    assert fields_of(r) == ["candidates[1]"]
    assert "gpt-9" in r.json()["error"]["fields"][0]["problem"]


@pytest.mark.parametrize(
    ("extra", "field"),
    [
        ({"max_latency_ms": False}, "max_latency_ms"),
        ({"turns": "3"}, "turns"),
        ({"turns": 2.5}, "turns"),
        ({"turns": -1}, "turns"),
        ({"prompt_tokens": True}, "prompt_tokens"),
        ({"escalation": "yes"}, "escalation"),
        ({"priority": "urgent"}, "priority"),
        ({"max_cost_usd": 0}, "max_cost_usd"),
        ({"cost_weight": -1}, "cost_weight"),
        ({"cost_weight": 3.2e307}, "cost_weight"),  # λ × cost would overflow: found by fuzzing
        ({"candidates": []}, "candidates"),
        ({"messages": [{"role": "robot", "content": "hi"}]}, "messages[0].role"),
        ({"conversation_id": 7}, "conversation_id"),
    ],
)
def test_bad_route_fields_are_422_naming_the_field(
    client: httpx.Client, extra: dict[str, object], field: str
) -> None:
    r = client.post("/v1/route", json={**ROUTE, **extra})
    assert r.status_code == 422, r.text
    assert field in fields_of(r)


def test_route_needs_messages_or_turns(client: httpx.Client) -> None:
    r = client.post("/v1/route", json={"conversation_id": "c"})
    assert r.status_code == 422
    assert "messages" in r.json()["error"]["message"]


def test_missing_conversation_id_is_422(client: httpx.Client) -> None:
    r = client.post("/v1/route", json={"turns": 2})
    assert r.status_code == 422
    assert fields_of(r) == ["conversation_id"]


def test_malformed_json_is_422(client: httpx.Client) -> None:
    r = client.post(
        "/v1/route", content=b'{"conversation_id": ', headers={"content-type": "application/json"}
    )
    assert r.status_code == 422
    assert fields_of(r) == ["body"]


def test_oversized_body_is_413(client: httpx.Client) -> None:
    big = {"conversation_id": "c", "messages": [{"role": "user", "content": "x" * 2_000_000}]}
    r = client.post("/v1/route", json=big)
    assert r.status_code == 413
    assert r.json()["error"]["code"] == "payload_too_large"


def test_oversized_chunked_body_is_413(client: httpx.Client) -> None:
    def chunks() -> object:
        yield b'{"conversation_id": "c", "turns": 1, "pad": "'
        for _ in range(300):
            yield b"x" * 10_000
        yield b'"}'

    r = client.post("/v1/route", content=chunks(), headers={"content-type": "application/json"})  # type: ignore[arg-type]
    assert r.status_code == 413


def test_feedback_for_unknown_decision_is_404(client: httpx.Client) -> None:
    r = client.post("/v1/feedback", json={"decision_id": "nope", "resolved": True})
    assert r.status_code == 404


def test_feedback_call_result_and_outcome_in_any_order(client: httpx.Client) -> None:
    did = route(client)["decision_id"]
    r1 = client.post("/v1/feedback", json={"decision_id": did, "resolved": True})
    r2 = client.post("/v1/feedback", json={"decision_id": did, "latency_ms": 812.5})
    assert (r1.status_code, r2.status_code) == (202, 202)
    assert r1.json() == {"decision_id": did, "duplicate": False, "late": False, "override": False}


def test_repeated_feedback_is_a_duplicate_counted_once(client: httpx.Client) -> None:
    did = route(client)["decision_id"]
    event = {"decision_id": did, "latency_ms": 700, "completion_tokens": 120}
    first = client.post("/v1/feedback", json=event).json()
    second = client.post("/v1/feedback", json=event).json()
    assert (first["duplicate"], second["duplicate"]) == (False, True)


def test_a_different_outcome_is_409_and_the_same_is_a_duplicate(client: httpx.Client) -> None:
    did = route(client)["decision_id"]
    assert (
        client.post("/v1/feedback", json={"decision_id": did, "resolved": True}).status_code == 202
    )
    again = client.post("/v1/feedback", json={"decision_id": did, "resolved": True})
    assert again.status_code == 202
    assert again.json()["duplicate"] is True
    conflict = client.post("/v1/feedback", json={"decision_id": did, "resolved": False})
    assert conflict.status_code == 409
    assert "already has an outcome" in conflict.json()["error"]["message"]


def test_feedback_naming_another_model_is_flagged(client: httpx.Client) -> None:
    body = route(client, candidates=["gpt-5-mini", "gemini-2.5-flash-lite"])
    other = "gpt-5-mini" if body["model"] != "gpt-5-mini" else "gemini-2.5-flash-lite"
    r = client.post("/v1/feedback", json={"decision_id": body["decision_id"], "model": other})
    assert r.json()["override"] is True


@pytest.mark.parametrize(
    ("event", "field"),
    [
        ({"reward": 1.5}, "reward"),
        ({"resolved": 1}, "resolved"),
        ({"latency_ms": "fast"}, "latency_ms"),
        ({"latency_ms": False}, "latency_ms"),
        ({"model": "gpt-9"}, "model"),
        ({"completion_tokens": -3}, "completion_tokens"),
    ],
)
def test_bad_feedback_fields_are_422(
    client: httpx.Client, event: dict[str, object], field: str
) -> None:
    did = route(client)["decision_id"]
    r = client.post("/v1/feedback", json={"decision_id": did, **event})
    assert r.status_code == 422, r.text
    assert field in fields_of(r)


def test_feedback_needs_at_least_one_field(client: httpx.Client) -> None:
    did = route(client)["decision_id"]
    r = client.post("/v1/feedback", json={"decision_id": did})
    assert r.status_code == 422
    assert "at least one" in r.json()["error"]["message"]


def test_call_results_show_in_live_model_figures(client: httpx.Client) -> None:
    for latency in (100.0, 200.0, 300.0):
        did = route(client, candidates=["claude-sonnet-3.7"])["decision_id"]
        client.post("/v1/feedback", json={"decision_id": did, "latency_ms": latency})
    models = {m["name"]: m for m in client.get("/v1/models").json()["models"]}
    live = models["claude-sonnet-3.7"]["live"]
    assert live["samples"] >= 3
    assert live["latency_p50_ms"] == pytest.approx(200.0, abs=1e-6)
    assert live["circuit"] == "closed"
    assert models["claude-sonnet-3.7"]["recent_share"] > 0


def test_metrics_are_prometheus_text(client: httpx.Client) -> None:
    route(client)
    text = client.get("/metrics").text
    assert "selector_decisions_total{" in text
    assert "selector_decision_seconds_bucket" in text
    assert "selector_model_circuit_state{" in text
    did = route(client)["decision_id"]
    client.post("/v1/feedback", json={"decision_id": did, "latency_ms": 10.0})
    text = client.get("/metrics").text
    assert 'selector_feedback_events_total{duplicate="false",kind="call"}' in text


def test_health_and_readiness(client: httpx.Client) -> None:
    assert client.get("/healthz").json() == {"status": "ok"}
    ready = client.get("/readyz")
    assert ready.status_code == 200
    assert ready.json()["status"] == "ready"


def test_openapi_documents_the_contract(client: httpx.Client) -> None:
    spec = client.get("/openapi.json").json()
    assert {"/v1/route", "/v1/feedback", "/v1/models"} <= set(spec["paths"])


def test_token_is_required_when_configured(make_server: object) -> None:
    server: Server = make_server(SELECTOR_API_TOKEN="s3cret")  # type: ignore[operator]
    with httpx.Client(base_url=server.url) as c:
        assert c.post("/v1/route", json=ROUTE).status_code == 401
        wrong = {"Authorization": "Bearer nope"}
        assert c.post("/v1/route", json=ROUTE, headers=wrong).status_code == 401
        assert c.get("/v1/models", headers=wrong).status_code == 401
        right = {"Authorization": "Bearer s3cret"}
        r = c.post("/v1/route", json=ROUTE, headers=right)
        assert r.status_code == 200
        fb = {"decision_id": r.json()["decision_id"], "resolved": True}
        assert c.post("/v1/feedback", json=fb).status_code == 401
        assert c.post("/v1/feedback", json=fb, headers=right).status_code == 202
        assert c.get("/healthz").status_code == 200


@pytest.mark.parametrize(
    ("path", "extra"),
    [("/v1/route", {"prompt_tokens": 10**30}), ("/v1/feedback", {"completion_tokens": 10**30})],
)
def test_integers_beyond_any_context_are_422_not_500(
    client: httpx.Client, path: str, extra: dict[str, object]
) -> None:
    base = ROUTE if path == "/v1/route" else {"decision_id": route(client)["decision_id"]}
    r = client.post(path, json={**base, **extra})
    assert r.status_code == 422
    assert next(iter(extra)) in fields_of(r)


def test_a_huge_message_is_served(client: httpx.Client) -> None:
    text = "why was my card charged twice " * 30_000  # ~900 kB
    r = client.post(
        "/v1/route",
        json={"conversation_id": "big", "messages": [{"role": "user", "content": text}]},
    )
    assert r.status_code == 200
    assert r.json()["intent"] == "transaction_charged_twice"
