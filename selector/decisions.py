"""A route request as the service takes it and its answer (free of wire types), and what
the decision log keeps of each decision (:func:`decision_record`)."""

from __future__ import annotations

from collections import Counter, deque
from collections.abc import Sequence
from dataclasses import dataclass, field

from features.extractor import CachedPrefix, Conversation, FeatureVector
from features.schema import SCHEMA_VERSION
from selector.ids import RandomHex
from selector.policy import Decision, Score
from selector.store import DecisionRecord, LoggedRequest, OtherDecision, id_prefix

__all__ = [
    "BudgetNote",
    "DecisionIds",
    "RecentChoices",
    "RouteInput",
    "RouteResult",
    "decision_record",
]

RECENT_DECISIONS = 1_000


class DecisionIds:
    """Time-ordered, unique ids: 12 hex digits of the milliseconds of ``now`` (a time
    from the log's clock), then 12 random ones."""

    def __init__(self) -> None:
        self._random = RandomHex(6)

    def __call__(self, now: float) -> str:
        return f"{id_prefix(now)}{self._random()}"


@dataclass(slots=True)  # not frozen: built on every request (see selector.store.records)
class RouteInput:
    """A validated route request, free of wire types."""

    conversation_id: str
    conversation: Conversation
    candidates: Sequence[str] | None = None
    max_latency_ms: float | None = None
    max_cost_usd: float | None = None
    cost_weight: float | None = None
    text: str | None = None
    tenant: str | None = None  # whose budget the decision's cost counts against


@dataclass(frozen=True, slots=True)
class BudgetNote:
    """What a spend budget did to a decision: the cost weight the policy has without
    it, the paced one decided with, and the model the base weight would have ranked
    first when the paced one chose another (:func:`selector.online.budget.moved_by_budget`)."""

    base_cost_weight: float
    cost_weight: float
    moved_from: str | None


@dataclass(slots=True)  # not frozen: built on every request (see selector.store.records)
class RouteResult:
    decision_id: str
    decision: Decision
    intent: str
    intent_group: str
    scores: list[Score]  # the decision's scores, serialised once for the log and the answer
    budget: BudgetNote | None = None  # when a spend budget paced the decision
    cache: CachedPrefix | None = None  # where the conversation's prefix may be cached


@dataclass
class RecentChoices:
    """The models chosen by the last :data:`RECENT_DECISIONS` decisions, counted."""

    models: deque[str] = field(default_factory=lambda: deque(maxlen=RECENT_DECISIONS))
    counts: Counter[str] = field(default_factory=Counter)

    def add(self, model: str) -> None:
        if len(self.models) == self.models.maxlen:
            self.counts[self.models[0]] -= 1
        self.models.append(model)
        self.counts[model] += 1

    def share(self, model: str) -> float:
        return self.counts[model] / len(self.models) if self.models else 0.0


def _other(d: Decision) -> OtherDecision:
    return OtherDecision(
        d.policy, f"{d.version}+{d.quality_model}", d.model, d.propensity, d.probabilities()
    )


def _request(req: RouteInput, decision: Decision, default_deadline_ms: float) -> LoggedRequest:
    conv = req.conversation
    return LoggedRequest(
        turns=conv.turns,
        n_messages=len(conv.messages) if conv.messages else 0,
        prompt_tokens=conv.prompt_tokens,
        intent=conv.intent,
        escalation=conv.escalation,
        priority=conv.priority,
        candidates=list(req.candidates) if req.candidates is not None else None,
        max_latency_ms=req.max_latency_ms,
        max_cost_usd=req.max_cost_usd,
        cost_weight=req.cost_weight,
        # what the decision's utilities assumed, for its reward (selector.reward)
        lam=decision.cost_weight,
        latency_weight_per_s=decision.latency_weight,
        deadline_ms=req.max_latency_ms or default_deadline_ms,
    )


def decision_record(
    decision_id: str,
    req: RouteInput,
    fv: FeatureVector,
    decision: Decision,
    other: Decision | None,
    default_deadline_ms: float,
    text: str | None,
    ts: float,
    scores: Sequence[Score] | None = None,
) -> DecisionRecord:
    """What the log keeps of a decision made at ``ts`` (``other``: the challenger's
    decision on the same features; ``text``: the request's text as the log keeps it, or
    None; ``scores``: the decision's, when serialised already)."""
    return DecisionRecord(
        decision_id=decision_id,
        ts=ts,
        conversation_id=req.conversation_id,
        policy=decision.policy,
        policy_version=f"{decision.version}+{decision.quality_model}",
        model=decision.model,
        propensity=decision.propensity,
        fallbacks=decision.fallbacks,
        relaxed=decision.relaxed,
        request=_request(req, decision, default_deadline_ms),
        features={"schema_version": SCHEMA_VERSION, **fv.as_dict()},
        scores=[s.as_dict() for s in decision.scores] if scores is None else scores,
        text=text,
        other=None if other is None else _other(other),
    )
