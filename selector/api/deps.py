"""Dependencies handed to routes: the service from the app's lifespan state."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from selector.service import SelectorService

__all__ = ["ServiceDep", "get_service"]


async def get_service(request: Request) -> SelectorService:
    service: SelectorService = request.app.state.service
    return service


ServiceDep = Annotated[SelectorService, Depends(get_service)]
