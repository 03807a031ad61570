"""POST /v1/feedback against a real server on loopback."""

from __future__ import annotations

from collections.abc import Callable

import httpx
import pytest

from tests.conftest import Server
from tests.selector.api.test_http_route import fields_of, route


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


def test_call_results_show_in_live_model_figures(make_server: Callable[..., Server]) -> None:
    # a server of its own: the shared one gets call results from other tests (the fuzz)
    with httpx.Client(base_url=make_server().url) as client:
        for latency in (100.0, 200.0, 300.0):
            did = route(client, candidates=["claude-sonnet-3.7"])["decision_id"]
            client.post("/v1/feedback", json={"decision_id": did, "latency_ms": latency})
        models = {m["name"]: m for m in client.get("/v1/models").json()["models"]}
        live = models["claude-sonnet-3.7"]["live"]
        assert live["samples"] == 3
        assert live["latency_p50_ms"] == pytest.approx(200.0, abs=1e-6)
        assert live["circuit"] == "closed"
        assert models["claude-sonnet-3.7"]["recent_share"] > 0
