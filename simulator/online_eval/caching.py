"""The prompt cache in a generated world: the selector that prices it against the same
selector that ignores it.

In a world whose providers cache prompts (:func:`simulator.generated_worlds.generate`
draws a cache for most models of two worlds in three), the default policy runs its day
three ways on the same customers and dice: as served (``SELECTOR_PROMPT_CACHE`` on:
the conversation's prefix priced at the cached rate on the model that served its
previous turn; ``SELECTOR_STICKY_DRAWS`` on: one random draw per conversation), with
the cache ignored (both off: every prompt priced in full, a fresh draw every turn), and
priced with a fresh draw every turn (what the pricing alone does). The provider bills
the cache in every run: what differs is only what the selector knows. Each way may run
on several days, the selector's seed varied: a cold selector's day costs what the model
it happened to settle on costs, so one day per world is a noisy measure. Figures per
world, on conversations of :data:`LONG` user turns or more and on all, against the run
with the cache ignored:

- ``cost_cut``: 1 − cost per conversation priced ÷ ignored (> 0: the cache-aware one
  spends less);
- ``reward_gain``: reward per conversation priced − ignored (≥ 0: equal or better);
- ``switches``: the share of a conversation's turns after the first answered by another
  model than the turn before, each way;
- ``cached_share``: the share of prompt tokens read from the cache, each way.

Target: on conversations of 6 turns or more, ≥ 15 % lower cost at equal or better reward.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from simulator.replay import ReplayResult

__all__ = ["LONG", "cache_lines", "cache_summary", "measure_cache", "plot_caching"]

LONG = 6  # user turns: a conversation long enough for its prefix to matter
IGNORED = {"prompt_cache": False, "sticky_draws": False}  # the service's settings
FRESH_DRAWS = {"sticky_draws": False}
_TARGET_CUT = 0.15


def _mean(each: Sequence[dict[str, float]]) -> dict[str, float]:
    """Each figure's mean over days (the same day, other seeds)."""
    return {k: float(np.mean([e[k] for e in each])) for k in each[0]}


def _day_figures(result: ReplayResult, long_only: bool) -> dict[str, float]:
    """Cost and reward per conversation, switches and cached share of one day, on its
    long conversations or all."""
    conv, turns = result.conversations, result.turns
    if long_only:
        conv = conv[conv["user_turns"] >= LONG]
        turns = turns[turns["conversation"].isin(conv["conversation"])]
    served = turns.sort_values(["conversation", "user_turn"])
    before = served.groupby("conversation")["served"].shift()
    later = before.notna() & served["served"].notna()
    moved = (served["served"] != before) & later
    return {
        "conversations": len(conv),
        "cost": float(conv["cost_usd"].mean()),
        "reward": float(conv["reward"].mean()),
        "switches": float(moved.sum() / max(1, int(later.sum()))),
        "cached_share": float(turns["cached_tokens"].sum() / max(1, turns["prompt_tokens"].sum())),
    }


def _compare(
    priced: Sequence[ReplayResult], ignored: Sequence[ReplayResult], long_only: bool
) -> dict[str, Any]:
    days_a = [_day_figures(d, long_only) for d in priced]
    days_b = [_day_figures(d, long_only) for d in ignored]
    a, b = _mean(days_a), _mean(days_b)
    each = [  # one day's cut beside its own ignored day: the spread between seeds
        1.0 - p["cost"] / i["cost"] for p, i in zip(days_a, days_b, strict=True)
    ]
    return {
        "conversations": int(a["conversations"]),
        "days": len(priced),
        "priced": a,
        "ignored": b,
        "cost_cut": 1.0 - a["cost"] / b["cost"] if b["cost"] > 0 else None,
        "cost_cut_each_day": each,
        "reward_gain": a["reward"] - b["reward"],
    }


def measure_cache(
    catalog: list[dict[str, Any]],
    priced: ReplayResult,
    run: Callable[[dict[str, Any]], ReplayResult],
    seeds: Sequence[int] = (),
) -> dict[str, Any] | None:
    """The cache figures of one world: ``priced`` is the default policy's day as served;
    ``run(overrides)`` replays the day with those settings. With ``seeds``, each way
    runs again with each as ``SELECTOR_SEED`` (the selector's draws, not the world's),
    and a world's figures are means over its days: a single day's cost follows which
    model the cold selector happened to settle on. None in a world whose catalog prices
    no cache."""
    if not any(e.get("cached_input_usd_per_mtok") is not None for e in catalog):
        return None

    def days(overrides: dict[str, Any]) -> list[ReplayResult]:
        return [run(overrides), *(run({**overrides, "seed": s}) for s in seeds)]

    ignored = days(IGNORED)
    priced_days = [priced, *(run({"seed": s}) for s in seeds)]
    long = _compare(priced_days, ignored, long_only=True)
    if long["conversations"] == 0:
        return None
    return {
        "models_cached": sum(e.get("cached_input_usd_per_mtok") is not None for e in catalog),
        "long": long,
        "all": _compare(priced_days, ignored, long_only=False),
        "priced_fresh_draws": _compare(days(FRESH_DRAWS), ignored, long_only=True),
    }


