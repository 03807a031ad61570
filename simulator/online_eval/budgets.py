"""A spend budget in a generated world: the paced selector against the best fixed cost
weight chosen with hindsight.

In each world the default policy first runs its day unpaced; its spend is the day's
*demand*. It runs the day again with each cost weight of a grid (the world's own λ
times 1 to 1,000, 13 steps apart by ×1.78), the least of whose spends is the *floor*
(what the day costs at the least). The world then gets a binding budget for a period of
one day: the floor plus a drawn share (20 % to 80 %, seeded by the world) of the way
from it to the demand, and the selector runs the day with ``SELECTOR_BUDGET_USD`` set
(its λ paced by :mod:`selector.online.budget`). A budget under the floor could only be
overshot, one over the demand is not binding; a world whose floor is within 5 % of its
demand has no budget worth pacing and is left out. Figures per world:

- ``overshoot``: spend over the budget at the day's end, as a share of it (≤ 0: none);
- ``unused``: budget left at the day's end, as a share of it (the demand exceeds the
  budget in every world, by construction);
- ``reward_ratio``: the paced day's reward per conversation over that of the best
  fixed weight whose day kept to the budget (to 1 % of it). The grid's steps make the
  best fixed weight a little worse than the continuous one: the ratio is read against a
  comparator slightly easier than the exact one.

Targets: overshoot ≤ 1 % in 95 % of worlds, unused ≤ 5 % where
demand exceeds the budget, reward ≥ 0.95 of the best fixed weight.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from simulator.replay import ReplayResult

__all__ = ["GRID", "POLICY", "budget_lines", "budget_summary", "measure_budget", "plot_budgets"]

POLICY = "bandit-v2"
GRID = tuple(float(x) for x in np.geomspace(1.0, 1_000.0, 13))  # × the world's λ (1: unpaced)
_KEPT = 1.01  # a fixed weight "keeps to the budget" within 1 % of it
_ROOM = 0.05  # a world is measured when the least spend is 5 % or more under the demand


def _figures(result: ReplayResult) -> tuple[float, float]:
    """The day's spend (USD) and reward per conversation."""
    return float(result.turns["cost_usd"].sum()), float(result.conversations["reward"].mean())


def measure_budget(
    seed: int,
    cost_weight: float,
    unpaced: ReplayResult,
    run: Callable[[dict[str, Any]], ReplayResult],
) -> dict[str, Any] | None:
    """The budget figures of one world: ``unpaced`` is the default policy's day without
    a budget; ``run(overrides)`` replays the day through the service with those settings.
    None when no fixed weight spends 5 % less than the demand (no budget would bind)."""
    demand, unpaced_reward = _figures(unpaced)
    fixed = [{"factor": 1.0, "spent": demand, "reward": unpaced_reward}]  # the world's λ
    for factor in GRID[1:]:
        s, r = _figures(run({"cost_weight": cost_weight * factor}))
        fixed.append({"factor": factor, "spent": s, "reward": r})
    floor = min(f["spent"] for f in fixed)  # the least a fixed weight spends
    if floor > (1.0 - _ROOM) * demand:  # no budget between them binds: nothing to pace
        return None
    share = float(np.random.default_rng((seed, 0xB0D6E7)).uniform(0.2, 0.8))
    budget = floor + share * (demand - floor)
    spent, reward = _figures(run({"budget_usd": budget, "budget_period_s": 86_400.0}))
    kept = [f for f in fixed if f["spent"] <= _KEPT * budget]
    best = max(kept, key=lambda f: f["reward"]) if kept else None
    ratio = None
    if best is not None and best["reward"] > 0:
        ratio = reward / best["reward"]
    return {
        "demand_usd": demand,
        "budget_usd": budget,
        "floor_usd": floor,
        "budget_share_of_demand": budget / demand,
        "spent_usd": spent,
        "overshoot": spent / budget - 1.0,
        "unused": max(0.0, 1.0 - spent / budget),
        "reward": reward,
        "best_fixed": best,
        "reward_ratio": ratio,
        "fixed": fixed,
    }


