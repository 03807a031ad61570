"""The selector service: the pieces composed into route and feedback operations.

Built once per process from :class:`~selector.config.Settings` and kept in the app's
lifespan state; the HTTP layer only translates wire schemas to these calls.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import math
import sqlite3
import time
from collections import Counter, deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from core.errors import (
    FieldProblem,
    ModelUnavailableError,
    RequestError,
)
from core.limits import LATENCY_MS_MAX
from features.extractor import Conversation, FeatureExtractor, FeatureVector
from features.schema import PRIORITIES, SCHEMA_VERSION
from selector.catalog import Catalog
from selector.config import Settings
from selector.health import Health, Problem, QualityStatus
from selector.ids import RandomHex
from selector.latency import LatencyTracker
from selector.metrics import ServiceMetrics
from selector.online import LearnerStatus, OnlineLearner
from selector.policy import Decision, DecisionContext, Policy
from selector.policy.base import QualityModel
from selector.retention import PruneResult, prune
from selector.store import (
    DecisionLog,
    DecisionRecord,
    FeedbackEvent,
    FeedbackResult,
    LoggedRequest,
    OtherDecision,
    id_prefix,
)
from selector.upkeep import Upkeep

__all__ = ["DecisionIds", "RouteInput", "RouteResult", "SelectorService"]

log = logging.getLogger("selector")
RECENT_DECISIONS = 1_000


class DecisionIds:
    """Time-ordered, unique ids: 12 hex digits of milliseconds, then 12 random ones."""

    def __init__(self) -> None:
        self._random = RandomHex(6)

    def __call__(self) -> str:
        return f"{id_prefix(time.time())}{self._random()}"


@dataclass(frozen=True, slots=True)
class RouteInput:
    """A validated route request, free of wire types."""

    conversation_id: str
    conversation: Conversation
    candidates: Sequence[str] | None = None
    max_latency_ms: float | None = None
    max_cost_usd: float | None = None
    cost_weight: float | None = None
    text: str | None = None


@dataclass(frozen=True, slots=True)
class RouteResult:
    decision_id: str
    decision: Decision
    scores: list[dict[str, object]]
    intent: str
    intent_group: str


@dataclass
class _Recent:
    models: deque[str] = field(default_factory=lambda: deque(maxlen=RECENT_DECISIONS))
    counts: Counter[str] = field(default_factory=Counter)

    def add(self, model: str) -> None:
        if len(self.models) == self.models.maxlen:
            self.counts[self.models[0]] -= 1
        self.models.append(model)
        self.counts[model] += 1

    def share(self, model: str) -> float:
        return self.counts[model] / len(self.models) if self.models else 0.0


class SelectorService:
    """Route and feedback operations over the catalog, features, policy and log."""

    def __init__(
        self,
        settings: Settings,
        catalog: Catalog,
        extractor: FeatureExtractor,
        policy: Policy,
        tracker: LatencyTracker,
        decision_log: DecisionLog,
        degraded: list[tuple[str, str]] | None = None,
        prior: QualityModel | None = None,
        quality_status: QualityStatus | None = None,
        learner: OnlineLearner | None = None,
        challenger: Policy | None = None,
        reload: Callable[[], tuple[Policy | None, QualityStatus]] | None = None,
        state_file: Path | None = None,
    ) -> None:
        """The parts, built by :func:`selector.wiring.build_service`; ``reload`` loads
        the configured quality model again and builds the policy serving it (None: no
        reload), ``state_file`` is where the online layer saves its state."""
        self.settings = settings
        self.catalog = catalog
        self.extractor = extractor
        self.policy = policy
        self.tracker = tracker
        self.log = decision_log
        self.metrics = ServiceMetrics(
            tracker, learner, background=settings.bandit_updates == "background"
        )
        self.degraded = degraded or []
        self.recent = _Recent()
        self.new_decision_id = DecisionIds()
        self.prior = prior or policy.quality
        self.quality_status = quality_status or QualityStatus("prior", "prior", loaded=True)
        self.learner = learner
        self.challenger = challenger
        self._reload_lock = asyncio.Lock()
        self._reload = reload
        self.state_file = state_file
        self.upkeep = Upkeep(
            self.prune,
            settings.prune_every_s,
            lag=self._learner_status,
            max_lag_s=settings.learner_max_lag_s,
        )

    async def reload_quality_model(self) -> QualityStatus:
        """Load the configured quality model again (e.g. after a promotion) off the event
        loop and swap it in; decisions in flight finish with the model they started with.
        When it cannot be loaded the current model stays and a
        :class:`ModelUnavailableError` says why."""
        if self._reload is None:
            raise ModelUnavailableError("this service was built without a model to reload")
        async with self._reload_lock:
            policy, status = await asyncio.to_thread(self._reload)
            if policy is None or not status.loaded:
                raise ModelUnavailableError(
                    f"quality model {status.requested} not loaded, still serving "
                    f"{self.quality_status.serving}: {status.reason}"
                )
            self.policy = policy
            self.quality_status = status
            log.info("quality model reloaded: serving %s", status.serving)
            return status

    # -- lifecycle -----------------------------------------------------------------
    def start(self) -> None:
        """Start the log writer, warm the latency tracker from the log's recent results,
        let the online layer read what it had not, and start the upkeep thread. Nothing
        the log holds can stop this: unusable rows are skipped and counted."""
        self.log.start()
        self._warm_tracker()
        if self.learner is not None:
            try:
                n = self.learner.catch_up()
                log.info(
                    "online layer read %d feedback rows it had not learned from",
                    n,
                    extra={"rows": n, "skipped": self.learner.counts["skipped"]},
                )
            except Exception as exc:  # a database error: the thread retries
                log.error("online layer could not read the decision log at start: %s", exc)
            if self.settings.bandit_updates == "background":
                self.learner.start(self.state_file, self.settings.bandit_save_every_s)
        self.upkeep.start()

    def _warm_tracker(self) -> None:
        since = time.time() - self.settings.latency_window_s
        n = bad = 0
        try:
            with self.log.reader() as reader:
                results = list(reader.recent_call_results(since))
            for ts, model, latency_ms, error in results:
                if not (_number(ts) and isinstance(model, str)) or (
                    latency_ms is not None
                    and not (_number(latency_ms) and 0 <= latency_ms <= LATENCY_MS_MAX)
                ):
                    bad += 1
                    continue
                self.tracker.record(model, latency_ms, bool(error), at=ts)
                n += 1
        except sqlite3.Error as exc:
            log.error("latency tracker not warmed from the decision log: %s", exc)
        if n or bad:
            log.info(
                "latency tracker warmed with %d recent call results (%d unusable, skipped)",
                n,
                bad,
                extra={"results": n, "unusable": bad},
            )

    def stop(self) -> None:
        self.upkeep.stop()
        # the learner first: its read-only connection must be closed before the log's
        # last one, which then checkpoints and removes the WAL file (what the log still
        # commits after this is read at the next start)
        if self.learner is not None:
            try:
                self.learner.stop(self.state_file)
            except OSError as exc:  # the log keeps everything: it is read again at start
                log.error("online layer state not saved: %s", exc)
        self.log.close()

    def _learner_status(self) -> LearnerStatus | None:
        if self.learner is None:
            return None
        return self.learner.status(background=self.settings.bandit_updates == "background")

    def prune(self) -> PruneResult | None:
        """One retention run (``SELECTOR_RETENTION_DAYS``); None when retention is off."""
        s = self.settings
        if not s.retention_days:
            return None
        return prune(
            self.log,
            s.retention_days * 86_400,
            s.archive_folder() if s.archive else None,
            learned_through=self.learner.cursor if self.learner is not None else None,
        )

    # -- route ---------------------------------------------------------------------
    def check_candidates(
        self, names: Sequence[str] | None, field_name: str = "candidates"
    ) -> list[str]:
        """The enabled candidates of a request, or a RequestError naming the bad entries."""
        if names is None:
            return list(self.catalog.enabled_names)
        problems = [
            FieldProblem(
                f"{field_name}[{i}]",
                f"unknown model {n!r}",
                f"use one of the catalog's models: {', '.join(self.catalog.names)}",
            )
            for i, n in enumerate(names)
            if n not in self.catalog
        ]
        if problems:
            raise RequestError(problems)
        out = [n for n in dict.fromkeys(names) if self.catalog[n].enabled]
        if not out:
            raise RequestError(
                [
                    FieldProblem(
                        field_name,
                        "every model named is disabled in the catalog",
                        f"name at least one enabled model: {', '.join(self.catalog.enabled_names)}",
                    )
                ]
            )
        return out

    def cost_weight(self, policy: Policy | None = None) -> float:
        """λ: ``SELECTOR_COST_WEIGHT`` when set, else the one the quality model was
        calibrated with (``selector train --target``), else the default."""
        s = self.settings
        if "cost_weight" in s.model_fields_set:
            return s.cost_weight
        calibrated = getattr((policy or self.policy).quality, "cost_weight", None)
        return s.cost_weight if calibrated is None else float(calibrated)

    def _context(self, req: RouteInput, policy: Policy) -> DecisionContext:
        return DecisionContext(
            max_latency_ms=req.max_latency_ms,
            max_cost_usd=req.max_cost_usd,
            cost_weight=self.cost_weight(policy) if req.cost_weight is None else req.cost_weight,
            latency_weight=self.settings.latency_weight,
            priority=PRIORITIES[req.conversation.priority],
        )

    def in_canary(self, conversation_id: str) -> bool:
        """True when the challenger serves this conversation (canary mode)."""
        s = self.settings
        if self.challenger is None or s.challenger_mode != "canary":
            return False
        digest = hashlib.blake2b(conversation_id.encode(), digest_size=8).digest()
        return int.from_bytes(digest, "big") / 2**64 < s.canary_share

    def decide(
        self, req: RouteInput, now: float | None = None
    ) -> tuple[FeatureVector, Decision, Decision | None]:
        """Features, the served decision and, with a challenger, the other policy's
        decision on the same features; no I/O (this is the timed hot path)."""
        candidates = self.check_candidates(req.candidates)
        now = self.tracker.clock() if now is None else now
        fv = self.extractor.extract(req.conversation, candidates, now)
        policy = self.policy  # one model for the whole decision, even during a reload
        decision = policy.decide(fv, self._context(req, policy))
        other = None
        if self.challenger is not None:
            other = self.challenger.decide(fv, self._context(req, self.challenger))
            if self.in_canary(req.conversation_id):
                decision, other = other, decision
        self.tracker.on_selected(decision.model, now)
        return fv, decision, other

    async def route(self, req: RouteInput) -> RouteResult:
        """Decide, store the decision durably, then return its id and the decision."""
        t0 = time.perf_counter()
        fv, decision, other = self.decide(req)
        self.metrics.decision_seconds.observe(time.perf_counter() - t0)
        record = self.record(req, fv, decision, other)
        await self.log.write_decision(record)
        self.recent.add(decision.model)
        self.metrics.count_decision(decision.model, decision.policy)
        if other is not None:
            self.metrics.count_other(other.policy, other.model == decision.model)
        for c in decision.relaxed:
            self.metrics.relaxed.labels(c).inc()
        return RouteResult(record.decision_id, decision, record.scores, fv.intent, fv.intent_group)

    def record(
        self, req: RouteInput, fv: FeatureVector, decision: Decision, other: Decision | None
    ) -> DecisionRecord:
        """What the log keeps of a decision, under a new decision id."""
        conv = req.conversation
        scores = [s.as_dict() for s in decision.scores]
        return DecisionRecord(
            decision_id=self.new_decision_id(),
            ts=time.time(),
            conversation_id=req.conversation_id,
            policy=decision.policy,
            policy_version=f"{decision.version}+{decision.quality_model}",
            model=decision.model,
            propensity=decision.propensity,
            fallbacks=decision.fallbacks,
            relaxed=decision.relaxed,
            request=LoggedRequest(
                turns=conv.turns,
                n_messages=len(conv.messages) if conv.messages else 0,
                prompt_tokens=conv.prompt_tokens,
                intent=conv.intent,
                escalation=conv.escalation,
                priority=conv.priority,
                candidates=list(req.candidates) if req.candidates is not None else None,
                max_latency_ms=req.max_latency_ms,
                max_cost_usd=req.max_cost_usd,
                cost_weight=req.cost_weight,
                # what the decision's utilities assumed, for its reward (selector.reward)
                lam=decision.cost_weight,
                latency_weight_per_s=decision.latency_weight,
                deadline_ms=req.max_latency_ms or self.settings.reward_deadline_ms,
            ),
            features={"schema_version": SCHEMA_VERSION, **fv.as_dict()},
            scores=scores,
            text=self._logged_text(req.text),
            other=None if other is None else _other(other),
        )

    def _logged_text(self, text: str | None) -> str | None:
        """The last user message as the log keeps it: cut to ``log_text_max_chars``."""
        s = self.settings
        if text is None or s.log_text == "none":
            return None
        return text[: s.log_text_max_chars]

    # -- feedback ------------------------------------------------------------------
    async def feedback(self, event: FeedbackEvent) -> FeedbackResult:
        """Store a feedback event durably; feed its call result to the latency tracker."""
        f = event.fields
        if "model" in f and f["model"] not in self.catalog:
            raise RequestError(
                [
                    FieldProblem(
                        "model",
                        f"unknown model {f['model']!r}",
                        f"use one of the catalog's models: {', '.join(self.catalog.names)}",
                    )
                ]
            )
        result = await self.log.write_feedback(event)
        is_call = "latency_ms" in f or "error" in f
        if not result.duplicate and not result.late and is_call:
            self.tracker.record(
                f.get("model", result.decided_model), f.get("latency_ms"), "error" in f
            )
        kind = (
            "both" if is_call and event.has_outcome else "outcome" if event.has_outcome else "call"
        )
        self.metrics.feedback.labels(kind, str(result.duplicate).lower()).inc()
        if self.learner is not None and not result.duplicate:
            if self.settings.bandit_updates == "inline":
                try:
                    self.learner.catch_up()
                    self.learner.maybe_save(self.state_file, self.settings.bandit_save_every_s)
                except Exception as exc:  # stored: learned with the next feedback
                    log.error(
                        "online layer did not learn from feedback on %s yet: %s",
                        event.decision_id,
                        exc,
                    )
            else:
                self.learner.notify()
        return result

    # -- status --------------------------------------------------------------------
    def models_status(self) -> list[dict[str, Any]]:
        out = []
        for m in self.catalog:
            h = self.tracker.health(m.name)
            out.append(
                {
                    **m.model_dump(),
                    "live": {
                        "latency_p50_ms": h.p50_ms,
                        "latency_p95_ms": h.p95_ms,
                        "error_rate": h.error_rate,
                        "samples": h.samples,
                        "circuit": h.state_name,
                    },
                    "recent_share": round(self.recent.share(m.name), 4),
                }
            )
        return out

    def health(self) -> Health:
        """Whether decisions can be served and acknowledged, and every part served in a
        reduced form (the body of ``/readyz``)."""
        ok, why = self.log.healthy
        problems = [Problem(part, reason) for part, reason in self.degraded]
        if not ok:
            problems.append(Problem("decision_log", why))
        q = self.quality_status
        if not q.loaded:
            problems.append(
                Problem(
                    "quality_model",
                    f"{q.requested} not loaded, serving {q.serving}: {q.reason}",
                )
            )
        problems.extend(self._learner_problems())
        problems.extend(self.upkeep.problems())
        return Health(ok, [] if ok else [why], problems)

    def _learner_problems(self) -> list[Problem]:
        st = self._learner_status()
        if st is None:  # no online layer
            return []
        out = []
        if not st.running:
            out.append(
                Problem(
                    "online_learner",
                    "stopped: decisions use what it learned so far; restart the service",
                )
            )
        elif st.failure:
            out.append(Problem("online_learner", f"failing, retrying: {st.failure}"))
        if st.lag_s > self.settings.learner_max_lag_s:
            out.append(
                Problem(
                    "online_learner",
                    f"lagging: {st.lag_rows:,} feedback events not learned yet, the oldest "
                    f"{st.lag_s:,.0f} s old (SELECTOR_LEARNER_MAX_LAG_S="
                    f"{self.settings.learner_max_lag_s:g})",
                )
            )
        return out

    def readiness(self) -> tuple[bool, list[str]]:
        h = self.health()
        return h.ready, h.reasons


def _number(v: object) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v)


def _other(d: Decision) -> OtherDecision:
    return OtherDecision(
        d.policy, f"{d.version}+{d.quality_model}", d.model, d.propensity, d.probabilities()
    )
