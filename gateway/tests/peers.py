"""The peers the gateway's tests talk to, on loopback: a real selector (``selector
serve``, the server's distribution, found as ``SELECTOR_COMMAND`` or beside this
Python), a fake OpenAI-compatible LLM backend, a scripted selector that answers what a
test tells it, and servers that never answer or answer one byte at a time. Standard
library only: the gateway's environment has nothing of the server."""

from __future__ import annotations

import json
import os
import shlex
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from contextlib import closing
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx

__all__ = [
    "Drip",
    "FakeLLM",
    "ScriptedSelector",
    "SelectorServer",
    "free_port",
    "mute_server",
    "selector_command",
    "wait_until",
]

CATALOG = ("gemini-2.5-flash-lite", "gpt-5")  # two models of the default catalog
CACHED_TOKENS = 8  # of its prompt's 12 tokens, what the fake LLM says it read from cache


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_until(condition: Callable[[], bool], timeout_s: float = 30, what: str = "") -> None:
    """Polls ``condition`` until it holds (the machine may be slow: the bound is loose)."""
    ends = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > ends:
            raise AssertionError(f"{what or 'the condition'} did not hold within {timeout_s} s")
        time.sleep(0.02)


def selector_command() -> list[str]:
    """The ``selector`` command: ``SELECTOR_COMMAND``, else the one beside this Python,
    else the one on ``PATH``."""
    given = os.environ.get("SELECTOR_COMMAND")
    if given:
        return shlex.split(given)
    beside = Path(sys.executable).with_name("selector")
    if beside.exists():
        return [str(beside)]
    found = shutil.which("selector")
    if found is None:
        raise RuntimeError(
            "no selector command: install model-selector-server here, or set "
            "SELECTOR_COMMAND to its `selector` (these tests run against a real server)"
        )
    return [found]


@dataclass
class SelectorServer:
    """A ``selector serve`` process on loopback, its files in ``home``."""

    home: Path
    env: dict[str, str] = field(default_factory=dict)
    port: int = 0
    proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout_s: float = 90) -> SelectorServer:
        self.port = free_port()
        self.home.mkdir(parents=True, exist_ok=True)
        env = {
            **os.environ,
            "SELECTOR_HOME": str(self.home),
            "SELECTOR_DB_PATH": str(self.home / "decisions.db"),
            # no registry: the service serves the built-in prior
            "SELECTOR_MLFLOW_TRACKING_URI": f"sqlite:///{self.home}/no-registry.db",
            "SELECTOR_LOG_LEVEL": "warning",
            **self.env,
            "SELECTOR_PORT": str(self.port),
        }
        with (self.home / f"server-{self.port}.log").open("ab") as log:
            self.proc = subprocess.Popen(
                [*selector_command(), "serve"], env=env, stdout=subprocess.DEVNULL, stderr=log
            )

        def up() -> bool:
            if self.proc is not None and self.proc.poll() is not None:
                raise RuntimeError(f"selector serve exited with {self.proc.returncode}")
            try:
                return httpx.get(f"{self.url}/readyz", timeout=2).status_code == 200
            except httpx.HTTPError:
                return False

        wait_until(up, timeout_s, "the selector's start")
        return self

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def live(self) -> dict[str, dict[str, Any]]:
        """Each catalog model's live figures (``GET /v1/models``)."""
        models = httpx.get(f"{self.url}/v1/models", timeout=10).json()["models"]
        return {m["name"]: m["live"] for m in models}

    def samples(self) -> dict[str, int]:
        return {name: int(live["samples"]) for name, live in self.live().items()}

    def call_results(self, decision_id: str) -> list[tuple[Any, ...]]:
        """The call results the selector's log holds for a decision: (model, prompt
        tokens, completion tokens, cached tokens) each."""
        with closing(sqlite3.connect(self.home / "decisions.db")) as conn:
            return conn.execute(
                "SELECT model, prompt_tokens, completion_tokens, cached_tokens FROM feedback "
                "WHERE decision_id = ? AND latency_ms IS NOT NULL",
                (decision_id,),
            ).fetchall()


