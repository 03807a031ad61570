"""Status endpoints, the OpenAPI contract and the token, against a real server on loopback."""

from __future__ import annotations

import httpx

from tests.conftest import Server
from tests.selector.api.test_http_route import ROUTE, route


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
