"""Wire schemas of the HTTP API: the contract gateways integrate against.

Strict types: ``false`` is not a number and ``"3"`` is not an integer. Unknown
request fields are ignored, so gateways may send more than we read. Every number has a
finite range (:mod:`core.limits`), published in the OpenAPI spec as ``minimum`` /
``maximum``; a value outside it, ``NaN`` or an infinity is a 422 naming the field.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationInfo,
    field_validator,
    model_validator,
)

from core.limits import (
    COST_WEIGHT_MAX,
    LATENCY_MS_MAX,
    TOKENS_MAX,
    TURNS_MAX,
    USD_MAX,
)
from selector.store import FEEDBACK_FIELDS

__all__ = [
    "ErrorBody",
    "FeedbackRequest",
    "Message",
    "Name",
    "RouteRequest",
]

_STRICT = ConfigDict(strict=True, extra="ignore", allow_inf_nan=False)


def _one_of_present(*fields: str) -> dict[str, Any]:
    """JSON schema: at least one of ``fields`` is present and not null."""
    return {
        "anyOf": [{"required": [f], "properties": {f: {"not": {"type": "null"}}}} for f in fields]
    }


Name = Annotated[str, Field(min_length=1, max_length=256)]


def _integral(value: object) -> object:
    # JSON Schema counts 12.0 as an integer; booleans, strings and 2.5 stay refused
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


# non-negative counts; 12.0 is accepted as 12
Turns = Annotated[int, Field(ge=0, le=TURNS_MAX), BeforeValidator(_integral)]
Tokens = Annotated[int, Field(ge=0, le=TOKENS_MAX), BeforeValidator(_integral)]
LatencyMs = Annotated[float, Field(ge=0, le=LATENCY_MS_MAX, allow_inf_nan=False)]
Usd = Annotated[float, Field(ge=0, le=USD_MAX, allow_inf_nan=False)]


class ContentPart(BaseModel):
    """One part of a multi-part message; only text parts count towards features."""

    model_config = _STRICT
    type: str = Field(max_length=64)
    text: str | None = None


class Message(BaseModel):
    """A message in OpenAI's chat format: ``content`` a string or a list of parts; null
    or left out only in an assistant's message (one that calls tools)."""

    model_config = ConfigDict(
        strict=True,
        extra="ignore",
        allow_inf_nan=False,
        # JSON schema: an assistant's message, or one with content
        json_schema_extra={
            "anyOf": [
                {"properties": {"role": {"const": "assistant"}}},
                _one_of_present("content")["anyOf"][0],
            ]
        },
    )
    role: Literal["system", "user", "assistant", "tool"]
    content: str | list[ContentPart] | None = Field(None, validate_default=True)

    @field_validator("content")
    @classmethod
    def _content_unless_assistant(cls, v: object, info: ValidationInfo) -> object:
        role = info.data.get("role")
        if v is None and role is not None and role != "assistant":
            raise ValueError(
                f"is null or missing in a {role} message: send its text as a string or a "
                "list of parts (only an assistant's message that calls tools may leave it out)"
            )
        return v

    def text(self) -> str:
        if self.content is None:
            return ""
        if isinstance(self.content, str):
            return self.content
        return " ".join(p.text for p in self.content if p.text)


class RouteRequest(BaseModel):
    """Which model should answer this turn? Send ``messages``, ``turns``, or both."""

    model_config = ConfigDict(
        strict=True,
        extra="ignore",
        allow_inf_nan=False,
        json_schema_extra=_one_of_present("messages", "turns"),
    )
    conversation_id: Name
    messages: list[Message] | None = Field(None, min_length=1, max_length=10_000)
    turns: Turns | None = None
    prompt_tokens: Tokens | None = None
    intent: str | None = Field(None, min_length=1, max_length=128)
    escalation: bool = False
    priority: Literal["low", "normal", "high"] = "normal"
    candidates: list[Name] | None = Field(None, min_length=1, max_length=256)
    max_latency_ms: float | None = Field(None, gt=0, le=LATENCY_MS_MAX, allow_inf_nan=False)
    max_cost_usd: float | None = Field(None, gt=0, le=USD_MAX, allow_inf_nan=False)
    # bounded so that λ × cost stays a finite utility (a larger λ means "cost only")
    cost_weight: float | None = Field(None, ge=0, le=COST_WEIGHT_MAX, allow_inf_nan=False)
    tenant: Name | None = Field(
        None,
        description="Whose spend budget the decision counts against "
        "(SELECTOR_BUDGET_TENANTS, SELECTOR_BUDGET_TENANT_USD), beside the service's.",
    )

    @field_validator("messages", mode="before")
    @classmethod
    def _not_empty(cls, v: object) -> object:
        if isinstance(v, list) and not v:
            raise ValueError(
                "is empty: send the conversation's messages (at least the user's last one), "
                "or leave `messages` out and send `turns`"
            )
        return v

    @model_validator(mode="after")
    def _messages_or_turns(self) -> RouteRequest:
        if self.messages is None and self.turns is None:
            raise ValueError("send `messages` (the conversation) or `turns` (its length), or both")
        return self


