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
  With ``shared_probes`` (replicas sharing one log), the model is eligible only once
  this replica holds the probe's lease (:meth:`LatencyTracker.wanted`,
  :meth:`LatencyTracker.grant`): one replica probes, the others learn its result from
  the log.
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
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import TypeGuard

from core.limits import LATENCY_MS_MAX
from features.estimates import EstimateConfig, LatencyEstimate, LogLatency
from selector.live_window import (
    CLOSED,
    HALF_OPEN,
    OPEN,
    ModelHealth,
    ModelWindow,
    drop_oldest,
    percentile,
)

__all__ = ["CLOSED", "HALF_OPEN", "OPEN", "BreakerConfig", "LatencyTracker", "ModelHealth"]

log = logging.getLogger(__name__)

_REFRESH_S = 1.0


@dataclass(frozen=True)
class BreakerConfig:
    window_s: float = 300.0
    max_samples: int = 2_000
    min_samples: int = 20
    error_rate: float = 0.5
    cooldown_s: float = 30.0
    probe_timeout_s: float = 60.0


class LatencyTracker:
    """Rolling latency/error statistics and a circuit breaker for each model."""

    def __init__(
        self,
        slos: dict[str, float],
        config: BreakerConfig | None = None,
        clock: Callable[[], float] = time.time,
        priors: dict[str, float] | None = None,
        estimates: EstimateConfig | None = None,
        shared_probes: bool = False,
    ) -> None:
        """``slos``: each model's p95 objective; ``priors``: each model's expected
        latency (the catalog's), the start of its estimate; ``shared_probes``: a
        half-open model waits for the probe's lease (replicas)."""
        self.config = config or BreakerConfig()
        self.clock = clock
        self.shared_probes = shared_probes
        self._released: list[str] = []
        priors = priors or {}
        self._models = {
            name: ModelWindow(
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
            m.lease_wanted = False
            if m.lease_held:
                m.lease_held = False
                self._released.append(model)
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
            drop_oldest(m)
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

    def healths(self, models: Sequence[str], now: float | None = None) -> list[ModelHealth]:
        """:meth:`health` of each of ``models``, at one time (a decision's candidates)."""
        now = self.clock() if now is None else now
        return [self.health(m, now) for m in models]

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

    def wanted(self, now: float | None = None) -> list[str]:
        """Shared probes: the half-open models waiting for the probe's lease."""
        now = self.clock() if now is None else now
        for m in self._models.values():
            self._advance(m, now)
        return [n for n, m in self._models.items() if m.lease_wanted and m.state == HALF_OPEN]

    def grant(self, model: str) -> None:
        """Shared probes: this replica holds ``model``'s probe lease; one decision may
        pick it."""
        m = self._models.get(model)
        if m is not None and m.state == HALF_OPEN and m.lease_wanted:
            m.lease_wanted, m.lease_held, m.probe_sent_at = False, True, None
            m.computed_at = float("-inf")

    def released(self) -> list[str]:
        """Shared probes: the models whose probe this replica held and that has ended
        (their leases can go), since the last call."""
        out, self._released = self._released, []
        return out

    def _advance(self, m: ModelWindow, now: float) -> None:
        """Time-driven transitions: open → half-open after the cool-down; a probe times out."""
        if m.state == OPEN and now - m.opened_at >= self.config.cooldown_s:
            m.state = HALF_OPEN
            m.computed_at = float("-inf")
            self._await_lease(m, now)
            log.info("circuit of %s half-open: one probe may go", m.name, extra={"model": m.name})
        if m.probe_sent_at is not None and now - m.probe_sent_at >= self.config.probe_timeout_s:
            m.probe_sent_at = None
            m.computed_at = float("-inf")
            if m.state == HALF_OPEN:
                self._await_lease(m, now)

    def _await_lease(self, m: ModelWindow, now: float) -> None:
        """Shared probes: no decision here may probe ``m`` before this replica holds the
        lease (it counts as a probe in flight meanwhile)."""
        if self.shared_probes:
            if m.lease_held:
                m.lease_held = False
                self._released.append(m.name)
            m.lease_wanted, m.probe_sent_at = True, now

    def _recompute(self, m: ModelWindow, now: float) -> None:
        horizon = now - self.config.window_s
        while m.samples and m.samples[0][0] < horizon:
            drop_oldest(m)
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
                    estimate.worse,
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


def _number(v: object) -> TypeGuard[float]:
    return isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v)
