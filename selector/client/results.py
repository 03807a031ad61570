"""What the client returns and raises: typed results of ``POST /v1/route`` and ``POST
/v1/feedback``, and the two ways a call to the service can fail (it could not be
reached, or it refused the request)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "Accepted",
    "Decision",
    "ModelScore",
    "SelectorRejectedError",
    "SelectorUnavailableError",
    "decision_from",
    "default_decision",
]


class SelectorUnavailableError(Exception):
    """The service could not be reached, did not answer in time, or answered 5xx."""


class SelectorRejectedError(Exception):
    """The service refused the request (4xx): the request is wrong and a retry will not
    help. ``code``, ``message`` and ``fields`` are the service's error body."""

    def __init__(
        self, status: int, code: str, message: str, fields: list[dict[str, str]] | None = None
    ) -> None:
        super().__init__(f"{status} {code}: {message}")
        self.status = status
        self.code = code
        self.message = message
        self.fields = fields or []


@dataclass(frozen=True, slots=True)
class ModelScore:
    """How the policy judged one candidate."""

    model: str
    p_resolved: float
    expected_cost_usd: float
    expected_latency_ms: float
    utility: float
    eligible: bool
    reason: str | None = None


@dataclass(frozen=True, slots=True)
class Decision:
    """Which model answers, and the ones to try next. ``decision_id`` is ``None`` when the
    service could not decide and the client's default answered (``reason`` says why):
    there is then nothing to report feedback against."""

    model: str
    fallbacks: tuple[str, ...]
    decision_id: str | None
    propensity: float | None = None
    intent: str | None = None
    intent_group: str | None = None
    policy: str | None = None
    quality_model: str | None = None
    relaxed: tuple[str, ...] = ()
    scores: tuple[ModelScore, ...] = ()
    reason: str | None = None
    raw: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @property
    def chain(self) -> tuple[str, ...]:
        """The model, then its fallbacks: the order in which to try them."""
        return (self.model, *self.fallbacks)

    @property
    def from_default(self) -> bool:
        """True when the service did not decide (the client's default model answered)."""
        return self.decision_id is None


@dataclass(frozen=True, slots=True)
class Accepted:
    """The service's acknowledgement of a feedback event: it is stored."""

    decision_id: str | None
    conversation_id: str | None = None
    duplicate: bool = False
    late: bool = False
    override: bool = False
    credited: tuple[str, ...] = ()


def decision_from(body: dict[str, Any]) -> Decision:
    """A :class:`Decision` from a ``POST /v1/route`` response body."""
    policy = body.get("policy") or {}
    scores = tuple(
        ModelScore(
            model=s["model"],
            p_resolved=s["p_resolved"],
            expected_cost_usd=s["expected_cost_usd"],
            expected_latency_ms=s["expected_latency_ms"],
            utility=s["utility"],
            eligible=s["eligible"],
            reason=s.get("reason"),
        )
        for s in body.get("scores", ())
    )
    return Decision(
        model=body["model"],
        fallbacks=tuple(body.get("fallbacks", ())),
        decision_id=body["decision_id"],
        propensity=body.get("propensity"),
        intent=body.get("intent"),
        intent_group=body.get("intent_group"),
        policy=policy.get("name"),
        quality_model=policy.get("quality_model"),
        relaxed=tuple(body.get("relaxed", ())),
        scores=scores,
        raw=body,
    )


def default_decision(default: str, candidates: list[str] | None, reason: str) -> Decision:
    """The decision the client makes alone: ``default`` if it is a candidate (or no
    candidates were named), else the first candidate; the other candidates follow."""
    chain = list(candidates or [])
    model = default if not chain or default in chain else chain[0]
    return Decision(
        model=model,
        fallbacks=tuple(m for m in chain if m != model),
        decision_id=None,
        reason=reason,
    )
