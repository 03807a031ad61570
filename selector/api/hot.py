"""The hot routes, ``POST /v1/route`` and ``POST /v1/feedback``, in one place: their
request bodies read, their endpoints, their response bodies written, and how the app
serves them.

Both are on every gateway call. FastAPI's per-route machinery (dependency solving, body
handling, response validation) costs about 19 µs a request on top of Starlette's
routing, and the app's own layers (error, telemetry and body-limit middleware,
exception middleware, router) as much again; these two endpoints skip them all:
:class:`HotRoutes` calls them straight from the edge
(:class:`~selector.api.middleware.EdgeMiddleware`, which checks every request first).
They validate their raw JSON body with pydantic-core (:func:`json_body`) and write their
response bytes themselves. Each declares a :class:`RawRoute`, from which the app
dispatches it and writes its operation into the OpenAPI spec, so the published contract
is the same as for any FastAPI route. Errors go through the app's exception handlers,
looked up as Starlette does (the exception's classes, most derived first).

The response bodies are typed dictionaries, published in the OpenAPI spec from their
own definitions and built from the service's results here and nowhere else (the type
checker holds each construction to its declared fields; the decision log keeps its own
format, :mod:`selector.store`), written with orjson: serialising through pydantic-core's
schema instead cost 3 µs a route response (4.2 against 1.3 µs, 7 candidates).
:data:`ROUTE_RESPONSE` and :data:`FEEDBACK_ACCEPTED` validate a body against its type
(extra fields refused): the tests check every body with them.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Annotated, Any, NotRequired, TypeVar

import orjson
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    RootModel,
    TypeAdapter,
    ValidationError,
    with_config,
)
from starlette.responses import Response
from starlette.types import Receive, Scope, Send
from typing_extensions import TypedDict

from core.errors import FieldProblem, RequestError
from features.extractor import Conversation
from selector.api.deps import get_service
from selector.api.schemas import ErrorBody, FeedbackRequest, Name, RouteRequest
from selector.decisions import RouteInput, RouteResult
from selector.policy import Score
from selector.service import SelectorService
from selector.store import ConversationOutcome, ConversationResult, FeedbackEvent, FeedbackResult

__all__ = [
    "CONVERSATION_OUTCOME_ACCEPTED",
    "FEEDBACK",
    "FEEDBACK_ACCEPTED",
    "HOT_ROUTES",
    "ROUTE",
    "ROUTE_RESPONSE",
    "ConversationOutcomeAccepted",
    "FeedbackAccepted",
    "FeedbackAnswer",
    "HotRoutes",
    "PolicyInfo",
    "RawRoute",
    "RouteResponse",
    "Score",
    "conversation_outcome_accepted",
    "document",
    "feedback",
    "feedback_accepted",
    "json_body",
    "mount",
    "route",
    "route_response",
    "service_of",
]


# -- response bodies -------------------------------------------------------------------
_FORBID = ConfigDict(extra="forbid")


@with_config(_FORBID)
class PolicyInfo(TypedDict):
    name: str
    version: str
    quality_model: Annotated[
        str,
        Field(
            description="The P(resolved) model: 'prior', or '<registered name>/v<version>', "
            "or the folder it was loaded from."
        ),
    ]


@with_config(_FORBID)
class BudgetInfo(TypedDict):
    base_cost_weight: Annotated[
        float, Field(description="The cost weight λ (per USD) the policy has without a budget.")
    ]
    cost_weight: Annotated[float, Field(description="The paced λ the decision was made with.")]
    moved_from: Annotated[
        str | None,
        Field(
            description="The model the base λ would have ranked first, when the paced λ "
            "chose another (null: the budget did not change the choice)."
        ),
    ]


@with_config(_FORBID)
class PromptCacheInfo(TypedDict):
    model: Annotated[
        str, Field(description="The model that served the conversation's previous turn.")
    ]
    prefix_tokens: Annotated[int, Field(description="The prompt tokens that turn sent it.")]
    age_s: Annotated[float, Field(description="Seconds since that call answered.")]
    cached_tokens: Annotated[
        float,
        Field(
            description="Of this turn's prompt, the tokens priced at the model's cached "
            "rate (0: the cache has expired, the prefix is too short to be cached, or the "
            "catalog prices no cache for the model)."
        ),
    ]


@with_config(_FORBID)
class RouteResponse(TypedDict):
    decision_id: str
    model: str
    fallbacks: Annotated[
        list[str], Field(description="Models to try next, in order, without `model`.")
    ]
    propensity: Annotated[
        float, Field(gt=0, le=1, description="Probability the policy chose `model`.")
    ]
    policy: PolicyInfo
    scores: list[Score]
    relaxed: Annotated[
        list[str], Field(description="Constraints relaxed to name a model (usually none).")
    ]
    relaxed_by: Annotated[
        dict[str, float],
        Field(
            description="For a relaxed budget or deadline: how far the least violation "
            "(the model named, unless a probe was drawn) breaks it, as a share of the "
            "limit (0.04 is 4 % over)."
        ),
    ]
    intent: str
    intent_group: str
    budget: NotRequired[
        Annotated[
            BudgetInfo,
            Field(description="When a spend budget paced the decision: what it did."),
        ]
    ]
    prompt_cache: NotRequired[
        Annotated[
            PromptCacheInfo,
            Field(
                description="When the conversation's prefix may be held in a model's "
                "prompt cache: where, and what of this turn's prompt was priced as cached."
            ),
        ]
    ]


@with_config(_FORBID)
class FeedbackAccepted(TypedDict):
    decision_id: str
    duplicate: Annotated[
        bool, Field(description="True when this exact event was already recorded.")
    ]
    late: Annotated[
        bool, Field(description="True when it arrived after the join window: kept, not joined.")
    ]
    override: Annotated[
        bool, Field(description="True when `model` differs from the decided model.")
    ]


@with_config(_FORBID)
class ConversationOutcomeAccepted(TypedDict):
    conversation_id: Name
    credited: Annotated[
        list[str],
        Field(description="The decisions credited with the conversation's outcome now."),
    ]
    kept: Annotated[
        int, Field(description="Decisions that keep an outcome of their own, sent earlier.")
    ]
    late: Annotated[int, Field(description="Decisions past their join window: not credited.")]
    duplicate: Annotated[
        bool, Field(description="True when this outcome was already recorded, and nothing new.")
    ]


class FeedbackAnswer(RootModel[FeedbackAccepted | ConversationOutcomeAccepted]):
    """A decision's event stored, or a conversation's outcome credited to its decisions."""


ROUTE_RESPONSE = TypeAdapter(RouteResponse)
FEEDBACK_ACCEPTED = TypeAdapter(FeedbackAccepted)
CONVERSATION_OUTCOME_ACCEPTED = TypeAdapter(ConversationOutcomeAccepted)


def route_response(result: RouteResult) -> bytes:
    """The JSON body answering ``POST /v1/route``."""
    d = result.decision
    body: RouteResponse = {
        "decision_id": result.decision_id,
        "model": d.model,
        "fallbacks": d.fallbacks,
        "propensity": d.propensity,
        "policy": {"name": d.policy, "version": d.version, "quality_model": d.quality_model},
        "scores": result.scores,
        "relaxed": d.relaxed,
        "relaxed_by": d.relaxed_by,
        "intent": result.intent,
        "intent_group": result.intent_group,
    }
    b = result.budget
    if b is not None:
        body["budget"] = {
            "base_cost_weight": b.base_cost_weight,
            "cost_weight": b.cost_weight,
            "moved_from": b.moved_from,
        }
    c = result.cache
    if c is not None:
        body["prompt_cache"] = {
            "model": c.model,
            "prefix_tokens": c.tokens,
            "age_s": c.age_s,
            "cached_tokens": next((s.cached_tokens for s in d.scores if s.model == c.model), 0.0),
        }
    return orjson.dumps(body)


def conversation_outcome_accepted(result: ConversationResult) -> bytes:
    """The JSON body answering ``POST /v1/feedback`` with a ``conversation_id``."""
    body: ConversationOutcomeAccepted = {
        "conversation_id": result.conversation_id,
        "credited": result.credited,
        "kept": result.kept,
        "late": result.late,
        "duplicate": result.duplicate,
    }
    return orjson.dumps(body)


def feedback_accepted(result: FeedbackResult) -> bytes:
    """The JSON body answering ``POST /v1/feedback``."""
    body: FeedbackAccepted = {
        "decision_id": result.decision_id,
        "duplicate": result.duplicate,
        "late": result.late,
        "override": result.override,
    }
    return orjson.dumps(body)


# -- reading a request -------------------------------------------------------------------
M = TypeVar("M", bound=BaseModel)


async def json_body(request: Request, model: type[M]) -> M:
    """``model`` validated from the request's JSON body, or a RequestValidationError."""
    raw = await request.body()
    if not raw:
        raise RequestError(
            [
                FieldProblem(
                    "body",
                    "the request has no body",
                    "send the JSON object with a Content-Length header (an HTTP/1.0 request "
                    "has a body only with one) or chunked over HTTP/1.1",
                )
            ]
        )
    try:
        return model.model_validate_json(raw)
    except ValidationError as exc:
        raise RequestValidationError(exc.errors(include_url=False)) from None


