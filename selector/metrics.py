"""Prometheus metrics of one service instance (its own registry: no globals)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from selector.latency import LatencyTracker
from selector.online import OnlineLearner

__all__ = ["ServiceMetrics"]

DECISION_BUCKETS = (25e-6, 50e-6, 100e-6, 250e-6, 500e-6, 1e-3, 2.5e-3, 5e-3, 10e-3, 50e-3)


class _LiveCollector(Collector):
    def __init__(self, tracker: LatencyTracker) -> None:
        self.tracker = tracker

    def collect(self) -> Iterator[GaugeMetricFamily]:
        p50 = GaugeMetricFamily(
            "selector_model_latency_p50_ms", "Live p50 latency", labels=["model"]
        )
        p95 = GaugeMetricFamily(
            "selector_model_latency_p95_ms", "Live p95 latency", labels=["model"]
        )
        err = GaugeMetricFamily("selector_model_error_rate", "Live error rate", labels=["model"])
        state = GaugeMetricFamily(
            "selector_model_circuit_state",
            "Circuit breaker state: 0 closed, 1 half-open, 2 open",
            labels=["model"],
        )
        for model in self.tracker.models():
            h = self.tracker.health(model)
            if h.p50_ms is not None:
                p50.add_metric([model], h.p50_ms)
            if h.p95_ms is not None:
                p95.add_metric([model], h.p95_ms)
            err.add_metric([model], h.error_rate)
            state.add_metric([model], h.state)
        yield from (p50, p95, err, state)


class _OnlineCollector(Collector):
    """The online layer's in-memory state: what it holds is bounded by the join window."""

    def __init__(self, learner: OnlineLearner) -> None:
        self.learner = learner

    def collect(self) -> Iterator[GaugeMetricFamily]:
        pending = GaugeMetricFamily(
            "selector_online_pending_decisions",
            "Decisions whose call results the online layer holds until their outcome "
            "arrives or their join window closes",
        )
        pending.add_metric([], len(self.learner.pending))
        updates = GaugeMetricFamily(
            "selector_online_updates", "Outcomes the online layer has learned from"
        )
        updates.add_metric([], float(getattr(self.learner.bandit, "updates_", 0)))
        yield from (pending, updates)


class ServiceMetrics:
    def __init__(self, tracker: LatencyTracker, learner: OnlineLearner | None = None) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.decisions = Counter(
            "selector_decisions",
            "Decisions by chosen model and policy",
            ["model", "policy"],
            registry=self.registry,
        )
        self.feedback = Counter(
            "selector_feedback_events",
            "Feedback events by kind (call, outcome, both) and whether a duplicate",
            ["kind", "duplicate"],
            registry=self.registry,
        )
        self.relaxed = Counter(
            "selector_relaxed_constraints",
            "Decisions that had to relax a constraint",
            ["constraint"],
            registry=self.registry,
        )
        self.other = Counter(
            "selector_other_decisions",
            "Decisions of the policy not served (shadow or canary), by whether they agree "
            "with the served one",
            ["policy", "agrees"],
            registry=self.registry,
        )
        self.decision_seconds = Histogram(
            "selector_decision_seconds",
            "In-process decision time (features and policy)",
            buckets=DECISION_BUCKETS,
            registry=self.registry,
        )
        self.registry.register(_LiveCollector(tracker))
        if learner is not None:
            self.registry.register(_OnlineCollector(learner))
        self._children: dict[tuple[str, ...], Any] = {}

    def count_other(self, policy: str, agrees: bool) -> None:
        key = ("o", policy, str(agrees).lower())
        child = self._children.get(key)
        if child is None:
            child = self._children[key] = self.other.labels(policy, str(agrees).lower())
        child.inc()

    def count_decision(self, model: str, policy: str) -> None:
        key = ("d", model, policy)
        child = self._children.get(key)
        if child is None:
            child = self._children[key] = self.decisions.labels(model, policy)
        child.inc()
