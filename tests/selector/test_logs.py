"""Logs an operator can use: JSON lines off a terminal, text on one, a request id on
every line of a request, the service's own events at INFO, an access log that can be
turned off."""

from __future__ import annotations

import io
import json
import logging
import os
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from selector.logs import REQUEST_ID, configure_logging
from tests.conftest import Server


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


@pytest.fixture
def restore_logging() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


@pytest.mark.usefixtures("restore_logging")
def test_off_a_terminal_each_line_is_a_json_object_with_the_request_id() -> None:
    out = io.StringIO()
    configure_logging("auto", "info", out)
    token = REQUEST_ID.set("rid-7")
    try:
        logging.getLogger("selector.test").info("decided %s", "gpt-5", extra={"model": "gpt-5"})
    finally:
        REQUEST_ID.reset(token)
    try:
        raise ValueError("boom")
    except ValueError:
        logging.getLogger("selector.test").exception("failed")
    logging.getLogger("selector.test").debug("not shown at info")
    first, second = (json.loads(line) for line in out.getvalue().splitlines())
    assert first["level"] == "info"
    assert first["logger"] == "selector.test"
    assert first["message"] == "decided gpt-5"
    assert first["request_id"] == "rid-7"
    assert first["model"] == "gpt-5"
    assert first["ts"].endswith("Z")
    assert "request_id" not in second
    assert "ValueError: boom" in second["exc"]


@pytest.mark.usefixtures("restore_logging")
def test_on_a_terminal_lines_are_text() -> None:
    out = _Terminal()
    configure_logging("auto", "info", out)
    logging.getLogger("selector.test").warning("lagging", extra={"lag_s": 3})
    line = out.getvalue().strip()
    assert "WARNING" in line
    assert "selector.test lagging lag_s=3" in line
    with pytest.raises(json.JSONDecodeError):
        json.loads(line)


def events(server: Server) -> list[dict[str, object]]:
    return [json.loads(line) for line in server.log_lines() if line.startswith("{")]


def test_the_service_says_what_it_does_with_default_settings(
    make_server: Callable[..., Server], tmp_path: Path
) -> None:
    db = tmp_path / "selector.db"
    env = {"SELECTOR_LOG_LEVEL": "info", "SELECTOR_POLICY": "bandit-v1"}
    server = make_server(db, **env)
    with httpx.Client(base_url=server.url) as c:
        r = c.post(
            "/v1/route",
            json={"conversation_id": "c", "turns": 3},
            headers={"X-Request-ID": "gw-123"},
        )
        assert r.headers["x-request-id"] == "gw-123"
        did = r.json()["decision_id"]
        model = r.json()["model"]
        for i in range(25):  # enough failed calls to open the circuit
            c.post(
                "/v1/feedback",
                json={
                    "decision_id": did,
                    "model": model,
                    "error": "timeout",
                    "latency_ms": float(i),
                },
            )
    server.stop()
    again = make_server(db, **env)
    again.stop()
    lines = events(server) + events(again)
    messages = [str(e["message"]) for e in lines]
    for expected in (
        "quality model not loaded",
        "online layer: no saved state",
        "online layer read",
        f"circuit of {model} opened",
        "online layer: restored from",
        "latency tracker warmed with",
    ):
        assert any(m.startswith(expected) for m in messages), (expected, messages)
    access = [e for e in lines if e["logger"] == "selector.access"]
    routed = next(e for e in access if e["path"] == "/v1/route")
    assert routed["request_id"] == "gw-123"
    assert routed["status"] == 200
    assert isinstance(routed["duration_ms"], float)
    assert all({"ts", "level", "logger", "message"} <= set(e) for e in lines)


def test_the_access_log_can_be_turned_off(make_server: Callable[..., Server]) -> None:
    server = make_server(SELECTOR_LOG_LEVEL="info", SELECTOR_ACCESS_LOG="false")
    assert httpx.get(f"{server.url}/healthz").status_code == 200
    server.stop()
    lines = events(server)
    assert any(e["logger"].startswith("selector.") for e in lines)  # the service says what it does
    assert not [e for e in lines if e["logger"] == "selector.access"]


def test_a_misspelt_variable_is_named_with_the_setting_it_resembles(
    make_server: Callable[..., Server], tmp_path: Path
) -> None:
    server = make_server(tmp_path / "selector.db", SELECTOR_EXPLORATON="0.3", SELECTOR_ZZZ="1")
    server.stop()
    messages = [str(e["message"]) for e in events(server)]
    assert "SELECTOR_EXPLORATON is not a setting (SELECTOR_EXPLORATION?): ignored" in messages
    assert any(m.startswith("SELECTOR_ZZZ is not a setting (no setting reads") for m in messages)


@pytest.mark.parametrize("imported", ["before", "after"])
def test_mlflow_s_own_lines_come_out_in_the_service_s_format(imported: str) -> None:
    """MLflow installs a handler of its own on import; its lines must be JSON all the
    same, whether it was imported before the logs were configured or after."""
    import subprocess
    import sys

    steps = ["from selector.logs import configure_logging", "configure_logging('json')"]
    if imported == "before":
        steps.insert(0, "import mlflow")
    else:
        steps.append("import mlflow")
    steps += [
        "import logging",
        "logging.getLogger('mlflow.tracking').warning('from mlflow')",
        "logging.getLogger('alembic.runtime').warning('from alembic')",
    ]
    env = {k: v for k, v in os.environ.items() if k != "MLFLOW_CONFIGURE_LOGGING"}
    done = subprocess.run(
        [sys.executable, "-c", "; ".join(steps)],
        capture_output=True, text=True, timeout=120, check=True, env=env,
    )  # fmt: skip
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert [json.loads(line)["message"] for line in lines] == ["from mlflow", "from alembic"]
    assert json.loads(lines[0])["logger"] == "mlflow.tracking"
