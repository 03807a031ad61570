"""What every decision policy shares: scoring, constraints, relaxation, probes, fallbacks.

A policy's public :meth:`Policy.decide` scores each candidate,

    utility = P(resolved) × (1 − live error rate) − λ · expected cost − w · expected latency (s)
              − late penalty × P(the call fails or answers past the deadline)

(``w`` is the latency weight, doubled for ``high`` priority and halved for ``low``; the
last term prices what the reward charges a late or failed call, from the model's live
latency and error estimates and the request's deadline),
marks the candidates that break a constraint, relaxes constraints when none is left,
offers probe traffic to models judged on a guess or avoided for live trouble on thin
evidence, and builds the fallback chain
(:mod:`selector.policy.constraints` says how). Its private :meth:`Policy._rank` hook —
the only part a policy writes — orders the eligible candidates and says with what
probability the first one was chosen.
"""

from __future__ import annotations

import random
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Annotated, ClassVar, NotRequired, Protocol

from pydantic import ConfigDict, Field, with_config
from typing_extensions import TypedDict

from features.estimates import p_slower
from features.extractor import C, FeatureVector, R
from selector.policy.constraints import (
    HARD,
    ProbeConfig,
    judge_deadline,
    mix_probes,
    over_by,
    relax,
)

__all__ = [
    "PRIORITY_LATENCY_FACTOR",
    "CandidateScore",
    "Decision",
    "DecisionContext",
    "Policy",
    "QualityModel",
    "Score",
]

PRIORITY_LATENCY_FACTOR = (0.5, 1.0, 2.0)  # low, normal, high

_COST, _FITS, _P50, _P95 = (
    C["expected_cost_usd"],
    C["fits_context"],
    C["latency_p50_ms"],
    C["latency_p95_ms"],
)
_ERR, _STATE = C["error_rate"], C["circuit_state"]
_IN, _OUT = C["input_usd_per_mtok"], C["output_usd_per_mtok"]
_PROMPT = R["prompt_tokens"]
_OPEN, _HALF_OPEN = 2, 1


class QualityModel(Protocol):
    """Anything that predicts P(resolved) for each candidate of a feature vector."""

    name: str

    def predict(self, fv: FeatureVector) -> list[float]: ...


# a candidate's score as the answer to a route gives it and the decision log keeps it,
# published in the OpenAPI spec; built by CandidateScore.as_dict only
@with_config(ConfigDict(extra="forbid"))
class Score(TypedDict):
    model: str
    p_resolved: float
    expected_cost_usd: float
    expected_latency_ms: float
    utility: float
    eligible: bool
    reason: NotRequired[Annotated[str, Field(description="Why the model is not eligible.")]]
    p_over_deadline: NotRequired[
        Annotated[
            float,
            Field(
                description="When the request has a deadline: the probability that the "
                "model's true p95 latency is past it, given the evidence behind its estimate."
            ),
        ]
    ]
    probe: NotRequired[
        Annotated[
            bool,
            Field(
                description="True when the model was offered a share of probe traffic: "
                "judged on a guess, or avoided for live trouble (failed or late calls) on "
                "thin evidence, so that its recovery is seen."
            ),
        ]
    ]
    estimate: NotRequired[
        Annotated[
            float | None,
            Field(description="Online policies: the utility corrected by the online layer."),
        ]
    ]
    probability: NotRequired[
        Annotated[
            float,
            Field(description="Online policies: the probability this model was to be chosen."),
        ]
    ]
    cached_prompt_tokens: NotRequired[
        Annotated[
            float,
            Field(
                description="The conversation's prefix this model still holds in its "
                "prompt cache (it served the previous turn within the catalog's "
                "cache_lifetime_s), priced at its cached_input_usd_per_mtok in "
                "expected_cost_usd; left out on every other model."
            ),
        ]
    ]


@dataclass(frozen=True, slots=True)
class DecisionContext:
    """Per-request constraints and weights."""

    max_latency_ms: float | None = None
    max_cost_usd: float | None = None
    cost_weight: float = 2.0
    latency_weight: float = 0.02
    priority: int = 1
    late_penalty: float = 0.0  # the reward's charge for a late or failed call
    deadline_ms: float = 3_000.0  # a call is late past it, when the request sets none
    # the uniform a randomising policy draws its choice with (None: a fresh one from its
    # generator); the service gives each conversation one (SELECTOR_STICKY_DRAWS)
    draw: float | None = None


