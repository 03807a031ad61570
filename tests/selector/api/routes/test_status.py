"""GET /v1/models, /healthz, /readyz and /metrics in process."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from starlette.testclient import TestClient

from selector.service import SelectorService


def test_models_lists_the_catalog_with_live_figures(
    client: TestClient, service: SelectorService
) -> None:
    service.tracker.record(service.catalog.names[0], 420.0, error=False)
    body = client.get("/v1/models").json()
    assert [m["name"] for m in body["models"]] == list(service.catalog.names)
    assert body["models"][0]["live"]["samples"] == 1
    assert body["policy"] == service.policy.name


def test_readiness_lists_each_degraded_part(
    serve: Callable[[Any], TestClient], service: SelectorService
) -> None:
    assert serve(service).get("/readyz").json()["degraded"] == []
    service.degraded.append(("intent_classifier", "not loaded"))
    body = serve(service).get("/readyz").json()
    assert body["status"] == "ready"
    assert {"part": "intent_classifier", "reason": "not loaded"} in body["degraded"]


def test_a_stopped_log_writer_is_not_ready(
    serve: Callable[[Any], TestClient], service: SelectorService
) -> None:
    service.log.close()
    r = serve(service).get("/readyz")
    assert r.status_code == 503
    assert r.json()["status"] == "not_ready"
    service.log.start()


def test_metrics_count_decisions(client: TestClient) -> None:
    client.post("/v1/route", json={"conversation_id": "c", "turns": 1})
    text = client.get("/metrics").text
    assert "selector_decisions_total{" in text
    assert client.get("/healthz").json() == {"status": "ok"}
