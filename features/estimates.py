"""A model's latency and error rate as the decisions see them: the catalog's prior,
shrunk toward the calls seen, with how much evidence stands behind them.

Latencies are taken as log-normal. The catalog's ``expected_latency_ms`` is the prior
median, its p95 twice that (a log-spread ``σ₀ = ln 2 / 1.645``); how far the prior may
be off is ``prior_sd``, the standard deviation of the log of the true median around it
(0.6: the truth within ×⅓ to ×3 of the guess nine times in ten). Each call adds to
exponentially discounted sums of its log latency (weight ``W``, the *evidence*, in
calls; each call multiplies the old sums by ``1 − 1/memory``), and the estimate is the
precision-weighted mean of prior and data:

    μ = (n₀ · ln prior + W · mean) / (n₀ + W),       σ² = (n₀ · σ₀² + W · var) / (n₀ + W)
    p50 = e^μ,   p95 = e^(μ + 1.645 σ),   sd(μ) = (1 / prior_sd² + W_t / σ²)^(−½)

with ``n₀ = prior_weight`` calls. The error rate shrinks the same way from a prior of
``prior_error_rate`` worth ``error_weight`` calls: ``(n₀ · e₀ + errors) / (n₀ + calls)``
(discounted alike), so one failed call among three does not read as a third of calls
failing.

**Time takes evidence away, not the level.** The evidence a decision reads, ``W_t``,
halves every ``half_life_s`` seconds since the last call: a model not called for a while
is judged on a guess again (its ``sd`` grows back toward ``prior_sd``, and with fewer
than the probes' ``evidence`` calls behind it the policy offers it probe traffic), but
its median, p95 and error rate stay where its last calls left them. A model left for an
incident is not taken back because time passed; the next calls say whether the trouble
is over, and with so little evidence left each of them moves the estimate a long way.

**A change of level starts the evidence over.** The last ``shift_calls`` (5) log
latencies are kept; when their mean is away from the log median estimated before them by
``ln shift_ratio`` (×2) or more, and by ``shift_sd`` (4) standard errors of their mean
(at the spread the calls before them had, shrunk toward the prior's: a model whose
latencies spread widely needs a wider change), the model has
changed (a provider slowed down, or came back): the latency sums restart from the latest
calls nearer the new level than the old. Beside the error sums, fast ones remember about
``shift_memory`` calls (10); when their rate is ``shift_error`` (0.2) or more away from
the slow one (above or below), after at least half that many calls, the error sums
restart from them. A model
in trouble is seen in a few calls instead of the hundreds a 200-call memory needs to
move, and so is its recovery. The estimate says ``worse`` from a change for the worse
until its level is back near the one before it: a median within ×√2 of it, the last
``shift_memory`` calls failing within ``shift_error / 2`` of the rate before. The
policies read it to keep probing a model they avoid for its trouble
(:mod:`selector.policy.constraints`).

One call cannot replace the prior: its log is first
clipped to within ``ln 10`` of the current estimate, so a single ``latency_ms: 1e308``,
or one long timeout, moves the median by at most ×10^(1/(n₀+1)).
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass

__all__ = [
    "PRIOR_SD",
    "Z95",
    "EstimateConfig",
    "LatencyEstimate",
    "LogLatency",
    "p_above",
    "p_slower",
]

Z95 = 1.6448536269514722  # the standard normal's 95th percentile
_SIGMA0 = math.log(2.0) / Z95  # the prior's p95 is twice its median
_CLIP = math.log(10.0)
PRIOR_SD = 0.6  # the default sd of ln(true median / catalog median)


@dataclass(frozen=True)
class EstimateConfig:
    prior_weight: float = 3.0  # n₀: the prior's weight, in calls
    prior_sd: float = PRIOR_SD  # sd of ln(true median / catalog median)
    memory: float = 200.0  # calls: the discount per call is 1 − 1/memory
    half_life_s: float = 900.0  # and the evidence halves every half_life_s seconds
    prior_error_rate: float = 0.01
    error_weight: float = 20.0  # the prior error rate's weight, in calls
    shift_calls: int = 5  # the latest calls a change of latency is judged on
    shift_ratio: float = 2.0  # ... when their median is this far from the estimate's
    shift_sd: float = 4.0  # ... and this many standard errors of their mean
    shift_memory: float = 10.0  # calls the fast error sums remember
    shift_error: float = 0.2  # a fast error rate this far above the slow one is a change

    def __post_init__(self) -> None:
        for name in ("prior_weight", "prior_sd"):
            if not getattr(self, name) > 0.0:
                raise ValueError(f"{name} must be > 0, got {getattr(self, name)}")
        if not self.memory >= 1.0:
            raise ValueError(f"memory must be ≥ 1 call, got {self.memory}")
        if not self.half_life_s > 0.0:
            raise ValueError(f"half_life_s must be > 0, got {self.half_life_s}")
        if not 0.0 <= self.prior_error_rate <= 1.0:
            raise ValueError(f"prior_error_rate must be in [0, 1], got {self.prior_error_rate}")
        if not self.error_weight > 0.0:
            raise ValueError(f"error_weight must be > 0, got {self.error_weight}")
        if not 1.0 <= self.shift_memory <= self.memory:
            raise ValueError(f"shift_memory must be in [1, memory], got {self.shift_memory}")
        if not self.shift_calls >= 2:
            raise ValueError(f"shift_calls must be ≥ 2, got {self.shift_calls}")
        if not self.shift_sd > 0.0:
            raise ValueError(f"shift_sd must be > 0, got {self.shift_sd}")
        if not self.shift_ratio > 1.0:
            raise ValueError(f"shift_ratio must be > 1, got {self.shift_ratio}")
        if not 0.0 < self.shift_error <= 1.0:
            raise ValueError(f"shift_error must be in (0, 1], got {self.shift_error}")


@dataclass(frozen=True, slots=True)
class LatencyEstimate:
    """What a decision reads: median and p95 in ms, the sd of the log median, the
    discounted number of calls behind them, and the error rate."""

    p50_ms: float
    p95_ms: float
    sd: float
    evidence: float
    error_rate: float = 0.0
    worse: bool = (
        False  # the last change of latency or of errors its calls showed was for the worse
    )


class LogLatency:
    """The running estimate of one model's latency (module docstring)."""

    __slots__ = (
        "_fast_keep",
        "_keep",
        "_shift",
        "calls",
        "config",
        "errors",
        "fail_from",
        "failing",
        "fast",
        "last_s",
        "log_prior",
        "mean",
        "recent",
        "slow_from",
        "slowed",
        "sq",
        "weight",
    )

    def __init__(self, prior_ms: float, config: EstimateConfig | None = None) -> None:
        if not (math.isfinite(prior_ms) and prior_ms > 0.0):
            raise ValueError(f"the prior latency must be a positive number, got {prior_ms!r}")
        self.config = config or EstimateConfig()
        self.log_prior = math.log(prior_ms)
        self._keep = 1.0 - 1.0 / self.config.memory
        self._fast_keep = 1.0 - 1.0 / self.config.shift_memory
        self._shift = math.log(self.config.shift_ratio)
        # W; the discounted mean of the clipped log latencies and of their squares; the
        # discounted calls, failed or not, and failed; when the last call was learned
        self.weight = self.mean = self.sq = self.calls = self.errors = 0.0
        self.last_s = -math.inf
        # the discounted calls and failed calls of about the last shift_memory calls
        self.fast = [0.0, 0.0]
        # the latest log latencies, each with (weight, mean, sq) as they were before it
        self.recent: deque[tuple[float, float, float, float]] = deque(
            maxlen=self.config.shift_calls
        )
        # in trouble: slower, or failing more, than before the last change for the worse
        # (the log median and error rate before it): until the level is back near them
        self.slowed = self.failing = False
        self.slow_from = self.fail_from = 0.0

    def reset(self) -> None:
        """Forget every call: back to the prior."""
        self.weight = self.mean = self.sq = self.calls = self.errors = 0.0
        self.last_s = -math.inf
        self.fast = [0.0, 0.0]
        self.recent.clear()
        self.slowed = self.failing = False

    def _fade(self, now: float | None) -> float:
        """The factor time has taken off the evidence since the last call."""
        if now is None or not math.isfinite(self.last_s) or now <= self.last_s:
            return 1.0
        return float(0.5 ** ((now - self.last_s) / self.config.half_life_s))

    def _mu_sigma2(self) -> tuple[float, float]:
        n0, w = self.config.prior_weight, self.weight
        mu = (n0 * self.log_prior + w * self.mean) / (n0 + w)
        var = max(0.0, self.sq - self.mean * self.mean)
        return mu, (n0 * _SIGMA0 * _SIGMA0 + w * var) / (n0 + w)

    def add_call(self, latency_ms: float | None, error: bool, at: float | None = None) -> None:
        """Learn one call made at ``at`` (s): whether it failed, and its latency when
        reported."""
        fade = self._fade(at)
        self.weight *= fade
        keep = self._keep * fade
        self.calls = keep * self.calls + 1.0
        self.errors = keep * self.errors + (1.0 if error else 0.0)
        fast, cfg = self.fast, self.config
        fast_keep = self._fast_keep * fade
        fast[0] = fast_keep * fast[0] + 1.0
        fast[1] = fast_keep * fast[1] + (1.0 if error else 0.0)
        change = fast[1] / fast[0] - self.errors / self.calls
        if fast[0] >= 0.5 * cfg.shift_memory and abs(change) >= cfg.shift_error:
            if change > 0.0 and not self.failing:
                self.failing, self.fail_from = True, self.errors / self.calls
            self.calls, self.errors = fast[0], fast[1]  # a new level of errors
        if self.failing and fast[1] / fast[0] < self.fail_from + 0.5 * cfg.shift_error:
            self.failing = False  # the last calls fail about as often as before it
        if at is not None:
            self.last_s = at
        if latency_ms is not None:
            self.add(latency_ms)

    def error_rate(self) -> float:
        cfg = self.config
        w = cfg.error_weight
        return (w * cfg.prior_error_rate + self.errors) / (w + self.calls)

    def add(self, latency_ms: float) -> None:
        """Learn one call's latency (a non-positive or non-finite one is ignored)."""
        if not (math.isfinite(latency_ms) and latency_ms > 0.0):
            return
        mu, _ = self._mu_sigma2()
        x = min(max(math.log(latency_ms), mu - _CLIP), mu + _CLIP)
        recent = self.recent
        recent.append((x, self.weight, self.mean, self.sq))  # with the sums before it
        w = self._keep * self.weight
        total = w + 1.0
        self.mean = (w * self.mean + x) / total
        self.sq = (w * self.sq + x * x) / total
        self.weight = total
        n = len(recent)
        if n == recent.maxlen:
            level = sum(r[0] for r in recent) / n
            # the estimate before these calls: its log median and its spread
            _, w0, mean0, sq0 = recent[0]
            n0 = self.config.prior_weight
            before = (n0 * self.log_prior + w0 * mean0) / (n0 + w0)
            spread = (n0 * _SIGMA0 * _SIGMA0 + w0 * max(0.0, sq0 - mean0 * mean0)) / (n0 + w0)
            shift = max(self._shift, self.config.shift_sd * math.sqrt(spread / n))
            if abs(level - before) >= shift:
                self._restart(before, level)
        if self.slowed and self._mu_sigma2()[0] - self.slow_from < 0.5 * self._shift:
            self.slowed = False  # back within ×√2 of the level before the trouble

    def _restart(self, old: float, new: float) -> None:
        """A new level ``new`` (log ms) of latency, away from ``old``: the evidence is the
        latest calls nearer to it than to the old one; a change up starts a trouble
        (:meth:`add` says when it ends)."""
        if new > old and not self.slowed:
            self.slowed, self.slow_from = True, old
        kept: list[float] = []
        for x, *_ in reversed(self.recent):
            if abs(x - new) >= abs(x - old):
                break
            kept.append(x)
        n = len(kept)
        self.weight = float(n)
        self.mean = sum(kept) / n if n else 0.0
        self.sq = sum(x * x for x in kept) / n if n else 0.0
        self.recent.clear()

    def estimate(self, now: float | None = None) -> LatencyEstimate:
        """The estimate at time ``now`` (s; None: as of the last call): the level of the
        last calls, with the evidence time has left of them."""
        mu, sigma2 = self._mu_sigma2()
        sigma = math.sqrt(sigma2)
        evidence = self.weight * self._fade(now)
        precision = 1.0 / self.config.prior_sd**2 + evidence / max(sigma2, 1e-6)
        return LatencyEstimate(
            p50_ms=math.exp(mu),
            p95_ms=math.exp(mu + Z95 * sigma),
            sd=1.0 / math.sqrt(precision),
            evidence=evidence,
            error_rate=self.error_rate(),
            worse=self.slowed or self.failing,
        )