@dataclass(slots=True)
class CandidateScore:
    model: str
    p_resolved: float
    expected_cost_usd: float
    expected_latency_ms: float
    utility: float
    eligible: bool
    reasons: tuple[str, ...] = ()
    # set by an online policy: the corrected utility and the probability of being chosen
    estimate: float | None = None
    probability: float | None = None
    # how far over each limit it is (a share of the limit), when it breaks one
    over: dict[str, float] | None = None
    p_over_deadline: float | None = None  # P(true p95 > the deadline), when one is set
    probe: bool = False  # offered probe traffic
    cached_tokens: float = 0.0  # prompt tokens priced as read from the prompt cache

    def as_dict(self) -> Score:
        """The score on the wire and in the log (:class:`Score`)."""
        out: Score = {
            "model": self.model,
            "p_resolved": self.p_resolved,
            "expected_cost_usd": self.expected_cost_usd,
            "expected_latency_ms": self.expected_latency_ms,
            "utility": self.utility,
            "eligible": self.eligible,
        }
        if not self.eligible:
            out["reason"] = ", ".join(self.reasons)
        if self.p_over_deadline is not None:
            out["p_over_deadline"] = self.p_over_deadline
        if self.probe:
            out["probe"] = True
        if self.probability is not None:
            out["estimate"] = self.estimate
            out["probability"] = self.probability
        if self.cached_tokens:
            out["cached_prompt_tokens"] = self.cached_tokens
        return out


@dataclass(slots=True)
class Decision:
    model: str
    fallbacks: list[str]
    propensity: float
    policy: str
    version: str
    scores: list[CandidateScore]
    relaxed: list[str] = field(default_factory=list)
    relaxed_by: dict[str, float] = field(default_factory=dict)
    quality_model: str = ""
    # the weights the utilities were computed with: λ per USD, latency weight per second
    cost_weight: float = 0.0
    latency_weight: float = 0.0

    def probabilities(self) -> dict[str, float]:
        """The probability the policy gave each candidate: the logged ones of a
        randomising policy, else 1 for its choice."""
        if any(s.probability is not None for s in self.scores):
            return {s.model: s.probability or 0.0 for s in self.scores}
        return {s.model: 1.0 if s.model == self.model else 0.0 for s in self.scores}


