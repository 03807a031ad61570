"""Hot endpoints served as plain Starlette routes, documented in the OpenAPI spec.

``POST /v1/route`` and ``POST /v1/feedback`` are on every gateway call. FastAPI's
per-route machinery (dependency solving, body handling, response validation) costs
about 19 µs a request on top of Starlette's routing, and the app's own layers (error,
telemetry and body-limit middleware, exception middleware, router) as much again; these
two endpoints skip them all: :class:`HotRoutes` calls them straight from the edge
(:class:`~selector.api.middleware.EdgeMiddleware`, which checks every request first), they
validate their raw JSON body with pydantic-core (:func:`json_body`) and build their
response bytes themselves. Each one declares a :class:`RawRoute`, from which the app
dispatches it and writes its operation into the OpenAPI spec, so the published contract
is the same as for any FastAPI route. Errors go through the app's exception handlers,
looked up as Starlette does (the exception's classes, most derived first).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, TypeAdapter, ValidationError
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from core.errors import FieldProblem, RequestError

__all__ = ["HotRoutes", "RawRoute", "document", "json_body", "mount"]

M = TypeVar("M", bound=BaseModel)


async def json_body(request: Request, model: type[M]) -> M:
    """``model`` validated from the request's JSON body, or a RequestValidationError."""
    raw = await request.body()
    if not raw:
        raise RequestError(
            [
                FieldProblem(
                    "body",
                    "the request has no body",
                    "send the JSON object with a Content-Length header (an HTTP/1.0 request "
                    "has a body only with one) or chunked over HTTP/1.1",
                )
            ]
        )
    try:
        return model.model_validate_json(raw)
    except ValidationError as exc:
        raise RequestValidationError(exc.errors(include_url=False)) from None


@dataclass(frozen=True)
class RawRoute:
    path: str
    endpoint: Callable[[Request], Awaitable[Response]]
    summary: str
    request_model: type[BaseModel]
    responses: dict[int, tuple[type[Any], str]] = field(default_factory=dict)  # models, typed dicts
    method: str = "POST"


def mount(app: FastAPI, routes: tuple[RawRoute, ...]) -> None:
    """Put ``routes`` on the app's router too: :class:`HotRoutes` serves them, the
    router answers their other methods (405)."""
    for r in routes:
        app.add_route(r.path, r.endpoint, methods=[r.method], include_in_schema=False)


Handler = Callable[[Request, Exception], Awaitable[Response]]


class HotRoutes:
    """The hot endpoints as one ASGI app: the request goes straight to its endpoint, and
    an exception to the handler ``handlers`` (the app's) registers for its class."""

    def __init__(self, routes: tuple[RawRoute, ...], handlers: dict[Any, Handler]) -> None:
        self.endpoints = {(r.method, r.path): r.endpoint for r in routes}
        self.handlers = handlers

    def serves(self, scope: Scope) -> bool:
        return (scope["method"], scope["path"]) in self.endpoints

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        request = Request(scope, receive, send)
        try:
            response = await self.endpoints[(scope["method"], scope["path"])](request)
        except Exception as exc:
            response = await self._handler(exc)(request, exc)
        await response(scope, receive, send)

    def _handler(self, exc: Exception) -> Handler:
        for cls in type(exc).__mro__:
            if cls in self.handlers:
                return self.handlers[cls]
        raise exc  # no handler, not even for Exception: the server answers 500


def document(spec: dict[str, Any], routes: tuple[RawRoute, ...]) -> None:
    """Write the operations of ``routes`` (request and response schemas) into ``spec``."""
    schemas = spec.setdefault("components", {}).setdefault("schemas", {})

    def ref(model: type[Any]) -> dict[str, str]:
        if model.__name__ not in schemas:
            adapter = TypeAdapter(model)
            schema = adapter.json_schema(ref_template="#/components/schemas/{model}")
            schemas.update(schema.pop("$defs", {}))
            schemas[model.__name__] = schema
        return {"$ref": f"#/components/schemas/{model.__name__}"}

    for r in routes:
        operation = {
            "summary": r.summary,
            "operationId": r.endpoint.__name__,
            "requestBody": {
                "required": True,
                "content": {"application/json": {"schema": ref(r.request_model)}},
            },
            "responses": {
                str(status): {
                    "description": description,
                    "content": {"application/json": {"schema": ref(model)}},
                }
                for status, (model, description) in sorted(r.responses.items())
            },
        }
        spec.setdefault("paths", {}).setdefault(r.path, {})[r.method.lower()] = operation
