"""In-process tests of each route: the app built around a service put in place through
its dependency overrides (no lifespan, no server). A real service on a temporary
decision log by default; a test may swap in one that fails."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import TestClient

from selector.api.app import create_app
from selector.api.deps import get_service
from selector.config import Settings, load_settings
from selector.service import SelectorService
from selector.wiring import build_service

ADMIN = "admin-token-for-tests"


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return load_settings(
        db_path=tmp_path / "decisions.db",
        quality_model="prior",
        mlflow_tracking_uri=f"sqlite:///{tmp_path}/no-registry.db",
        admin_token=ADMIN,
    )


@pytest.fixture
def service(settings: Settings) -> Iterator[SelectorService]:
    svc = build_service(settings)
    svc.start()
    yield svc
    svc.stop()


@pytest.fixture
def serve(settings: Settings) -> Callable[[Any], TestClient]:
    """A client of the app serving the given service (the lifespan does not run: a route
    that ignored the override would find no service at all)."""

    def make(svc: Any) -> TestClient:
        app = create_app(settings)
        app.dependency_overrides[get_service] = lambda: svc
        return TestClient(app, base_url="http://localhost", raise_server_exceptions=False)

    return make


@pytest.fixture
def client(serve: Callable[[Any], TestClient], service: SelectorService) -> TestClient:
    return serve(service)
