"""The service serves the registry's champion and reloads it on demand under load,
failing no request and never answering with a mix of two versions; a damaged new
champion is refused (see test_broken_model.py for starts with a broken model)."""

from __future__ import annotations

import json
import threading
import time
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest

from models import registry
from tests.builders import covering
from tests.conftest import Server
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


def decision_of(body: dict[str, Any]) -> tuple[str, str]:
    """The model version that answered, and what it computed (scores, choice, fallbacks),
    which does not depend on the conversation id."""
    kept = {k: body[k] for k in ("model", "fallbacks", "scores", "intent_group")}
    return str(body["policy"]["quality_model"]), json.dumps(kept, sort_keys=True)


def serving(c: httpx.Client) -> str:
    body = c.get("/readyz").json()
    assert body["status"] == "ready"
    return str(body["quality_model"]["serving"])


def answered(answers: list[object], n: int, timeout_s: float = 120.0) -> None:
    """Wait until ``answers`` holds ``n`` answers (however slow the machine)."""
    deadline = time.monotonic() + timeout_s
    while len(answers) < n:
        assert time.monotonic() < deadline, f"{len(answers)} answers, not {n}"
        time.sleep(0.01)


def reload_under_load(
    c: httpx.Client, clients: int = 8
) -> tuple[httpx.Response, list[tuple[int, str, object]]]:
    """The reload's response, and every answer routed by ``clients`` threads meanwhile."""
    answers: list[tuple[int, str, object]] = []
    stop = threading.Event()

    def load(k: int) -> None:
        i = 0
        while not stop.is_set() or i < 20:
            r = c.post("/v1/route", json={**ROUTE, "conversation_id": f"c-{k}-{i}"})
            answers.append(
                (r.status_code, *decision_of(r.json()))
                if r.status_code == 200
                else (r.status_code, r.text, None)
            )
            i += 1

    with ThreadPoolExecutor(clients) as pool:
        running = [pool.submit(load, k) for k in range(clients)]
        answered(answers, 2 * clients)  # answers before the reload
        reloaded = c.post("/v1/admin/reload", headers=ADMIN)
        answered(answers, len(answers) + 2 * clients)  # and after it
        stop.set()
        for f in running:
            f.result()
    return reloaded, answers


def test_champion_is_served_and_reloaded(
    tmp_path: Path, make_server: Callable[..., Server]
) -> None:
    store = f"sqlite:///{tmp_path}/mlflow.db"
    table = str(write_table(tmp_path))
    train(table, folds=0, tracking_uri=store, make_model=small)
    promote(NAME, "1", store, settings=covering(tmp_path, ["cheap", "strong"]))
    server = make_server(  # a deterministic policy: each answer is wholly one version's
        SELECTOR_MLFLOW_TRACKING_URI=store,
        SELECTOR_ADMIN_TOKEN="admin-secret",
        SELECTOR_POLICY="utility-v0",
        SELECTOR_MODEL_POLL_S="0",  # reloads on demand only (following: test_watch.py)
    )
    with httpx.Client(base_url=server.url, timeout=30.0) as c:
        assert serving(c) == f"{NAME}/v1"
        # it knows the table's two models, not the built-in catalog's: /readyz says so
        body = c.get("/readyz").json()
        unknown = body["quality_model"]["unknown_models"]
        assert "gpt-5" in unknown
        assert "cheap" not in unknown
        [why] = [d["reason"] for d in body["degraded"] if d["part"] == "quality_model"]
        assert f"{NAME}/v1 was not trained on {', '.join(unknown)}" in why
        routed = c.post("/v1/route", json=ROUTE).json()
        assert routed["policy"]["quality_model"] == f"{NAME}/v1"

        train(table, folds=0, tracking_uri=store, make_model=lambda: small(seed=1))
        promote(NAME, "2", store, force=True, settings=covering(tmp_path, ["cheap", "strong"]))
        assert c.post("/v1/admin/reload").status_code == 401
        assert c.post("/v1/admin/reload", headers={"Authorization": "Bearer x"}).status_code == 401
        assert serving(c) == f"{NAME}/v1"

        # under load from eight clients, the reload fails no request, and every answer
        # is wholly one version's: its scores are those that version gives alone
        v1 = decision_of(c.post("/v1/route", json=ROUTE).json())
        reloaded, answers = reload_under_load(c)
        assert reloaded.status_code == 200, reloaded.text
        assert reloaded.json()["quality_model"]["serving"] == f"{NAME}/v2"
        v2 = decision_of(c.post("/v1/route", json=ROUTE).json())
        assert v1[0] == f"{NAME}/v1"
        assert v2[0] == f"{NAME}/v2"
        assert v1[1] != v2[1], "the two versions must score differently for the check to bite"
        assert [a for a in answers if a[0] != 200] == []
        assert {(a[1], a[2]) for a in answers} <= {v1, v2}
        served = Counter(a[1] for a in answers)
        assert served[f"{NAME}/v1"] > 0
        assert served[f"{NAME}/v2"] > 0

        # a champion whose files were changed is refused; the current model stays
        train(table, folds=0, tracking_uri=store, make_model=small)
        promote(NAME, "3", store, force=True, settings=covering(tmp_path, ["cheap", "strong"]))
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


def test_without_a_registry_the_prior_is_served(client: httpx.Client) -> None:
    body = client.get("/readyz").json()
    assert body["status"] == "ready"
    assert body["quality_model"]["requested"] == f"models:/{NAME}@champion"
    assert body["quality_model"]["serving"] == "prior"
    assert any("train and register a model first" in d["reason"] for d in body["degraded"])


def test_admin_endpoints_are_off_without_an_admin_token(client: httpx.Client) -> None:
    r = client.post("/v1/admin/reload", headers=ADMIN)
    assert r.status_code == 403
    assert "SELECTOR_ADMIN_TOKEN" in r.json()["error"]["message"]
    # without credentials at all, authentication comes first
    r = client.post("/v1/admin/reload")
    assert r.status_code == 401
    assert "disabled until it is set" in r.json()["error"]["message"]
