"""The decisions of a log that OPE can evaluate on: each rebuilt as its policy saw it
(the logged feature vector, the request's constraints, the cost and latency weights it
was decided with), with its reward as the online layer computes it
(:mod:`selector.reward`), the probabilities the served and the other policy gave each
candidate, and the reward model's features of every (decision, candidate)."""

from __future__ import annotations

import logging
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import orjson

from core.errors import ConfigError
from features.extractor import C, FeatureVector
from features.schema import PRIORITIES, REQUEST_FEATURES
from selector.policy import DecisionContext
from selector.policy.base import PRIORITY_LATENCY_FACTOR
from selector.reward import logged_reward
from selector.store import CallResults, finite, logged_propensity, logged_request
from selector.store.base import DecisionLog

__all__ = ["LoggedDecisions", "load_logged"]

log = logging.getLogger(__name__)
_P95, _ERR = C["latency_p95_ms"], C["error_rate"]
# features, context, index of the logged model, reward, scores, request features
Evaluable = tuple[FeatureVector, DecisionContext, int, float, list[dict[str, Any]], list[float]]


@dataclass
class LoggedDecisions:
    """The decisions of a log that can be evaluated on, as arrays."""

    ids: list[str]
    contexts: list[tuple[FeatureVector, DecisionContext]]
    chosen: np.ndarray  # index of the logged model among the decision's candidates
    propensity: np.ndarray
    rewards: np.ndarray
    features: np.ndarray  # one row per (decision, candidate), for the reward model
    decision_of_row: np.ndarray
    first_row: np.ndarray  # row of each decision's first candidate
    skipped: dict[str, int]
    # who decided: the served policy, and the other one when a challenger ran beside it
    # ("<policy> <version>+<quality model>"), with the probability each gave every row
    served: list[str] = field(default_factory=list)
    served_probs: np.ndarray = field(default_factory=lambda: np.zeros(0))
    other: list[str | None] = field(default_factory=list)
    other_model: list[str | None] = field(default_factory=list)
    other_probs: np.ndarray = field(default_factory=lambda: np.zeros(0))

    def subset(self, mask: np.ndarray) -> LoggedDecisions:
        """The decisions where ``mask`` is True."""
        keep = np.flatnonzero(mask)
        if len(keep) == 0:
            raise ConfigError("no logged decision left to evaluate on")
        sizes = np.array([len(self.contexts[i][0].candidates) for i in keep])
        rows = np.concatenate(
            [
                np.arange(self.first_row[i], self.first_row[i] + n)
                for i, n in zip(keep, sizes, strict=True)
            ]
        )
        first = np.concatenate([[0], np.cumsum(sizes)[:-1]])
        return LoggedDecisions(
            ids=[self.ids[i] for i in keep],
            contexts=[self.contexts[i] for i in keep],
            chosen=self.chosen[keep],
            propensity=self.propensity[keep],
            rewards=self.rewards[keep],
            features=self.features[rows],
            decision_of_row=np.repeat(np.arange(len(keep)), sizes),
            first_row=first,
            skipped=dict(self.skipped),
            served=[self.served[i] for i in keep],
            served_probs=self.served_probs[rows],
            other=[self.other[i] for i in keep],
            other_model=[self.other_model[i] for i in keep],
            other_probs=self.other_probs[rows],
        )

    @property
    def policies(self) -> dict[str, int]:
        """Decisions served by each logged policy."""
        return dict(Counter(label.split(" ")[0] for label in self.served))

    @property
    def logged_rows(self) -> np.ndarray:
        rows: np.ndarray = self.first_row + self.chosen
        return rows


def _evaluable(r: dict[str, Any], late_penalty: float) -> Evaluable | None:
    """A joined decision rebuilt as its policy saw it, with its reward: (features,
    context, index of the logged model, reward, scores, request features); None for a
    decision logged without its weights. Whatever the row holds, a value that cannot be
    used raises (ValueError and kin), never a non-finite reward."""
    scores = orjson.loads(r["scores"])
    logged = logged_request(r)
    if not logged.scored or not scores:
        return None
    rows_by_model = orjson.loads(r["candidate_features"])
    cands = list(rows_by_model)
    request = [finite(r[f"f_{name}"], name) for name, _ in REQUEST_FEATURES]
    rows = [[finite(v, f"{m} feature") for v in rows_by_model[m]] for m in cands]
    fv = FeatureVector(
        request=request,
        candidates=cands,
        candidate_rows=rows,
        intent=r["intent"] or "other",
        intent_group=r["intent_group"] or "other",
        probing=[False] * len(cands),
        text=r["text"] or "",
    )
    priority = PRIORITIES.get(logged.priority, 1)
    ctx = DecisionContext(
        max_latency_ms=logged.max_latency_ms,
        max_cost_usd=logged.max_cost_usd,
        cost_weight=finite(logged.lam, "lambda"),
        # the log holds the weight after the priority's factor; the policy applies it
        latency_weight=finite(logged.latency_weight_per_s, "latency_weight_per_s")
        / PRIORITY_LATENCY_FACTOR[priority],
        priority=priority,
        late_penalty=late_penalty,
        deadline_ms=finite(logged.deadline_ms, "deadline_ms"),
    )
    by_model = {s["model"]: s for s in scores}
    outcome = r["reward"] if r["reward"] is not None else float(r["resolved"])
    calls = CallResults(r["latency_ms"], r["cost_usd"], bool(r["errors"]))
    reward = logged_reward(logged, by_model[r["model"]], outcome, calls, late_penalty)
    for s in scores:
        finite(s.get("utility", 0.0), "utility")
    logged_propensity(r["propensity"])
    return fv, ctx, cands.index(r["model"]), reward, scores, request


