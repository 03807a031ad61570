"""POST /v1/feedback — how the call went, and whether the conversation was resolved."""

from __future__ import annotations

import orjson
from fastapi import APIRouter, Request
from starlette.responses import Response

from selector.api.body import json_body
from selector.api.schemas import ErrorBody, FeedbackAccepted, FeedbackRequest
from selector.service import SelectorService
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
async def feedback(request: Request) -> Response:
    body = await json_body(request, FeedbackRequest)
    service: SelectorService = request.app.state.service
    result = await service.feedback(FeedbackEvent(body.decision_id, body.event_fields()))
    payload = {
        "decision_id": result.decision_id,
        "duplicate": result.duplicate,
        "late": result.late,
        "override": result.override,
    }
    return Response(orjson.dumps(payload), status_code=202, media_type="application/json")
