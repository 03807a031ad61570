"""``selector ope``: a candidate policy's value estimated from the decision log.

Every logged decision with an outcome (not overridden by the gateway, not late) is
rebuilt as the policy saw it: the logged feature vector, the request's constraints
and the cost and latency weights it was decided with. The candidate policy (any
registered policy, with any quality model) gives each logged candidate a probability;
the decision's reward is computed as the online layer computes it
(:mod:`selector.reward`). :mod:`training.ope` then estimates the candidate's mean
reward per decision with IPS, SNIPS and DR, and the logged policy's own mean reward is
reported beside it. The reward model of DR is fitted per fold on the logged actions:
each candidate's utility terms as the log scored them, its live latency figures, and
the model, intent group, turn count and prompt length.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import orjson

from core.errors import ConfigError
from features.extractor import C, FeatureVector
from features.schema import PRIORITIES, REQUEST_FEATURES
from selector.policy import DecisionContext, Policy
from selector.policy.base import PRIORITY_LATENCY_FACTOR
from selector.reward import logged_reward
from selector.store import (
    CallResults,
    DecisionLog,
    finite,
    logged_propensity,
    logged_request,
)
from training.ope import cross_fit, estimate_all

__all__ = [
    "LoggedDecisions",
    "compare",
    "evaluate_policy",
    "load_logged",
    "log_comparison",
    "log_to_mlflow",
]

EXPERIMENT = "model-selector-ope"
log = logging.getLogger("training.policy_eval")
_P95, _ERR = C["latency_p95_ms"], C["error_rate"]


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


def load_logged(db_path: Path, late_penalty: float, since: float = 0.0) -> LoggedDecisions:
    """Read the evaluable decisions of the log at ``db_path``, their rewards with
    ``late_penalty`` for a late or failed call (a ConfigError says why there are none)."""
    if not db_path.is_file():
        raise ConfigError(f"no decision log at {db_path}: pass --db with the service's log")
    models: dict[str, int] = {}
    groups: dict[str, int] = {}
    raw: list[tuple[Any, ...]] = []
    skipped = {"no outcome": 0, "overridden": 0, "unscored": 0, "unusable": 0}
    ids, contexts, chosen, propensity, rewards = [], [], [], [], []
    served: list[str] = []
    other: list[str | None] = []
    other_model: list[str | None] = []
    served_p: list[float] = []
    other_p: list[float] = []
    unreadable: Counter[str] = Counter()
    with DecisionLog(db_path).reader() as reader:
        others = reader.other_decisions()
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
        fv, ctx, pick, reward, scores, request = parsed
        rewards.append(reward)
        cands = fv.candidates
        by_model = {s["model"]: s for s in scores}
        ids.append(r["decision_id"])
        contexts.append((fv, ctx))
        chosen.append(pick)
        propensity.append(float(r["propensity"]))
        served.append(f"{r['policy']} {r['policy_version']}")
        randomised = any(x.get("probability") is not None for x in scores)
        found = others.get(r["decision_id"])
        other.append(None if found is None else found[0])
        other_model.append(None if found is None else found[1])
        for m in cands:
            if randomised:
                served_p.append(float(by_model.get(m, {}).get("probability") or 0.0))
            else:
                served_p.append(1.0 if m == r["model"] else 0.0)
            other_p.append(float("nan") if found is None else float(found[2].get(m, 0.0)))
        g = groups.setdefault(fv.intent_group, len(groups))
        for m, row in zip(cands, fv.candidate_rows, strict=True):
            sc = by_model.get(m, {})
            raw.append(
                (
                    models.setdefault(m, len(models)),
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
    skipped["unusable"] += unreadable["unreadable"]
    if not ids:
        raise ConfigError(
            f"{db_path}: no decision can be evaluated on ({skipped}): the gateway must report "
            "outcomes (resolved or reward) through POST /v1/feedback"
        )
    sizes = np.array([len(c[0].candidates) for c in contexts])
    first = np.concatenate([[0], np.cumsum(sizes)[:-1]])
    arr = np.asarray(raw, dtype=float)
    onehots = [
        np.eye(len(models))[arr[:, 0].astype(int)],
        np.eye(len(groups))[arr[:, 1].astype(int)],
    ]
    return LoggedDecisions(
        ids=ids,
        contexts=contexts,
        chosen=np.asarray(chosen),
        propensity=np.asarray(propensity),
        rewards=np.asarray(rewards),
        features=np.hstack([*onehots, arr[:, 2:]]),
        decision_of_row=np.repeat(np.arange(len(ids)), sizes),
        first_row=first,
        skipped=skipped,
        served=served,
        served_probs=np.asarray(served_p),
        other=other,
        other_model=other_model,
        other_probs=np.asarray(other_p),
    )


def _evaluable(
    r: dict[str, Any], late_penalty: float
) -> tuple[FeatureVector, DecisionContext, int, float, list[dict[str, Any]], list[float]] | None:
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
    )
    by_model = {s["model"]: s for s in scores}
    outcome = r["reward"] if r["reward"] is not None else float(r["resolved"])
    calls = CallResults(r["latency_ms"], r["cost_usd"], bool(r["errors"]))
    reward = logged_reward(logged, by_model[r["model"]], outcome, calls, late_penalty)
    for s in scores:
        finite(s.get("utility", 0.0), "utility")
    logged_propensity(r["propensity"])
    return fv, ctx, cands.index(r["model"]), reward, scores, request


def compare(
    logged: LoggedDecisions, min_ess: float = 200.0, folds: int = 2, seed: int = 0
) -> dict[str, dict[str, Any]]:
    """Every policy that decided in the log (served, shadow or canary): its live figures
    on the decisions it served, and the DR estimate of its value on every decision where
    its probabilities were logged (``refused`` says why when there is none)."""
    q = cross_fit(
        logged.features,
        logged.rewards,
        logged.logged_rows,
        logged.decision_of_row,
        folds=folds,
        seed=seed,
    )
    labels = list(dict.fromkeys([*logged.served, *(o for o in logged.other if o)]))
    served = np.asarray(logged.served)
    other = np.asarray([o or "" for o in logged.other])
    row_served = served[logged.decision_of_row]
    row_other = other[logged.decision_of_row]
    out: dict[str, dict[str, Any]] = {}
    for label in labels:
        rewards = logged.rewards[served == label]
        live: dict[str, Any] = {"decisions": len(rewards)}
        if len(rewards):
            half = (
                1.96 * float(rewards.std(ddof=1)) / np.sqrt(len(rewards))
                if len(rewards) > 1
                else float("nan")
            )
            mean = float(rewards.mean())
            live.update({"reward": mean, "low": mean - half, "high": mean + half})
        target = np.where(
            row_served == label,
            logged.served_probs,
            np.where(row_other == label, logged.other_probs, np.nan),
        )
        known = (served == label) | (other == label)
        entry: dict[str, Any] = {"live": live, "ope_decisions": int(known.sum())}
        both = known & (other != "")
        if both.any():
            served_model = np.asarray(
                [
                    fv.candidates[c]
                    for (fv, _), c in zip(logged.contexts, logged.chosen, strict=True)
                ]
            )
            other_model = np.asarray([m or "" for m in logged.other_model])
            entry["agreement"] = float((served_model[both] == other_model[both]).mean())
        q_policy = np.bincount(
            logged.decision_of_row, weights=np.nan_to_num(target) * q, minlength=len(served)
        )
        rows = logged.logged_rows
        try:
            est = estimate_all(
                logged.propensity[known],
                target[rows][known],
                logged.rewards[known],
                q[rows][known],
                q_policy[known],
                min_ess=min_ess,
            )
            entry.update({"ess": est["ess"], "dr": est["dr"], "snips": est["snips"]})
        except ConfigError as exc:
            entry["refused"] = str(exc)
        out[label] = entry
    return out


def evaluate_policy(
    logged: LoggedDecisions,
    policy: Policy,
    min_ess: float = 200.0,
    folds: int = 2,
    seed: int = 0,
    progress: Callable[[int], None] = lambda _n: None,
) -> dict[str, Any]:
    """IPS, SNIPS and DR of ``policy`` on ``logged`` (see :func:`training.ope.estimate_all`)."""
    target = np.empty(len(logged.features))
    for i, (fv, ctx) in enumerate(logged.contexts):
        start = logged.first_row[i]
        target[start : start + len(fv.candidates)] = policy.distribution(fv, ctx)
        progress(1)
    q = cross_fit(
        logged.features,
        logged.rewards,
        logged.logged_rows,
        logged.decision_of_row,
        folds=folds,
        seed=seed,
    )
    q_policy = np.bincount(logged.decision_of_row, weights=target * q)
    out = estimate_all(
        logged.propensity,
        target[logged.logged_rows],
        logged.rewards,
        q[logged.logged_rows],
        q_policy,
        min_ess=min_ess,
    )
    out["logged_value"] = float(logged.rewards.mean())
    out["logged_policies"] = logged.policies
    out["skipped"] = logged.skipped
    return out


def log_to_mlflow(result: dict[str, Any], params: dict[str, Any], tracking_uri: str) -> str:
    """Record an evaluation as a run of the ``model-selector-ope`` experiment; its id."""
    from models.registry import client, experiment_id

    c = client(tracking_uri)
    run = c.create_run(experiment_id(c, tracking_uri, EXPERIMENT), tags={"job": "ope"})
    rid = str(run.info.run_id)
    for k, v in params.items():
        c.log_param(rid, k, v)
    c.log_metric(rid, "decisions", result["decisions"])
    c.log_metric(rid, "ess", result["ess"])
    c.log_metric(rid, "logged_value", result["logged_value"])
    for est in ("ips", "snips", "dr"):
        if est in result:
            for k in ("value", "low", "high"):
                c.log_metric(rid, f"{est}_{k}" if k != "value" else est, result[est][k])
    c.log_dict(rid, result, "ope.json")
    c.set_terminated(rid)
    return rid


def log_comparison(found: dict[str, dict[str, Any]], log: str, tracking_uri: str) -> str:
    """Record a comparison as a run of the ``model-selector-ope`` experiment; its id."""
    import re

    from models.registry import client, experiment_id

    c = client(tracking_uri)
    run = c.create_run(experiment_id(c, tracking_uri, EXPERIMENT), tags={"job": "compare"})
    rid = str(run.info.run_id)
    c.log_param(rid, "log", log)
    for i, (label, e) in enumerate(found.items()):
        c.log_param(rid, f"policy_{i}", label)
        key = re.sub(r"[^A-Za-z0-9_.-]+", "_", label)
        c.log_metric(rid, f"{key}.served", e["live"]["decisions"])
        if "reward" in e["live"]:
            c.log_metric(rid, f"{key}.observed_reward", e["live"]["reward"])
        if "dr" in e:
            c.log_metric(rid, f"{key}.dr", e["dr"]["value"])
            c.log_metric(rid, f"{key}.ess", e["ess"])
    c.log_dict(rid, found, "compare.json")
    c.set_terminated(rid)
    return rid
