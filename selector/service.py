"""The selector service: the pieces composed into route and feedback operations, built
once per process (:mod:`selector.wiring`); the HTTP layer only translates wire schemas."""

from __future__ import annotations

import asyncio
import hashlib
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from core.errors import ModelUnavailableError
from features.extractor import FeatureExtractor, FeatureVector, R
from features.schema import PRIORITIES
from selector.background import Background
from selector.catalog import Catalog
from selector.config import Settings
from selector.decisions import (
    BudgetNote,
    DecisionIds,
    RecentChoices,
    RouteInput,
    RouteResult,
    decision_record,
)
from selector.health import Health, Problem, QualityStatus, models_status
from selector.online.budget import BudgetConfig, BudgetPacer, moved_by_budget
from selector.policy import Decision, DecisionContext, Policy, Score
from selector.policy.base import QualityModel
from selector.prompt_caches import PromptCaches
from selector.retention import PruneResult
from selector.service_metrics import ServiceMetrics
from selector.store import (
    ConversationOutcome,
    ConversationResult,
    DecisionRecord,
    FeedbackEvent,
    FeedbackResult,
)

__all__ = ["SelectorService", "ServedModel"]

log = logging.getLogger(__name__)


@dataclass
class ServedModel:
    """The quality model the policies serve: what was asked for and what is served
    (``status``), the prior it falls back to, and how to load the configured one again
    (``reload``: the new policy and its status; None: this service cannot reload)."""

    prior: QualityModel
    status: QualityStatus
    reload: Callable[[], tuple[Policy | None, QualityStatus]] | None = None


