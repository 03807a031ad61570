"""The client when the service cannot answer well: connection failures retried with
back-off within the deadline and nothing else retried; a deadline for the whole call
against a server that drips its answer and one that never answers, sync and async;
answers it cannot use treated as no answer; the breaker that stops calling a failing
service and lets one probe through."""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
from model_selector_gateway import (
    AsyncSelectorClient,
    Options,
    SelectorClient,
    SelectorUnavailableError,
)
from model_selector_gateway.breaker import Breaker
from peers import Drip, free_port, mute_server

SMALL, LARGE = "gemini-2.5-flash-lite", "gpt-5"
HELLO = [{"role": "user", "content": "I was charged twice for my order"}]


def answering(*steps: Exception | httpx.Response) -> tuple[httpx.MockTransport, list[float]]:
    """A transport that raises or answers each step in turn, and the attempts' times."""
    attempts: list[float] = []
    loop = iter(steps)

    def handle(request: httpx.Request) -> httpx.Response:
        attempts.append(time.monotonic())
        step = next(loop)
        if isinstance(step, Exception):
            raise step
        return step

    return httpx.MockTransport(handle), attempts


def routed() -> httpx.Response:
    body = {"decision_id": "d-1", "model": LARGE, "fallbacks": [SMALL], "propensity": 1.0}
    return httpx.Response(200, json=body)


def client_over(transport: httpx.MockTransport, **options: Any) -> SelectorClient:
    http = httpx.Client(transport=transport, base_url="http://selector")
    return SelectorClient("http://selector", http=http, options=Options(**options))


def test_connection_failures_are_retried_with_back_off() -> None:
    refused = httpx.ConnectError("refused")
    transport, attempts = answering(refused, refused, routed())
    d = client_over(transport, retries=2, backoff_s=0.01).route("c", HELLO)
    assert d.decision_id == "d-1"
    assert len(attempts) == 3
    assert attempts[2] - attempts[1] >= attempts[1] - attempts[0] >= 0.009  # doubled


@pytest.mark.parametrize(
    "failure",
    [httpx.ReadTimeout("slow"), httpx.Response(503, json={"error": {"code": "not_ready"}})],
    ids=["read-timeout", "503"],
)
def test_what_may_have_reached_the_service_is_not_retried(
    failure: Exception | httpx.Response,
) -> None:
    transport, attempts = answering(failure, routed())
    d = client_over(transport, retries=3, backoff_s=0.001, default_model=SMALL).route("c", HELLO)
    assert d.from_default
    assert len(attempts) == 1


def test_retries_stop_when_the_deadline_would_pass() -> None:
    refused = httpx.ConnectError("refused")
    transport, attempts = answering(*[refused] * 5, routed())
    with pytest.raises(SelectorUnavailableError):
        client_over(transport, retries=5, backoff_s=0.04, timeout_s=0.1).route("c", HELLO)
    assert len(attempts) == 2  # waiting 0.08 s more would pass the 0.1 s deadline


@pytest.mark.parametrize(
    "body",
    [
        b"<html>not json</html>",
        b'{"model": "gpt-5"}',  # no decision id
        b'{"decision_id": "d-1", "model": 7}',
        b'{"decision_id": "d-1", "model": "gpt-5", "fallbacks": "small"}',
        b'{"decision_id": "d-1", "model": "gpt-5", "scores": [{"model": "x"}]}',
        b"[1, 2]",
    ],
    ids=["not-json", "no-decision-id", "model-not-text", "fallbacks-not-list", "bad-score", "list"],
)
def test_an_answer_the_client_cannot_use_is_no_answer(body: bytes) -> None:
    transport, _ = answering(httpx.Response(200, content=body))
    client = client_over(transport, default_model=SMALL)
    d = client.route("c", HELLO, candidates=[LARGE, SMALL])
    assert d.from_default
    assert d.model == SMALL
    assert "unexpected answer" in (d.reason or "") or "answered 200" in (d.reason or "")
    assert client.breaker.opened == 0
    assert client.breaker._in_a_row == 1


@pytest.mark.parametrize(
    ("make", "field"),
    [
        (lambda: SelectorClient("http://x", token=""), "token"),
        (lambda: SelectorClient("http://x", timeout_s=0), "timeout_s"),
        (lambda: SelectorClient("http://x", retries=-1), "retries"),
        (lambda: SelectorClient("http://x", default_model=""), "default_model"),
        (lambda: SelectorClient("http://x", breaker_failures=-1), "breaker_failures"),
        (lambda: SelectorClient("http://x", breaker_cooldown_s=0), "breaker_cooldown_s"),
    ],
)
def test_bad_settings_are_errors_naming_them(make: Callable[[], object], field: str) -> None:
    with pytest.raises(ValueError, match=field):
        make()


# -- the deadline ---------------------------------------------------------------------


@pytest.fixture
def drip() -> Iterator[Drip]:
    server = Drip(every_s=0.1)  # its whole answer takes about 12 s
    yield server
    server.close()


@pytest.fixture
def mute() -> Iterator[str]:
    s = mute_server()
    yield f"http://127.0.0.1:{s.getsockname()[1]}"
    s.close()


