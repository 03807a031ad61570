"""Live latency and health of each model, fed by call results from feedback.

Per model: rolling p50/p95 latency and error rate over a time window (bounded in
samples), the estimate decisions read (:mod:`features.estimates`: the catalog's prior
shrunk toward the calls seen, with its evidence; the window's own figures once it holds
``min_samples`` calls), and a circuit breaker:

- **closed** — the model is eligible. The circuit opens when, with at least
  ``min_samples`` calls in the window, the error rate reaches ``error_rate`` or the
  p95 latency passes the model's SLO.
- **open** — the model is not eligible, until ``cooldown_s`` has passed.
- **half-open** — the model is eligible for one probe. When a decision picks it, no
  other decision may until the probe's result arrives (or ``probe_timeout_s`` passes).
  A successful probe (no error, latency within the SLO) closes the circuit and clears
  the window and the estimate (back to the prior), so the slow samples of the incident
  do not reopen it or keep it from being chosen; a failed one
  reopens it for another cool-down.

The decision path only reads cached figures; they are recomputed when a result
arrives and, as the window slides, at most once a second. The window's latencies are
kept sorted as results come and go, so recording one costs a binary search and a short
move, not a sort of up to ``max_samples`` values.
"""

from __future__ import annotations

import bisect
import logging
import math
import time
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import TypeGuard

from core.limits import LATENCY_MS_MAX
from features.estimates import EstimateConfig, LatencyEstimate, LogLatency

__all__ = ["CLOSED", "HALF_OPEN", "OPEN", "BreakerConfig", "LatencyTracker", "ModelHealth"]

log = logging.getLogger("selector.circuit")

CLOSED, HALF_OPEN, OPEN = 0, 1, 2
STATE_NAMES = {CLOSED: "closed", HALF_OPEN: "half_open", OPEN: "open"}
_REFRESH_S = 1.0


@dataclass(frozen=True)
class BreakerConfig:
    window_s: float = 300.0
    max_samples: int = 2_000
    min_samples: int = 20
    error_rate: float = 0.5
    cooldown_s: float = 30.0
    probe_timeout_s: float = 60.0


@dataclass(frozen=True, slots=True)
class ModelHealth:
    """What the decision path reads about one model."""

    p50_ms: float | None
    p95_ms: float | None
    error_rate: float
    samples: int
    state: int
    probing: bool = False
    # what decisions read (:mod:`features.estimates`): the prior shrunk toward the calls
    # seen, or the window's figures once it holds ``min_samples`` calls
    estimate: LatencyEstimate | None = None

    @property
    def state_name(self) -> str:
        return STATE_NAMES[self.state]


@dataclass
class _Model:
    slo_ms: float
    name: str = ""
    latency: LogLatency | None = None  # None: no prior given
    samples: deque[tuple[float, float | None, bool]] = field(default_factory=deque)
    # the window's latencies kept sorted and its errors counted as samples come and go,
    # so a result costs a binary search, not a sort of the window
    sorted_ms: list[float] = field(default_factory=list)
    errors: int = 0
    health: ModelHealth = ModelHealth(None, None, 0.0, 0, CLOSED)
    computed_at: float = float("-inf")
    state: int = CLOSED
    opened_at: float = 0.0
    probe_sent_at: float | None = None


