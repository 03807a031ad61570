"""Response bodies of the hot routes (``POST /v1/route``, ``POST /v1/feedback``): each a
typed dictionary, published in the OpenAPI spec from its own definition, built from the
service's results here and nowhere else (the type checker holds each construction to
its declared fields; the decision log keeps its own format, :mod:`selector.store`), and
written with orjson: serialising through pydantic-core's schema instead cost 3 µs a
route response (4.2 against 1.3 µs, 7 candidates), measurable in ``make bench``'s
throughput. :data:`ROUTE_RESPONSE` and :data:`FEEDBACK_ACCEPTED` validate a body
against its type (extra fields refused): the tests check every body with them."""

from __future__ import annotations

from typing import Annotated

import orjson
from pydantic import ConfigDict, Field, RootModel, TypeAdapter, with_config
from typing_extensions import TypedDict

from selector.api.schemas import Name
from selector.decisions import RouteResult
from selector.policy import Score
from selector.store import ConversationResult, FeedbackResult

__all__ = [
    "CONVERSATION_OUTCOME_ACCEPTED",
    "FEEDBACK_ACCEPTED",
    "ROUTE_RESPONSE",
    "ConversationOutcomeAccepted",
    "FeedbackAccepted",
    "FeedbackAnswer",
    "PolicyInfo",
    "RouteResponse",
    "Score",
    "conversation_outcome_accepted",
    "feedback_accepted",
    "route_response",
]

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
