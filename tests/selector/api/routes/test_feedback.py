"""POST /v1/feedback in process: stored, deduplicated, and answered with the contract."""

from __future__ import annotations

from starlette.testclient import TestClient

from selector.api.bodies import FEEDBACK_ACCEPTED
from selector.service import SelectorService

ROUTE = {"conversation_id": "c-1", "turns": 3}


def test_feedback_is_accepted_then_recognised_as_a_duplicate(
    client: TestClient, service: SelectorService
) -> None:
    did = client.post("/v1/route", json=ROUTE).json()["decision_id"]
    first = client.post("/v1/feedback", json={"decision_id": did, "latency_ms": 900.0})
    again = client.post("/v1/feedback", json={"decision_id": did, "latency_ms": 900.0})
    assert first.status_code == again.status_code == 202
    assert FEEDBACK_ACCEPTED.validate_json(first.content) == {
        "decision_id": did,
        "duplicate": False,
        "late": False,
        "override": False,
    }
    assert again.json()["duplicate"] is True
    assert service.log.counts()["feedback"] == 1


def test_feedback_for_a_decision_never_made_is_404(client: TestClient) -> None:
    r = client.post("/v1/feedback", json={"decision_id": "nope", "resolved": True})
    assert r.status_code == 404
    assert "POST /v1/route" in r.json()["error"]["message"]


def test_a_second_different_outcome_is_409(client: TestClient) -> None:
    did = client.post("/v1/route", json=ROUTE).json()["decision_id"]
    assert client.post("/v1/feedback", json={"decision_id": did, "resolved": True}).is_success
    r = client.post("/v1/feedback", json={"decision_id": did, "resolved": False})
    assert r.status_code == 409
