"""Wire schemas of the HTTP API: the contract gateways integrate against.

Strict types: ``false`` is not a number and ``"3"`` is not an integer. Unknown
request fields are ignored, so gateways may send more than we read.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

__all__ = [
    "ErrorBody",
    "FeedbackAccepted",
    "FeedbackRequest",
    "Message",
    "RouteRequest",
    "RouteResponse",
    "Score",
]

_STRICT = ConfigDict(strict=True, extra="ignore")
Name = Annotated[str, Field(min_length=1, max_length=256)]


class ContentPart(BaseModel):
    """One part of a multi-part message; only text parts count towards features."""

    model_config = _STRICT
    type: str = Field(max_length=64)
    text: str | None = None


class Message(BaseModel):
    model_config = _STRICT
    role: Literal["system", "user", "assistant", "tool"]
    content: str | list[ContentPart] | None = None

    def text(self) -> str:
        if self.content is None:
            return ""
        if isinstance(self.content, str):
            return self.content
        return " ".join(p.text for p in self.content if p.text)


class RouteRequest(BaseModel):
    """Which model should answer this turn? Send ``messages``, ``turns``, or both."""

    model_config = _STRICT
    conversation_id: Name
    messages: list[Message] | None = Field(None, max_length=10_000)
    turns: int | None = Field(None, ge=0, le=100_000)
    prompt_tokens: int | None = Field(None, ge=0)
    intent: str | None = Field(None, min_length=1, max_length=128)
    escalation: bool = False
    priority: Literal["low", "normal", "high"] = "normal"
    candidates: list[Name] | None = Field(None, min_length=1, max_length=256)
    max_latency_ms: float | None = Field(None, gt=0, allow_inf_nan=False)
    max_cost_usd: float | None = Field(None, gt=0, allow_inf_nan=False)
    cost_weight: float | None = Field(None, ge=0, allow_inf_nan=False)

    @model_validator(mode="after")
    def _messages_or_turns(self) -> RouteRequest:
        if self.messages is None and self.turns is None:
            raise ValueError("send `messages` (the conversation) or `turns` (its length), or both")
        return self


class Score(BaseModel):
    model: str
    p_resolved: float
    expected_cost_usd: float
    expected_latency_ms: float
    utility: float
    eligible: bool
    reason: str | None = Field(None, description="Why the model is not eligible.")


class PolicyInfo(BaseModel):
    name: str
    version: str


class RouteResponse(BaseModel):
    decision_id: str
    model: str
    fallbacks: list[str] = Field(description="Models to try next, in order, without `model`.")
    propensity: float = Field(gt=0, le=1, description="Probability the policy chose `model`.")
    policy: PolicyInfo
    scores: list[Score]
    relaxed: list[str] = Field(description="Constraints relaxed to name a model (usually none).")
    intent: str
    intent_group: str


class FeedbackRequest(BaseModel):
    """The result of the call and/or the conversation's outcome, for one decision."""

    model_config = _STRICT
    decision_id: Name
    model: Name | None = Field(None, description="The model that served, if not the decided one.")
    latency_ms: float | None = Field(None, ge=0, allow_inf_nan=False)
    error: str | None = Field(None, min_length=1, max_length=256)
    prompt_tokens: int | None = Field(None, ge=0)
    completion_tokens: int | None = Field(None, ge=0)
    cost_usd: float | None = Field(None, ge=0, allow_inf_nan=False)
    resolved: bool | None = None
    reward: float | None = Field(None, ge=0, le=1, allow_inf_nan=False)

    @model_validator(mode="after")
    def _something(self) -> FeedbackRequest:
        if not self.event_fields():
            raise ValueError(
                "send at least one of model, latency_ms, error, prompt_tokens, "
                "completion_tokens, cost_usd, resolved, reward"
            )
        return self

    def event_fields(self) -> dict[str, Any]:
        return self.model_dump(exclude_none=True, exclude={"decision_id"})


class FeedbackAccepted(BaseModel):
    decision_id: str
    duplicate: bool = Field(description="True when this exact event was already recorded.")
    late: bool = Field(description="True when it arrived after the join window: kept, not joined.")
    override: bool = Field(description="True when `model` differs from the decided model.")


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