class SelectorService:
    """Route and feedback operations over the catalog, features, policy and log."""

    def __init__(
        self,
        settings: Settings,
        catalog: Catalog,
        extractor: FeatureExtractor,
        policy: Policy,
        background: Background,
        challenger: Policy | None = None,
        model: ServedModel | None = None,
        degraded: list[tuple[str, str]] | None = None,
    ) -> None:
        """The parts, built by :func:`selector.wiring.build_service`: ``background``
        holds the decision log, the latency tracker and the online layer, started and
        stopped with the service; ``challenger`` decides beside the served ``policy``;
        ``degraded`` lists the parts served in a reduced form."""
        self.settings = settings
        self.catalog = catalog
        self.extractor = extractor
        self.policy = policy
        self.background = background
        self.log = background.log
        self.tracker = background.tracker
        self.learner = background.learner
        self.challenger = challenger
        model = model or ServedModel(policy.quality, QualityStatus("prior", "prior", loaded=True))
        self.prior = model.prior
        self.quality_status = model.status
        self._reload = model.reload
        self._reload_lock = asyncio.Lock()
        self.degraded = degraded or []
        self.metrics = ServiceMetrics(
            self.tracker, self.learner, background=background.config.learn_in_background
        )
        self.recent = RecentChoices()
        self.new_decision_id = DecisionIds()
        b = settings.budget
        self.budget = BudgetPacer(
            BudgetConfig(
                usd=b.usd, period_s=b.period_s, tenants=b.tenants, tenant_usd=b.tenant_usd
            ),
            clock=self.tracker.clock,
        )
        self.budgeted = self.budget.config.active  # read per request: a plain attribute
        # where each conversation's prefix is cached (None: no model's cache is priced)
        self.caches: PromptCaches | None = None
        d = settings.decision
        if d.prompt_cache and any(m.cached_input_usd_per_mtok is not None for m in catalog):
            self.caches = PromptCaches(d.prompt_cache_conversations)
        if self.budgeted:
            self.metrics.watch_budget(self.budget, self.cost_weight)
            if background.replicas is not None:  # one budget for every replica
                background.replicas.budget = self.budget

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
        """Start the background parts (:meth:`selector.background.Background.start`)."""
        self.background.start()

    def stop(self) -> None:
        """Stop the background parts (:meth:`selector.background.Background.stop`)."""
        self.background.stop()

    def prune(self) -> PruneResult | None:
        """One retention run (``SELECTOR_RETENTION_DAYS``); None when retention is off."""
        return self.background.prune()

    # -- route ---------------------------------------------------------------------
    def cost_weight(self, policy: Policy | None = None) -> float:
        """λ: ``SELECTOR_COST_WEIGHT`` when set, else the one the quality model was
        calibrated with (``selector train --target``), else the default."""
        s = self.settings
        if "cost_weight" in s.decision.model_fields_set:
            return s.decision.cost_weight
        calibrated = getattr((policy or self.policy).quality, "cost_weight", None)
        return s.decision.cost_weight if calibrated is None else float(calibrated)

    def _context(
        self, req: RouteInput, policy: Policy, now: float | None = None
    ) -> DecisionContext:
        weight = req.cost_weight
        if weight is None:
            weight = self.cost_weight(policy)
            if self.budgeted:  # paced toward the budget
                paced = self.budget.weight(weight, req.tenant, now)
                weight = weight if paced is None else paced
        draw = None
        if self.settings.decision.sticky_draws:
            draw = self.conversation_draw(req.conversation_id)
        return DecisionContext(
            draw=draw,
            max_latency_ms=req.max_latency_ms,
            max_cost_usd=req.max_cost_usd,
            cost_weight=weight,
            latency_weight=self.settings.decision.latency_weight,
            priority=PRIORITIES[req.conversation.priority],
            late_penalty=self.settings.reward.late_penalty,
            deadline_ms=self.settings.reward.deadline_ms,
        )

    def conversation_draw(self, conversation_id: str) -> float:
        """The conversation's uniform draw in [0, 1): the same every turn, independent of
        its features (a hash of its id and ``SELECTOR_SEED``)."""
        key = f"{self.settings.decision.seed}|{conversation_id}".encode()
        digest = hashlib.blake2b(key, digest_size=8, person=b"draw").digest()
        return int.from_bytes(digest, "big") / 2**64

    def in_canary(self, conversation_id: str) -> bool:
        """True when the challenger serves this conversation (canary mode)."""
        s = self.settings
        if self.challenger is None or s.challenger.mode != "canary":
            return False
        digest = hashlib.blake2b(conversation_id.encode(), digest_size=8).digest()
        return int.from_bytes(digest, "big") / 2**64 < s.challenger.canary_share

    def decide(
        self, req: RouteInput, now: float | None = None
    ) -> tuple[FeatureVector, Decision, Decision | None]:
        """Features, the served decision and, with a challenger, the other policy's
        decision on the same features; no I/O (this is the timed hot path)."""
        candidates = self.catalog.check_candidates(req.candidates)
        now = self.tracker.clock() if now is None else now
        if self.caches is not None:
            req.conversation.cache = self.caches.lookup(req.conversation_id, now)
        fv = self.extractor.extract(req.conversation, candidates, now)
        policy = self.policy  # one model for the whole decision, even during a reload
        decision = policy.decide(fv, self._context(req, policy, now))
        other = None
        if self.challenger is not None:
            other = self.challenger.decide(fv, self._context(req, self.challenger, now))
            if self.in_canary(req.conversation_id):
                decision, other = other, decision
        self.tracker.on_selected(decision.model, now)
        return fv, decision, other

    async def route(self, req: RouteInput) -> RouteResult:
        """Decide, store the decision durably, then return its id and the decision."""
        t0 = time.perf_counter()
        fv, decision, other = self.decide(req)
        self.metrics.decision_seconds.observe(time.perf_counter() - t0)
        scores = [s.as_dict() for s in decision.scores]  # once, for the log and the answer
        record = self.record(req, fv, decision, other, scores)
        await self.log.write_decision(record)
        if self.caches is not None:
            self._cache_decided(record.decision_id, req.conversation_id, fv, decision)
        budget = None
        if self.budgeted and req.cost_weight is None:
            budget = self._spend(record.decision_id, req, decision)
        self.recent.add(decision.model)
        self.metrics.count_decision(decision.model, decision.policy)
        if other is not None:
            self.metrics.count_other(other.policy, other.model == decision.model)
        for c in decision.relaxed:
            self.metrics.relaxed.labels(c).inc()
        return RouteResult(
            record.decision_id,
            decision,
            fv.intent,
            fv.intent_group,
            scores,
            budget,
            req.conversation.cache,
        )

    def _cache_decided(
        self, decision_id: str, conversation_id: str, fv: FeatureVector, decision: Decision
    ) -> None:
        """The conversation's prefix goes to the decided model's cache."""
        assert self.caches is not None
        j = fv.candidates.index(decision.model)
        priced = fv.cached_tokens[j] if fv.cached_tokens else 0.0
        prompt = fv.request[R["prompt_tokens"]]
        now = self.tracker.clock()
        self.caches.decided(decision_id, conversation_id, decision.model, prompt, priced, now)

    def _spend(self, decision_id: str, req: RouteInput, decision: Decision) -> BudgetNote | None:
        """Commit the chosen model's expected cost to the budgets ``req`` falls under;
        what the budget did to the decision (None: no budget applies to it)."""
        if not self.budget.applies(req.tenant):
            return None
        base = self.cost_weight(self.policy)
        paced = decision.cost_weight
        eligible = [s for s in decision.scores if s.eligible]
        costs = np.array([s.expected_cost_usd for s in eligible])
        values = (
            np.array([s.utility if s.estimate is None else s.estimate for s in eligible])
            + paced * costs
        )
        chosen = next(s for s in decision.scores if s.model == decision.model)
        self.budget.commit(decision_id, req.tenant, chosen.expected_cost_usd, values, costs)
        moved = moved_by_budget(decision.scores, paced, base)
        if moved is not None:
            self.metrics.budget_moved.inc()
        return BudgetNote(base, paced, moved)

    def record(
        self,
        req: RouteInput,
        fv: FeatureVector,
        decision: Decision,
        other: Decision | None,
        scores: Sequence[Score] | None = None,
    ) -> DecisionRecord:
        """What the log keeps of a decision, under a new decision id (``scores``: the
        decision's, serialised already)."""
        s = self.settings
        now = self.log.clock()
        return decision_record(
            self.new_decision_id(now),
            req,
            fv,
            decision,
            other,
            s.reward.deadline_ms,
            None
            if req.text is None or s.logs.text == "none"
            else req.text[: s.logs.text_max_chars],
            now,
            scores,
        )

    # -- feedback ------------------------------------------------------------------
    async def feedback(self, event: FeedbackEvent) -> FeedbackResult:
        """Store a feedback event durably; feed its call result to the latency tracker."""
        f = event.fields
        if "model" in f:
            self.catalog.check_model(f["model"])
        result = await self.log.write_feedback(event)
        is_call = "latency_ms" in f or "error" in f
        if not result.duplicate and not result.late and is_call:
            served = f.get("model", result.decided_model)
            self.tracker.record(served, f.get("latency_ms"), "error" in f)
            if self.caches is not None:
                self._cache_served(event.decision_id, served, f)
            if "cost_usd" in f and self.budgeted:
                self.budget.correct(event.decision_id, f["cost_usd"])
        kind = "outcome" if event.has_outcome else "call"
        kind = "both" if is_call and event.has_outcome else kind
        self.metrics.feedback.labels(kind, str(result.duplicate).lower()).inc()
        if not result.duplicate:
            self.background.learn_now(event.decision_id)
        return result

    def _cache_served(self, decision_id: str, model: str, f: dict[str, Any]) -> None:
        """A call result: where the conversation's prefix is cached now."""
        assert self.caches is not None
        if "error" in f:
            self.caches.failed(decision_id, model)
        else:
            now = self.tracker.clock()
            tokens, cached = f.get("prompt_tokens"), f.get("cached_tokens")
            self.caches.served(decision_id, model, tokens, cached, now)

    async def conversation_outcome(self, outcome: ConversationOutcome) -> ConversationResult:
        """Credit a conversation's outcome to each of its decisions that has none yet."""
        result = await self.log.write_conversation_outcome(outcome)
        self.metrics.feedback.labels("conversation", str(result.duplicate).lower()).inc()
        if result.credited:
            self.background.learn_now(outcome.conversation_id)
        return result

    # -- status --------------------------------------------------------------------
    def budget_status(self) -> dict[str, Any] | None:
        """Each spend budget's period, spend, remaining budget and paced cost weight
        (None: no budget is set)."""
        if not self.budgeted:
            return None
        return self.budget.status(base=self.cost_weight())

    def models_status(self) -> list[dict[str, Any]]:
        """Each catalog model with its live figures (the body of ``/v1/models``)."""
        return models_status(self.catalog, self.tracker, self.recent)

    def health(self) -> Health:
        """Whether decisions can be served and acknowledged, and every part served in a
        reduced form (the body of ``/readyz``)."""
        ok, why = self.log.healthy
        problems = [Problem(part, reason) for part, reason in self.degraded]
        if not ok:
            problems.append(Problem("decision_log", why))
        problems.extend(self.quality_status.problems())
        more, unready = self.background.problems()
        problems.extend(more)
        reasons = [] if ok else [why]
        if unready is not None:
            reasons.append(unready)
        return Health(not reasons, reasons, problems)

    def readiness(self) -> tuple[bool, list[str]]:
        h = self.health()
        return h.ready, h.reasons
