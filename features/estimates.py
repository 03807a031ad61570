"""A model's latency and error rate as the decisions see them: the catalog's prior,
shrunk toward the calls seen, with how much evidence stands behind them.

Latencies are taken as log-normal. The catalog's ``expected_latency_ms`` is the prior
median, its p95 twice that (a log-spread ``σ₀ = ln 2 / 1.645``); how far the prior may
be off is ``prior_sd``, the standard deviation of the log of the true median around it
(0.6: the truth within ×⅓ to ×3 of the guess nine times in ten). Each call adds to
exponentially discounted sums of its log latency (weight ``W``, the *evidence*, in
calls; each call multiplies the old sums by ``1 − 1/memory``, and the evidence halves
every ``half_life_s`` seconds, so a model not called for a while is judged on its
prior again), and the estimate is the precision-weighted mean of prior and data:

    μ = (n₀ · ln prior + W · mean) / (n₀ + W),       σ² = (n₀ · σ₀² + W · var) / (n₀ + W)
    p50 = e^μ,   p95 = e^(μ + 1.645 σ),   sd(μ) = (1 / prior_sd² + W / σ²)^(−½)

with ``n₀ = prior_weight`` calls. The error rate shrinks the same way from a prior of
``prior_error_rate`` worth ``error_weight`` calls: ``(n₀ · e₀ + errors) / (n₀ + calls)``
(discounted alike), so one failed call among three does not read as a third of calls
failing. One call cannot replace the prior: its log is first
clipped to within ``ln 10`` of the current estimate, so a single ``latency_ms: 1e308``,
or one long timeout, moves the median by at most ×10^(1/(n₀+1)).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

__all__ = ["PRIOR_SD", "Z95", "EstimateConfig", "LatencyEstimate", "LogLatency", "p_above"]

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


@dataclass(frozen=True, slots=True)
class LatencyEstimate:
    """What a decision reads: median and p95 in ms, the sd of the log median, the
    discounted number of calls behind them, and the error rate."""

    p50_ms: float
    p95_ms: float
    sd: float
    evidence: float
    error_rate: float = 0.0


class LogLatency:
    """The running estimate of one model's latency (module docstring)."""

    __slots__ = (
        "_keep",
        "calls",
        "config",
        "errors",
        "last_s",
        "log_prior",
        "mean",
        "sq",
        "weight",
    )

    def __init__(self, prior_ms: float, config: EstimateConfig | None = None) -> None:
        if not (math.isfinite(prior_ms) and prior_ms > 0.0):
            raise ValueError(f"the prior latency must be a positive number, got {prior_ms!r}")
        self.config = config or EstimateConfig()
        self.log_prior = math.log(prior_ms)
        self._keep = 1.0 - 1.0 / self.config.memory
        # W; the discounted mean of the clipped log latencies and of their squares; the
        # discounted calls, failed or not, and failed; when the last call was learned
        self.weight = self.mean = self.sq = self.calls = self.errors = 0.0
        self.last_s = -math.inf

    def reset(self) -> None:
        """Forget every call: back to the prior."""
        self.weight = self.mean = self.sq = self.calls = self.errors = 0.0
        self.last_s = -math.inf

    def _fade(self, now: float | None) -> float:
        """The factor time has taken off the evidence since the last call."""
        if now is None or not math.isfinite(self.last_s) or now <= self.last_s:
            return 1.0
        return float(0.5 ** ((now - self.last_s) / self.config.half_life_s))

    def _mu_sigma2(self, fade: float = 1.0) -> tuple[float, float]:
        n0, w = self.config.prior_weight, self.weight * fade
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
        if at is not None:
            self.last_s = at
        if latency_ms is not None:
            self.add(latency_ms)

    def error_rate(self, fade: float = 1.0) -> float:
        cfg = self.config
        w = cfg.error_weight
        return (w * cfg.prior_error_rate + self.errors * fade) / (w + self.calls * fade)

    def add(self, latency_ms: float) -> None:
        """Learn one call's latency (a non-positive or non-finite one is ignored)."""
        if not (math.isfinite(latency_ms) and latency_ms > 0.0):
            return
        mu, _ = self._mu_sigma2()
        x = min(max(math.log(latency_ms), mu - _CLIP), mu + _CLIP)
        w = self._keep * self.weight
        total = w + 1.0
        self.mean = (w * self.mean + x) / total
        self.sq = (w * self.sq + x * x) / total
        self.weight = total

    def estimate(self, now: float | None = None) -> LatencyEstimate:
        """The estimate at time ``now`` (s; None: as of the last call)."""
        fade = self._fade(now)
        mu, sigma2 = self._mu_sigma2(fade)
        sigma = math.sqrt(sigma2)
        evidence = self.weight * fade
        precision = 1.0 / self.config.prior_sd**2 + evidence / max(sigma2, 1e-6)
        return LatencyEstimate(
            p50_ms=math.exp(mu),
            p95_ms=math.exp(mu + Z95 * sigma),
            sd=1.0 / math.sqrt(precision),
            evidence=evidence,
            error_rate=self.error_rate(fade),
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
