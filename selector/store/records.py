"""What the decision log holds, as typed records: the one definition of every field,
written by the service and read by the online layer, off-policy evaluation, the export
and training.

The logged request's weights (``LoggedRequest``) keep their historical JSON keys
(``lambda``, ``latency_weight_per_s``, ``deadline_ms``); only this module names them.

The records built on every request are plain slotted dataclasses, not frozen ones: a
frozen one of 13 fields takes 1.4 µs to build against 0.26 µs, a cost the route's hot
path measured. Nothing changes a record once built.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import orjson

__all__ = [
    "FEEDBACK_FIELDS",
    "CallResults",
    "ConversationOutcome",
    "ConversationResult",
    "DecisionRecord",
    "FeedbackEvent",
    "FeedbackResult",
    "FeedbackRow",
    "LoggedDecision",
    "LoggedRequest",
    "OtherDecision",
    "UnusableRecordError",
    "finite",
    "id_prefix",
    "logged_propensity",
]

#: the fields a feedback event may carry (at least one is sent)
FEEDBACK_FIELDS = (
    "model",
    "latency_ms",
    "error",
    "prompt_tokens",
    "completion_tokens",
    "cached_tokens",
    "cost_usd",
    "resolved",
    "reward",
)


class UnusableRecordError(ValueError):
    """A logged decision or event no reward can be computed from (it says why)."""


def finite(value: Any, what: str) -> float:
    """``value`` as a finite float, or an :class:`UnusableRecordError` naming ``what``.

    >>> finite(3, "latency")
    3.0
    >>> finite(float("inf"), "cost")
    Traceback (most recent call last):
    selector.store.records.UnusableRecordError: cost is inf, not a finite number
    """
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise UnusableRecordError(f"{what} is {value!r}, not a number")
    x = float(value)
    if not math.isfinite(x):
        raise UnusableRecordError(f"{what} is {x}, not a finite number")
    return x


def logged_propensity(value: Any) -> float:
    """A logged decision's propensity, checked: finite and in (0, 1], else an
    :class:`UnusableRecordError` (a weight of 1/0 would poison learning and OPE alike).

    >>> logged_propensity(0.25)
    0.25
    """
    p = finite(value, "the decision's propensity")
    if not 0.0 < p <= 1.0:
        raise UnusableRecordError(f"the decision's propensity is {p}, not in (0, 1]")
    return p


def id_prefix(ts: float) -> str:
    """The smallest decision id made at or after Unix time ``ts`` (ids start with the
    time in milliseconds, in hex).

    >>> id_prefix(1.5)
    '0000000005dc'
    """
    return f"{int(ts * 1000):012x}"


@dataclass(slots=True)
class LoggedRequest:
    """A decision's request as logged: what the gateway sent, and the weights the
    decision's utilities were computed with (for its reward: :mod:`selector.reward`).

    ``cost_weight`` is the request's own override, ``lam`` the λ in effect; the weights
    are None in logs of builds that did not write them (their decisions are not learned
    from).
    """

    turns: int | None = None
    n_messages: int = 0
    prompt_tokens: int | None = None
    intent: str | None = None
    escalation: bool = False
    priority: str = "normal"
    candidates: list[str] | None = None
    max_latency_ms: float | None = None
    max_cost_usd: float | None = None
    cost_weight: float | None = None
    lam: float | None = None  # λ per USD, as applied
    latency_weight_per_s: float | None = None  # after the priority's factor
    deadline_ms: float | None = None

    @property
    def scored(self) -> bool:
        """True when the weights its reward needs were logged."""
        return self.lam is not None

    def as_json(self) -> dict[str, Any]:
        return {
            "turns": self.turns,
            "n_messages": self.n_messages,
            "prompt_tokens": self.prompt_tokens,
            "intent": self.intent,
            "escalation": self.escalation,
            "priority": self.priority,
            "candidates": self.candidates,
            "max_latency_ms": self.max_latency_ms,
            "max_cost_usd": self.max_cost_usd,
            "cost_weight": self.cost_weight,
            "lambda": self.lam,
            "latency_weight_per_s": self.latency_weight_per_s,
            "deadline_ms": self.deadline_ms,
        }

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> LoggedRequest:
        """The request a log row holds (keys it lacks take their defaults; the values are
        checked where they are used: a bad one makes that decision unusable, not the log).

        >>> r = LoggedRequest(turns=3, lam=2.0, latency_weight_per_s=0.02, deadline_ms=3e3)
        >>> LoggedRequest.from_json(r.as_json()) == r
        True
        """
        return cls(
            turns=d.get("turns"),
            n_messages=d.get("n_messages") or 0,
            prompt_tokens=d.get("prompt_tokens"),
            intent=d.get("intent"),
            escalation=bool(d.get("escalation", False)),
            priority=d.get("priority") or "normal",
            candidates=d.get("candidates"),
            max_latency_ms=d.get("max_latency_ms"),
            max_cost_usd=d.get("max_cost_usd"),
            cost_weight=d.get("cost_weight"),
            lam=d.get("lambda"),
            latency_weight_per_s=d.get("latency_weight_per_s"),
            deadline_ms=d.get("deadline_ms"),
        )


@dataclass(slots=True)
class OtherDecision:
    """The decision of the policy that was not served, on the same request."""

    policy: str
    policy_version: str
    model: str
    propensity: float
    probabilities: dict[str, float]


@dataclass(slots=True)
class DecisionRecord:
    """One decision as the service writes it."""

    decision_id: str
    ts: float
    conversation_id: str
    policy: str
    policy_version: str
    model: str
    propensity: float
    fallbacks: list[str]
    relaxed: list[str]
    request: LoggedRequest
    features: dict[str, Any]
    scores: Sequence[Mapping[str, Any]]  # each candidate's score, as the answer gave it
    text: str | None
    other: OtherDecision | None = None


@dataclass(frozen=True, slots=True)
class LoggedDecision:
    """A decision read back for learning: what was chosen among which scores, with
    which probability, under which request."""

    decision_id: str
    model: str
    propensity: Any  # as stored: checked where it is used
    request: LoggedRequest
    scores: list[dict[str, Any]]
    intent_group: str
    features: dict[str, Any] | None = None  # the feature vector as logged

    @property
    def chosen(self) -> dict[str, Any] | None:
        """The decided model's logged score."""
        return next((s for s in self.scores if s.get("model") == self.model), None)


