"""The service serves the registry's champion, reloads it on demand without failing
requests in flight, and falls back to the prior when no model can be loaded."""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from models import registry
from tests.conftest import Server
from tests.training.test_train import small, write_table
from training.train import promote, train

pytestmark = pytest.mark.integration

NAME = "model-selector-quality"
ROUTE = {
    "conversation_id": "c-1",
    "messages": [{"role": "user", "content": "I was charged twice for my order, refund it"}],
}
ADMIN = {"Authorization": "Bearer admin-secret"}


def serving(c: httpx.Client) -> str:
    body = c.get("/readyz").json()
    assert body["status"] == "ready"
    return str(body["quality_model"]["serving"])


def test_champion_is_served_and_reloaded(
    tmp_path: Path, make_server: Callable[..., Server]
) -> None:
    store = f"sqlite:///{tmp_path}/mlflow.db"
    table = str(write_table(tmp_path))
    train(table, folds=0, tracking_uri=store, make_model=small)
    promote(NAME, "1", store)
    server = make_server(SELECTOR_MLFLOW_TRACKING_URI=store, SELECTOR_ADMIN_TOKEN="admin-secret")
    with httpx.Client(base_url=server.url, timeout=30.0) as c:
        assert serving(c) == f"{NAME}/v1"
        routed = c.post("/v1/route", json=ROUTE).json()
        assert routed["policy"]["quality_model"] == f"{NAME}/v1"

        train(table, folds=0, tracking_uri=store, make_model=lambda: small(seed=1))
        promote(NAME, "2", store, force=True)
        assert c.post("/v1/admin/reload").status_code == 401
        assert c.post("/v1/admin/reload", headers={"Authorization": "Bearer x"}).status_code == 401
        assert serving(c) == f"{NAME}/v1"

        def route(i: int) -> int:
            return c.post("/v1/route", json={**ROUTE, "conversation_id": f"c-{i}"}).status_code

        with ThreadPoolExecutor(8) as pool:
            in_flight = [pool.submit(route, i) for i in range(300)]
            reloaded = c.post("/v1/admin/reload", headers=ADMIN)
            codes = [f.result() for f in in_flight]
        assert reloaded.status_code == 200, reloaded.text
        assert reloaded.json()["quality_model"]["serving"] == f"{NAME}/v2"
        assert codes == [200] * 300
        assert c.post("/v1/route", json=ROUTE).json()["policy"]["quality_model"] == f"{NAME}/v2"

        # a champion whose files were changed is refused; the current model stays
        train(table, folds=0, tracking_uri=store, make_model=small)
        promote(NAME, "3", store, force=True)
        folder = registry.resolve(f"models:/{NAME}/3", store).folder
        (folder / "booster.txt").write_text("tree\n")
        refused = c.post("/v1/admin/reload", headers=ADMIN)
        assert refused.status_code == 503
        error = refused.json()["error"]
        assert error["code"] == "model_unavailable"
        assert "fails its checksum" in error["message"]
        assert f"still serving {NAME}/v2" in error["message"]
        assert serving(c) == f"{NAME}/v2"
        assert c.post("/v1/route", json=ROUTE).status_code == 200

    # a restart with a broken champion serves the prior and says why
    server.stop()
    restarted = make_server(SELECTOR_MLFLOW_TRACKING_URI=store)
    with httpx.Client(base_url=restarted.url, timeout=30.0) as c:
        body = c.get("/readyz").json()
        assert body["quality_model"]["loaded"] is False
        assert body["quality_model"]["serving"] == "prior"
        assert any("fails its checksum" in d for d in body["degraded"])
        assert c.post("/v1/route", json=ROUTE).json()["policy"]["quality_model"] == "prior"


def test_without_a_registry_the_prior_is_served(client: httpx.Client) -> None:
    body = client.get("/readyz").json()
    assert body["status"] == "ready"
    assert body["quality_model"]["requested"] == f"models:/{NAME}@champion"
    assert body["quality_model"]["serving"] == "prior"
    assert any("train and register a model first" in d for d in body["degraded"])


def test_admin_endpoints_are_off_without_an_admin_token(client: httpx.Client) -> None:
    r = client.post("/v1/admin/reload", headers=ADMIN)
    assert r.status_code == 403
    assert "SELECTOR_ADMIN_TOKEN" in r.json()["error"]["message"]
    # without credentials at all, authentication comes first
    r = client.post("/v1/admin/reload")
    assert r.status_code == 401
    assert "disabled until it is set" in r.json()["error"]["message"]
