"""Pure ASGI middleware in front of the app (cheaper than per-route dependencies):

- **body limit**: a body with a ``Content-Length`` over the limit is refused with 413
  at once; a body without one (chunked) is read here up to the limit, then handed on;
- **bearer token**: when a token is configured, every ``/v1/*`` call needs
  ``Authorization: Bearer <token>`` (401 otherwise; compared in constant time), except
  ``/v1/admin/*``, which checks the admin token itself.
"""

from __future__ import annotations

import hmac

from starlette.types import ASGIApp, Message, Receive, Scope, Send

__all__ = ["GuardMiddleware"]


def _error(code: str, message: str) -> bytes:
    return b'{"error":{"code":"%s","message":"%s"}}' % (code.encode(), message.encode())


class GuardMiddleware:
    def __init__(self, app: ASGIApp, max_body_bytes: int, api_token: str | None = None) -> None:
        self.app = app
        self.limit = max_body_bytes
        self.expected = b"Bearer " + api_token.encode() if api_token else None
        self._too_large = _error(
            "payload_too_large",
            f"the request body is larger than {max_body_bytes} bytes: send less, or raise "
            "SELECTOR_MAX_BODY_BYTES",
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        length: bytes | None = None
        authorization = b""
        for name, value in scope["headers"]:
            if name == b"content-length":
                length = value
            elif name == b"authorization":
                authorization = value
        path = scope["path"]
        if (
            self.expected is not None
            and path.startswith("/v1/")
            and not path.startswith("/v1/admin/")  # the admin token is checked there
        ):
            if not authorization:
                await _reply(send, 401, _error("unauthorized", _MISSING))
                return
            if not hmac.compare_digest(authorization, self.expected):
                await _reply(send, 401, _error("unauthorized", "the bearer token is not valid"))
                return
        if length is not None:
            if not length.isdigit() or int(length) > self.limit:
                await _reply(send, 413, self._too_large)
            else:
                await self.app(scope, receive, send)
            return
        if scope["method"] in {"GET", "HEAD", "OPTIONS", "DELETE"}:
            await self.app(scope, receive, send)
            return
        messages: list[Message] = []
        size = 0
        while True:
            message = await receive()
            messages.append(message)
            if message["type"] != "http.request":
                break
            size += len(message.get("body", b""))
            if size > self.limit:
                await _reply(send, 413, self._too_large)
                return
            if not message.get("more_body", False):
                break
        replay = iter(messages)

        async def replay_receive() -> Message:
            return next(replay, None) or await receive()

        await self.app(scope, replay_receive, send)


_MISSING = (
    "send the header 'Authorization: Bearer <token>' (the service has SELECTOR_API_TOKEN set)"
)


async def _reply(send: Send, status: int, body: bytes) -> None:
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    if status == 413:
        headers.append((b"connection", b"close"))
    if status == 401:
        headers.append((b"www-authenticate", b"Bearer"))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
