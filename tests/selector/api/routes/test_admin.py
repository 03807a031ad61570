"""POST /v1/admin/reload in process: the admin token, and a reload that cannot load."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from starlette.testclient import TestClient

from selector.config import Settings
from tests.selector.api.routes.conftest import ADMIN


def test_reload_needs_the_admin_token(client: TestClient) -> None:
    assert client.post("/v1/admin/reload").status_code == 401
    wrong = {"Authorization": "Bearer not-the-admin-token"}
    assert client.post("/v1/admin/reload", headers=wrong).status_code == 401


def test_reload_with_the_admin_token_reports_the_model_served(
    client: TestClient,
) -> None:
    r = client.post("/v1/admin/reload", headers={"Authorization": f"Bearer {ADMIN}"})
    # the service serves the prior: reloading "prior" always works
    assert r.status_code == 200, r.text
    assert r.json()["quality_model"]["serving"] == "prior"


def test_the_online_state_is_shown_with_its_digest(client: TestClient) -> None:
    import hashlib

    from selector.online.state import body_of

    assert client.get("/v1/admin/online").status_code == 401
    r = client.get("/v1/admin/online", headers={"Authorization": f"Bearer {ADMIN}"})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["cursor"] == body["state"]["cursor"] == 0  # nothing read yet (SQLite: a row)
    assert body["sha256"] == hashlib.sha256(body_of(body["state"]).encode()).hexdigest()


def test_no_online_state_without_a_learning_policy(
    settings: Settings, serve: Callable[[Any], TestClient]
) -> None:
    from selector.wiring import build_service

    svc = build_service(settings.replace(policy="utility-v0"))
    r = serve(svc).get("/v1/admin/online", headers={"Authorization": f"Bearer {ADMIN}"})
    assert r.status_code == 404
    assert "does not learn online" in r.json()["error"]["message"]
