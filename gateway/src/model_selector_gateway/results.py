"""What the client returns and raises: typed results of ``POST /v1/route`` and ``POST
/v1/feedback``, and the two ways a call to the service can fail (it could not be
reached or gave an answer the client cannot use, or it refused the request).

An answer is read strictly: a 200 whose body lacks a field the client relies on, or
carries it with the wrong type, is an unusable answer (:class:`SelectorUnavailableError`),
never a half-filled result.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "Accepted",
    "Decision",
    "ModelScore",
    "SelectorRejectedError",
    "SelectorUnavailableError",
    "UnusableAnswerError",
    "accepted_from",
    "decision_from",
    "default_decision",
]


class SelectorUnavailableError(Exception):
    """The service could not be reached, did not answer in time, answered 5xx, answered
    with a body the client cannot use, or its breaker is open."""


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


class UnusableAnswerError(SelectorUnavailableError):
    """A 200 answer without a field the client relies on, or with the wrong type."""


def _field(body: Mapping[str, Any], key: str, where: str, kind: str) -> Any:
    """``body[key]`` if it is a ``kind`` (``"text"``, ``"number"`` or ``"flag"``)."""
    value = body.get(key)
    ok = {
        "text": isinstance(value, str),
        "number": isinstance(value, int | float) and not isinstance(value, bool),
        "flag": isinstance(value, bool),
    }[kind]
    if not ok:
        raise UnusableAnswerError(f"unexpected answer to {where}: {key!r} is {value!r}")
    return value


def _optional_text(body: Mapping[str, Any], key: str) -> str | None:
    value = body.get(key)
    return value if isinstance(value, str) else None


def _names(body: Mapping[str, Any], key: str, where: str) -> tuple[str, ...]:
    value = body.get(key, [])
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise UnusableAnswerError(f"unexpected answer to {where}: {key!r} is {value!r}")
    return tuple(value)


def _score(s: Any) -> ModelScore:
    where = "POST /v1/route (scores)"
    if not isinstance(s, dict):
        raise UnusableAnswerError(f"unexpected answer to {where}: a score is {s!r}")
    return ModelScore(
        model=_field(s, "model", where, "text"),
        p_resolved=float(_field(s, "p_resolved", where, "number")),
        expected_cost_usd=float(_field(s, "expected_cost_usd", where, "number")),
        expected_latency_ms=float(_field(s, "expected_latency_ms", where, "number")),
        utility=float(_field(s, "utility", where, "number")),
        eligible=_field(s, "eligible", where, "flag"),
        reason=_optional_text(s, "reason"),
    )


def decision_from(body: Any) -> Decision:
    """A :class:`Decision` from a ``POST /v1/route`` answer; an answer without a usable
    ``decision_id``, ``model`` or ``fallbacks`` raises :class:`SelectorUnavailableError`.

    >>> decision_from({"decision_id": "d-1", "model": "big", "fallbacks": ["small"]}).chain
    ('big', 'small')
    >>> decision_from({"model": "big"})  # doctest: +IGNORE_EXCEPTION_DETAIL
    Traceback (most recent call last):
    UnusableAnswerError: unexpected answer to POST /v1/route: 'decision_id' is None
    """
    where = "POST /v1/route"
    if not isinstance(body, dict):
        raise UnusableAnswerError(f"unexpected answer to {where}: {str(body)[:200]!r}")
    decision_id = _field(body, "decision_id", where, "text")
    model = _field(body, "model", where, "text")
    if not decision_id or not model:
        raise UnusableAnswerError(f"unexpected answer to {where}: an empty decision_id or model")
    policy = body.get("policy")
    policy = policy if isinstance(policy, dict) else {}
    propensity = body.get("propensity")
    scores = body.get("scores", [])
    if not isinstance(scores, list):
        raise UnusableAnswerError(f"unexpected answer to {where}: 'scores' is {scores!r}")
    return Decision(
        model=model,
        fallbacks=tuple(m for m in _names(body, "fallbacks", where) if m != model),
        decision_id=decision_id,
        propensity=None
        if propensity is None
        else float(_field(body, "propensity", where, "number")),
        intent=_optional_text(body, "intent"),
        intent_group=_optional_text(body, "intent_group"),
        policy=_optional_text(policy, "name"),
        quality_model=_optional_text(policy, "quality_model"),
        relaxed=_names(body, "relaxed", where),
        scores=tuple(_score(s) for s in scores),
        raw=body,
    )


def accepted_from(body: Any) -> Accepted:
    """An :class:`Accepted` from a ``POST /v1/feedback`` answer (a decision's event, or a
    conversation's outcome)."""
    where = "POST /v1/feedback"
    if not isinstance(body, dict) or not ("decision_id" in body or "conversation_id" in body):
        raise UnusableAnswerError(f"unexpected answer to {where}: {str(body)[:200]!r}")
    return Accepted(
        decision_id=_optional_text(body, "decision_id"),
        conversation_id=_optional_text(body, "conversation_id"),
        duplicate=body.get("duplicate") is True,
        late=body.get("late") is True,
        override=body.get("override") is True,
        credited=_names(body, "credited", where),
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
