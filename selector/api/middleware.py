"""The HTTP edge: one pure ASGI middleware in front of the app (cheaper than
per-route dependencies). In order, for every request:

1. **request id**: the caller's ``X-Request-ID`` when it is a plain token of at most
   128 characters, else a new one; returned in the answer's ``X-Request-ID`` and set
   for every log line written while the request is served (:data:`selector.logs.REQUEST_ID`);
2. **host and origin** (DNS rebinding, cross-site requests): a ``Host`` outside
   ``SELECTOR_ALLOWED_HOSTS`` is refused with 400 on every path but ``/healthz``
   (a liveness probe may call the instance by its address); a request that changes
   state (``POST``, ``PUT``, ``PATCH``, ``DELETE``) from a browser page of another origin
   (its ``Origin`` is not the ``Host`` it was sent to, or ``null``) with 403;
3. **bearer tokens** (RFC 6750; the scheme is case-insensitive, the token is compared
   in constant time):

   - ``/healthz`` and ``/readyz`` are always open (``/readyz`` shows file paths only
     to a caller with the API token);
   - ``/v1/admin/*`` needs the admin token; while none is configured, a request with
     credentials is refused with 403 (the endpoints are disabled), one without with 401;
   - every other path (``/v1/*``, ``/metrics``, ``/docs``, ``/redoc``,
     ``/openapi.json``, unknown paths) needs the API token when one is configured,
     except the endpoints ``SELECTOR_AUTH_EXEMPT`` opens;
4. **content type**: a ``POST``/``PUT``/``PATCH`` under ``/v1/`` must send
   ``application/json`` (UTF-8), or get 415: a web page cannot then make a browser send
   a decision or feedback to the service without a CORS preflight, which it refuses;
5. **body limit**: a body with a ``Content-Length`` over the limit is refused with 413
   at once; a body without one (chunked) is read here up to the limit, then handed on;
6. **access log**: one line per request (method, path, status, duration) once the
   answer is sent, unless turned off.
"""

from __future__ import annotations

import hmac
import logging
import re
import time
from collections.abc import Iterable
from dataclasses import dataclass

import orjson
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from selector.api.routes.docs import PATHS as DOCS_PATHS
from selector.config import host_name
from selector.ids import RandomHex
from selector.logs import REQUEST_ID

__all__ = ["EdgeMiddleware", "access"]

# the access log is a stream of its own (docs/operations.md), named for what it holds
access = logging.getLogger("selector.access")

_OPEN = frozenset({"/healthz", "/readyz"})
_EXEMPTABLE = {
    "metrics": frozenset({"/metrics"}),
    "docs": DOCS_PATHS,
}
_REQUEST_ID_OK = re.compile(rb"[A-Za-z0-9._:/+=@-]{1,128}")
_WITH_BODY = frozenset({"POST", "PUT", "PATCH"})
_CHANGES_STATE = _WITH_BODY | {"DELETE"}


def _error(code: str, message: str) -> bytes:
    return orjson.dumps({"error": {"code": code, "message": message}})


def _bearer(value: bytes) -> bytes | None:
    """The credentials of an ``Authorization: Bearer <token>`` value (any case of
    'Bearer'), or None."""
    scheme, _, rest = value.strip().partition(b" ")
    if scheme.lower() != b"bearer":
        return None
    return rest.strip() or None


def _is_json(content_type: bytes) -> bool:
    media, _, params = content_type.partition(b";")
    media = media.strip().lower()
    if media != b"application/json" and not (
        media.startswith(b"application/") and media.endswith(b"+json")
    ):
        return False
    for param in params.split(b";"):
        name, _, value = param.partition(b"=")
        if name.strip().lower() == b"charset" and value.strip(b' "').lower() not in {
            b"utf-8",
            b"utf8",
        }:
            return False
    return True


