"""A broken quality model never stops the service: with a missing or corrupt model file,
a folder that is not there, or a registry that does not answer, it starts, answers every
decision with the fallback (the built-in prior), and ``/readyz`` says why; once the
model is repaired, a reload serves it."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from models import registry
from tests.builders import covering
from tests.conftest import Server, free_port
from tests.training.test_train import small, write_table
from training.promotion import promote
from training.train import train

pytestmark = pytest.mark.integration

NAME = "model-selector-quality"
ROUTE = {
    "conversation_id": "c-1",
    "messages": [{"role": "user", "content": "I was charged twice for my order, refund it"}],
}
ADMIN = {"Authorization": "Bearer admin-secret"}


def assert_falls_back(c: httpx.Client, why: str) -> None:
    ready = c.get("/readyz")
    assert ready.status_code == 200
    body = ready.json()
    assert body["status"] == "ready"
    assert body["quality_model"]["loaded"] is False
    assert body["quality_model"]["serving"] == "prior"
    assert why in body["quality_model"]["reason"]
    assert any(why in d["reason"] for d in body["degraded"]), body["degraded"]
    for i in range(20):
        r = c.post("/v1/route", json={**ROUTE, "conversation_id": f"c-{i}"})
        assert r.status_code == 200, r.text
        assert r.json()["policy"]["quality_model"] == "prior"


@pytest.mark.parametrize(
    ("damage", "why"),
    [
        (lambda f: f.unlink(), "is listed in MANIFEST.json but missing"),
        (lambda f: f.write_text("tree\n"), "fails its checksum"),
        (lambda f: f.write_bytes(f.read_bytes()[:-40]), "fails its checksum"),
    ],
    ids=["missing-file", "corrupt-file", "truncated-file"],
)
def test_a_damaged_champion_falls_back_and_a_repaired_one_is_reloaded(
    tmp_path: Path,
    make_server: Callable[..., Server],
    damage: Callable[[Path], object],
    why: str,
) -> None:
    store = f"sqlite:///{tmp_path}/mlflow.db"
    train(str(write_table(tmp_path)), folds=0, tracking_uri=store, make_model=small)
    promote(NAME, "1", store, settings=covering(tmp_path, ["cheap", "strong"]))
    booster = registry.resolve(f"models:/{NAME}/1", store).folder / "booster.txt"
    good = booster.read_bytes()
    damage(booster)
    server = make_server(SELECTOR_MLFLOW_TRACKING_URI=store, SELECTOR_ADMIN_TOKEN="admin-secret")
    with httpx.Client(base_url=server.url, timeout=30.0) as c:
        assert_falls_back(c, why)
        # a reload of the same damaged model is refused and changes nothing
        refused = c.post("/v1/admin/reload", headers=ADMIN)
        assert refused.status_code == 503
        assert why in refused.json()["error"]["message"]
        assert_falls_back(c, why)

        booster.write_bytes(good)
        reloaded = c.post("/v1/admin/reload", headers=ADMIN)
        assert reloaded.status_code == 200, reloaded.text
        ready = c.get("/readyz").json()
        assert ready["quality_model"]["serving"] == f"{NAME}/v1"
        assert not any("not loaded" in d["reason"] for d in ready["degraded"])
        assert c.post("/v1/route", json=ROUTE).json()["policy"]["quality_model"] == f"{NAME}/v1"


def test_a_model_folder_that_is_not_there_falls_back(
    tmp_path: Path, make_server: Callable[..., Server]
) -> None:
    server = make_server(SELECTOR_QUALITY_MODEL=str(tmp_path / "no-such-model"))
    with httpx.Client(base_url=server.url, timeout=30.0) as c:
        assert_falls_back(c, "is not a folder holding a quality model")


def test_an_unreachable_registry_falls_back(
    make_server: Callable[..., Server],
) -> None:
    closed = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    # with MLflow's own retry policy the start took about four minutes, past the
    # harness's start timeout; bounded, it takes seconds
    server = make_server(
        SELECTOR_MLFLOW_TRACKING_URI=closed,
        SELECTOR_ADMIN_TOKEN="admin-secret",
        SELECTOR_REGISTRY_TIMEOUT_S="2",
    )
    with httpx.Client(base_url=server.url, timeout=30.0) as c:
        # a caller without the API token is not shown the registry's address
        assert_falls_back(c, "MLflow registry at http://… is unreachable")
        assert closed.split("//")[1] not in c.get("/readyz").text
        refused = c.post("/v1/admin/reload", headers=ADMIN)
        assert refused.status_code == 503
        assert "unreachable" in refused.json()["error"]["message"]
        assert "still serving prior" in refused.json()["error"]["message"]


def test_a_damaged_registry_database_falls_back(
    tmp_path: Path, make_server: Callable[..., Server]
) -> None:
    """A corrupt mlflow.db used to stop the start with a SQLAlchemy traceback."""
    (tmp_path / "mlflow.db").write_bytes(b"not an sqlite file\n" * 500)
    server = make_server(SELECTOR_MLFLOW_TRACKING_URI=f"sqlite:///{tmp_path}/mlflow.db")
    with httpx.Client(base_url=server.url, timeout=30.0) as c:
        assert_falls_back(c, "file is not a database")
