"""POST /v1/feedback — how the call went, and whether the conversation was resolved."""

from __future__ import annotations

from fastapi import Request
from starlette.responses import Response

from selector.api.bodies import FeedbackAccepted, feedback_accepted
from selector.api.deps import service_of
from selector.api.raw import RawRoute, json_body
from selector.api.schemas import ErrorBody, FeedbackRequest
from selector.store import FeedbackEvent


async def feedback(request: Request) -> Response:
    body = await json_body(request, FeedbackRequest)
    service = service_of(request)
    result = await service.feedback(FeedbackEvent(body.decision_id, body.event_fields()))
    return Response(feedback_accepted(result), status_code=202, media_type="application/json")


ROUTE = RawRoute(
    path="/v1/feedback",
    endpoint=feedback,
    summary="Report a call result and/or an outcome",
    request_model=FeedbackRequest,
    responses={
        202: (FeedbackAccepted, "Stored (or recognised as a duplicate)"),
        401: (ErrorBody, "Missing or wrong bearer token"),
        404: (ErrorBody, "Unknown decision"),
        409: (ErrorBody, "The decision already has a different outcome"),
        413: (ErrorBody, "Body too large"),
        422: (ErrorBody, "A field is invalid: each one is named"),
    },
)
