"""POST /v1/admin/reload: load the configured quality model again (after a promotion).

Admin endpoints need ``Authorization: Bearer <SELECTOR_ADMIN_TOKEN>`` (not the API
token): a request without it is 401. While no admin token is configured, a request
with credentials is refused with 403.
"""

from __future__ import annotations

import hmac
from typing import Annotated, Any

from fastapi import APIRouter, Header

from selector.api.deps import ServiceDep
from selector.errors import AuthError, ForbiddenError

router = APIRouter()

_ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"description": "Missing or wrong admin token"},
    403: {"description": "Admin endpoints are disabled (SELECTOR_ADMIN_TOKEN is unset)"},
    503: {"description": "The model cannot be loaded; the current one is still served"},
}


@router.post(
    "/v1/admin/reload",
    summary="Reload the quality model (e.g. models:/<name>@champion after a promotion)",
    responses=_ERRORS,
)
async def reload(
    service: ServiceDep, authorization: Annotated[str | None, Header()] = None
) -> dict[str, Any]:
    expected = service.settings.admin_token
    if authorization is None:
        raise AuthError(
            "send 'Authorization: Bearer <admin token>' (SELECTOR_ADMIN_TOKEN, not the API token)"
            + ("; admin endpoints are disabled until it is set" if expected is None else "")
        )
    if expected is None:
        raise ForbiddenError(
            "admin endpoints are disabled: set SELECTOR_ADMIN_TOKEN to enable them"
        )
    given = authorization.encode()
    if not hmac.compare_digest(given, b"Bearer " + expected.get_secret_value().encode()):
        raise AuthError(
            "send 'Authorization: Bearer <admin token>' (SELECTOR_ADMIN_TOKEN, not the API token)"
        )
    status = await service.reload_quality_model()  # ModelUnavailableError → 503
    return {"quality_model": status.as_dict()}