def cache_summary(worlds: list[dict[str, Any]]) -> dict[str, Any]:
    """The distribution of the cache figures over the worlds that have them."""
    found = [w["cache"] for w in worlds if w.get("cache")]
    found = [c for c in found if c["long"]["cost_cut"] is not None]
    long = [c["long"] for c in found]
    if not long:
        return {}
    fresh = [c["priced_fresh_draws"] for c in found]
    cut = np.array([c["cost_cut"] for c in long])
    gain = np.array([c["reward_gain"] for c in long])
    pooled = pd.DataFrame(
        [(c["conversations"], c["priced"]["cost"], c["ignored"]["cost"]) for c in long],
        columns=["n", "priced", "ignored"],
    )
    spread = [max(c["cost_cut_each_day"]) - min(c["cost_cut_each_day"]) for c in long]
    return {
        "worlds": len(long),
        "days": min(c["days"] for c in long),
        "cut_spread_p50": float(np.median(spread)),
        "cost_cut_p50": float(np.median(cut)),
        "cost_cut_p10": float(np.percentile(cut, 10)),
        "cost_cut_min": float(cut.min()),
        "cost_cut_pooled": float(
            1.0 - (pooled["n"] * pooled["priced"]).sum() / (pooled["n"] * pooled["ignored"]).sum()
        ),
        "reward_gain_p50": float(np.median(gain)),
        "reward_gain_min": float(gain.min()),
        "reward_not_lower": float(np.mean(gain >= 0)),
        "on_target": float(np.mean((cut >= _TARGET_CUT) & (gain >= 0))),
        "switches_priced_p50": float(np.median([c["priced"]["switches"] for c in long])),
        "switches_ignored_p50": float(np.median([c["ignored"]["switches"] for c in long])),
        "cached_priced_p50": float(np.median([c["priced"]["cached_share"] for c in long])),
        "cached_ignored_p50": float(np.median([c["ignored"]["cached_share"] for c in long])),
        "fresh_cost_cut_p50": float(np.median([c["cost_cut"] for c in fresh])),
        "fresh_reward_gain_p50": float(np.median([c["reward_gain"] for c in fresh])),
        "switches_fresh_p50": float(np.median([c["priced"]["switches"] for c in fresh])),
    }


def cache_lines(s: dict[str, Any]) -> list[str]:
    """The report's section on the prompt cache (nothing when no world had one)."""
    if not s:
        return []
    return [
        "## The prompt cache",
        "",
        f"{s['worlds']} worlds whose providers cache prompts; the default policy pricing the "
        "cache against the same policy with `SELECTOR_PROMPT_CACHE=false`, on conversations "
        f"of {LONG} user turns or more (`simulator/online_eval/caching.py`).",
        "",
        "| figure | median | 10th percentile | worst | target |",
        "|---|---|---|---|---|",
        f"| cost cut per conversation | {s['cost_cut_p50']:.1%} | {s['cost_cut_p10']:.1%} "
        f"| {s['cost_cut_min']:.1%} | ≥ 15 % |",
        f"| reward per conversation, priced − ignored | {s['reward_gain_p50']:+.4f} | – "
        f"| {s['reward_gain_min']:+.4f} | ≥ 0 |",
        "",
        f"Pooled over the worlds' long conversations, the cost cut is "
        f"{s['cost_cut_pooled']:.1%}; reward is not lower in {s['reward_not_lower']:.0%} of "
        f"the worlds, and both targets hold together in {s['on_target']:.0%}. A turn answered "
        f"by another model than the turn before: {s['switches_priced_p50']:.1%} priced, "
        f"{s['switches_ignored_p50']:.1%} ignored (medians); prompt tokens read from the "
        f"cache: {s['cached_priced_p50']:.1%} and {s['cached_ignored_p50']:.1%}. The price "
        f"alone, with a fresh draw every turn: a median cost cut of "
        f"{s['fresh_cost_cut_p50']:.1%} and reward {s['fresh_reward_gain_p50']:+.4f}, "
        f"{s['switches_fresh_p50']:.1%} of turns switching.",
        "",
        *_spread_line(s),
        "![prompt cache](caching.png)",
        "",
    ]


def _spread_line(s: dict[str, Any]) -> list[str]:
    if s["days"] < 2:
        return [
            "One day each way per world: its cut follows which model the cold selector "
            "happened to settle on (`--cache-days` runs more).",
            "",
        ]
    return [
        f"Each figure is a world's mean over {s['days']} days each way (the same customers, "
        "`SELECTOR_SEED` varied); one day's cut against its own ignored day spans a median "
        f"{s['cut_spread_p50']:.0%} between a world's days.",
        "",
    ]


def plot_caching(worlds: list[dict[str, Any]], path: Path) -> Path:
    """Each world's cost cut against its reward difference on long conversations."""
    from training.plots import pyplot, save

    long = [w["cache"]["long"] for w in worlds if w.get("cache")]
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(5.5, 3.8))
    ax.scatter([c["cost_cut"] for c in long], [c["reward_gain"] for c in long], s=16)
    ax.axvline(_TARGET_CUT, color="tab:red", ls="--", lw=0.8, label="15 % cheaper")
    ax.axhline(0.0, color="0.4", ls=":", lw=0.8)
    ax.set_xlabel("cost cut per conversation (priced vs ignored)")
    ax.set_ylabel("reward per conversation, priced − ignored")
    ax.legend(fontsize=8)
    ax.set_title(f"Prompt cache priced or ignored, {len(long)} worlds, {LONG}+ user turns")
    return save(plt, fig, path)