def finished(call: Callable[[], Any], within_s: float = 60) -> Any:
    """``call``'s result, run in a thread that must end within a loose bound (a client
    without a deadline would hang on these servers for good)."""
    out: list[Any] = []
    worker = threading.Thread(target=lambda: out.append(call()), daemon=True)
    worker.start()
    worker.join(within_s)
    assert not worker.is_alive(), "the call did not end: it has no deadline"
    return out[0]


@pytest.mark.parametrize("kind", ["sync", "async"])
def test_a_server_that_drips_its_answer_does_not_hold_the_call(drip: Drip, kind: str) -> None:
    def call() -> Any:
        if kind == "sync":
            with SelectorClient(drip.url, timeout_s=0.25, default_model=SMALL) as c:
                return c.route("c", HELLO, candidates=[LARGE, SMALL])

        async def run() -> Any:
            async with AsyncSelectorClient(drip.url, timeout_s=0.25, default_model=SMALL) as c:
                return await c.route("c", HELLO, candidates=[LARGE, SMALL])

        return asyncio.run(run())

    d = finished(call)
    assert d.from_default  # the dripped decision was never read to its end
    assert drip.sent < drip.whole


@pytest.mark.parametrize("kind", ["sync", "async"])
def test_a_server_that_never_answers_does_not_hold_the_call(mute: str, kind: str) -> None:
    def call() -> Any:
        if kind == "sync":
            with (
                SelectorClient(mute, timeout_s=0.25, feedback_timeout_s=0.25) as c,
                pytest.raises(SelectorUnavailableError) as e,
            ):
                c.report_call("d-1", latency_ms=1)
            return e

        async def run() -> Any:
            async with AsyncSelectorClient(mute, timeout_s=0.25) as c:
                with pytest.raises(SelectorUnavailableError, match="no answer within") as e:
                    await c.route("c", HELLO)
                return e

        return asyncio.run(run())

    assert finished(call) is not None


# -- the breaker ------------------------------------------------------------------------


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class Counting:
    """A listening socket that counts the connections made to it (and answers none)."""

    def __init__(self) -> None:
        self.sock = mute_server()
        self.sock.settimeout(0.05)
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}"

    def accepted(self) -> int:
        n = 0
        while True:
            try:
                conn, _ = self.sock.accept()
            except TimeoutError:
                return n
            conn.close()
            n += 1

    def close(self) -> None:
        self.sock.close()


def with_breaker(url: str, clock: Clock, **options: Any) -> SelectorClient:
    client = SelectorClient(url, default_model=SMALL, retries=0, timeout_s=0.2, **options)
    client.breaker = Breaker(3, 5.0, clock=clock)
    return client


def test_the_breaker_opens_after_failures_in_a_row_and_then_calls_nobody(
    caplog: pytest.LogCaptureFixture,
) -> None:
    clock, server = Clock(), Counting()
    with caplog.at_level(logging.INFO, logger="selector.client"):
        client = with_breaker(server.url, clock)
        for _ in range(3):
            assert client.route("c", HELLO).from_default
        assert client.breaker_state == "open"
        assert server.accepted() == 3
        for _ in range(50):  # answered at once, without the service
            d = client.route("c", HELLO, candidates=[LARGE, SMALL])
            assert d.model == SMALL
            assert "breaker is open" in (d.reason or "")
        with pytest.raises(SelectorUnavailableError, match="breaker is open"):
            client.report_outcome("d-1", resolved=True)
        assert server.accepted() == 0
    changes = [r.getMessage() for r in caplog.records if "breaker" in r.getMessage()]
    assert len(changes) == 1
    assert "open" in changes[0]
    client.close()
    server.close()


def test_after_the_cool_down_one_probe_goes_through_and_decides_the_state() -> None:
    clock, dead = Clock(), f"http://127.0.0.1:{free_port()}"
    client = with_breaker(dead, clock)
    for _ in range(3):
        client.route("c", HELLO)
    assert client.breaker_state == "open"
    clock.now += 5.0
    assert client.breaker.admit()  # the probe
    assert client.breaker_state == "half-open"
    assert not client.breaker.admit()  # the others wait for it
    client.breaker.failed()
    assert client.breaker_state == "open"  # a failed probe: another cool-down
    assert not client.breaker.admit()
    clock.now += 5.0
    transport, attempts = answering(routed())
    client.http.close()
    client.http = httpx.Client(transport=transport, base_url="http://selector")
    d = client.route("c", HELLO)
    assert d.decision_id == "d-1"
    assert client.breaker_state == "closed"
    assert len(attempts) == 1
    client.close()


def test_a_refusal_is_an_answer_and_does_not_open_the_breaker() -> None:
    refused = httpx.Response(422, json={"error": {"code": "invalid", "message": "messages"}})
    transport, _ = answering(*[refused] * 5)
    client = client_over(transport, default_model=SMALL, breaker_failures=2)
    for _ in range(5):
        with pytest.raises(Exception, match="422"):
            client.route("c", [])
    assert client.breaker_state == "closed"


def test_a_breaker_of_zero_failures_never_opens() -> None:
    client = SelectorClient(f"http://127.0.0.1:{free_port()}", breaker_failures=0, retries=0)
    for _ in range(10):
        with pytest.raises(SelectorUnavailableError):
            client.route("c", HELLO)
    assert client.breaker_state == "closed"