class Policy(ABC):
    """Base of decision policies; subclasses implement :meth:`_rank` only."""

    name: ClassVar[str]
    version: ClassVar[str] = "0"
    online: ClassVar[bool] = False  # reads the online layer's corrections (built with one)
    probed: ClassVar[bool] = True  # takes probe traffic when configured (baselines may not)
    # probe traffic for models judged on a guess (None: none; set by the wiring)
    probes: ProbeConfig | None = None

    def __init__(
        self,
        quality: QualityModel,
        providers: dict[str, str],
        max_fallbacks: int = 3,
        seed: int | None = None,
    ) -> None:
        self.quality = quality
        # a trained model also predicts completion lengths (looked up once, not per decision)
        self._predict_all = getattr(quality, "predict_all", None)
        self.providers = providers
        self.max_fallbacks = max_fallbacks
        self.rng = random.Random(seed)

    def decide(self, fv: FeatureVector, ctx: DecisionContext) -> Decision:
        """Choose a model for ``fv`` under ``ctx``; always names one while candidates exist."""
        if not fv.candidates:
            raise ValueError("no candidates to choose from")
        scores = self._score(fv, ctx)
        found = relax(scores)
        eligible_set = set(found.eligible)
        for i, s in enumerate(scores):
            s.eligible = i in eligible_set

        ranking, propensity = self._rank(fv, scores, found.eligible, ctx.draw)
        probes = [i for i, s in enumerate(scores) if s.probe]
        if probes and self.probes is not None:
            u = self.rng.random()
            ranking, propensity = mix_probes(self.probes, scores, ranking, propensity, probes, u)
        chosen = ranking[0]
        return Decision(
            model=scores[chosen].model,
            fallbacks=self._fallbacks(scores, ranking, eligible_set),
            propensity=propensity,
            policy=self.name,
            version=self.version,
            scores=scores,
            relaxed=found.relaxed,
            relaxed_by=found.relaxed_by,
            quality_model=self.quality.name,
            cost_weight=ctx.cost_weight,
            latency_weight=ctx.latency_weight * PRIORITY_LATENCY_FACTOR[ctx.priority],
        )

    def _score(self, fv: FeatureVector, ctx: DecisionContext) -> list[CandidateScore]:
        """Each candidate's utility, and the constraints it breaks (and by how much)."""
        lengths = None
        if self._predict_all is not None:
            p_resolved, lengths = self._predict_all(fv)
        else:
            p_resolved = self.quality.predict(fv)
        prompt = fv.request[_PROMPT]
        lat_w = ctx.latency_weight * PRIORITY_LATENCY_FACTOR[ctx.priority] / 1000.0
        max_cost, deadline = ctx.max_cost_usd, ctx.max_latency_ms
        sds = fv.latency_sd or [0.0] * len(fv.candidates)
        late_w = ctx.late_penalty
        late_after = deadline if deadline is not None else ctx.deadline_ms
        evidence_needed = self.probes.evidence if self.probes is not None else 0.0
        scores: list[CandidateScore] = []
        for j, (name, row, p, probing) in enumerate(
            zip(fv.candidates, fv.candidate_rows, p_resolved, fv.probing, strict=True)
        ):
            cost = row[_COST]
            if lengths is not None and lengths[j] is not None:
                prompt_usd = fv.prompt_usd[j] if fv.prompt_usd else prompt * row[_IN] / 1e6
                cost = prompt_usd + lengths[j] * row[_OUT] / 1e6
            err = row[_ERR]
            utility = p * (1.0 - err) - ctx.cost_weight * cost - lat_w * row[_P50]
            if late_w:
                late = p_slower(row[_P50], row[_P95], late_after)
                utility -= late_w * (err + (1.0 - err) * late)
            thin = bool(fv.evidence) and fv.evidence[j] < evidence_needed
            score = CandidateScore(name, p, cost, row[_P50], utility, True)
            if fv.cached_tokens:
                score.cached_tokens = fv.cached_tokens[j]
            reasons: list[str] = []
            if max_cost is not None and cost > max_cost:
                reasons.append("budget")
                score.over = {"budget": over_by(cost, max_cost)}
            if deadline is not None:
                judge_deadline(score, reasons, row[_P95], sds[j], deadline, thin, self.probes)
            state = row[_STATE]
            if state == _OPEN or (state == _HALF_OPEN and probing):
                reasons.append("circuit_open")
            if row[_FITS] == 0.0:
                reasons.append("context_window")
            score.reasons = tuple(reasons)
            soft = not reasons or score.reasons == ("deadline",)
            # in trouble: the last change its calls showed was for the worse
            score.probe = soft and (score.probe or (thin and bool(fv.worse) and fv.worse[j]))
            scores.append(score)
        return scores

    def distribution(self, fv: FeatureVector, ctx: DecisionContext) -> list[float]:
        """The probability this policy gives each of ``fv.candidates`` (for off-policy
        evaluation): the logged probabilities of a randomising policy, else 1 for its
        choice."""
        probs = self.decide(fv, ctx).probabilities()
        return [probs[m] for m in fv.candidates]

    @abstractmethod
    def _rank(
        self,
        fv: FeatureVector,
        scores: Sequence[CandidateScore],
        eligible: Sequence[int],
        draw: float | None = None,
    ) -> tuple[list[int], float]:
        """Eligible indices in order of preference (first = chosen) and its propensity;
        a randomising policy draws its choice with ``draw`` ∈ [0, 1) when given."""

    def _fallbacks(
        self, scores: Sequence[CandidateScore], ranking: Sequence[int], eligible: set[int]
    ) -> list[str]:
        """The rest of the ranking, then candidates that break only soft constraints by
        utility; a model of another provider than the chosen one goes first."""
        chosen = ranking[0]
        soft = sorted(
            (
                i
                for i, s in enumerate(scores)
                if i not in eligible and i != chosen and not HARD.intersection(s.reasons)
            ),
            key=lambda i: -scores[i].utility,
        )
        chain = [i for i in ranking[1:]] + soft
        first_provider = self.providers.get(scores[chosen].model)
        for pos, i in enumerate(chain):
            if self.providers.get(scores[i].model) != first_provider:
                if pos:
                    chain.insert(0, chain.pop(pos))
                break
        return [scores[i].model for i in chain[: self.max_fallbacks]]
