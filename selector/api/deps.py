"""Dependencies handed to routes: the service from lifespan state, and authentication."""

from __future__ import annotations

import hmac
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from selector.errors import AuthError
from selector.service import SelectorService

__all__ = ["ServiceDep", "get_service", "require_token"]

_bearer = HTTPBearer(auto_error=False, description="Needed when SELECTOR_API_TOKEN is set.")


async def get_service(request: Request) -> SelectorService:
    service: SelectorService = request.app.state.service
    return service


ServiceDep = Annotated[SelectorService, Depends(get_service)]


async def require_token(
    service: ServiceDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> None:
    expected = service.settings.api_token
    if expected is None:
        return
    if credentials is None:
        raise AuthError("missing 'Authorization: Bearer <token>' header")
    if not hmac.compare_digest(
        credentials.credentials.encode(), expected.get_secret_value().encode()
    ):
        raise AuthError("the bearer token is not valid")
