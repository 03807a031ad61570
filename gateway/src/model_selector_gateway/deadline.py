"""A deadline for a whole call of the blocking client.

httpx's timeouts bound each operation (a connect, one read), so a server that sends one
byte every 100 ms never trips a 0.25 s read timeout and holds the caller for as long as
it likes. The blocking client therefore sends through :func:`transport`, whose sockets
read the call's deadline (set by :func:`until` around the call) before every connect,
read and write, wait at most what is left of it, and fail with a timeout once it has
passed. The asyncio client does not need this: it cancels the whole call when its
deadline passes (``asyncio.timeout``).
"""

from __future__ import annotations

import time
import typing
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar

import httpcore
import httpx

__all__ = ["transport", "until"]

# the monotonic time the current call must end by (None: no deadline)
_DEADLINE: ContextVar[float | None] = ContextVar("selector_client_deadline", default=None)


@contextmanager
def until(deadline: float) -> Iterator[None]:
    """Every socket operation of the calls made inside ends by ``deadline``
    (``time.monotonic()``)."""
    token = _DEADLINE.set(deadline)
    try:
        yield
    finally:
        _DEADLINE.reset(token)


def _left(timeout: float | None, fails: type[Exception]) -> float | None:
    """The operation's timeout, cut to what is left of the call's deadline."""
    deadline = _DEADLINE.get()
    if deadline is None:
        return timeout
    left = deadline - time.monotonic()
    if left <= 0:
        raise fails("the call's deadline has passed")
    return left if timeout is None else min(timeout, left)


class _Stream(httpcore.NetworkStream):
    def __init__(self, inner: httpcore.NetworkStream) -> None:
        self.inner = inner

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return self.inner.read(max_bytes, _left(timeout, httpcore.ReadTimeout))

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        self.inner.write(buffer, _left(timeout, httpcore.WriteTimeout))

    def close(self) -> None:
        self.inner.close()

    def start_tls(
        self,
        ssl_context: typing.Any,
        server_hostname: str | None = None,
        timeout: float | None = None,
    ) -> httpcore.NetworkStream:
        left = _left(timeout, httpcore.ConnectTimeout)
        return _Stream(self.inner.start_tls(ssl_context, server_hostname, left))

    def get_extra_info(self, info: str) -> typing.Any:
        return self.inner.get_extra_info(info)


class _Backend(httpcore.NetworkBackend):
    def __init__(self) -> None:
        self.inner = httpcore.SyncBackend()

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[typing.Any] | None = None,
    ) -> httpcore.NetworkStream:
        left = _left(timeout, httpcore.ConnectTimeout)
        return _Stream(self.inner.connect_tcp(host, port, left, local_address, socket_options))

    def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,
        socket_options: Iterable[typing.Any] | None = None,
    ) -> httpcore.NetworkStream:
        left = _left(timeout, httpcore.ConnectTimeout)
        return _Stream(self.inner.connect_unix_socket(path, left, socket_options))

    def sleep(self, seconds: float) -> None:
        self.inner.sleep(seconds)


_LIMITS = httpx.Limits()  # httpx's defaults


def transport(limits: httpx.Limits = _LIMITS) -> httpx.HTTPTransport:
    """An httpx transport whose calls keep to the deadline :func:`until` sets. It
    connects directly (the selector is a service of the gateway's own network: proxy
    variables are not read)."""
    made = httpx.HTTPTransport(limits=limits, trust_env=False)
    made._pool = httpcore.ConnectionPool(  # the same pool httpx builds, on our sockets
        ssl_context=httpx.create_ssl_context(trust_env=False),
        max_connections=limits.max_connections,
        max_keepalive_connections=limits.max_keepalive_connections,
        keepalive_expiry=limits.keepalive_expiry,
        network_backend=_Backend(),
    )
    return made
