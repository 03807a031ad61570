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

import re
from collections.abc import Callable
from typing import Any

import numpy as np

from core.errors import ConfigError
from models.registry import client, experiment_id
from selector.policy import Policy
from training.logged_decisions import LoggedDecisions
from training.ope import cross_fit, estimate_all

__all__ = ["compare", "evaluate_policy", "log_comparison", "log_to_mlflow"]

EXPERIMENT = "model-selector-ope"


def _live(rewards: np.ndarray) -> dict[str, Any]:
    """The observed mean reward of the decisions a policy served, with a normal 95 %
    interval."""
    live: dict[str, Any] = {"decisions": len(rewards)}
    if len(rewards):
        half = (
            1.96 * float(rewards.std(ddof=1)) / np.sqrt(len(rewards))
            if len(rewards) > 1
            else float("nan")
        )
        mean = float(rewards.mean())
        live.update({"reward": mean, "low": mean - half, "high": mean + half})
    return live


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
    served_model = np.asarray(
        [fv.candidates[c] for (fv, _), c in zip(logged.contexts, logged.chosen, strict=True)]
    )
    other_model = np.asarray([m or "" for m in logged.other_model])
    out: dict[str, dict[str, Any]] = {}
    for label in labels:
        live = _live(logged.rewards[served == label])
        target = np.where(
            row_served == label,
            logged.served_probs,
            np.where(row_other == label, logged.other_probs, np.nan),
        )
        known = (served == label) | (other == label)
        entry: dict[str, Any] = {"live": live, "ope_decisions": int(known.sum())}
        both = known & (other != "")
        if both.any():
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