def budget_summary(worlds: list[dict[str, Any]]) -> dict[str, Any]:
    """The distribution of the budget figures over the worlds that have them."""
    found = [w["budget"] for w in worlds if w.get("budget")]
    if not found:
        return {}
    over = np.array([b["overshoot"] for b in found])
    unused = np.array([b["unused"] for b in found])
    ratios = np.array([b["reward_ratio"] for b in found if b["reward_ratio"] is not None])
    out: dict[str, Any] = {
        "worlds": len(found),
        "overshoot_p50": float(np.median(over)),
        "overshoot_p95": float(np.percentile(over, 95)),
        "overshoot_max": float(over.max()),
        "within_1pct": float(np.mean(over <= 0.01)),
        "unused_p50": float(np.median(unused)),
        "unused_p95": float(np.percentile(unused, 95)),
        "unused_within_5pct": float(np.mean(unused <= 0.05)),
        "compared": int(ratios.size),
    }
    if ratios.size:
        out |= {
            "reward_ratio_p50": float(np.median(ratios)),
            "reward_ratio_p10": float(np.percentile(ratios, 10)),
            "reward_ratio_min": float(ratios.min()),
            "reward_ratio_at_least_095": float(np.mean(ratios >= 0.95)),
        }
    return out


def budget_lines(s: dict[str, Any]) -> list[str]:
    """The report's section on budgets (nothing when no world had one)."""
    if not s:
        return []
    lines = [
        "## A spend budget",
        "",
        f"{s['worlds']} worlds, `{POLICY}` with a day's budget 20–80 % of the way from the "
        "least a fixed cost weight spends to what it spends unpaced, against the best fixed "
        "cost weight with hindsight "
        "(`simulator/online_eval/budgets.py`).",
        "",
        "| figure | median | 95th percentile | worst | share of worlds on target | target |",
        "|---|---|---|---|---|---|",
        f"| overshoot at the day's end | {s['overshoot_p50']:+.2%} | {s['overshoot_p95']:+.2%} "
        f"| {s['overshoot_max']:+.2%} | {s['within_1pct']:.0%} | ≤ 1 % in 95 % of worlds |",
        f"| budget unused | {s['unused_p50']:.2%} | {s['unused_p95']:.2%} | – "
        f"| {s['unused_within_5pct']:.0%} | ≤ 5 % |",
    ]
    if "reward_ratio_p50" in s:
        lines.append(
            f"| reward ÷ best fixed weight's | {s['reward_ratio_p50']:.3f} "
            f"| {s['reward_ratio_p10']:.3f} (10th) | {s['reward_ratio_min']:.3f} "
            f"| {s['reward_ratio_at_least_095']:.0%} | ≥ 0.95 |"
        )
    return [*lines, "", "![budgets](budgets.png)", ""]


def plot_budgets(worlds: list[dict[str, Any]], path: Path) -> Path:
    """Each world's spend at the day's end over its budget, and its reward over the best
    fixed weight's: where a person would rather look than read."""
    from training.plots import pyplot, save

    found = [w["budget"] for w in worlds if w.get("budget")]
    plt = pyplot()
    fig, (left, right) = plt.subplots(1, 2, figsize=(9, 3.6))
    spent = [b["spent_usd"] / b["budget_usd"] for b in found]
    left.hist(spent, bins=20, color="tab:blue", alpha=0.8)
    left.axvline(1.0, color="0.3", ls=":", lw=0.8)
    left.axvline(1.01, color="tab:red", ls="--", lw=0.8, label="1 % over")
    left.axvline(0.95, color="tab:orange", ls="--", lw=0.8, label="5 % unused")
    left.set_xlabel("spend at the day's end ÷ budget")
    left.set_ylabel("worlds")
    left.legend(fontsize=8)
    pairs = [
        (b["budget_share_of_demand"], b["reward_ratio"])
        for b in found
        if b["reward_ratio"] is not None
    ]
    right.scatter([p[0] for p in pairs], [p[1] for p in pairs], s=14)
    right.axhline(0.95, color="tab:red", ls="--", lw=0.8)
    right.set_xlabel("budget ÷ unpaced spend")
    right.set_ylabel("reward ÷ best fixed weight's")
    fig.suptitle(f"A day's spend budget in {len(found)} generated worlds ({POLICY})")
    return save(plt, fig, path)
