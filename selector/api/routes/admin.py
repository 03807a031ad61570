"""POST /v1/admin/reload: load the configured quality model again (after a promotion).

Admin endpoints need ``Authorization: Bearer <SELECTOR_ADMIN_TOKEN>`` (not the API
token), checked at the HTTP edge (:mod:`selector.api.middleware`): a request without it
is 401. While no admin token is configured, a request with credentials is refused with
403.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from selector.api.deps import ServiceDep

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
async def reload(service: ServiceDep) -> dict[str, Any]:
    status = await service.reload_quality_model()  # ModelUnavailableError → 503
    return {"quality_model": status.as_dict()}
