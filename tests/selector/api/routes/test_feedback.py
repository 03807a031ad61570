"""POST /v1/feedback in process: stored, deduplicated, and answered with the contract."""

from __future__ import annotations

import pytest
from starlette.testclient import TestClient

from selector.api.hot import CONVERSATION_OUTCOME_ACCEPTED, FEEDBACK_ACCEPTED
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


def _decisions(client: TestClient, conversation: str, n: int) -> list[str]:
    body = {"conversation_id": conversation, "turns": 3}
    return [client.post("/v1/route", json=body).json()["decision_id"] for _ in range(n)]


def test_a_conversation_outcome_credits_each_decision_without_one(
    client: TestClient, service: SelectorService
) -> None:
    own, *rest = _decisions(client, "c-9", 3)
    _decisions(client, "another", 1)
    assert client.post("/v1/feedback", json={"decision_id": own, "resolved": True}).is_success
    r = client.post("/v1/feedback", json={"conversation_id": "c-9", "resolved": False})
    assert r.status_code == 202, r.text
    body = CONVERSATION_OUTCOME_ACCEPTED.validate_json(r.content)
    assert sorted(body["credited"]) == sorted(rest)  # in id order: ids of one ms may not sort
    assert body == {
        "conversation_id": "c-9",
        "credited": body["credited"],
        "kept": 1,
        "late": 0,
        "duplicate": False,
    }
    assert service.log.counts()["outcomes"] == 3  # the other conversation's: none
    again = client.post("/v1/feedback", json={"conversation_id": "c-9", "resolved": False})
    assert again.status_code == 202
    assert again.json()["duplicate"] is True
    assert again.json()["credited"] == []
    conflict = client.post("/v1/feedback", json={"conversation_id": "c-9", "resolved": True})
    assert conflict.status_code == 409
    assert "conversation c-9 already has an outcome" in conflict.json()["error"]["message"]
    assert service.log.counts()["outcomes"] == 3


def test_a_conversation_whose_decisions_all_have_outcomes_still_records_its_own(
    client: TestClient, service: SelectorService
) -> None:
    """Nothing to credit: the outcome is recorded for the conversation all the same, so a
    repeat is a duplicate, a different one a 409, and a decision made later is not
    credited with it by a resend."""
    ids = _decisions(client, "own", 2)
    for did in ids:
        assert client.post("/v1/feedback", json={"decision_id": did, "resolved": True}).is_success
    first = client.post("/v1/feedback", json={"conversation_id": "own", "resolved": False})
    assert first.status_code == 202, first.text
    assert first.json() == {
        "conversation_id": "own", "credited": [], "kept": 2, "late": 0, "duplicate": False
    }  # fmt: skip
    again = client.post("/v1/feedback", json={"conversation_id": "own", "resolved": False})
    assert again.json()["duplicate"] is True
    other = client.post("/v1/feedback", json={"conversation_id": "own", "resolved": True})
    assert other.status_code == 409, other.text
    assert "conversation own already has an outcome (resolved=False" in other.text
    (later,) = _decisions(client, "own", 1)
    resent = client.post("/v1/feedback", json={"conversation_id": "own", "resolved": False})
    assert resent.json()["duplicate"] is True
    assert resent.json()["credited"] == []
    with service.log.reader() as reader:
        assert reader.outcome(later) is None  # nothing credited by surprise
    # the decision's own outcome is still welcome
    mine = client.post("/v1/feedback", json={"decision_id": later, "resolved": True})
    assert mine.status_code == 202


def test_a_graded_conversation_outcome_is_stored_as_its_reward(
    client: TestClient, service: SelectorService
) -> None:
    ids = _decisions(client, "graded", 2)
    r = client.post("/v1/feedback", json={"conversation_id": "graded", "reward": 0.7})
    assert sorted(r.json()["credited"]) == sorted(ids)
    with service.log.reader() as reader:
        outcomes = [reader.outcome(d) for d in ids]
    assert [o[1] for o in outcomes if o is not None] == [0.7, 0.7]


def test_a_conversation_never_routed_is_404(client: TestClient) -> None:
    r = client.post("/v1/feedback", json={"conversation_id": "nobody", "resolved": True})
    assert r.status_code == 404
    assert "conversation_id 'nobody'" in r.json()["error"]["message"]


@pytest.mark.parametrize(
    ("body", "says"),
    [
        ({"conversation_id": "c", "latency_ms": 5.0}, "resolved and/or reward only"),
        ({"conversation_id": "c", "decision_id": "d", "resolved": True}, "exactly one"),
        ({"resolved": True}, "exactly one"),
    ],
)
def test_a_conversation_outcome_that_cannot_be_is_422(
    client: TestClient, body: dict[str, object], says: str
) -> None:
    r = client.post("/v1/feedback", json=body)
    assert r.status_code == 422
    assert says in r.text