def p_above(p95_ms: float, sd: float, limit_ms: float) -> float:
    """P(a p95 estimated at ``p95_ms``, with log standard deviation ``sd``, truly
    exceeds ``limit_ms``).

    >>> p_above(2000.0, 0.0, 3000.0), p_above(4000.0, 0.0, 3000.0)
    (0.0, 1.0)
    >>> round(p_above(3000.0, 0.5, 3000.0), 3)
    0.5
    """
    if limit_ms <= 0.0:
        return 1.0
    if sd <= 0.0:
        return 1.0 if p95_ms > limit_ms else 0.0
    z = (math.log(p95_ms) - math.log(limit_ms)) / sd
    return 0.5 * math.erfc(-z / math.sqrt(2.0))


def p_slower(p50_ms: float, p95_ms: float, limit_ms: float) -> float:
    """P(one call takes longer than ``limit_ms``) when its latency is log-normal with
    median ``p50_ms`` and 95th percentile ``p95_ms``.

    >>> round(p_slower(1000.0, 2000.0, 2000.0), 3), round(p_slower(1000.0, 2000.0, 1000.0), 3)
    (0.05, 0.5)
    >>> p_slower(1000.0, 1000.0, 999.0), p_slower(1000.0, 1000.0, 1001.0)
    (1.0, 0.0)
    """
    if limit_ms <= 0.0:
        return 1.0
    if not p50_ms > 0.0:
        return 0.0
    sigma = math.log(p95_ms / p50_ms) / Z95 if p95_ms > p50_ms else 0.0
    if sigma <= 0.0:
        return 1.0 if p50_ms > limit_ms else 0.0
    z = (math.log(limit_ms) - math.log(p50_ms)) / sigma
    return 0.5 * math.erfc(z / math.sqrt(2.0))
