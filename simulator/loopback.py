"""The real decision service on loopback, in a thread, running on the simulation's clock.

The replay compresses a day into a minute or two, so the service's live latency
windows, circuit-breaker cool-downs and probe timeouts run on the simulated time the
gateway is at (:class:`SimClock`), with their default settings. Everything else is
the service as ``selector serve`` runs it: the same app, HTTP server, decision log and
quality model.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import uvicorn

from core.errors import SelectorError
from selector.api.app import create_app
from selector.config import Settings
from selector.service import SelectorService
from selector.wiring import build_service

__all__ = ["Loopback", "SimClock", "serve_on_loopback"]


class SimClock:
    """A clock the replay sets; it never goes back (call results can be reported a little
    after the next turn's time)."""

    def __init__(self, start: float = 0.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def set(self, t: float) -> None:
        if t > self.now:
            self.now = t


@dataclass
class Loopback:
    host: str
    port: int
    service: SelectorService
    clock: SimClock

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"


@contextmanager
def serve_on_loopback(
    settings: Settings, clock: SimClock, timeout_s: float = 60.0
) -> Iterator[Loopback]:
    """Start the service on a free loopback port; stop it on exit."""
    service = build_service(settings, clock=clock)
    app = create_app(settings, service)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = int(sock.getsockname()[1])
    server = uvicorn.Server(
        uvicorn.Config(app, log_level="warning", access_log=False, lifespan="on")
    )
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + timeout_s
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            sock.close()
            raise SelectorError("the decision service did not start on loopback")
        time.sleep(0.02)
    try:
        yield Loopback("127.0.0.1", port, service, clock)
    finally:
        server.should_exit = True
        thread.join(timeout=30)
        sock.close()
