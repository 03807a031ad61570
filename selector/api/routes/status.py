"""GET /v1/models, /healthz, /readyz and /metrics."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.responses import JSONResponse, Response

from selector.api.deps import ServiceDep

router = APIRouter()


@router.get(
    "/v1/models",
    summary="Catalog with live latency, error rate, circuit state and recent share",
)
async def models(service: ServiceDep) -> dict[str, Any]:
    return {"models": service.models_status(), "policy": service.policy.name}


@router.get("/healthz", summary="The process is alive")
async def healthz() -> dict[str, str]:
    return {"status": "ok"}


@router.get(
    "/readyz",
    summary="Ready to serve decisions (503 with the reasons when not)",
    responses={503: {"description": "Not ready"}},
)
async def readyz(service: ServiceDep) -> Response:
    ok, reasons = service.readiness()
    body = {
        "status": "ready" if ok else "not_ready",
        "reasons": reasons,
        "degraded": service.degradations(),
        "policy": service.policy.name,
        "quality_model": service.quality_status.as_dict(),
        "cost_weight": service.cost_weight(),
    }
    return JSONResponse(body, status_code=200 if ok else 503)


@router.get("/metrics", summary="Prometheus metrics", response_class=Response)
async def metrics(service: ServiceDep) -> Response:
    return Response(generate_latest(service.metrics.registry), media_type=CONTENT_TYPE_LATEST)