_NULL, _NOT_NULL = {"type": "null"}, {"not": {"type": "null"}}
_OUTCOME_FIELDS = ("resolved", "reward")
# JSON schema: feedback on one decision, or the outcome of a whole conversation
_FOR_DECISION = {
    "required": ["decision_id"],
    "properties": {"decision_id": _NOT_NULL, "conversation_id": _NULL},
    **_one_of_present(*FEEDBACK_FIELDS),
}
_FOR_CONVERSATION = {
    "required": ["conversation_id"],
    "properties": {
        "conversation_id": _NOT_NULL,
        "decision_id": _NULL,
        **{f: _NULL for f in FEEDBACK_FIELDS if f not in _OUTCOME_FIELDS},
    },
    **_one_of_present(*_OUTCOME_FIELDS),
}


class FeedbackRequest(BaseModel):
    """The result of a call and/or the outcome, for one decision; or, with
    ``conversation_id`` instead of ``decision_id``, the outcome of a whole conversation."""

    model_config = ConfigDict(
        strict=True,
        extra="ignore",
        allow_inf_nan=False,
        json_schema_extra={"oneOf": [_FOR_DECISION, _FOR_CONVERSATION]},
    )
    decision_id: Name | None = Field(None, description="The decision, as POST /v1/route named it.")
    conversation_id: Name | None = Field(
        None,
        description="Instead of decision_id, with resolved and/or reward only: the "
        "conversation's outcome, credited to each of its decisions that has none yet.",
    )
    model: Name | None = Field(None, description="The model that served, if not the decided one.")
    latency_ms: LatencyMs | None = None
    error: str | None = Field(None, min_length=1, max_length=256)
    prompt_tokens: Tokens | None = None
    completion_tokens: Tokens | None = None
    cached_tokens: Tokens | None = Field(
        None,
        description="Of prompt_tokens, those the provider read from its prompt cache "
        "(OpenAI's usage.prompt_tokens_details.cached_tokens, Anthropic's "
        "cache_read_input_tokens). Kept as sent; more than prompt_tokens counts as all of "
        "them (the call result is not refused for it: its latency still counts).",
    )
    cost_usd: Usd | None = None
    resolved: bool | None = None
    reward: float | None = Field(None, ge=0, le=1, allow_inf_nan=False)

    @model_validator(mode="after")
    def _something(self) -> FeedbackRequest:
        fields = self.event_fields()
        if not fields:
            raise ValueError("send at least one of " + ", ".join(FEEDBACK_FIELDS))
        if (self.decision_id is None) == (self.conversation_id is None):
            raise ValueError(
                "send decision_id (feedback on one decision) or conversation_id (the outcome "
                "of a whole conversation), exactly one of them"
            )
        if self.conversation_id is not None and not set(fields) <= set(_OUTCOME_FIELDS):
            extra = ", ".join(sorted(set(fields) - set(_OUTCOME_FIELDS)))
            raise ValueError(
                f"a conversation's outcome carries resolved and/or reward only, not {extra}: "
                "send call results with their decision_id"
            )
        return self

    def event_fields(self) -> dict[str, Any]:
        return self.model_dump(exclude_none=True, exclude={"decision_id", "conversation_id"})


class FieldError(BaseModel):
    field: str
    problem: str
    fix: str | None = None


class ErrorDetail(BaseModel):
    code: str
    message: str
    fields: list[FieldError] | None = None


class ErrorBody(BaseModel):
    error: ErrorDetail