class LatencyTracker:
    """Rolling latency/error statistics and a circuit breaker for each model."""

    def __init__(
        self,
        slos: dict[str, float],
        config: BreakerConfig | None = None,
        clock: Callable[[], float] = time.time,
        priors: dict[str, float] | None = None,
        estimates: EstimateConfig | None = None,
    ) -> None:
        """``slos``: each model's p95 objective; ``priors``: each model's expected
        latency (the catalog's), the start of its estimate."""
        self.config = config or BreakerConfig()
        self.clock = clock
        priors = priors or {}
        self._models = {
            name: _Model(
                slo_ms=slo,
                name=name,
                latency=LogLatency(priors[name], estimates) if name in priors else None,
            )
            for name, slo in slos.items()
        }

    def record(
        self, model: str, latency_ms: float | None, error: bool, at: float | None = None
    ) -> None:
        """Feed one call result. Unknown models are ignored (the catalog may have changed)."""
        m = self._models.get(model)
        if m is None:
            return
        now = self.clock() if at is None else at
        cfg = self.config
        self._advance(m, now)
        if m.state == HALF_OPEN:
            ok = not error and (latency_ms is None or latency_ms <= m.slo_ms)
            if ok:
                m.state, m.probe_sent_at = CLOSED, None
                m.samples.clear()
                m.sorted_ms.clear()
                m.errors = 0
                if m.latency is not None:  # the incident's calls do not describe it now
                    m.latency.reset()
                log.info("circuit of %s closed: the probe succeeded", model, extra={"model": model})
            else:
                m.state, m.opened_at, m.probe_sent_at = OPEN, now, None
                log.info(
                    "circuit of %s opened again: the probe failed",
                    model,
                    extra={"model": model, "latency_ms": latency_ms, "error": error},
                )
        m.samples.append((now, latency_ms, error))
        if latency_ms is not None:
            bisect.insort(m.sorted_ms, latency_ms)
        if m.latency is not None:
            m.latency.add_call(latency_ms, error, now)
        m.errors += error
        if len(m.samples) > cfg.max_samples:
            _drop_oldest(m)
        self._recompute(m, now)
        if m.state == CLOSED and m.health.samples >= cfg.min_samples:
            p95 = m.health.p95_ms
            if m.health.error_rate >= cfg.error_rate or (p95 is not None and p95 > m.slo_ms):
                m.state, m.opened_at = OPEN, now
                self._recompute(m, now)
                log.info(
                    "circuit of %s opened: error rate %.2f, p95 %s ms (SLO %g ms) over %d calls",
                    model,
                    m.health.error_rate,
                    "n/a" if p95 is None else f"{p95:.0f}",
                    m.slo_ms,
                    m.health.samples,
                    extra={"model": model, "error_rate": m.health.error_rate, "p95_ms": p95},
                )

    def warm(self, results: Iterable[tuple[object, object, object, object]]) -> tuple[int, int]:
        """Feed stored call results ``(ts, model, latency_ms, error)``, oldest first,
        skipping unusable ones; returns how many were fed and skipped."""
        fed = skipped = 0
        for ts, model, latency_ms, error in results:
            if not (_number(ts) and isinstance(model, str)):
                skipped += 1
            elif latency_ms is None:
                self.record(model, None, bool(error), at=ts)
                fed += 1
            elif _number(latency_ms) and 0 <= latency_ms <= LATENCY_MS_MAX:
                self.record(model, latency_ms, bool(error), at=ts)
                fed += 1
            else:
                skipped += 1
        return fed, skipped

    def health(self, model: str, now: float | None = None) -> ModelHealth:
        """Current figures and circuit state of ``model``."""
        m = self._models[model]
        now = self.clock() if now is None else now
        self._advance(m, now)
        if now - m.computed_at >= _REFRESH_S:
            self._recompute(m, now)
        return m.health

    def on_selected(self, model: str, now: float | None = None) -> None:
        """A decision picked ``model``: if its circuit is half-open, that call is the probe."""
        m = self._models.get(model)
        if m is None:
            return
        now = self.clock() if now is None else now
        self._advance(m, now)
        if m.state == HALF_OPEN and m.probe_sent_at is None:
            m.probe_sent_at = now
            m.computed_at = float("-inf")

    def models(self) -> Iterable[str]:
        return self._models.keys()

    def _advance(self, m: _Model, now: float) -> None:
        """Time-driven transitions: open → half-open after the cool-down; a probe times out."""
        if m.state == OPEN and now - m.opened_at >= self.config.cooldown_s:
            m.state = HALF_OPEN
            m.computed_at = float("-inf")
            log.info("circuit of %s half-open: one probe may go", m.name, extra={"model": m.name})
        if m.probe_sent_at is not None and now - m.probe_sent_at >= self.config.probe_timeout_s:
            m.probe_sent_at = None
            m.computed_at = float("-inf")

    def _recompute(self, m: _Model, now: float) -> None:
        horizon = now - self.config.window_s
        while m.samples and m.samples[0][0] < horizon:
            _drop_oldest(m)
        n = len(m.samples)
        p50, p95 = percentile(m.sorted_ms, 50), percentile(m.sorted_ms, 95)
        estimate = None
        if m.latency is not None:
            estimate = m.latency.estimate(now)
            if n >= self.config.min_samples:  # enough calls in the window: its own figures
                estimate = LatencyEstimate(
                    p50 if p50 is not None else estimate.p50_ms,
                    p95 if p95 is not None else estimate.p95_ms,
                    estimate.sd,
                    estimate.evidence,
                    m.errors / n,
                )
        m.health = ModelHealth(
            p50_ms=p50,
            p95_ms=p95,
            error_rate=m.errors / n if n else 0.0,
            samples=n,
            state=m.state,
            probing=m.probe_sent_at is not None,
            estimate=estimate,
        )
        m.computed_at = now


def _drop_oldest(m: _Model) -> None:
    _, latency_ms, error = m.samples.popleft()
    if latency_ms is not None:
        del m.sorted_ms[bisect.bisect_left(m.sorted_ms, latency_ms)]
    m.errors -= error


def _number(v: object) -> TypeGuard[float]:
    return isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v)


def percentile(ordered: list[float], q: float) -> float | None:
    """The ``q``-th percentile of sorted values, interpolated as NumPy's default does.

    >>> percentile([10.0, 20.0, 30.0, 40.0], 50)
    25.0
    >>> percentile([10.0, 20.0, 30.0, 40.0], 95)
    38.5
    >>> percentile([], 50) is None
    True
    """
    if not ordered:
        return None
    pos = (len(ordered) - 1) * q / 100.0
    lo = int(pos)
    hi = min(lo + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (pos - lo)
