"""The HTTP server: uvicorn with its httptools protocol, guarded against clients that
hold connections, and drained on shutdown.

- **Slow or stuck clients.** A new connection that sends nothing for
  ``SELECTOR_KEEPALIVE_TIMEOUT_S``, or a request whose headers and body have not all
  arrived ``SELECTOR_REQUEST_TIMEOUT_S`` after its first byte, is closed (the latter
  with a 408 answer when none was started). Uvicorn alone closes idle connections only
  between requests.
- **Connection cap.** Beyond ``SELECTOR_MAX_CONNECTIONS`` open connections, a new one
  is answered 503 and closed at once, so slow clients cannot exhaust file descriptors.
- **Malformed requests.** A request the HTTP parser refuses (a bad ``Content-Length``,
  a broken header) is answered 400 with the JSON error body, then closed.
- **Proxies.** ``X-Forwarded-For`` and ``X-Forwarded-Proto`` are believed only from
  the addresses in ``SELECTOR_FORWARDED_ALLOW_IPS`` (none by default): any other client
  could write another address into the access log.
- **Graceful shutdown.** On SIGTERM the listening socket closes; a connection between
  two requests is not cut (a request may already be on its way): its next request is
  answered with ``Connection: close``, and it is closed once idle for
  :data:`DRAIN_IDLE_S`. Requests in flight finish; after ``SELECTOR_SHUTDOWN_TIMEOUT_S``
  the rest are cancelled (nothing unacknowledged is lost: a decision is answered only
  after its commit). Then the service stops (the online layer saves its state).
"""

from __future__ import annotations

import asyncio
from typing import Any

import orjson
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from selector.config import Settings

__all__ = ["DRAIN_IDLE_S", "guarded_protocol", "uvicorn_options"]

#: on shutdown, an idle connection is closed after this long without a new request
DRAIN_IDLE_S = 1.0


def _response(status: int, reason: str, code: str, message: str) -> bytes:
    body = orjson.dumps({"error": {"code": code, "message": message}})
    head = (
        f"HTTP/1.1 {status} {reason}\r\ncontent-type: application/json\r\n"
        f"content-length: {len(body)}\r\nconnection: close\r\n\r\n"
    )
    return head.encode() + body


class _GuardedProtocol(HttpToolsProtocol):
    request_timeout_s = 10.0
    max_connections = 2_048
    _timed_out = b""
    _overloaded = b""
    _malformed = b""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._deadline: asyncio.TimerHandle | None = None
        self._draining = False

    # -- deadlines -----------------------------------------------------------------
    def _arm(self, delay: float, callback: Any) -> None:
        self._disarm()
        self._deadline = self.loop.call_later(delay, callback)

    def _disarm(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None

    def _idle(self) -> bool:
        return self.cycle is None or self.cycle.response_complete

    def _close_idle(self) -> None:
        self._deadline = None
        if not self.transport.is_closing():
            self.transport.close()

    def _request_timed_out(self) -> None:
        self._deadline = None
        if self.transport.is_closing():
            return
        if self.cycle is None or not self.cycle.response_started:
            self.transport.write(self._timed_out)
        self.transport.close()

    # -- protocol ------------------------------------------------------------------
    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        if len(self.connections) > self.max_connections:
            transport.write(self._overloaded)
            transport.close()
            return
        self._arm(self.timeout_keep_alive, self._close_idle)

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        # bytes that began no request (a stray line break) must not hold the connection
        if self._deadline is None and self._idle() and not self.transport.is_closing():
            self._arm(self.timeout_keep_alive, self._close_idle)

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._arm(self.request_timeout_s, self._request_timed_out)

    def on_headers_complete(self) -> None:
        super().on_headers_complete()
        if self._draining and self.cycle is not None:
            self.cycle.keep_alive = False

    def on_message_complete(self) -> None:
        self._disarm()
        super().on_message_complete()

    def send_400_response(self, msg: str) -> None:
        """A request HTTP/1.1's parser refuses (a bad ``Content-Length``, a broken header):
        the error body every other refusal has, then the connection closes."""
        self.transport.write(self._malformed)
        self.transport.close()

    def shutdown(self) -> None:
        """Called by the server on SIGTERM: see the module docstring."""
        self._draining = True
        if self._idle():
            self._arm(min(DRAIN_IDLE_S, self.timeout_keep_alive), self._close_idle)
        else:
            self.cycle.keep_alive = False


def guarded_protocol(settings: Settings) -> type[HttpToolsProtocol]:
    """The protocol class ``settings`` configure."""
    timed_out = _response(
        408,
        "Request Timeout",
        "request_timeout",
        f"the request did not arrive whole within {settings.server.request_timeout_s:g} s "
        "(SELECTOR_REQUEST_TIMEOUT_S): send the headers and body without pausing",
    )
    overloaded = _response(
        503,
        "Service Unavailable",
        "too_many_connections",
        f"the service holds {settings.server.max_connections} connections "
        "(SELECTOR_MAX_CONNECTIONS): retry shortly, reuse connections",
    )
    malformed = _response(
        400,
        "Bad Request",
        "malformed_request",
        "the request is not valid HTTP/1.1 (its request line, a header, Content-Length or "
        "chunked framing): send one an HTTP client library builds",
    )
    attrs = {
        "request_timeout_s": settings.server.request_timeout_s,
        "max_connections": settings.server.max_connections,
        "_timed_out": timed_out,
        "_overloaded": overloaded,
        "_malformed": malformed,
    }
    return type("GuardedHttpProtocol", (_GuardedProtocol,), attrs)


def uvicorn_options(settings: Settings) -> dict[str, Any]:
    """Keyword arguments of ``uvicorn.run`` for ``settings``."""
    return {
        "host": settings.server.host,
        "port": settings.server.port,
        "http": guarded_protocol(settings),
        "timeout_keep_alive": settings.server.keepalive_timeout_s,
        "timeout_graceful_shutdown": settings.server.shutdown_timeout_s,
        "log_config": None,  # logging is configured once, by selector.logs
        "access_log": False,  # the HTTP edge writes the access log, with request ids
        "server_header": False,
        # X-Forwarded-For/-Proto rewrite the client only from the proxies named
        "proxy_headers": bool(settings.server.forwarded_allow_ips),
        "forwarded_allow_ips": ",".join(sorted(settings.server.forwarded_allow_ips)) or "",
    }
