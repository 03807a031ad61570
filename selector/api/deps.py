"""The service a route works with: the one the app's lifespan built, unless another is put
in its place through FastAPI's dependency overrides
(``app.dependency_overrides[get_service] = ...``), which the hot routes honour too."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from selector.service import SelectorService

__all__ = ["ServiceDep", "get_service"]


async def get_service(request: Request) -> SelectorService:
    service: SelectorService = request.app.state.service
    return service


ServiceDep = Annotated[SelectorService, Depends(get_service)]
