"""Constraints of a decision: which candidates break them, by how much, which are
relaxed when none is left, and the probe traffic of models judged on a guess.

A request's constraints and their reasons:

- ``budget``: the expected cost is over ``max_cost_usd``;
- ``deadline``: the model more likely than not answers past ``max_latency_ms`` at its
  p95, judged on its latency estimate and the evidence behind it
  (:mod:`features.estimates`): ``P(true p95 > deadline) > ½``; the probability is
  logged with the score (``p_over_deadline``);
- ``circuit_open``: the circuit is open, or half-open with its probe in flight;
- ``context_window``: the prompt plus the expected completion does not fit.

**Relaxation.** When no candidate meets them all, constraints are relaxed one at a time
in :data:`RELAX_ORDER`; of the candidates a relaxed ``budget`` or ``deadline`` lets
back, only those that break it *least* (expected cost, or p95, over the limit) are
eligible, and the decision says by how much the chosen model breaks each relaxed
constraint (``relaxed_by``: 0.04 is 4 % over the limit).

**Probes.** Two kinds of model are offered ``share`` of the decisions each (all of
them together at most ``max_share``, each one's share cut to fit), while fewer than
``evidence`` calls stand behind their latency estimate:

- a model that breaks only the deadline with at least a ``min_chance`` of truly meeting
  it: without probes a model whose catalog guess is too slow is never chosen, so no
  call ever corrects the guess;
- a model *in trouble*: the last change of level its calls showed
  (:mod:`features.estimates`) was for the worse: its latency ×2 or more, or its error
  rate 0.2 or more, above what they were (a model never called is judged on a guess,
  not in trouble; one whose calls all fail has its circuit opened, and the circuit's
  half-open probe sees its recovery). The policy avoids it, so no call would say
  when the trouble is over; its evidence fades with time (half-life of the estimates),
  and the probes keep it at about ``evidence`` calls of the present, so the estimate
  neither stays stale nor fades back to the catalog's guess unseen. Its recovery is seen
  within about ``shift_calls / share`` decisions of the incident's end.

The draw is part of the decision: the policy's own distribution is scaled by what the
probes leave, a probed model keeps its own share of that too, every candidate's
probability is logged, and the propensity is exactly the chosen model's probability.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from features.estimates import p_above

__all__ = [
    "HARD",
    "RELAX_ORDER",
    "ProbeConfig",
    "Relaxation",
    "judge_deadline",
    "mix_probes",
    "over_by",
    "probe_share",
    "relax",
]

RELAX_ORDER = ("budget", "deadline", "circuit_open", "context_window")
HARD = frozenset({"circuit_open", "context_window"})  # never offered as fallbacks
_MEASURED = ("budget", "deadline")  # constraints relaxed to the smallest violation
_TIE = 1e-9
_OVER_MAX = 1e12


@dataclass(frozen=True)
class ProbeConfig:
    """How much traffic goes to models judged on a guess (module docstring)."""

    share: float = 0.02
    max_share: float = 0.1
    evidence: float = 10.0
    min_chance: float = 0.05

    def __post_init__(self) -> None:
        for name in ("share", "max_share", "min_chance"):
            value = getattr(self, name)
            if not 0.0 <= value < 1.0:
                raise ValueError(f"probe {name} must be in [0, 1), got {value}")
        if not self.evidence > 0.0:
            raise ValueError(f"probe evidence must be > 0 calls, got {self.evidence}")


class _Scored(Protocol):
    reasons: tuple[str, ...]
    over: dict[str, float] | None


class _Judged(Protocol):
    over: dict[str, float] | None
    p_over_deadline: float | None
    probe: bool


class _Drawn(Protocol):
    probability: float | None


@dataclass(frozen=True, slots=True)
class Relaxation:
    """The eligible candidates' indexes, the constraints relaxed, and by how much the
    least violation of each relaxed ``budget`` or ``deadline`` breaks it."""

    eligible: list[int]
    relaxed: list[str]
    relaxed_by: dict[str, float]


_NONE = Relaxation([], [], {})


def relax(scores: Sequence[_Scored]) -> Relaxation:
    """The candidates that break no constraint; when there are none, constraints are
    relaxed one at a time in :data:`RELAX_ORDER` until some candidate is left, keeping
    of each relaxed ``budget`` or ``deadline`` only its least violations."""
    eligible = [i for i, s in enumerate(scores) if not s.reasons]
    if eligible:
        return Relaxation(eligible, [], {})
    relaxed: list[str] = []
    for constraint in RELAX_ORDER:
        if not any(constraint in s.reasons for s in scores):
            continue
        relaxed.append(constraint)
        allowed = set(relaxed)
        eligible = [i for i, s in enumerate(scores) if allowed.issuperset(s.reasons)]
        if eligible:
            break
    if not eligible:
        return _NONE
    by: dict[str, float] = {}
    for constraint in relaxed:
        if constraint not in _MEASURED:
            continue
        amounts = [_over(scores[i], constraint) for i in eligible]
        least = min(amounts)
        eligible = [i for i, a in zip(eligible, amounts, strict=True) if a <= least + _TIE]
        by[constraint] = least
    return Relaxation(eligible, relaxed, by)


def _over(score: _Scored, constraint: str) -> float:
    over = score.over
    return 0.0 if over is None else over.get(constraint, 0.0)


def over_by(value: float, limit: float) -> float:
    """How far ``value`` is over ``limit``, as a share of it, finite however small the
    limit (at most 10¹²).

    >>> over_by(0.000125, 0.00012) > 0.0416, over_by(1.0, 5e-324)
    (True, 1000000000000.0)
    """
    if limit <= 0.0:
        return _OVER_MAX
    ratio = value / limit - 1.0
    return ratio if ratio < _OVER_MAX else _OVER_MAX


def probe_share(config: ProbeConfig, probes: int) -> float:
    """Each probe's probability when ``probes`` models are probed.

    >>> probe_share(ProbeConfig(share=0.02, max_share=0.1), 3)
    0.02
    >>> probe_share(ProbeConfig(share=0.05, max_share=0.1), 4)
    0.025
    """
    if probes == 0:
        return 0.0
    return min(config.share, config.max_share / probes)


def judge_deadline(
    score: _Judged,
    reasons: list[str],
    p95: float,
    sd: float,
    deadline: float,
    thin: bool,
    probes: ProbeConfig | None,
) -> None:
    """Judge ``score``'s model against the deadline: its p95 estimate ``p95`` with log
    standard deviation ``sd``; ``thin`` when too few calls stand behind it."""
    p_over = p_above(p95, sd, deadline)
    score.p_over_deadline = p_over
    if p_over <= 0.5:
        return
    reasons.append("deadline")
    over = score.over if score.over is not None else {}
    over["deadline"] = over_by(p95, deadline)
    score.over = over
    if probes is not None and thin:
        score.probe = p_over < 1.0 - probes.min_chance


def mix_probes(
    config: ProbeConfig,
    scores: Sequence[_Drawn],
    ranking: list[int],
    propensity: float,
    probes: Sequence[int],
    u: float,
) -> tuple[list[int], float]:
    """Mix the ``probes``' share into the policy's distribution (its ``ranking``'s first
    drawn with ``propensity``), set every score's probability, and draw with ``u`` ∈
    [0, 1): the new ranking and the chosen model's exact propensity (a probed model the
    policy may choose too has both chances)."""
    q = probe_share(config, len(probes))
    if q <= 0.0:
        return ranking, propensity
    total = q * len(probes)
    if all(s.probability is None for s in scores):  # a deterministic policy's choice
        for s in scores:
            s.probability = 0.0
        scores[ranking[0]].probability = 1.0
    for s in scores:
        s.probability = (s.probability or 0.0) * (1.0 - total)
    for i in probes:
        scores[i].probability = (scores[i].probability or 0.0) + q
    if u < total:
        drawn = probes[min(int(u / q), len(probes) - 1)]
        ranking = [drawn, *(i for i in ranking if i != drawn)]
    return ranking, scores[ranking[0]].probability or 0.0