class _Quiet(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        return None

    def _json(self, status: int, body: Any) -> None:
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        self.send_response(status)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _read(self) -> Any:
        length = int(self.headers.get("content-length") or 0)
        return json.loads(self.rfile.read(length) or b"null")


class _Served:
    """A threaded HTTP server on loopback, stopped with :meth:`close`."""

    def __init__(self, handler: type[BaseHTTPRequestHandler]) -> None:
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.server.daemon_threads = True
        self.server.owner = self  # type: ignore[attr-defined]
        self.port = int(self.server.server_address[1])
        self.thread = threading.Thread(  # a short poll: shutdown() waits up to one
            target=self.server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


class FakeLLM(_Served):
    """An OpenAI-compatible chat backend: answers ``answered by <model>`` (streamed when
    asked), fails the models in ``failing`` with a 500 and says a conversation containing
    ``TOO LONG`` exceeds ``short``'s context window. Each call is recorded as
    ``(deployment, model)``, the deployment being the first part of the path of its
    ``api_base`` (:meth:`base`)."""

    def __init__(self) -> None:
        self.failing: set[str] = set()
        self.short: set[str] = set()
        self.calls: list[tuple[str, str]] = []
        self.lock = threading.Lock()
        super().__init__(_LLMHandler)

    def base(self, deployment: str = "d") -> str:
        return f"http://127.0.0.1:{self.port}/{deployment}/v1"

    def served(self, deployment: str | None = None) -> list[str]:
        with self.lock:
            return [m for d, m in self.calls if deployment is None or d == deployment]


class _LLMHandler(_Quiet):
    def do_POST(self) -> None:
        owner: FakeLLM = self.server.owner  # type: ignore[attr-defined]
        body = self._read()
        model = str(body.get("model"))
        deployment = self.path.strip("/").split("/", 1)[0]
        with owner.lock:
            owner.calls.append((deployment, model))
        if model in owner.failing:
            self._json(500, {"error": {"message": "overloaded", "type": "server_error"}})
            return
        if model in owner.short and "TOO LONG" in json.dumps(body.get("messages")):
            message = (
                "This model's maximum context length is 8192 tokens. However, your "
                "messages resulted in 90000 tokens."
            )
            error = {"message": message, "type": "invalid_request_error"}
            self._json(400, {"error": {**error, "code": "context_length_exceeded"}})
            return
        text = f"answered by {model}"
        if body.get("stream"):
            self._stream(model, text)
            return
        self._json(
            200,
            {
                "id": "fake",
                "object": "chat.completion",
                "created": 0,
                "model": model,
                "choices": [
                    {
                        "index": 0,
                        "message": {"role": "assistant", "content": text},
                        "finish_reason": "stop",
                    }
                ],
                "usage": {
                    "prompt_tokens": 12,
                    "completion_tokens": 7,
                    "total_tokens": 19,
                    "prompt_tokens_details": {"cached_tokens": CACHED_TOKENS},
                },
            },
        )

    def _stream(self, model: str, text: str) -> None:
        self.send_response(200)
        self.send_header("content-type", "text/event-stream")
        self.send_header("connection", "close")
        self.end_headers()
        for i, piece in enumerate([text[:8], text[8:]]):
            chunk = {
                "id": "fake",
                "object": "chat.completion.chunk",
                "created": 0,
                "model": model,
                "choices": [
                    {
                        "index": 0,
                        "delta": {"role": "assistant", "content": piece}
                        if i == 0
                        else {"content": piece},
                        "finish_reason": None if i == 0 else "stop",
                    }
                ],
            }
            self.wfile.write(f"data: {json.dumps(chunk)}\n\n".encode())
        self.wfile.write(b"data: [DONE]\n\n")
        self.close_connection = True


class ScriptedSelector(_Served):
    """A selector that answers ``POST /v1/route`` with ``answer`` (a status and a body,
    raw bytes or JSON) and ``GET /v1/models`` with ``catalog``; it counts route calls
    and keeps the feedback it is sent."""

    def __init__(self, catalog: tuple[str, ...] = CATALOG) -> None:
        self.catalog = catalog
        self.answer: tuple[int, Any] = (500, {"error": {"code": "internal"}})
        self.routes: list[dict[str, Any]] = []
        self.feedback: list[dict[str, Any]] = []
        super().__init__(_ScriptedHandler)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


class _ScriptedHandler(_Quiet):
    def do_GET(self) -> None:
        owner: ScriptedSelector = self.server.owner  # type: ignore[attr-defined]
        self._json(200, {"models": [{"name": m, "enabled": True} for m in owner.catalog]})

    def do_POST(self) -> None:
        owner: ScriptedSelector = self.server.owner  # type: ignore[attr-defined]
        body = self._read()
        if self.path == "/v1/feedback":
            owner.feedback.append(body)
            self._json(200, {"decision_id": body.get("decision_id"), "duplicate": False})
            return
        owner.routes.append(body)
        self._json(*owner.answer)


class Drip:
    """Accepts connections and answers each request with a valid route answer, one byte
    every ``every_s`` seconds; ``sent`` counts the bytes it has sent."""

    BODY = json.dumps({"decision_id": "d-drip", "model": "gpt-5", "fallbacks": []}).encode()

    def __init__(self, every_s: float = 0.1) -> None:
        self.every_s = every_s
        self.sent = 0
        self.answer = (
            b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n"
            + f"content-length: {len(self.BODY)}\r\n\r\n".encode()
            + self.BODY
        )
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}"
        self.stopped = threading.Event()
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while not self.stopped.is_set():
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self._drip, args=(conn,), daemon=True).start()

    def _drip(self, conn: socket.socket) -> None:
        with conn:
            try:
                conn.recv(65536)
                for byte in self.answer:
                    if self.stopped.wait(self.every_s):
                        return
                    conn.sendall(bytes([byte]))
                    self.sent += 1
            except OSError:
                return

    @property
    def whole(self) -> int:
        return len(self.answer)

    def close(self) -> None:
        self.stopped.set()
        self.sock.close()


def mute_server() -> socket.socket:
    """A listening socket nobody accepts from: connections complete, nothing answers."""
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    s.listen(64)
    return s
