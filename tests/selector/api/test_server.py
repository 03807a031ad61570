"""The HTTP server against clients that misbehave, and on shutdown (a real server on
loopback): stuck clients are cut off, connections are capped, SIGTERM under load
answers every request already sent."""

from __future__ import annotations

import json
import signal
import socket
import sqlite3
import threading
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from tests.conftest import Server

ROUTE = {"conversation_id": "c", "turns": 4, "intent": "card_arrival"}


def connect(server: Server, data: bytes = b"") -> socket.socket:
    s = socket.create_connection(("127.0.0.1", server.port))
    if data:
        s.sendall(data)
    s.settimeout(20)
    return s


def answer_of(s: socket.socket) -> bytes:
    """What the server sent before it closed the connection (b"" if nothing)."""
    out = b""
    try:
        while chunk := s.recv(4096):
            out += chunk
    except (ConnectionResetError, TimeoutError):
        pass
    s.close()
    return out


def test_stuck_clients_are_cut_off(make_server: Callable[..., Server]) -> None:
    server = make_server(SELECTOR_REQUEST_TIMEOUT_S="1", SELECTOR_KEEPALIVE_TIMEOUT_S="1")
    head = b"POST /v1/route HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
    stuck = {
        "a body that never ends": [
            connect(server, head + b'Content-Length: 500\r\n\r\n{"conversation_id":')
            for _ in range(30)
        ],
        "headers that never end": [connect(server, head) for _ in range(30)],
        "a connection that sends nothing": [connect(server) for _ in range(30)],
        "a stray line break": [connect(server, b"\r\n") for _ in range(10)],
    }
    started = time.monotonic()
    answers = {kind: [answer_of(s) for s in socks] for kind, socks in stuck.items()}
    assert time.monotonic() - started < 10
    for kind in ("a body that never ends", "headers that never end"):
        assert all(a.startswith(b"HTTP/1.1 408 ") for a in answers[kind]), (kind, answers[kind][0])
        assert b'"code":"request_timeout"' in answers[kind][0]
    assert set(answers["a connection that sends nothing"]) == {b""}
    # the service still answers
    assert httpx.post(f"{server.url}/v1/route", json=ROUTE).status_code == 200


def test_connections_beyond_the_cap_are_refused_at_once(
    make_server: Callable[..., Server],
) -> None:
    server = make_server(SELECTOR_MAX_CONNECTIONS="20", SELECTOR_KEEPALIVE_TIMEOUT_S="30")
    held = [connect(server) for _ in range(20)]
    # a request answered on the last one: the server has taken every one before it
    held[-1].sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
    assert held[-1].recv(4096).startswith(b"HTTP/1.1 200 ")
    extra = connect(server)
    answer = answer_of(extra)
    assert answer.startswith(b"HTTP/1.1 503 "), answer
    assert b"too_many_connections" in answer
    for s in held:
        s.close()
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        try:
            if httpx.post(f"{server.url}/v1/route", json=ROUTE).status_code == 200:
                break
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    else:
        raise AssertionError("the service did not take connections again")


def test_sigterm_under_load_answers_every_request_already_sent(
    make_server: Callable[..., Server],
) -> None:
    """Keep-alive clients hammer the service while it gets SIGTERM: a request the server
    read is answered (with ``Connection: close``); afterwards new connections are
    refused. No request is cut off mid-way, and every acknowledged decision is in the
    log."""
    server = make_server()
    assert server.proc is not None
    outcomes: Counter[str] = Counter()
    acked: set[str] = set()
    lock = threading.Lock()
    stop = threading.Event()

    def client(i: int) -> None:
        with httpx.Client(base_url=server.url, timeout=10) as c:
            while not stop.is_set():
                try:
                    r = c.post("/v1/route", json={**ROUTE, "conversation_id": f"c{i}"})
                except httpx.ConnectError:  # the listener is closed: nothing was sent
                    kind = "refused"
                    stop.wait(0.01)
                except httpx.HTTPError as exc:  # sent, but no answer
                    kind = f"cut off: {type(exc).__name__}"
                else:
                    kind = str(r.status_code)
                    if r.status_code == 200:
                        with lock:
                            acked.add(r.json()["decision_id"])
                with lock:
                    outcomes[kind] += 1
                if kind == "refused" and server.proc.poll() is not None:  # type: ignore[union-attr]
                    return

    threads = [threading.Thread(target=client, args=(i,)) for i in range(16)]
    for t in threads:
        t.start()
    deadline = time.monotonic() + 120  # under way, however slow the machine
    while outcomes["200"] < 150 and time.monotonic() < deadline:
        time.sleep(0.01)
    server.proc.send_signal(signal.SIGTERM)
    assert server.proc.wait(timeout=30) in (0, -signal.SIGTERM)  # uvicorn re-raises it
    stop.set()
    for t in threads:
        t.join(timeout=30)
    cut = {k: v for k, v in outcomes.items() if k.startswith("cut off")}
    assert not cut, outcomes
    assert outcomes["200"] > 100, outcomes
    with sqlite3.connect(server.db_path) as conn:
        stored = {r[0] for r in conn.execute("SELECT decision_id FROM decisions")}
    assert acked <= stored


def test_an_http_1_0_body_without_a_length_is_named(server: Server) -> None:
    """HTTP/1.0 has no chunked bodies: without Content-Length the request has none."""
    s = connect(
        server,
        b"POST /v1/route HTTP/1.0\r\nContent-Type: application/json\r\n\r\n"
        b'{"conversation_id": "c", "turns": 2}',
    )
    answer = answer_of(s)
    assert answer.startswith(b"HTTP/1.1 422 "), answer
    assert b"has no body" in answer
    assert b"Content-Length" in answer


@pytest.mark.parametrize("length", [b"abc", b"-1", b"12, 13"])
def test_a_request_http_cannot_parse_gets_the_json_error_body(
    server: Server, length: bytes
) -> None:
    s = connect(
        server,
        b"POST /v1/route HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        b"Content-Length: " + length + b"\r\n\r\n{}",
    )
    answer = answer_of(s)
    assert answer.startswith(b"HTTP/1.1 400 "), answer
    head, body = answer.split(b"\r\n\r\n", 1)
    assert b"content-type: application/json" in head.lower()
    error = json.loads(body)["error"]
    assert error["code"] == "malformed_request"
    assert "Content-Length" in error["message"]


def access_client(server: Server, path: str) -> str:
    """The client the access log names for the request to ``path`` (waits for it)."""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        for line in server.log_lines():
            if line.startswith("{") and json.loads(line).get("path") == path:
                return str(json.loads(line)["client"])
        time.sleep(0.05)
    raise AssertionError(f"no access log line for {path}")


def test_x_forwarded_for_names_the_client_only_from_the_proxies_named(
    make_server: Callable[..., Server], tmp_path: Path
) -> None:
    spoofed = {"X-Forwarded-For": "203.0.113.9"}
    plain = make_server(tmp_path / "a.db", SELECTOR_LOG_LEVEL="info")
    assert httpx.get(f"{plain.url}/v1/models", headers=spoofed).status_code == 200
    assert access_client(plain, "/v1/models") == "127.0.0.1"
    behind = make_server(
        tmp_path / "b.db", SELECTOR_LOG_LEVEL="info", SELECTOR_FORWARDED_ALLOW_IPS="127.0.0.1"
    )
    assert httpx.get(f"{behind.url}/v1/models", headers=spoofed).status_code == 200
    assert access_client(behind, "/v1/models") == "203.0.113.9"
