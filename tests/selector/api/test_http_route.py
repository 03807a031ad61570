"""POST /v1/route against a real server on loopback."""

from __future__ import annotations

from collections.abc import Callable

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
    # the default policy, bandit-v2, draws its choice: every probability is logged
    assert body["policy"] == {"name": "bandit-v2", "version": "2.0", "quality_model": "prior"}
    probability = {s["model"]: s["probability"] for s in scores}
    assert sum(probability.values()) == pytest.approx(1.0)
    assert body["propensity"] == pytest.approx(probability[body["model"]])
    assert body["relaxed"] == []
    assert body["relaxed_by"] == {}
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
    make_server: Callable[..., Server],
) -> None:
    # a server of its own: what the shared one learned from other tests' outcomes moves
    # its probabilities
    with httpx.Client(base_url=make_server().url, timeout=10.0) as client:
        dispute = route(client, intent="transaction_charged_twice", turns=14)
        chat = route(client, intent="greeting", messages=[{"role": "user", "content": "hello!"}])
        tiers = {m["name"]: m["tier"] for m in client.get("/v1/models").json()["models"]}

    def likeliest(body: dict[str, object]) -> str:
        scores: list[dict[str, object]] = body["scores"]  # type: ignore[assignment]
        return str(max(scores, key=lambda s: float(s["probability"]))["model"])  # type: ignore[arg-type]

    assert tiers[likeliest(dispute)] == "large"
    assert tiers[likeliest(chat)] != "large"


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
    chosen = by_model[body["model"]]  # type: ignore[index]
    # eligible, or a model judged on a guess and drawn for its probe share
    assert chosen["eligible"] is True or (
        chosen["probe"] is True and chosen["reason"] == "deadline"
    )
    assert body["propensity"] == pytest.approx(chosen["probability"])
    probes = [s for s in by_model.values() if s.get("probe")]
    assert all(s["reason"] == "deadline" and 0 < s["probability"] <= 0.02 for s in probes)


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
