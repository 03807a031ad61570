"""A spend budget per period through the HTTP API on loopback: a tenant's budget paces
its decisions, the reported cost replaces the expected one, and /metrics and
/v1/admin/online show spend, what is left and the cost weight."""

from __future__ import annotations

from collections.abc import Callable

import httpx

from tests.conftest import Server
from tests.selector.api.test_http_route import ROUTE, fields_of

YEAR = str(366 * 86_400)  # one period for the whole test: no roll-over to race
# a long escalated dispute: without a budget a large model answers it
HARD = {"conversation_id": "c-1", "turns": 14, "intent": "dispute_charge", "escalation": True}


def _route(c: httpx.Client, **extra: object) -> dict[str, object]:
    r = c.post("/v1/route", json={**HARD, **extra})
    assert r.status_code == 200, r.text
    body: dict[str, object] = r.json()
    return body


def _metric(text: str, name: str, tenant: str) -> float:
    prefix = f'{name}{{tenant="{tenant}"}} '
    [line] = [x for x in text.splitlines() if x.startswith(prefix)]
    return float(line[len(prefix) :])


def test_a_tenant_budget_paces_its_decisions_and_is_reported(
    make_server: Callable[..., Server],
) -> None:
    server = make_server(
        SELECTOR_POLICY="utility-v0",  # deterministic: the budget alone moves the choice
        SELECTOR_BUDGET_TENANTS="acme=0.004",
        SELECTOR_BUDGET_PERIOD_S=YEAR,
        SELECTOR_ADMIN_TOKEN="admin-secret",
    )
    with httpx.Client(base_url=server.url, timeout=30.0) as c:
        free = _route(c)
        assert "budget" not in free  # no tenant: no budget applies
        first = _route(c, tenant="acme")
        budget = first["budget"]
        assert isinstance(budget, dict)
        assert budget["moved_from"] is None  # nothing spent yet: the base weight
        assert budget["cost_weight"] == budget["base_cost_weight"]
        assert first["model"] == free["model"] != "gemini-2.5-flash-lite"

        models = [first["model"]]
        for _ in range(40):  # each heavy answer costs about a cent: the budget runs out
            body = _route(c, tenant="acme")
            models.append(body["model"])
        last = body["budget"]
        assert isinstance(last, dict)
        assert last["cost_weight"] > 1_000 * last["base_cost_weight"]  # spent out
        assert last["moved_from"] == free["model"]
        assert models[-1] == "gemini-2.5-flash-lite"  # the cheapest serves until it ends

        metrics = c.get("/metrics").text
        spent = _metric(metrics, "selector_budget_spent_usd", "acme")
        assert spent >= 0.004
        assert _metric(metrics, "selector_budget_remaining_usd", "acme") == 0.0
        assert "selector_budget_moved_decisions_total" in metrics

        # the gateway's billed cost replaces the decision's expected one
        did = body["decision_id"]
        r = c.post("/v1/feedback", json={"decision_id": did, "latency_ms": 900, "cost_usd": 1.0})
        assert r.status_code == 202, r.text
        after = _metric(c.get("/metrics").text, "selector_budget_spent_usd", "acme")
        assert after > spent + 0.99

        admin = {"Authorization": "Bearer admin-secret"}
        r = c.get("/v1/admin/online", headers=admin)
        assert r.status_code == 404  # utility-v0 does not learn online; /metrics has it


def test_the_online_state_shows_the_service_budget(make_server: Callable[..., Server]) -> None:
    server = make_server(
        SELECTOR_BUDGET_USD="400",
        SELECTOR_BUDGET_PERIOD_S=YEAR,
        SELECTOR_ADMIN_TOKEN="admin-secret",
    )
    with httpx.Client(base_url=server.url, timeout=30.0) as c:
        body = _route(c)
        assert body["budget"]["moved_from"] is None  # type: ignore[index]
        state = c.get("/v1/admin/online", headers={"Authorization": "Bearer admin-secret"}).json()
        service = state["budget"]["service"]
        assert service["budget_usd"] == 400.0
        assert service["decisions"] == 1
        assert 0 < service["spent_usd"] < 0.1
        assert service["remaining_usd"] == 400.0 - service["spent_usd"]
        assert service["cost_weight"] > 0


def test_a_bad_tenant_or_budget_is_refused_by_name(
    client: httpx.Client, make_server: Callable[..., Server]
) -> None:
    r = client.post("/v1/route", json={**ROUTE, "tenant": ""})
    assert r.status_code == 422
    assert fields_of(r) == ["tenant"]
    r = client.post("/v1/route", json={**ROUTE, "tenant": 7})
    assert r.status_code == 422
    assert fields_of(r) == ["tenant"]
