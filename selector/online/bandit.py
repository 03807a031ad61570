"""The online layer: corrections to the offline model's estimates, learned from outcomes,
and SquareCB exploration over the corrected estimates.

The offline policy scores each candidate with its *utility*, its estimate of the turn's
reward (P(resolved) from the quality model, expected cost, live latency and error
rate). The online layer keeps, for each model and for each model × intent group, an
exponentially discounted mean of the *residuals* ``reward − utility`` of the decisions
that chose it, and adds the shrunk correction

    r(m)    = S(m) / (W(m) + n₀)
    r(m, g) = (S(m, g) + n₀ · r(m)) / (W(m, g) + n₀)

to the utility (``S`` and ``W`` are discounted sums of residuals and of counts; ``n₀``
the prior weight, in outcomes, of the offline model). Every outcome multiplies the old
sums of its keys by ``1 − 1/memory`` before adding itself, so a model that regresses
on one intent group loses its traffic there after a few dozen outcomes, however long
it was good before.

Exploration is SquareCB's inverse-gap weighting (Foster & Rakhlin, 2020), mixed with
a uniform floor ``ε``: with ``k`` eligible candidates, best estimate ``ŷ*`` and
``γ`` the greediness,

    p(a) = 1 / (k + γ · (ŷ* − ŷ(a)))   for every a but the best,   p(best) = the rest,
    p ← (1 − ε) · p + ε / k.

The expected cost of exploring is at most ``(k − 1) / γ`` per decision in units of
reward, whatever the gaps. The probabilities are exact and logged with each decision.

The state is plain JSON (:meth:`ResidualBandit.state`), never pickled.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol, TypeAlias

if TYPE_CHECKING:
    import numpy as np

__all__ = [
    "LEARNERS",
    "BanditParams",
    "Contexts",
    "OnlineModel",
    "ResidualBandit",
    "Update",
    "sample",
    "squarecb",
]


@dataclass(frozen=True)
class BanditParams:
    """How fast the layer forgets, how much it trusts the offline model, how it explores."""

    memory: float = 500.0  # outcomes: the discount per outcome of a key is 1 − 1/memory
    prior_weight: float = 200.0  # n₀: the offline model's weight, in outcomes
    gamma: float = 10_000.0  # SquareCB greediness (exploration cost ≤ (k − 1)/γ per decision)
    min_exploration: float = 0.003  # ε: the uniform floor mixed into every distribution
    learner: str = "residual"  # "residual" (this module), "vw" (online/vw.py), "contextual"
    ridge: float = 4.0  # contextual: the prior's weight n₀ of each regression, in outcomes
    posterior_scale: float = 0.3  # contextual: scales the estimates' sd (more: explore more)

    def __post_init__(self) -> None:
        if not self.memory >= 1.0:
            raise ValueError(f"memory must be ≥ 1 outcome, got {self.memory}")
        if not self.prior_weight > 0.0:
            raise ValueError(f"prior_weight must be > 0, got {self.prior_weight}")
        if not self.gamma > 0.0:
            raise ValueError(f"gamma must be > 0, got {self.gamma}")
        if self.learner not in LEARNERS:
            raise ValueError(f"learner must be one of {sorted(LEARNERS)}, got {self.learner!r}")
        if not self.ridge > 0.0:
            raise ValueError(f"ridge must be > 0, got {self.ridge}")
        if not self.posterior_scale > 0.0:
            raise ValueError(f"posterior_scale must be > 0, got {self.posterior_scale}")
        if not 0.0 <= self.min_exploration < 1.0:
            raise ValueError(f"min_exploration must be in [0, 1), got {self.min_exploration}")

    def as_state(self) -> dict[str, Any]:
        """The parameters its learner reads, for a saved state (one learner's state does
        not change when another's parameters are added)."""
        return {k: getattr(self, k) for k in _READS[self.learner]}


def squarecb(estimates: Sequence[float], gamma: float, floor: float = 0.0) -> list[float]:
    """SquareCB's action probabilities for ``estimates`` (higher is better), with a
    uniform ``floor`` mixed in; ties go to the first best.

    >>> [round(p, 4) for p in squarecb([0.9, 0.8, 0.5], gamma=100)]
    [0.8998, 0.0769, 0.0233]
    >>> [round(p, 4) for p in squarecb([0.9, 0.8, 0.5], gamma=100, floor=0.3)]
    [0.7299, 0.1538, 0.1163]
    >>> squarecb([0.4], gamma=100)
    [1.0]
    """
    k = len(estimates)
    if k == 0:
        raise ValueError("no estimates to weigh")
    best = max(range(k), key=lambda i: (estimates[i], -i))
    top = estimates[best]
    probs = [0.0] * k
    rest = 0.0
    for i, y in enumerate(estimates):
        if i != best:
            probs[i] = 1.0 / (k + gamma * (top - y))
            rest += probs[i]
    probs[best] = 1.0 - rest
    if floor > 0.0:
        probs = [(1.0 - floor) * p + floor / k for p in probs]
    return probs


def sample(probs: Sequence[float], u: float) -> int:
    """The index whose cumulative probability first exceeds ``u`` ∈ [0, 1).

    >>> sample([0.2, 0.5, 0.3], 0.1), sample([0.2, 0.5, 0.3], 0.2), sample([0.2, 0.5, 0.3], 0.95)
    (0, 1, 2)
    """
    acc = 0.0
    for i, p in enumerate(probs):
        acc += p
        if u < acc:
            return i
    return max(i for i, p in enumerate(probs) if p > 0.0)  # rounding left u ≥ Σp


LEARNERS = ("residual", "vw", "contextual")
#: the candidates' contexts (:mod:`selector.online.contexts`), one row each: lists, or an array
Contexts: TypeAlias = "Sequence[Sequence[float]] | np.ndarray"
_COMMON = ("memory", "gamma", "min_exploration", "learner")
_READS = {
    "residual": ("prior_weight", *_COMMON),
    "vw": ("prior_weight", *_COMMON),
    "contextual": (*_COMMON, "ridge", "posterior_scale"),
}


@dataclass(frozen=True, slots=True)
class Update:
    """One outcome to learn: the decision's candidates (the eligible ones), the one it
    chose and with what probability, the reward, and what a learner may read of them."""

    models: list[str]
    group: str
    utilities: list[float]
    chosen: int
    propensity: float
    reward: float
    contexts: Contexts | None = None  # each candidate's, for a contextual learner
    weight: float = 1.0  # 1 / the decisions one conversation-level outcome was credited to


class OnlineModel(Protocol):
    """What the online policy and the learning loop need of an online layer."""

    params: BanditParams
    updates_: int

    #: True when it reads each candidate's context (:func:`selector.online.contextual.context`)
    contextual: bool

    def distribution(
        self,
        models: Sequence[str],
        group: str,
        utilities: Sequence[float],
        u: float,
        contexts: Contexts | None = None,
    ) -> tuple[list[float], list[float], int]:
        """Estimates, probabilities and the index drawn with ``u`` ∈ [0, 1)."""
        ...

    def learn(self, update: Update) -> None:
        """Learn one outcome (:class:`Update`), counted as ``update.weight`` of an
        observation (a share of a conversation's outcome)."""
        ...

    def state(self) -> dict[str, Any]: ...


class ResidualBandit:
    """Per-model and per-model × group corrections of the offline utility (module doc).

    Reads (:meth:`correction`) may run on any thread while one thread updates: each
    key's sums are replaced as one tuple.
    """

    contextual = False

    def __init__(self, params: BanditParams | None = None) -> None:
        self.params = params or BanditParams()
        self._keep = 1.0 - 1.0 / self.params.memory
        self._sums: dict[str, tuple[float, float]] = {}  # key → (S, W)
        self.updates_ = 0

    @staticmethod
    def _key(model: str, group: str | None = None) -> str:
        return model if group is None else f"{model}|{group}"

    def correction(self, model: str, group: str) -> float:
        """The learned correction of ``model``'s utility on intent group ``group``."""
        n0 = self.params.prior_weight
        s, w = self._sums.get(model, (0.0, 0.0))
        r_model = s / (w + n0)
        s, w = self._sums.get(f"{model}|{group}", (0.0, 0.0))
        return (s + n0 * r_model) / (w + n0)

    def distribution(
        self,
        models: Sequence[str],
        group: str,
        utilities: Sequence[float],
        u: float,
        contexts: Contexts | None = None,
    ) -> tuple[list[float], list[float], int]:
        """Corrected utilities, SquareCB's probabilities over them, and the draw ``u``
        (``contexts`` are not read)."""
        estimates = [x + self.correction(m, group) for m, x in zip(models, utilities, strict=True)]
        probs = squarecb(estimates, self.params.gamma, self.params.min_exploration)
        return estimates, probs, sample(probs, u)

    def learn(self, update: Update) -> None:
        u = update
        self.update(u.models[u.chosen], u.group, u.reward - u.utilities[u.chosen], u.weight)

    def update(self, model: str, group: str, residual: float, weight: float = 1.0) -> None:
        """Learn one outcome: ``residual`` = observed reward − the utility decided on,
        counted as ``weight`` of an observation (discounted as that share of one)."""
        if not math.isfinite(residual):
            raise ValueError(f"residual must be a finite number, got {residual!r}")
        if not 0 < weight <= 1:
            raise ValueError(f"weight must be in (0, 1], got {weight!r}")
        keep = self._keep**weight
        for key in (model, f"{model}|{group}"):
            s, w = self._sums.get(key, (0.0, 0.0))
            self._sums[key] = (keep * s + weight * residual, keep * w + weight)
        self.updates_ += 1

    # -- state ---------------------------------------------------------------------
    def state(self) -> dict[str, Any]:
        """JSON-ready state: parameters, sums, update count."""
        return {
            "params": self.params.as_state(),
            "sums": {k: [s, w] for k, (s, w) in sorted(self._sums.items())},
            "updates": self.updates_,
        }

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> ResidualBandit:
        """The bandit :meth:`state` describes (a ValueError names what is wrong)."""
        try:
            params = BanditParams(**state["params"])
            sums = {str(k): (float(v[0]), float(v[1])) for k, v in state["sums"].items()}
            updates = int(state["updates"])
        except (KeyError, TypeError, IndexError) as exc:
            raise ValueError(f"not a bandit state: {exc!r}") from exc
        bad = sorted(k for k, (s, w) in sums.items() if not (math.isfinite(s) and math.isfinite(w)))
        if bad:  # e.g. saved by a build that learned from an overflowing reward
            raise ValueError(f"not a usable bandit state: sums of {bad[:3]} are not finite")
        out = cls(params)
        out._sums, out.updates_ = sums, updates
        return out

    def table(self) -> dict[str, dict[str, float]]:
        """Discounted outcome count and mean residual per key (for ``selector bandit``)."""
        return {
            k: {"outcomes": round(w, 3), "mean_residual": round(s / w, 5) if w else 0.0}
            for k, (s, w) in sorted(self._sums.items())
        }
