"""Request bodies validated straight from the raw JSON bytes by pydantic-core.

The two hot endpoints skip FastAPI's generic body and dependency machinery (about
80 µs a request); their schemas are still published in the OpenAPI spec (see
``selector.api.app``), and validation errors still become the same 422 answers.
"""

from __future__ import annotations

from typing import TypeVar

from fastapi import Request
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, ValidationError

__all__ = ["json_body"]

M = TypeVar("M", bound=BaseModel)


async def json_body(request: Request, model: type[M]) -> M:
    """``model`` validated from the request's JSON body, or a RequestValidationError."""
    raw = await request.body()
    try:
        return model.model_validate_json(raw)
    except ValidationError as exc:
        raise RequestValidationError(exc.errors(include_url=False)) from None
