"""POST /v1/feedback — how the call went, and whether the turn or the whole conversation
was resolved."""

from __future__ import annotations

from fastapi import Request
from starlette.responses import Response

from selector.api.bodies import (
    FeedbackAnswer,
    conversation_outcome_accepted,
    feedback_accepted,
)
from selector.api.deps import service_of
from selector.api.raw import RawRoute, json_body
from selector.api.schemas import ErrorBody, FeedbackRequest
from selector.store import ConversationOutcome, FeedbackEvent


async def feedback(request: Request) -> Response:
    body = await json_body(request, FeedbackRequest)
    service = service_of(request)
    if body.decision_id is None:  # a conversation's outcome
        assert body.conversation_id is not None  # the request model checks one is sent
        outcome = ConversationOutcome(body.conversation_id, body.event_fields())
        credited = await service.conversation_outcome(outcome)
        answer = conversation_outcome_accepted(credited)
    else:
        result = await service.feedback(FeedbackEvent(body.decision_id, body.event_fields()))
        answer = feedback_accepted(result)
    return Response(answer, status_code=202, media_type="application/json")


ROUTE = RawRoute(
    path="/v1/feedback",
    endpoint=feedback,
    summary="Report a call result and/or an outcome",
    request_model=FeedbackRequest,
    responses={
        202: (FeedbackAnswer, "Stored (or recognised as a duplicate)"),
        401: (ErrorBody, "Missing or wrong bearer token"),
        404: (ErrorBody, "Unknown decision, or no decision of the conversation"),
        409: (ErrorBody, "The decision, or the conversation, already has a different outcome"),
        413: (ErrorBody, "Body too large"),
        422: (ErrorBody, "A field is invalid: each one is named"),
    },
)
