"""Shared fixtures: paths to the shared data, and real servers on loopback."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = ROOT.parent / "shared" / "data"


SERVER_FIXTURES = {"server", "client", "make_server"}
SLOW_FOLDERS = ("tests/bench/", "tests/simulator/")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Tests that start a real server are ``integration``; the benchmarks' and the
    simulator's are ``slow``: ``make test-fast`` leaves both out."""
    for item in items:
        if SERVER_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.integration)
        if any(folder in item.nodeid for folder in SLOW_FOLDERS):
            item.add_marker(pytest.mark.slow)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Server:
    """A ``selector serve`` process on loopback."""

    db_path: Path
    env: dict[str, str]
    port: int = 0
    proc: subprocess.Popen[bytes] | None = None
    log_path: Path | None = None

    def log_lines(self) -> list[str]:
        """What the server has written to stderr (its log) so far."""
        if self.log_path is None or not self.log_path.exists():
            return []
        return self.log_path.read_text(encoding="utf-8", errors="replace").splitlines()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 60.0) -> Server:
        self.port = free_port()
        env = {
            **os.environ,
            # no registry unless a test gives one: the service then serves the prior
            "SELECTOR_MLFLOW_TRACKING_URI": f"sqlite:///{self.db_path.parent}/no-registry.db",
            **self.env,
            "SELECTOR_PORT": str(self.port),
        }
        env["SELECTOR_DB_PATH"] = str(self.db_path)
        env.setdefault("SELECTOR_LOG_LEVEL", "warning")
        # the log goes to a file: a pipe nobody reads would fill and stall the server
        self.log_path = self.db_path.parent / f"server-{self.port}.log"
        with self.log_path.open("ab") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "selector", "serve"],
                env=env,
                cwd=ROOT,
                stdout=subprocess.DEVNULL,
                stderr=log,
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                err = "\n".join(self.log_lines())
                raise RuntimeError(f"server exited with {self.proc.returncode}: {err}")
            try:
                if httpx.get(f"{self.url}/healthz", timeout=1.0).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        self.stop()
        raise RuntimeError("server did not start in time")

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def kill9(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()


@pytest.fixture
def make_server(tmp_path: Path) -> Iterator[Callable[..., Server]]:
    """Start servers for one test; all are stopped at its end."""
    started: list[Server] = []

    def make(db_path: Path | None = None, **env: str) -> Server:
        server = Server(db_path or tmp_path / "decisions.db", env)
        started.append(server)
        return server.start()

    yield make
    for s in started:
        s.stop()


@pytest.fixture(scope="session")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """One server shared by the tests that do not restart it."""
    s = Server(tmp_path_factory.mktemp("server") / "decisions.db", {}).start()
    yield s
    s.stop()


@pytest.fixture
def client(server: Server) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.url, timeout=10.0) as c:
        yield c


@pytest.fixture
def app_client(tmp_path: Path) -> Iterator[Callable[..., Any]]:
    """In-process clients of the ASGI app (lifespan included), one per call, with settings
    given as keyword arguments; all are closed at the end of the test."""
    from starlette.testclient import TestClient

    from selector.api.app import create_app
    from selector.config import load_settings

    opened: list[Any] = []

    def make(**overrides: Any) -> Any:
        base: dict[str, Any] = {
            "db_path": tmp_path / f"app{len(opened)}.db",
            "quality_model": "prior",
            "mlflow_tracking_uri": f"sqlite:///{tmp_path}/no-registry.db",
        }
        app = create_app(load_settings(**{**base, **overrides}))
        c = TestClient(app, base_url="http://localhost")  # a name loopback answers to
        c.__enter__()
        opened.append(c)
        return c

    yield make
    for c in opened:
        c.__exit__(None, None, None)


def requires_shared_data(*parts: str) -> pytest.MarkDecorator:
    path = SHARED_DATA.joinpath(*parts)
    return pytest.mark.skipif(not path.exists(), reason=f"shared data {path} not present")


@pytest.fixture(scope="session")
def postgres() -> Iterator[Any]:
    """One PostgreSQL server for the session (:mod:`tests.postgres`); skipped where it is
    neither installed nor installable."""
    from tests.postgres import Postgres, postgres_bin

    found = postgres_bin()
    if found is None:
        pytest.skip("PostgreSQL's server is not installed and cannot be (not root)")
    server = Postgres(found).start()
    server.wait_ready()
    yield server
    server.stop()
    server.remove()
