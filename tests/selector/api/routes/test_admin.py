"""POST /v1/admin/reload in process: the admin token, and a reload that cannot load."""

from __future__ import annotations

from starlette.testclient import TestClient

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