@dataclass(frozen=True)
class RawRoute:
    path: str
    endpoint: Callable[[Request], Awaitable[Response]]
    summary: str
    request_model: type[BaseModel]
    responses: dict[int, tuple[type[Any], str]] = field(default_factory=dict)  # models, typed dicts
    method: str = "POST"


def service_of(request: Request) -> SelectorService:
    """:func:`get_service` for the hot routes, which skip FastAPI's dependency solving."""
    override = request.app.dependency_overrides.get(get_service)
    if override is not None:
        swapped: SelectorService = override()
        return swapped
    service: SelectorService = request.app.state.service
    return service


# -- the endpoints -------------------------------------------------------------------------
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
        tenant=body.tenant,
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


FEEDBACK = RawRoute(
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


HOT_ROUTES = (ROUTE, FEEDBACK)


# -- serving them --------------------------------------------------------------------------
def mount(app: FastAPI, routes: tuple[RawRoute, ...]) -> None:
    """Put ``routes`` on the app's router too: :class:`HotRoutes` serves them, the
    router answers their other methods (405)."""
    for r in routes:
        app.add_route(r.path, r.endpoint, methods=[r.method], include_in_schema=False)


Handler = Callable[[Request, Exception], Awaitable[Response]]


class HotRoutes:
    """The hot endpoints as one ASGI app: the request goes straight to its endpoint, and
    an exception to the handler ``handlers`` (the app's) registers for its class."""

    def __init__(self, routes: tuple[RawRoute, ...], handlers: dict[Any, Handler]) -> None:
        self.endpoints = {(r.method, r.path): r.endpoint for r in routes}
        self.handlers = handlers

    def serves(self, scope: Scope) -> bool:
        return (scope["method"], scope["path"]) in self.endpoints

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        request = Request(scope, receive, send)
        try:
            response = await self.endpoints[(scope["method"], scope["path"])](request)
        except Exception as exc:
            response = await self._handler(exc)(request, exc)
        await response(scope, receive, send)

    def _handler(self, exc: Exception) -> Handler:
        for cls in type(exc).__mro__:
            if cls in self.handlers:
                return self.handlers[cls]
        raise exc  # no handler, not even for Exception: the server answers 500


def document(spec: dict[str, Any], routes: tuple[RawRoute, ...]) -> None:
    """Write the operations of ``routes`` (request and response schemas) into ``spec``."""
    schemas = spec.setdefault("components", {}).setdefault("schemas", {})

    def ref(model: type[Any]) -> dict[str, str]:
        if model.__name__ not in schemas:
            adapter = TypeAdapter(model)
            schema = adapter.json_schema(ref_template="#/components/schemas/{model}")
            schemas.update(schema.pop("$defs", {}))
            schemas[model.__name__] = schema
        return {"$ref": f"#/components/schemas/{model.__name__}"}

    for r in routes:
        operation = {
            "summary": r.summary,
            "operationId": r.endpoint.__name__,
            "requestBody": {
                "required": True,
                "content": {"application/json": {"schema": ref(r.request_model)}},
            },
            "responses": {
                str(status): {
                    "description": description,
                    "content": {"application/json": {"schema": ref(model)}},
                }
                for status, (model, description) in sorted(r.responses.items())
            },
        }
        spec.setdefault("paths", {}).setdefault(r.path, {})[r.method.lower()] = operation
