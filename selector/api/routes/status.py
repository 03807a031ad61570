"""GET /v1/models, /healthz, /readyz and /metrics."""

from __future__ import annotations

import re
from typing import Any

from fastapi import APIRouter, Request
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
    summary="Ready to serve decisions (503 with the reasons when not), and every part "
    "served in a reduced form",
    responses={503: {"description": "Not ready"}},
)
async def readyz(request: Request, service: ServiceDep) -> Response:
    """``status`` is ``ready`` (200) while decisions and feedback can be acknowledged,
    else ``not_ready`` (503) with ``reasons``. ``degraded`` lists every part served in a
    reduced form as ``{"part", "reason"}`` (see :mod:`selector.health`). A caller without
    the API token sees file names, not absolute paths, and no database address."""
    health = service.health()
    body: dict[str, Any] = {
        "status": "ready" if health.ready else "not_ready",
        "reasons": health.reasons,
        "degraded": [p.as_dict() for p in health.degraded],
        "policy": service.policy.name,
        "quality_model": service.quality_status.as_dict(),
        "cost_weight": service.cost_weight(),
    }
    if not getattr(request.state, "authenticated", False):
        body = _redact(body)
    return JSONResponse(body, status_code=200 if health.ready else 503)


# an absolute path (not the ':/' of a URI like models:/name), and a file URI's path
_URI_PATH = re.compile(r"\b(sqlite|file):/{2,}((?:[^\s/'\"`,;()]+/)*)([^\s/'\"`,;()]*)")
_ABS_PATH = re.compile(r"(?<![\w.:/~…-])/(?:[^\s/'\"`,;:()\[\]{}<>]+/)*([^\s/'\"`,;:()\[\]{}<>]*)")


# a database's address: host:port[/database], or libpq's 'server at "host", port n'
_ADDRESS = re.compile(
    r'server at "[^"]*"(?:,? port \d+)?|\b[A-Za-z0-9.-]*[A-Za-z.][A-Za-z0-9.-]*:\d{2,5}\b(?:/\w+)?'
)


def redact_paths(text: str) -> str:
    """``text`` with each absolute path cut to its last part, and each database address
    (host, port, database) left out.

    >>> redact_paths("cannot open /srv/sel/selector.db: locked; see sqlite:////srv/m/mlflow.db")
    'cannot open …/selector.db: locked; see sqlite:///…/mlflow.db'
    >>> redact_paths("models:/model-selector-quality@champion not found")
    'models:/model-selector-quality@champion not found'
    >>> redact_paths('the log at db.internal:5432/selector failed: server at "10.0.0.7", port 5432')
    'the log at … failed: server at …'
    """
    text = _URI_PATH.sub(lambda m: f"{m[1]}:///…/{m[3]}", text)
    text = _ADDRESS.sub(lambda m: "server at …" if m[0].startswith("server at") else "…", text)
    return _ABS_PATH.sub(r"…/\1", text)


def _redact(value: Any) -> Any:
    if isinstance(value, str):
        return redact_paths(value)
    if isinstance(value, dict):
        return {k: _redact(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_redact(v) for v in value]
    return value


@router.get("/metrics", summary="Prometheus metrics", response_class=Response)
async def metrics(service: ServiceDep) -> Response:
    return Response(generate_latest(service.metrics.registry), media_type=CONTENT_TYPE_LATEST)
