"""Prometheus metrics of one service instance (its own registry: no globals)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from selector.latency import LatencyTracker
from selector.online import OnlineLearner
from selector.online.budget import BudgetPacer

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
    """How the online layer is doing: what it learned and skipped, whether it runs, how
    far it lags behind the decision log."""

    def __init__(self, learner: OnlineLearner, background: bool) -> None:
        self.learner = learner
        self.background = background

    def collect(self) -> Iterator[GaugeMetricFamily]:
        learner = self.learner
        status = learner.status(self.background)
        figures = (
            (
                "selector_online_updates",
                "Outcomes the online layer has learned from",
                float(getattr(learner.bandit, "updates_", 0)),
            ),
            (
                "selector_online_skipped_events",
                "Feedback events the online layer could not learn from (unusable rows: see "
                "`selector bandit`)",
                float(learner.counts["skipped"]),
            ),
            (
                "selector_online_learner_up",
                "1 while the online layer's learner runs and its last round succeeded",
                float(status.running and status.failure is None),
            ),
            (
                "selector_online_lag_events",
                "Feedback events in the log the online layer has not read yet",
                float(status.lag_rows),
            ),
            (
                "selector_online_lag_seconds",
                "Age of the oldest feedback event the online layer has not read yet",
                status.lag_s,
            ),
            (
                "selector_online_state_age_seconds",
                "Seconds since the online layer last read the decision log to its end (grows "
                "while it cannot read the log)",
                status.state_age_s,
            ),
        )
        for name, doc, value in figures:
            gauge = GaugeMetricFamily(name, doc)
            gauge.add_metric([], value)
            yield gauge


class _BudgetCollector(Collector):
    """Each spend budget's period: spent, remaining, and the cost weight it paces."""

    def __init__(self, pacer: BudgetPacer, base: Callable[[], float]) -> None:
        self.pacer = pacer
        self.base = base

    def collect(self) -> Iterator[GaugeMetricFamily]:
        families = {
            "spent_usd": GaugeMetricFamily(
                "selector_budget_spent_usd", "Spent in the budget's current period",
                labels=["tenant"],
            ),
            "remaining_usd": GaugeMetricFamily(
                "selector_budget_remaining_usd", "Left of the budget's current period",
                labels=["tenant"],
            ),
            "cost_weight": GaugeMetricFamily(
                "selector_budget_cost_weight",
                "The cost weight λ (per USD) the budget paces decisions with",
                labels=["tenant"],
            ),
        }  # fmt: skip
        status = self.pacer.status(base=self.base())
        ledgers = [("", status["service"])] if status["service"] is not None else []
        ledgers += list(status["tenants"].items())
        for tenant, ledger in ledgers:
            for key, family in families.items():
                family.add_metric([tenant], float(ledger[key]))
        yield from families.values()


class ServiceMetrics:
    def __init__(
        self,
        tracker: LatencyTracker,
        learner: OnlineLearner | None = None,
        background: bool = True,
    ) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.decisions = Counter(
            "selector_decisions",
            "Decisions by chosen model and policy",
            ["model", "policy"],
            registry=self.registry,
        )
        self.feedback = Counter(
            "selector_feedback_events",
            "Feedback events by kind (call, outcome, both, conversation) and whether a duplicate",
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
        self.budget_moved = Counter(
            "selector_budget_moved_decisions",
            "Decisions a spend budget's paced cost weight gave another model than the base "
            "weight would have",
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
            self.registry.register(_OnlineCollector(learner, background))
        self._children: dict[tuple[str, ...], Any] = {}

    def watch_budget(self, pacer: BudgetPacer, base: Callable[[], float]) -> None:
        """Publish ``pacer``'s budgets (``base``: the cost weight without them)."""
        self.registry.register(_BudgetCollector(pacer, base))

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