class _Builder:
    """The arrays of :class:`LoggedDecisions`, one decision at a time."""

    def __init__(self, others: dict[str, tuple[str, str, dict[str, float]]]) -> None:
        self.others = others
        self.models: dict[str, int] = {}
        self.groups: dict[str, int] = {}
        self.raw: list[tuple[Any, ...]] = []
        self.ids: list[str] = []
        self.contexts: list[tuple[FeatureVector, DecisionContext]] = []
        self.chosen: list[int] = []
        self.propensity: list[float] = []
        self.rewards: list[float] = []
        self.served: list[str] = []
        self.other: list[str | None] = []
        self.other_model: list[str | None] = []
        self.served_p: list[float] = []
        self.other_p: list[float] = []

    def add(self, r: dict[str, Any], parsed: Evaluable) -> None:
        fv, ctx, pick, reward, scores, request = parsed
        self.rewards.append(reward)
        by_model = {s["model"]: s for s in scores}
        self.ids.append(r["decision_id"])
        self.contexts.append((fv, ctx))
        self.chosen.append(pick)
        self.propensity.append(float(r["propensity"]))
        self.served.append(f"{r['policy']} {r['policy_version']}")
        randomised = any(x.get("probability") is not None for x in scores)
        found = self.others.get(r["decision_id"])
        self.other.append(None if found is None else found[0])
        self.other_model.append(None if found is None else found[1])
        for m in fv.candidates:
            if randomised:
                self.served_p.append(float(by_model.get(m, {}).get("probability") or 0.0))
            else:
                self.served_p.append(1.0 if m == r["model"] else 0.0)
            self.other_p.append(float("nan") if found is None else float(found[2].get(m, 0.0)))
        g = self.groups.setdefault(fv.intent_group, len(self.groups))
        for m, row in zip(fv.candidates, fv.candidate_rows, strict=True):
            sc = by_model.get(m, {})
            self.raw.append(
                (
                    self.models.setdefault(m, len(self.models)),
                    g,
                    sc.get("utility", 0.0),
                    sc.get("p_resolved", 0.0),
                    ctx.cost_weight * sc.get("expected_cost_usd", 0.0),
                    sc.get("expected_latency_ms", 0.0),
                    row[_P95],
                    row[_ERR],
                    request[0],
                    request[2],
                )
            )

    def build(self, skipped: dict[str, int]) -> LoggedDecisions:
        sizes = np.array([len(c[0].candidates) for c in self.contexts])
        first = np.concatenate([[0], np.cumsum(sizes)[:-1]])
        arr = np.asarray(self.raw, dtype=float)
        onehots = [
            np.eye(len(self.models))[arr[:, 0].astype(int)],
            np.eye(len(self.groups))[arr[:, 1].astype(int)],
        ]
        return LoggedDecisions(
            ids=self.ids,
            contexts=self.contexts,
            chosen=np.asarray(self.chosen),
            propensity=np.asarray(self.propensity),
            rewards=np.asarray(self.rewards),
            features=np.hstack([*onehots, arr[:, 2:]]),
            decision_of_row=np.repeat(np.arange(len(self.ids)), sizes),
            first_row=first,
            skipped=skipped,
            served=self.served,
            served_probs=np.asarray(self.served_p),
            other=self.other,
            other_model=self.other_model,
            other_probs=np.asarray(self.other_p),
        )


def load_logged(
    decision_log: DecisionLog, late_penalty: float, since: float = 0.0
) -> LoggedDecisions:
    """Read the evaluable decisions of ``decision_log``, their rewards with
    ``late_penalty`` for a late or failed call (a ConfigError says why there are none)."""
    skipped = {"no outcome": 0, "overridden": 0, "unscored": 0, "unusable": 0}
    unreadable: Counter[str] = Counter()
    with decision_log.reader() as reader:
        rows = _Builder(reader.other_decisions())
        joined = list(reader.joined(since, unreadable))
    for r in joined:
        if r["resolved"] is None and r["reward"] is None:
            skipped["no outcome"] += 1
            continue
        if r["override"]:
            skipped["overridden"] += 1
            continue
        try:
            parsed = _evaluable(r, late_penalty)
        except (ValueError, TypeError, KeyError, IndexError, AttributeError) as exc:
            skipped["unusable"] += 1
            if skipped["unusable"] <= 20:
                log.warning("decision %s left out: %s", r.get("decision_id"), exc)
            continue
        if parsed is None:
            skipped["unscored"] += 1
            continue
        rows.add(r, parsed)
    skipped["unusable"] += unreadable["unreadable"]
    if not rows.ids:
        raise ConfigError(
            f"{decision_log.where}: no decision can be evaluated on ({skipped}): the gateway "
            "must report outcomes (resolved or reward) through POST /v1/feedback"
        )
    return rows.build(skipped)
