"""The admin endpoints:

- ``POST /v1/admin/reload``: load the configured quality model again (after a promotion);
- ``GET /v1/admin/online``: the online layer's state, with its SHA-256 (replicas that
  have read the shared log to the same row show the same digest, and so does
  ``selector bandit --replay --out``).

Admin endpoints need ``Authorization: Bearer <SELECTOR_ADMIN_TOKEN>`` (not the API
token), checked at the HTTP edge (:mod:`selector.api.middleware`): a request without it
is 401. While no admin token is configured, a request with credentials is refused with
403.
"""

from __future__ import annotations

import asyncio
import hashlib
from typing import Any

from fastapi import APIRouter

from core.errors import NotFoundError
from selector.api.deps import ServiceDep
from selector.online.state import body_of

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


@router.get(
    "/v1/admin/online",
    summary="The online layer's state: how far it has read the log, what it learned",
    responses={**_ERRORS, 404: {"description": "The served policy does not learn online"}},
)
async def online(service: ServiceDep) -> dict[str, Any]:
    learner = service.learner
    if learner is None:
        raise NotFoundError(
            "the served policy does not learn online: there is no online state "
            "(SELECTOR_POLICY names a bandit policy for one)"
        )
    state = await asyncio.to_thread(learner.state)
    digest = hashlib.sha256(body_of(state).encode()).hexdigest()
    budget = service.budget_status()
    return {
        "cursor": state["cursor"],
        "counts": state["counts"],
        "sha256": digest,
        "state": state,
        "budget": budget,
    }
