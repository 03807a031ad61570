"""POST /v1/feedback — how the call went, and whether the conversation was resolved."""

from __future__ import annotations

import orjson
from fastapi import APIRouter
from starlette.responses import Response

from selector.api.deps import ServiceDep
from selector.api.schemas import ErrorBody, FeedbackAccepted, FeedbackRequest
from selector.store import FeedbackEvent

router = APIRouter()


@router.post(
    "/v1/feedback",
    status_code=202,
    response_model=FeedbackAccepted,
    responses={
        404: {"model": ErrorBody, "description": "Unknown decision"},
        409: {"model": ErrorBody, "description": "The decision already has a different outcome"},
        422: {"model": ErrorBody},
        401: {"model": ErrorBody},
        413: {"model": ErrorBody},
    },
    summary="Report a call result and/or an outcome",
)
async def feedback(body: FeedbackRequest, service: ServiceDep) -> Response:
    result = await service.feedback(FeedbackEvent(body.decision_id, body.event_fields()))
    payload = {
        "decision_id": result.decision_id,
        "duplicate": result.duplicate,
        "late": result.late,
        "override": result.override,
    }
    return Response(orjson.dumps(payload), status_code=202, media_type="application/json")
