"""``bandit-v2``'s online layer: per model, a ridge regression of the residual
``reward − utility`` on the request's context, and each candidate drawn with its
probability of being the best.

The offline policy scores each candidate with its *utility* (P(resolved) from the
quality model, expected cost, live latency and error rate). For each model ``m`` this
layer keeps a linear model of what the utility misses on the context ``x`` of a
request (:func:`selector.online.contexts.context`: the intent group, the conversation's length
and prompt tokens, escalation, priority, the offline P(resolved), the error rate and
latency):

    A(m) = Λ₀ + Σ wᵢ xᵢ xᵢᵀ,   b(m) = Σ wᵢ rᵢ xᵢ,   θ(m) = A(m)⁻¹ b(m)

where ``rᵢ`` are the residuals of the decisions that chose ``m``, ``Λ₀ = n₀ · I`` the
prior (a correction of 0, worth ``n₀ = ridge`` outcomes) and ``wᵢ`` discounts: every
outcome of ``m`` multiplies the older ones by ``1 − 1/memory``, so a model that
regresses loses its traffic after a few dozen outcomes however long it was good. An
outcome weighs 1, or 1/n when it is one of n decisions credited with their
conversation's outcome (one observation, not n, and discounted as one).
Beside them one *shared* regression, on the terms whose meaning all models share (not
the bias or the intent group), learns from every outcome what the models' own do not
explain: that the offline P(resolved)'s gaps are wrong in this world, say, which one
model's outcomes would take long to show.

Each eligible candidate's estimate is ``utility + (θ(m) + θ_shared) · x``, with the
standard deviation ``s · σ̂ · √(xᵀ A(m)⁻¹ x)`` (``σ̂`` the residuals' running standard
deviation, ``s`` the ``posterior_scale``). The candidate is drawn with its probability
of being the best under independent normal estimates — Thompson sampling's
probabilities, computed (:func:`probability_best`) instead of sampled — mixed with the
uniform floor ε: the probabilities are exact and logged. A model, or a kind of request,
with few outcomes behind it is tried as often as it may be the best, however wrong the
catalog's prior about it was, and no longer once the evidence says it is not.

The state is plain JSON (``A`` and ``b`` of each regression), never pickled; a replay
of the same outcomes in the same order gives the same state.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Sequence
from typing import Any

import numpy as np

from selector.online.bandit import BanditParams, Contexts, Update, sample
from selector.online.contexts import CONTEXT, DIM, GROUP_SLOTS

__all__ = ["ContextualBandit", "probability_best"]

_NOISE0, _NOISE_WEIGHT = 0.3**2, 20.0  # σ̂²'s prior and its weight, in outcomes
_GRID = 96  # points of the integral of P(best)
# the shared regression reads the terms whose meaning every model shares (what the
# offline P(resolved), latency, error rate, length mean), not the bias or the intent
# group: a model that fails on one group must not make the others look bad there
_SHARED_TERMS = np.array([0.0] * (1 + GROUP_SLOTS) + [1.0] * len(CONTEXT))
# Abramowitz & Stegun 7.1.26's coefficients
_A1, _A2, _A3 = 0.254829592, -0.284496736, 1.421413741
_A4, _A5, _P = -1.453152027, 1.061405429, 0.3275911


def _normal_tables() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """z, log Φ(z) and φ(z) on a fine grid: a decision interpolates them (one NumPy call
    each, where computing Φ takes twenty; SciPy is not loaded to serve). Φ to 1.5e-7
    (Abramowitz & Stegun 7.1.26); interpolated to about 2e-6."""
    z = np.linspace(-_Z_MAX, _Z_MAX, 4_097)
    x = np.abs(z) / math.sqrt(2.0)
    t = 1.0 / (1.0 + _P * x)
    poly = t * (_A1 + t * (_A2 + t * (_A3 + t * (_A4 + t * _A5))))
    half_tail = 0.5 * poly * np.exp(-x * x)
    cdf = np.where(z >= 0, 1.0 - half_tail, half_tail)
    return z, np.log(np.maximum(cdf, 1e-300)), np.exp(-0.5 * z * z)


_Z_MAX = 8.0
_Z, _LOG_CDF, _PDF = _normal_tables()
# log Φ as the real part and φ as the imaginary part: one interpolation reads both;
# beyond the grid log Φ keeps its end values and φ is 0
_TABLE = _LOG_CDF + 1j * _PDF
_LEFT, _RIGHT = complex(_LOG_CDF[0], 0.0), complex(_LOG_CDF[-1], 0.0)
_UNIT = np.linspace(0.0, 1.0, _GRID)


def probability_best(mean: np.ndarray, sd: np.ndarray) -> list[float]:
    """P(each candidate's value is the highest) when each is independently normal with
    ``mean`` and ``sd``: the probabilities Thompson sampling draws with, computed (on a
    grid of the integral ∫ φₐ(y) Πᵦ≠ₐ Φᵦ(y) dy) instead of sampled, so the draw made
    with them has an exact, logged propensity.

    It runs on every decision: log Φ and φ are read in one interpolation (the real and
    imaginary parts of one table), and what is a handful of numbers stays in Python.

    >>> [round(p, 3) for p in probability_best(np.array([0.5, 0.5]), np.array([0.1, 0.1]))]
    [0.5, 0.5]
    >>> [round(p, 3) for p in probability_best(np.array([0.9, 0.5]), np.array([0.01, 0.01]))]
    [1.0, 0.0]
    """
    k = len(mean)
    if k == 1:
        return [1.0]
    sd = np.maximum(sd, 1e-9)
    means, sds = mean.tolist(), sd.tolist()
    lo = min([m - 6.0 * s for m, s in zip(means, sds, strict=True)])
    hi = max([m + 6.0 * s for m, s in zip(means, sds, strict=True)])
    y = lo + (hi - lo) * _UNIT
    both = np.interp((y - mean[:, None]) / sd[:, None], _Z, _TABLE, left=_LEFT, right=_RIGHT)
    log_cdf = both.real
    others = np.exp(log_cdf.sum(axis=0) - log_cdf)
    mass = (np.einsum("kg,kg->k", both.imag, others) / sd).tolist()
    total = sum(mass)
    if not 0.0 < total < math.inf:  # degenerate: the best mean
        out = [0.0] * k
        out[int(np.argmax(mean))] = 1.0
        return out
    return [m / total for m in mass]


class ContextualBandit:
    """Per-model ridge regressions of the residual, and probability matching over their
    posteriors (module docstring). Decisions read a snapshot replaced whole by each update, so
    they may run on any thread while one thread learns."""

    contextual = True

    def __init__(self, params: BanditParams | None = None) -> None:
        self.params = params or BanditParams(learner="contextual")
        self._keep = 1.0 - 1.0 / self.params.memory
        self._prior = self.params.ridge * np.eye(DIM)
        self._fresh = (np.zeros(DIM), np.eye(DIM) / self.params.ridge)
        self._a: dict[str, np.ndarray] = {}
        self._b: dict[str, np.ndarray] = {}
        self._fit: dict[str, tuple[np.ndarray, np.ndarray]] = {}  # model → (θ, A⁻¹)
        self._shared_ab = (self._prior, np.zeros(DIM))  # (A, b) of the shared regression
        self._shared: np.ndarray = np.zeros(DIM)  # its θ
        # stacked θ and A⁻¹ per set of candidates, for the current fit
        self._stacks: dict[tuple[str, ...], tuple[np.ndarray, np.ndarray]] = {}
        self._noise = _NOISE0  # σ̂²: the residuals' variance around the estimates
        self._noise_weight = _NOISE_WEIGHT
        self._write = threading.Lock()
        self.updates_ = 0

    def estimates(
        self, models: Sequence[str], utilities: Sequence[float], contexts: Contexts
    ) -> tuple[np.ndarray, np.ndarray]:
        """Each candidate's corrected utility and the standard deviation of that estimate."""
        x = np.asarray(contexts, dtype=float)
        thetas, inverses = self._stacked(tuple(models))
        mean = np.asarray(utilities, dtype=float) + np.einsum("kd,kd->k", x, thetas)
        # xᵀ A⁻¹ x of each candidate: one batched product, then a row-wise dot
        spread = np.einsum("kd,kd->k", np.matmul(x[:, None, :], inverses)[:, 0, :], x)
        sd = math.sqrt(self._noise) * np.sqrt(np.maximum(spread, 1e-12))
        return mean, sd

    def _stacked(self, models: tuple[str, ...]) -> tuple[np.ndarray, np.ndarray]:
        """The candidates' θ (own + shared) and A⁻¹, stacked; kept per set of candidates
        until the next update replaces the cache with the fit."""
        cache = self._stacks
        found = cache.get(models)
        if found is None:
            fit, fresh, shared = self._fit, self._fresh, self._shared
            thetas = np.stack([fit.get(m, fresh)[0] + shared for m in models])
            inverses = np.stack([fit.get(m, fresh)[1] for m in models])
            found = cache[models] = (thetas, inverses)
        return found

    def distribution(
        self,
        models: Sequence[str],
        group: str,
        utilities: Sequence[float],
        u: float,
        contexts: Contexts | None = None,
    ) -> tuple[list[float], list[float], int]:
        """Estimates, each one's probability of being the best (mixed with ε), the draw."""
        if contexts is None:
            raise ValueError("the contextual learner needs each candidate's context")
        mean, sd = self.estimates(models, utilities, contexts)
        probs = probability_best(mean, self.params.posterior_scale * sd)
        floor, k = self.params.min_exploration, len(models)
        mixed = [(1.0 - floor) * p + floor / k for p in probs]
        return mean.tolist(), mixed, sample(mixed, u)

    def learn(self, update: Update) -> None:
        u = update
        if u.contexts is None:
            raise ValueError("the contextual learner needs the chosen model's context")
        residual = u.reward - u.utilities[u.chosen]
        self.update(u.models[u.chosen], u.contexts[u.chosen], residual, u.weight)

    def update(self, model: str, x: Sequence[float], residual: float, weight: float = 1.0) -> None:
        """Learn one outcome (``residual`` = reward − utility) of ``model`` on ``x``,
        weighing ``weight``: the shared regression first, then the model's own."""
        if not math.isfinite(residual):
            raise ValueError(f"residual must be a finite number, got {residual!r}")
        if not 0 < weight <= 1:
            raise ValueError(f"weight must be in (0, 1], got {weight!r}")
        v = np.asarray(x, dtype=float)
        if v.shape != (DIM,) or not np.all(np.isfinite(v)):
            raise ValueError(f"a context must be {DIM} finite numbers")
        with self._write:
            own = self._fit.get(model, self._fresh)[0]
            error = residual - float((own + self._shared) @ v)
            keep = self._keep**weight
            w = keep * self._noise_weight
            self._noise = (w * self._noise + weight * error * error) / (w + weight)
            self._noise_weight = w + weight
            a, b = self._shared_ab
            a, b = self._step(a, b, v * _SHARED_TERMS, residual - float(own @ v), weight)
            self._shared_ab = (a, b)
            shared = np.linalg.solve(a, b)
            a, b = self._step(
                self._a.get(model, self._prior),
                self._b.get(model, np.zeros(DIM)),
                v,
                residual - float(shared @ v),
                weight,
            )
            self._a[model], self._b[model] = a, b
            inverse = np.linalg.inv(a)
            fit = dict(self._fit)
            fit[model] = (inverse @ b, inverse)
            # replaced whole, never changed in place: a decision reads the old or the new
            self._fit, self._shared, self._stacks = fit, shared, {}
            self.updates_ += 1

    def _step(
        self, a: np.ndarray, b: np.ndarray, v: np.ndarray, target: float, weight: float
    ) -> tuple[np.ndarray, np.ndarray]:
        """One discounted ridge update of ``(A, b)`` with ``(v, target)``, weighing ``weight``."""
        keep = self._keep**weight
        return (
            keep * (a - self._prior) + self._prior + weight * np.outer(v, v),
            keep * b + weight * target * v,
        )

    # -- state ---------------------------------------------------------------------
    def state(self) -> dict[str, Any]:
        """JSON-ready state: parameters, ``A`` and ``b`` per model, update count."""
        with self._write:
            return {
                "params": self.params.as_state(),
                "dim": DIM,
                "shared": {
                    "a": self._shared_ab[0].tolist(),
                    "b": self._shared_ab[1].tolist(),
                },
                "models": {
                    m: {"a": self._a[m].tolist(), "b": self._b[m].tolist()} for m in sorted(self._a)
                },
                "noise": [self._noise, self._noise_weight],
                "updates": self.updates_,
            }

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> ContextualBandit:
        """The learner :meth:`state` describes (a ValueError names what is wrong)."""
        try:
            params = BanditParams(**state["params"])
            if int(state["dim"]) != DIM:
                raise ValueError(f"contexts of {state['dim']} terms, this build uses {DIM}")
            saved = {
                str(m): (np.asarray(v["a"], dtype=float), np.asarray(v["b"], dtype=float))
                for m, v in state["models"].items()
            }
            shared = state["shared"]
            shared_ab = (
                np.asarray(shared["a"], dtype=float),
                np.asarray(shared["b"], dtype=float),
            )
            noise, noise_weight = (float(v) for v in state["noise"])
            updates = int(state["updates"])
        except (KeyError, TypeError, IndexError) as exc:
            raise ValueError(f"not a contextual learner's state: {exc!r}") from exc
        if not (noise > 0.0 and noise_weight > 0.0 and math.isfinite(noise + noise_weight)):
            raise ValueError("not a usable contextual state: its noise is not a positive number")
        out = cls(params)
        for m, (a, b) in [*saved.items(), ("the shared regression", shared_ab)]:
            if a.shape != (DIM, DIM) or b.shape != (DIM,):
                raise ValueError(f"not a contextual learner's state: {m} has the wrong shape")
            if not (np.all(np.isfinite(a)) and np.all(np.isfinite(b))):
                raise ValueError(f"not a usable contextual state: {m}'s sums are not finite")
        for m, (a, b) in saved.items():
            out._a[m], out._b[m] = a, b
            inverse = np.linalg.inv(a)
            out._fit[m] = (inverse @ b, inverse)
        out._shared_ab = shared_ab
        out._shared = np.linalg.solve(*shared_ab)
        out._stacks = {}
        out._noise, out._noise_weight = noise, noise_weight
        out.updates_ = updates
        return out

    def table(self) -> dict[str, dict[str, float]]:
        """Per model: discounted outcomes and the mean residual its regression learned
        from (for ``selector bandit``)."""
        out = {}
        for m in sorted(self._a):
            outcomes = float(self._a[m][0, 0] - self.params.ridge)
            mean = float(self._b[m][0]) / outcomes if outcomes > 0 else 0.0
            out[m] = {"outcomes": round(outcomes, 3), "mean_residual": round(mean, 5)}
        return out
