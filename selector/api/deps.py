"""The service a route works with: the one the app's lifespan built, unless another is put
in its place through FastAPI's dependency overrides
(``app.dependency_overrides[get_service] = ...``), which the hot routes honour too."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from selector.service import SelectorService

__all__ = ["ServiceDep", "get_service", "service_of"]


async def get_service(request: Request) -> SelectorService:
    service: SelectorService = request.app.state.service
    return service


def service_of(request: Request) -> SelectorService:
    """:func:`get_service` for the hot routes, which skip FastAPI's dependency solving."""
    override = request.app.dependency_overrides.get(get_service)
    if override is not None:
        swapped: SelectorService = override()
        return swapped
    service: SelectorService = request.app.state.service
    return service


ServiceDep = Annotated[SelectorService, Depends(get_service)]