@dataclass(slots=True)
class _Headers:
    """The request headers the edge reads (the last of each, when repeated)."""

    content_length: bytes | None = None
    authorization: bytes | None = None
    content_type: bytes | None = None
    request_id: bytes | None = None
    host: bytes | None = None
    origin: bytes | None = None
    transfer_encoding: bytes | None = None  # any: a body of unknown length (chunked)

    @classmethod
    def of(cls, headers: Iterable[tuple[bytes, bytes]]) -> _Headers:
        h = cls()
        for name, value in headers:
            field = _READ.get(name)
            if field is not None:
                setattr(h, field, value)
        return h


_READ = {
    b"content-length": "content_length",
    b"authorization": "authorization",
    b"content-type": "content_type",
    b"x-request-id": "request_id",
    b"host": "host",
    b"origin": "origin",
    b"transfer-encoding": "transfer_encoding",
}


class EdgeMiddleware:
    def __init__(
        self,
        app: ASGIApp,
        max_body_bytes: int,
        api_token: str | None = None,
        admin_token: str | None = None,
        auth_exempt: Iterable[str] = (),
        access_log: bool = True,
        allowed_hosts: frozenset[str] | None = None,
    ) -> None:
        self.app = app
        self.hosts = allowed_hosts  # None: any
        self._hosts_seen: set[bytes] = set()  # Host values found allowed (a bounded few)
        self.limit = max_body_bytes
        self.api_token = api_token.encode() if api_token else None
        self.admin_token = admin_token.encode() if admin_token else None
        self.exempt = frozenset().union(*(_EXEMPTABLE[e] for e in auth_exempt))
        self.access_log = access_log
        self.new_id = RandomHex(8)
        self._too_large = _error(
            "payload_too_large",
            f"the request body is larger than {max_body_bytes} bytes: send less, or raise "
            "SELECTOR_MAX_BODY_BYTES",
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        h = _Headers.of(scope["headers"])
        rid = h.request_id
        request_id = (
            rid.decode() if rid is not None and _REQUEST_ID_OK.fullmatch(rid) else self.new_id()
        )
        token = REQUEST_ID.set(request_id)
        started = time.perf_counter()
        status = 0
        rid_header = (b"x-request-id", request_id.encode())

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message["headers"] = [*message.get("headers", ()), rid_header]
            await send(message)

        try:
            refused = self._check_site(scope["path"], scope["method"], h.host, h.origin)
            if refused is not None:
                await _reply(send_with_id, *refused)
            else:
                await self._handle(scope, receive, send_with_id, h)
        finally:
            if self.access_log:
                access.info(
                    "%s %s %d",
                    scope["method"],
                    scope["path"],
                    status,
                    extra={
                        "method": scope["method"],
                        "path": scope["path"],
                        "status": status,
                        "duration_ms": round((time.perf_counter() - started) * 1000, 3),
                        "client": (scope.get("client") or ("", 0))[0],
                    },
                )
            REQUEST_ID.reset(token)

    async def _handle(
        self,
        scope: Scope,
        receive: Receive,
        send: Send,
        h: _Headers,
    ) -> None:
        length, content_type = h.content_length, h.content_type
        path: str = scope["path"]
        method: str = scope["method"]
        refused, authenticated = self._check_credentials(path, h.authorization)
        if refused is not None:
            await _reply(send, *refused)
            return
        if authenticated and path == "/readyz":  # a state of its own: never shared
            scope = {**scope, "state": {**scope.get("state", {}), "authenticated": True}}
        if method in _WITH_BODY and path.startswith("/v1/"):
            wrong = _wrong_content_type(length, content_type, h.transfer_encoding is not None)
            if wrong is not None:
                await _reply(send, 415, wrong)
                return
        if length is not None:
            if not length.isdigit() or int(length) > self.limit:
                await _reply(send, 413, self._too_large)
            else:
                await self.app(scope, receive, send)
            return
        if method in {"GET", "HEAD", "OPTIONS", "DELETE"}:
            await self.app(scope, receive, send)
            return
        messages = await self._read_body(receive)
        if messages is None:
            await _reply(send, 413, self._too_large)
            return
        replay = iter(messages)

        async def replay_receive() -> Message:
            return next(replay, None) or await receive()

        await self.app(scope, replay_receive, send)

    async def _read_body(self, receive: Receive) -> list[Message] | None:
        """A body sent without Content-Length, read whole; None past the size limit."""
        messages: list[Message] = []
        size = 0
        while True:
            message = await receive()
            messages.append(message)
            if message["type"] != "http.request":
                return messages
            size += len(message.get("body", b""))
            if size > self.limit:
                return None
            if not message.get("more_body", False):
                return messages

    def _check_site(
        self, path: str, method: str, host: bytes | None, origin: bytes | None
    ) -> tuple[int, bytes] | None:
        """(status, body) when the request's ``Host`` is not an allowed name (but for the
        liveness probe, which says nothing), or when a browser page of another origin asks
        to change state; None when it may go on."""
        if self.hosts is not None and host is not None and host not in self._hosts_seen:
            name = host_name(host.decode("latin-1"))
            if name not in self.hosts and path != "/healthz":
                return 400, _error(
                    "host_not_allowed",
                    f"the Host header names {name[:100]!r}, which this service does not "
                    "answer to: call it by one of its names, or add this one to "
                    "SELECTOR_ALLOWED_HOSTS",
                )
            if name in self.hosts and len(self._hosts_seen) < 64:
                self._hosts_seen.add(host)
        if origin is None or method not in _CHANGES_STATE:
            return None
        page = origin.decode("latin-1").strip().lower()
        netloc = page.partition("://")[2]
        if page == "null" or host is None or netloc != host.decode("latin-1").strip().lower():
            return 403, _error(
                "origin_not_allowed",
                f"a web page of {page[:100]!r} may not change this service's state: call it "
                "from a server (without an Origin header) or from a page it serves",
            )
        return None

    def _check_credentials(
        self, path: str, authorization: bytes | None
    ) -> tuple[tuple[int, bytes] | None, bool]:
        """(status, body) when the request lacks the credentials ``path`` needs, else
        None; and whether the caller holds the API token."""
        given = None if authorization is None else _bearer(authorization)
        holds_api_token = (
            self.api_token is not None
            and given is not None
            and hmac.compare_digest(given, self.api_token)
        )
        if path.startswith("/v1/admin/"):
            if self.admin_token is None:
                if authorization is None:
                    return (401, _error("unauthorized", _ADMIN_MISSING + _ADMIN_DISABLED)), False
                return (
                    403,
                    _error(
                        "forbidden",
                        "admin endpoints are disabled: set SELECTOR_ADMIN_TOKEN to enable them",
                    ),
                ), False
            if given is None:
                return (401, _error("unauthorized", _ADMIN_MISSING)), False
            if not hmac.compare_digest(given, self.admin_token):
                return (401, _error("unauthorized", "the admin token is not valid")), False
            return None, holds_api_token
        if self.api_token is None or path in _OPEN or path in self.exempt:
            return None, holds_api_token
        if given is None:
            return (401, _error("unauthorized", _MISSING)), False
        if not holds_api_token:
            return (401, _error("unauthorized", "the bearer token is not valid")), False
        return None, True


_MISSING = (
    "send the header 'Authorization: Bearer <token>' (the service has SELECTOR_API_TOKEN set)"
)
_ADMIN_MISSING = (
    "send 'Authorization: Bearer <admin token>' (SELECTOR_ADMIN_TOKEN, not the API token)"
)
_ADMIN_DISABLED = "; admin endpoints are disabled until it is set"


def _wrong_content_type(
    length: bytes | None, content_type: bytes | None, chunked: bool
) -> bytes | None:
    """The 415 body for a request under /v1/ whose body is not JSON; None when it is."""
    has_body = chunked or (length is not None and length.strip() not in {b"", b"0"})
    if (content_type is None and not has_body) or (
        content_type is not None and _is_json(content_type)
    ):
        return None
    got = content_type.decode("latin-1")[:100] if content_type else "none"
    return _error(
        "unsupported_media_type",
        f"send the body as JSON with 'Content-Type: application/json' (UTF-8); got {got!r}",
    )


async def _reply(send: Send, status: int, body: bytes) -> None:
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    if status in (413, 415):
        headers.append((b"connection", b"close"))
    if status == 401:
        headers.append((b"www-authenticate", b"Bearer"))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