@dataclass(slots=True)
class FeedbackEvent:
    """One feedback request's fields, for one decision."""

    decision_id: str
    fields: dict[str, Any]  # the subset of FEEDBACK_FIELDS that was sent

    @property
    def event_id(self) -> str:
        """A hash of the decision id and the fields: a resent event has the same one."""
        body = orjson.dumps([self.decision_id, self.fields], option=orjson.OPT_SORT_KEYS)
        return hashlib.sha256(body).hexdigest()[:32]

    @property
    def has_outcome(self) -> bool:
        return "resolved" in self.fields or "reward" in self.fields


@dataclass(slots=True)
class ConversationOutcome:
    """A conversation's outcome (``resolved`` and/or ``reward``), for its decisions."""

    conversation_id: str
    fields: dict[str, Any]  # resolved and/or reward

    def event_id(self, decision_id: str) -> str:
        """The event it makes for one decision (a resent outcome has the same ones)."""
        body = [decision_id, self.fields, {"conversation_id": self.conversation_id}]
        return hashlib.sha256(orjson.dumps(body, option=orjson.OPT_SORT_KEYS)).hexdigest()[:32]


@dataclass(slots=True)
class ConversationResult:
    """The decisions a conversation's outcome credited, kept (theirs) and missed (late)."""

    conversation_id: str
    credited: list[str]
    kept: int
    late: int
    duplicate: bool


@dataclass(slots=True)
class FeedbackResult:
    """What storing a feedback event found."""

    decision_id: str
    duplicate: bool
    late: bool
    override: bool
    decided_model: str


@dataclass(frozen=True, slots=True)
class FeedbackRow:
    """A stored feedback event as the online layer reads it, in commit order (``row``)."""

    row: Any  # its place in the log's order: a rowid (SQLite) or a Position (PostgreSQL)
    decision_id: Any
    ts: Any
    late: bool
    is_outcome: bool  # this event is the decision's recorded outcome
    resolved: Any
    reward: Any
    is_call: bool = False  # it reports a call's result (latency, error, cost or model)

    @property
    def outcome(self) -> Any:
        """The ``reward`` sent, else ``resolved`` (as stored: checked where used)."""
        return self.reward if self.reward is not None else self.resolved


@dataclass(frozen=True, slots=True)
class CallResults:
    """The decided model's calls as reported: total latency and cost (None: not
    reported), whether one failed, whether any came at all."""

    latency_ms: float | None = None
    cost_usd: float | None = None
    failed: bool = False
    reported: bool = False
