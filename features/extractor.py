"""Turn a conversation and the live state of the candidates into the feature vector.

The same :class:`FeatureExtractor` serves decisions and builds training rows, so the
two can never disagree. The schema is in :mod:`features.schema`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol

from features.estimates import PRIOR_SD, LatencyEstimate
from features.intents import OTHER, IntentClassifier, IntentTaxonomy
from features.schema import CANDIDATE_FEATURES, PRIORITIES, REQUEST_FEATURES, TIER_CODES
from features.tokens import estimate_prompt_tokens

__all__ = [
    "C",
    "CachedPrefix",
    "CandidateInfo",
    "Conversation",
    "FeatureExtractor",
    "FeatureVector",
    "HealthSource",
    "R",
    "prompt_usd",
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
    @property
    def estimate(self) -> LatencyEstimate | None: ...


class HealthSource(Protocol):
    """Live figures of a model (the service's latency tracker)."""

    def healths(self, models: Sequence[str], now: float | None = None) -> Sequence[_Health]:
        """The live figures of each of ``models``, at one time."""
        ...


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
    # the provider's prompt cache: price of a million cached prompt tokens (None: none
    # priced), how long a prefix stays cached, and the shortest prefix it caches
    cached_input_usd_per_mtok: float | None = None
    cache_lifetime_s: float = 300.0
    cache_min_tokens: int = 1_024

    def cached_tokens(self, cache: CachedPrefix | None, prompt_tokens: float) -> float:
        """The prompt tokens this model reads from its cache: the prefix its previous
        call in the conversation wrote, while that is fresh and long enough to be
        cached; 0 on every other model."""
        if (
            cache is None
            or cache.model != self.name
            or self.cached_input_usd_per_mtok is None
            or cache.age_s > self.cache_lifetime_s
            or cache.tokens < self.cache_min_tokens
        ):
            return 0.0
        return float(min(cache.tokens, prompt_tokens)) * cache.share

    def prompt_usd(self, prompt_tokens: float, cached_tokens: float) -> float:
        """What the prompt costs, ``cached_tokens`` of it at the cached rate."""
        return prompt_usd(
            prompt_tokens, cached_tokens, self.input_usd_per_mtok, self.cached_input_usd_per_mtok
        )


def prompt_usd(
    prompt_tokens: float, cached_tokens: float, input_price: float, cached_price: float | None
) -> float:
    """What a prompt costs at ``input_price`` per million tokens, ``cached_tokens`` of it
    (at most the prompt) at ``cached_price`` (None: no cache priced, all at full rate)."""
    cached = 0.0 if cached_price is None else min(cached_tokens, prompt_tokens)
    return ((prompt_tokens - cached) * input_price + cached * (cached_price or 0.0)) / 1e6


@dataclass(frozen=True, slots=True)
class CachedPrefix:
    """The conversation's prefix a provider may still hold in its prompt cache: the
    model that served the previous turn, the prompt tokens it was sent, how long ago,
    and the share of a prefix priced as cached that the model's call results report
    read from its cache."""

    model: str
    tokens: int
    age_s: float
    share: float = 1.0


@dataclass(slots=True)  # not frozen: built on every request (see selector.store.records)
class Conversation:
    """The parts of a route request the features are made of (not the wire schema)."""

    messages: Sequence[tuple[str, str]] | None = None  # (role, content)
    turns: int | None = None
    prompt_tokens: int | None = None
    intent: str | None = None
    escalation: bool = False
    priority: str = "normal"
    cache: CachedPrefix | None = None  # where the conversation's prefix is cached


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
    # per candidate: sd of the log of its latency estimate, and the calls behind it
    latency_sd: list[float] = field(default_factory=list)
    evidence: list[float] = field(default_factory=list)
    # per candidate: the last change its calls showed was for the worse (slower, failing)
    worse: list[bool] = field(default_factory=list)
    # per candidate: the prompt's cost (its cached prefix at the cached rate), and the
    # prompt tokens priced as cached
    prompt_usd: list[float] = field(default_factory=list)
    cached_tokens: list[float] = field(default_factory=list)

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

    def _shape(self, conv: Conversation) -> tuple[int, int, str, int, float]:
        """Turns, user turns, the last user message, prompt tokens and whether they are
        estimated (1.0) or sent (0.0)."""
        turns = user_turns = 0
        last_user = ""
        if conv.messages:
            for role, content in conv.messages:
                if role == "user":
                    user_turns += 1
                    turns += 1
                    last_user = content
                elif role == "assistant":
                    turns += 1
        if conv.turns is not None:
            if not conv.messages:
                user_turns = -(-conv.turns // 2)
            turns = max(turns, conv.turns)
        if conv.prompt_tokens is not None:
            return turns, user_turns, last_user, conv.prompt_tokens, 0.0
        if conv.messages:
            return (
                turns,
                user_turns,
                last_user,
                estimate_prompt_tokens(c for _, c in conv.messages),
                1.0,
            )
        return turns, user_turns, last_user, turns * self.tokens_per_turn, 1.0

    def _intent(self, conv: Conversation, last_user: str) -> tuple[str, int, int, float, float]:
        """Intent, its id, its group's id, the confidence, and whether it was sent."""
        if conv.intent is not None:
            intent, intent_id, group_id = self.taxonomy.resolve(conv.intent)
            return intent, intent_id, group_id, 1.0, 1.0
        if self.classifier is not None and last_user:
            label, confidence = self.classifier.predict(last_user)
            intent, intent_id, group_id = self.taxonomy.resolve(label)
            return intent, intent_id, group_id, confidence, 0.0
        return OTHER, 0, 0, 0.0, 0.0

    def _candidate(
        self, m: CandidateInfo, prompt_tokens: float, prompt_usd: float, h: _Health
    ) -> tuple[list[float], LatencyEstimate]:
        """A candidate's row (:data:`CANDIDATE_FEATURES`) and its latency estimate, from
        its live figures ``h``; its prompt costs ``prompt_usd``."""
        completion = m.completion_tokens
        cost = prompt_usd + completion * m.output_usd_per_mtok / 1e6
        e = h.estimate
        if e is None:  # a source without estimates: the prior, then the window's figures
            if h.p50_ms is None:
                prior = m.expected_latency_ms
                e = LatencyEstimate(prior, 2.0 * prior, PRIOR_SD, 0.0, h.error_rate)
            else:
                p95 = h.p95_ms or h.p50_ms
                e = LatencyEstimate(h.p50_ms, p95, 0.0, float(h.samples), h.error_rate)
        p50, p95 = e.p50_ms, e.p95_ms
        row = [
            float(TIER_CODES[m.tier]),
            m.input_usd_per_mtok,
            m.output_usd_per_mtok,
            cost,
            float(m.context_window),
            1.0 if prompt_tokens + completion <= m.context_window else 0.0,
            p50,
            p95,
            e.error_rate,
            float(h.samples),
            float(h.state),
            m.latency_slo_ms,
        ]
        return row, e

    def extract(
        self, conv: Conversation, candidates: Sequence[str], now: float | None = None
    ) -> FeatureVector:
        """Features of ``conv`` for each name in ``candidates`` (all must be known models)."""
        turns, user_turns, last_user, prompt_tokens, estimated = self._shape(conv)
        intent, intent_id, group_id, confidence, given = self._intent(conv, last_user)
        request = [
            float(turns),
            float(user_turns),
            float(prompt_tokens),
            estimated,
            float(len(last_user)),
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
        sds: list[float] = []
        evidence: list[float] = []
        worse: list[bool] = []
        prompt_usd: list[float] = []
        cached: list[float] = []
        for name, h in zip(candidates, self.health.healths(candidates, now), strict=True):
            m = self.models[name]
            hit = m.cached_tokens(conv.cache, prompt_tokens)
            usd = m.prompt_usd(prompt_tokens, hit)
            row, e = self._candidate(m, prompt_tokens, usd, h)
            prompt_usd.append(usd)
            cached.append(hit)
            rows.append(row)
            probing.append(h.probing)
            sds.append(e.sd)
            evidence.append(e.evidence)
            worse.append(e.worse)
        return FeatureVector(
            request=request,
            candidates=list(candidates),
            candidate_rows=rows,
            intent=intent,
            intent_group=self.taxonomy.group_names[group_id],
            probing=probing,
            text=last_user,
            latency_sd=sds,
            evidence=evidence,
            worse=worse,
            prompt_usd=prompt_usd,
            cached_tokens=cached,
        )
