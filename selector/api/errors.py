"""One place that maps errors to HTTP answers."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

import orjson
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect
from starlette.responses import Response

from core.errors import RequestError, SelectorError, StoreError

__all__ = ["STORE_UNAVAILABLE", "error_response", "field_path", "install_error_handlers"]

log = logging.getLogger(__name__)
#: what a client is told when the decision log fails (the service's log has the cause)
STORE_UNAVAILABLE = (
    "the decision log cannot store this request now, and nothing from it was "
    "acknowledged: retry shortly (the service's log and /readyz say why)"
)


def field_path(loc: Sequence[Any]) -> str:
    """``("body", "messages", 0, "role")`` → ``messages[0].role``."""
    parts = list(loc[1:] if loc and loc[0] == "body" else loc)
    out = ""
    for p in parts:
        if isinstance(p, int):
            out += f"[{p}]"
        elif p in {"str", "list[ContentPart]", "function-after[_name]"}:
            continue  # pydantic names the union branch it tried; the field is enough
        else:
            out += f".{p}" if out else str(p)
    return out or "body"


def error_response(
    status: int, code: str, message: str, fields: list[dict[str, str]] | None = None
) -> Response:
    body: dict[str, Any] = {"code": code, "message": message}
    if fields is not None:
        body["fields"] = fields
    return Response(
        orjson.dumps({"error": body}), status_code=status, media_type="application/json"
    )


def _json_problem(parser_error: str) -> str:
    """What the JSON parser's complaint means, in the caller's terms."""
    if "surrogate" in parser_error or "hex escape" in parser_error:
        return (
            "the body is not valid JSON: a string holds a lone UTF-16 surrogate escape "
            "(\\ud800–\\udfff without its pair), which is no character; send valid Unicode "
            f"({parser_error})"
        )
    if "invalid unicode code point" in parser_error:
        return f"the body is not valid UTF-8 ({parser_error})"
    return f"the body is not valid JSON ({parser_error})"


def _validation_fix(err: dict[str, Any]) -> str:
    kind = err.get("type", "")
    if kind == "json_invalid":
        return "send a valid JSON object, encoded as UTF-8, with Content-Type: application/json"
    if kind == "missing":
        return "add this field"
    if kind.endswith("_type") or kind in {"bool_parsing", "int_from_float"}:
        return "send the JSON type the API documents (see /docs)"
    return ""


async def _on_validation(request: Request, exc: RequestValidationError) -> Response:
    fields = []
    seen = set()
    for err in exc.errors():
        path = field_path(err.get("loc", ()))
        msg = str(err.get("msg", "invalid")).removeprefix("Value error, ")
        if err.get("type") == "json_invalid":
            path = "body"
            msg = _json_problem(str(err.get("ctx", {}).get("error", "parse error")))
        if (path, msg) in seen:
            continue
        seen.add((path, msg))
        item = {"field": path, "problem": msg}
        fix = _validation_fix(err)
        if fix:
            item["fix"] = fix
        fields.append(item)
    summary = "; ".join(f"{f['field']}: {f['problem']}" for f in fields[:5])
    return error_response(422, "validation_error", summary, fields)


async def _on_selector_error(request: Request, exc: SelectorError) -> Response:
    if isinstance(exc, RequestError):
        fields = [p.as_dict() for p in exc.problems]
        return error_response(exc.http_status, exc.code, str(exc), fields)
    if exc.http_status >= 500:
        log.error("%s: %s", type(exc).__name__, exc)
    if isinstance(exc, StoreError):  # the database's address and driver text stay here
        return error_response(exc.http_status, exc.code, STORE_UNAVAILABLE)
    return error_response(exc.http_status, exc.code, str(exc))


_HTTP_CODES = {404: "not_found", 405: "method_not_allowed"}


async def _on_http(request: Request, exc: HTTPException) -> Response:
    """Starlette's own answers (no such path, wrong method) in the documented shape."""
    code = _HTTP_CODES.get(exc.status_code, "http_error")
    if exc.status_code == 404:
        message = f"no endpoint at {request.url.path}: see /docs for the API's paths"
    elif exc.status_code == 405:
        allowed = {k.lower(): v for k, v in (exc.headers or {}).items()}.get("allow", "")
        message = f"{request.method} is not allowed on {request.url.path}" + (
            f": use {allowed}" if allowed else ""
        )
    else:
        message = str(exc.detail)
    response = error_response(exc.status_code, code, message)
    for k, v in (exc.headers or {}).items():
        response.headers[k] = v
    return response


async def _on_disconnect(request: Request, exc: ClientDisconnect) -> Response:
    """The client went away (or was cut off as too slow) before its body arrived whole:
    nobody is left to answer, and it is no fault of the service."""
    log.info(
        "client left before its request arrived whole: %s %s", request.method, request.url.path
    )
    return error_response(400, "client_disconnected", "the request did not arrive whole")


async def _on_unexpected(request: Request, exc: Exception) -> Response:
    log.exception("unexpected error on %s %s", request.method, request.url.path)
    return error_response(500, "internal_error", "unexpected error; see the service log")


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(RequestValidationError, _on_validation)  # type: ignore[arg-type]
    app.add_exception_handler(SelectorError, _on_selector_error)  # type: ignore[arg-type]
    app.add_exception_handler(HTTPException, _on_http)  # type: ignore[arg-type]
    app.add_exception_handler(ClientDisconnect, _on_disconnect)  # type: ignore[arg-type]
    app.add_exception_handler(Exception, _on_unexpected)
