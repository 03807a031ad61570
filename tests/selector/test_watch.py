"""Replicas follow the registry: two servers on one MLflow store (the local SQLite
default, or a tracking server on PostgreSQL serving the artifacts) serve a newly
promoted champion within their poll, without a restart, and one that fails to load is
reported while the current model stays."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from models import registry
from selector.watch import follows, watch_champion
from tests.builders import covering
from tests.conftest import Server, free_port
from tests.postgres import Postgres
from tests.training.test_train import small, write_table
from training.promotion import promote
from training.train import train

psycopg = pytest.importorskip("psycopg")
NAME = "model-selector-quality"


def booster(store: str, tmp_path: Path, version: str) -> Path:
    """The stored booster file of a model version: in the local store's folder, or in
    the tracking server's artifacts folder (what ``resolve`` gives from a server is a
    downloaded copy)."""
    if store.startswith("sqlite:"):
        return registry.resolve(f"models:/{NAME}/{version}", store).folder / "booster.txt"
    run = registry.client(store).get_model_version(NAME, version).run_id
    [found] = [p for p in (tmp_path / "artifacts").rglob("booster.txt") if run in str(p)]
    return found


def serving(server: Server) -> str:
    return str(httpx.get(f"{server.url}/readyz").json()["quality_model"]["serving"])


def until_serving(server: Server, wanted: str, timeout_s: float = 90.0) -> float:
    """Seconds until ``server`` serves ``wanted``; fails past ``timeout_s``."""
    t0 = time.monotonic()
    while serving(server) != wanted:
        assert time.monotonic() - t0 < timeout_s, f"still serving {serving(server)}"
        time.sleep(0.1)
    return time.monotonic() - t0


@pytest.fixture
def tracking_server(postgres: Postgres, tmp_path: Path) -> Iterator[str]:
    """``mlflow server`` on a database of its own in the session's PostgreSQL, serving
    the artifacts from a folder: its URL."""
    database = f"mlflow_{tmp_path.name.replace('-', '_')}"[:60]
    with psycopg.connect(postgres.url, autocommit=True) as c:
        c.execute(f"CREATE DATABASE {database}")
    backend = postgres.url.replace("postgresql://", "postgresql+psycopg://").rsplit("/", 1)[0]
    port = free_port()
    proc = subprocess.Popen(
        [
            sys.executable, "-m", "mlflow", "server",
            "--backend-store-uri", f"{backend}/{database}",
            "--serve-artifacts", "--artifacts-destination", str(tmp_path / "artifacts"),
            "--host", "127.0.0.1", "--port", str(port), "--workers", "1",
        ],
        # as docs/training.md starts it: without MLflow's job runner (a dozen worker
        # processes for its GenAI jobs, which the registry does not use)
        env={**os.environ, "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 90
    while True:
        try:
            if httpx.get(f"{url}/health", timeout=1).status_code == 200:
                break
        except httpx.HTTPError:
            pass
        assert proc.poll() is None, "mlflow server exited"
        assert time.monotonic() < deadline, "mlflow server did not start in 90 s"
        time.sleep(0.2)
    yield url
    proc.terminate()
    proc.wait(timeout=30)


@pytest.mark.integration
@pytest.mark.parametrize("store_kind", ["sqlite", "tracking server on PostgreSQL"])
def test_every_replica_serves_a_promotion_within_its_poll(
    store_kind: str,
    tmp_path: Path,
    make_server: Callable[..., Server],
    request: pytest.FixtureRequest,
) -> None:
    store = f"sqlite:///{tmp_path}/mlflow.db"
    if store_kind != "sqlite":
        store = request.getfixturevalue("tracking_server")
    table = str(write_table(tmp_path))
    catalog = covering(tmp_path, ["cheap", "strong"])
    train(table, folds=0, tracking_uri=store, make_model=small)
    promote(NAME, "1", store, settings=catalog)
    env = {"SELECTOR_MLFLOW_TRACKING_URI": store, "SELECTOR_MODEL_POLL_S": "0.3"}
    replicas = [make_server(tmp_path / f"replica-{i}.db", **env) for i in range(2)]
    for r in replicas:
        assert serving(r) == f"{NAME}/v1"

    train(table, folds=0, tracking_uri=store, make_model=lambda: small(seed=1))
    promote(NAME, "2", store, force=True, settings=catalog)
    for r in replicas:
        until_serving(r, f"{NAME}/v2")

    # a promoted version whose files were changed is refused; v2 stays, and says why
    # (changed before the alias moves to it: no poll may find it intact)
    train(table, folds=0, tracking_uri=store, make_model=small)
    booster(store, tmp_path, "3").write_text("x\n")
    registry.client(store).set_registered_model_alias(NAME, "champion", "3")
    for r in replicas:  # each says so once a poll has seen it, and keeps v2
        t0 = time.monotonic()
        while not any("version 3 was promoted but not loaded" in x for x in r.log_lines()):
            assert time.monotonic() - t0 < 60, "the refused version was never reported"
            time.sleep(0.1)
        assert serving(r) == f"{NAME}/v2"


def test_only_an_alias_is_followed() -> None:
    assert follows("models:/model-selector-quality@champion")
    assert not follows("models:/model-selector-quality/3")
    assert not follows("prior")
    assert not follows("/srv/models/quality")


def test_the_watch_outlives_a_registry_that_fails_and_a_reload_that_fails() -> None:
    answers = iter([None, RuntimeError("registry down"), "2", "3", "3", "4"])

    def version_now() -> str | None:
        answer = next(answers)
        if isinstance(answer, Exception):
            raise answer
        return answer

    class Service:
        reloads = 0

        async def reload_quality_model(self) -> object:
            self.reloads += 1
            if self.reloads == 2:
                raise RuntimeError("v3 is broken")
            return type("Status", (), {"serving": f"v{self.reloads}"})()

    service = Service()

    async def run() -> None:
        task = asyncio.create_task(watch_champion(service, version_now, 0.01))  # type: ignore[arg-type]
        for _ in range(200):
            await asyncio.sleep(0.01)
            if service.reloads == 3:
                break
        task.cancel()

    asyncio.run(run())
    assert service.reloads == 3  # 2, then 3 (failed, not retried), then 4
