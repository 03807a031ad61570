"""POST /v1/route — which model should answer this turn."""

from __future__ import annotations

from fastapi import Request
from starlette.responses import Response

from features.extractor import Conversation
from selector.api.bodies import RouteResponse, route_response
from selector.api.deps import service_of
from selector.api.raw import RawRoute, json_body
from selector.api.schemas import ErrorBody, RouteRequest
from selector.decisions import RouteInput


async def route(request: Request) -> Response:
    body = await json_body(request, RouteRequest)
    service = service_of(request)
    messages = None
    last_user = None
    if body.messages is not None:
        messages = [(m.role, m.text()) for m in body.messages]
        for role, text in reversed(messages):
            if role == "user":
                last_user = text
                break
    req = RouteInput(
        conversation_id=body.conversation_id,
        conversation=Conversation(
            messages=messages,
            turns=body.turns,
            prompt_tokens=body.prompt_tokens,
            intent=body.intent,
            escalation=body.escalation,
            priority=body.priority,
        ),
        candidates=body.candidates,
        max_latency_ms=body.max_latency_ms,
        max_cost_usd=body.max_cost_usd,
        cost_weight=body.cost_weight,
        text=last_user,
    )
    result = await service.route(req)
    return Response(route_response(result), media_type="application/json")


ROUTE = RawRoute(
    path="/v1/route",
    endpoint=route,
    summary="Choose the model for a conversation turn",
    request_model=RouteRequest,
    responses={
        200: (RouteResponse, "The chosen model, its fallbacks and every candidate's score"),
        401: (ErrorBody, "Missing or wrong bearer token"),
        413: (ErrorBody, "Body too large"),
        422: (ErrorBody, "A field is invalid: each one is named"),
    },
)
