"""Turn a conversation and the live state of the candidates into the feature vector.

The same :class:`FeatureExtractor` serves decisions and builds training rows, so the
two can never disagree. The schema is in :mod:`features.schema`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from features.intents import OTHER, IntentClassifier, IntentTaxonomy
from features.schema import CANDIDATE_FEATURES, PRIORITIES, REQUEST_FEATURES, TIER_CODES
from features.tokens import estimate_prompt_tokens

__all__ = [
    "C",
    "CandidateInfo",
    "Conversation",
    "FeatureExtractor",
    "FeatureVector",
    "HealthSource",
    "R",
]

R = {name: i for i, (name, _) in enumerate(REQUEST_FEATURES)}
C = {name: i for i, (name, _) in enumerate(CANDIDATE_FEATURES)}

_R_TURNS, _R_INTENT_GROUP, _R_ESCALATION = R["turns"], R["intent_group_id"], R["escalation"]
_C_P95 = C["latency_p95_ms"]


class _Health(Protocol):
    @property
    def p50_ms(self) -> float | None: ...
    @property
    def p95_ms(self) -> float | None: ...
    @property
    def error_rate(self) -> float: ...
    @property
    def samples(self) -> int: ...
    @property
    def state(self) -> int: ...
    @property
    def probing(self) -> bool: ...


class HealthSource(Protocol):
    """Live figures of a model (the service's latency tracker)."""

    def health(self, model: str, now: float | None = None) -> _Health: ...


@dataclass(frozen=True, slots=True)
class CandidateInfo:
    """What the extractor needs to know of a catalog entry."""

    name: str
    provider: str
    tier: str
    input_usd_per_mtok: float
    output_usd_per_mtok: float
    context_window: int
    latency_slo_ms: float
    expected_latency_ms: float
    completion_tokens: int


@dataclass(frozen=True, slots=True)
class Conversation:
    """The parts of a route request the features are made of (not the wire schema)."""

    messages: Sequence[tuple[str, str]] | None = None  # (role, content)
    turns: int | None = None
    prompt_tokens: int | None = None
    intent: str | None = None
    escalation: bool = False
    priority: str = "normal"


@dataclass(slots=True)
class FeatureVector:
    """Request block, one candidate block per candidate, and readable labels."""

    request: list[float]
    candidates: list[str]
    candidate_rows: list[list[float]]
    intent: str
    intent_group: str
    probing: list[bool]
    text: str = ""  # the last user message: the text features of the quality model read it

    def as_dict(self) -> dict[str, object]:
        return {
            "request": self.request,
            "candidates": self.candidates,
            "candidate_rows": self.candidate_rows,
            "intent": self.intent,
            "intent_group": self.intent_group,
        }


class FeatureExtractor:
    """Conversation + candidates + live health → :class:`FeatureVector`."""

    def __init__(
        self,
        models: Sequence[CandidateInfo],
        taxonomy: IntentTaxonomy,
        classifier: IntentClassifier | None,
        health: HealthSource,
        tokens_per_turn: int = 17,
    ) -> None:
        self.models = {m.name: m for m in models}
        self.taxonomy = taxonomy
        self.classifier = classifier
        self.health = health
        self.tokens_per_turn = tokens_per_turn

    def extract(
        self, conv: Conversation, candidates: Sequence[str], now: float | None = None
    ) -> FeatureVector:
        """Features of ``conv`` for each name in ``candidates`` (all must be known models)."""
        turns = user_turns = last_user_chars = 0
        last_user = ""
        if conv.messages:
            for role, content in conv.messages:
                if role == "user":
                    user_turns += 1
                    turns += 1
                    last_user = content
                elif role == "assistant":
                    turns += 1
            last_user_chars = len(last_user)
        if conv.turns is not None:
            if not conv.messages:
                user_turns = -(-conv.turns // 2)
            turns = max(turns, conv.turns)
        if conv.prompt_tokens is not None:
            prompt_tokens, estimated = conv.prompt_tokens, 0.0
        elif conv.messages:
            prompt_tokens, estimated = estimate_prompt_tokens(c for _, c in conv.messages), 1.0
        else:
            prompt_tokens, estimated = turns * self.tokens_per_turn, 1.0

        taxonomy = self.taxonomy
        if conv.intent is not None:
            intent, intent_id, group_id = taxonomy.resolve(conv.intent)
            confidence, given = 1.0, 1.0
        elif self.classifier is not None and last_user:
            label, confidence = self.classifier.predict(last_user)
            intent, intent_id, group_id = taxonomy.resolve(label)
            given = 0.0
        else:
            intent, intent_id, group_id, confidence, given = OTHER, 0, 0, 0.0, 0.0

        request = [
            float(turns),
            float(user_turns),
            float(prompt_tokens),
            estimated,
            float(last_user_chars),
            float(intent_id),
            float(group_id),
            confidence,
            given,
            1.0 if conv.escalation else 0.0,
            float(PRIORITIES[conv.priority]),
            float(len(candidates)),
        ]
        rows: list[list[float]] = []
        probing: list[bool] = []
        for name in candidates:
            m = self.models[name]
            h = self.health.health(name, now)
            completion = m.completion_tokens
            cost = (prompt_tokens * m.input_usd_per_mtok + completion * m.output_usd_per_mtok) / 1e6
            if h.p50_ms is None:
                p50, p95 = m.expected_latency_ms, 2.0 * m.expected_latency_ms
            else:
                p50, p95 = h.p50_ms, h.p95_ms or h.p50_ms
            rows.append(
                [
                    float(TIER_CODES[m.tier]),
                    m.input_usd_per_mtok,
                    m.output_usd_per_mtok,
                    cost,
                    float(m.context_window),
                    1.0 if prompt_tokens + completion <= m.context_window else 0.0,
                    p50,
                    p95,
                    h.error_rate,
                    float(h.samples),
                    float(h.state),
                    m.latency_slo_ms,
                ]
            )
            probing.append(h.probing)
        return FeatureVector(
            request=request,
            candidates=list(candidates),
            candidate_rows=rows,
            intent=intent,
            intent_group=taxonomy.group_names[group_id],
            probing=probing,
            text=last_user,
        )
