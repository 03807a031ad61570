"""What the online layer's experiments measure: how fast a model's share follows its
optimum after a change (:func:`adaptation`), and whether the logged propensities are
those the choices followed (:func:`propensity_test`)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from selector.store import LogReader

__all__ = ["OFFLINE", "ONLINE", "TARGETS", "TOLERANCE", "adaptation", "propensity_test"]

ONLINE, OFFLINE = "bandit-v2", "utility-v0"
TOLERANCE = 0.05
TARGETS = {
    "cliff_decisions": 300,
    "regression_feedback": 1_500,
    "exploration_cost": 0.02,
    "dr_coverage": 0.90,
}


def adaptation(
    choices: pd.DataFrame,
    model: str,
    start_s: float,
    end_s: float,
    window: int,
    group: str | None = None,
    feedback_t: list[float] | None = None,
    tolerance: float = TOLERANCE,
) -> dict[str, Any]:
    """How long after ``start_s`` the share of ``model`` (on ``group``'s turns, if given)
    over the last ``window`` decisions came within ``tolerance`` of the oracle's share on
    the same turns. Counted in decisions since the change (all groups), and in feedback
    events since the change when ``feedback_t`` is given.

    >>> rows = [(i, "g", "a" if i < 130 else "b", "b") for i in range(300)]
    >>> a = adaptation(pd.DataFrame(rows, columns=["t", "group", "chosen", "optimum"]),
    ...                "a", 100, 300, window=20)
    >>> a["decisions"], a["share_before"], a["optimum_after"]
    (49, 1.0, 0.0)
    """
    period = choices[(choices["t"] >= start_s) & (choices["t"] < end_s)].reset_index(drop=True)
    scope = period if group is None else period[period["group"] == group]
    before = choices[choices["t"] < start_s]
    if group is not None:
        before = before[before["group"] == group]
    before = before.tail(window)
    sel = (scope["chosen"] == model).astype(float).rolling(window).mean()
    opt = (scope["optimum"] == model).astype(float).rolling(window).mean()
    within = ((sel - opt).abs() <= tolerance + 1e-12).to_numpy()
    hits = np.flatnonzero(within)
    share_before = float((before["chosen"] == model).mean()) if len(before) else None
    optimum_after = float((scope["optimum"] == model).iloc[window:].mean())
    out: dict[str, Any] = {
        "model": model,
        "group": group,
        # a change that did not move the optimum away from the share has nothing to measure
        "measurable": share_before is not None and abs(share_before - optimum_after) > tolerance,
        "window": window,
        "tolerance": tolerance,
        "turns_in_scope": len(scope),
        "share_before": share_before,
        "optimum_before": float((before["optimum"] == model).mean()) if len(before) else None,
        "share_after": float((scope["chosen"] == model).iloc[window:].mean()),
        "optimum_after": optimum_after,
        "decisions": None,
        "feedback_events": None,
        "windows_within_after": None,
    }
    if len(hits) and out["measurable"]:
        i = int(hits[0])
        t_hit = float(scope["t"].iloc[i])
        out["decisions"] = int(scope.index[i]) + 1  # decisions since the change, all groups
        if feedback_t is not None:
            ft = np.asarray(feedback_t)
            out["feedback_events"] = int(((ft >= start_s) & (ft <= t_hit)).sum())
        out["windows_within_after"] = float(within[i:].mean())
    out["curve"] = _curve(choices, scope, model, start_s, window, group, feedback_t)
    return out


def _curve(
    choices: pd.DataFrame,
    scope: pd.DataFrame,
    model: str,
    start_s: float,
    window: int,
    group: str | None,
    feedback_t: list[float] | None,
) -> dict[str, Any]:
    """The share and its optimum to plot, by decisions (and feedback events) since the
    change."""
    # the curve to plot starts two windows before the change (x < 0), so the fall shows
    ordered = choices.reset_index(drop=True)
    first = int(np.searchsorted(ordered["t"].to_numpy(), start_s))
    pre = ordered.iloc[:first]
    if group is not None:
        pre = pre[pre["group"] == group]
    pre = pre.tail(2 * window)
    pre_pos = [int(i) - first + 1 for i in pre.index]
    joined = pd.concat([pre, scope])
    x_all = pre_pos + [int(x) + 1 for x in scope.index]
    sel_all = (joined["chosen"] == model).astype(float).rolling(window).mean()
    opt_all = (joined["optimum"] == model).astype(float).rolling(window).mean()
    curve: dict[str, Any] = {
        "index": x_all[window - 1 :],
        "share": sel_all.iloc[window - 1 :].round(4).tolist(),
        "optimum": opt_all.iloc[window - 1 :].round(4).tolist(),
    }
    if feedback_t is not None:
        ft = np.sort(np.asarray(feedback_t))
        times = joined["t"].iloc[window - 1 :].to_numpy()
        curve["feedback"] = (
            np.searchsorted(ft, times, side="right") - np.searchsorted(ft, start_s)
        ).tolist()
    return curve


def propensity_test(db_path: Path, policy: str = ONLINE) -> dict[str, Any]:
    """χ² test of the models chosen against the probabilities logged with each decision.

    For decision i with logged distribution pᵢ over models, the count vector O has mean
    E = Σ pᵢ and covariance Σᵢ (diag pᵢ − pᵢpᵢᵀ); (O − E)ᵀ Σ⁺ (O − E) is χ² with
    (models − 1) degrees of freedom when the choices follow the logged probabilities.
    """
    with LogReader(db_path) as reader:
        rows = reader.choices(policy)
    if not rows:
        raise ValueError(f"no {policy} decisions in {db_path}")
    models = sorted({s["model"] for _, scores in rows for s in scores})
    col = {m: j for j, m in enumerate(models)}
    observed = np.zeros(len(models))
    expected = np.zeros(len(models))
    cov = np.zeros((len(models), len(models)))
    for chosen, scores in rows:
        p = np.zeros(len(models))
        for s in scores:
            p[col[s["model"]]] = s.get("probability") or 0.0
        observed[col[chosen]] += 1
        expected += p
        cov += np.diag(p) - np.outer(p, p)
    diff = observed - expected
    stat = float(diff @ np.linalg.pinv(cov, rcond=1e-10) @ diff)
    dof = int(np.linalg.matrix_rank(cov, tol=1e-10))
    return {
        "decisions": len(rows),
        "chi2": stat,
        "dof": dof,
        "p_value": float(stats.chi2.sf(stat, dof)),
        "observed": dict(zip(models, observed.astype(int).tolist(), strict=True)),
        "expected": dict(zip(models, expected.round(1).tolist(), strict=True)),
    }
