"""Hot endpoints served as plain Starlette routes, documented in the OpenAPI spec.

``POST /v1/route`` and ``POST /v1/feedback`` are on every gateway call. FastAPI's
per-route machinery (dependency solving, body handling, response validation) costs
about 19 µs a request on top of Starlette's routing; these two endpoints skip it:
they validate their raw JSON body with pydantic-core (:func:`json_body`) and build
their response bytes themselves. Each one declares a :class:`RawRoute`, from which
the app mounts it and writes its operation into the OpenAPI spec, so the published
contract is the same as for any FastAPI route. Errors still go through the app's
exception handlers.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, TypeAdapter, ValidationError
from starlette.responses import Response

from core.errors import FieldProblem, RequestError

__all__ = ["RawRoute", "document", "json_body", "mount"]

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
    for r in routes:
        app.add_route(r.path, r.endpoint, methods=[r.method], include_in_schema=False)


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
