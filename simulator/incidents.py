"""How a policy goes through an incident: how many decisions it takes to leave a model
in trouble, and to come back to it once the trouble is over (:func:`recovery`), for each
policy of a replayed day (:func:`incidents`), summarised over many days
(:func:`recovery_summary`) for ``selector measure-worlds`` and the incident replay."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from simulator.replay import ReplayResult
from simulator.scenario import Event, Spike

__all__ = [
    "LEAVE_SHARE",
    "ORACLE",
    "RECOVERY_TARGETS",
    "USED_SHARE",
    "Incident",
    "incident_lines",
    "incidents",
    "latency_incidents",
    "recovery",
    "recovery_summary",
    "replay_lines",
    "spike_incidents",
]

ORACLE = "oracle"

# an incident: decisions until the troubled model's share is below LEAVE_SHARE, and after
# its end until the share is back to BACK_SHARE of what it was before; medians and 90th
# percentiles over the incidents measured
RECOVERY_TARGETS = {"leave_median": 100, "leave_p90": 300, "back_median": 300, "back_p90": 1_000}
LEAVE_SHARE, BACK_SHARE = 0.10, 0.8
USED_SHARE = 0.2  # a model the policy gave less of its decisions before has nothing to leave
RECOVERY_WINDOW = 50  # decisions the share is taken over


def recovery(
    chosen: Sequence[str],
    t: Sequence[float],
    model: str,
    start_s: float,
    end_s: float,
    window: int = RECOVERY_WINDOW,
) -> dict[str, Any]:
    """How a policy went through an incident that hit ``model`` from ``start_s`` to
    ``end_s``, from its decisions in order (the model ``chosen`` at each time ``t``):

    - ``share_before``: the model's share of the last 4 × ``window`` decisions before;
    - ``leave``: decisions from the start until its share of the last ``window``
      decisions is below :data:`LEAVE_SHARE` (None: not during the incident);
    - ``back``: decisions from the end until that share is back to :data:`BACK_SHARE`
      of ``share_before`` (None: not by the end of the day; not measured when it did not
      leave).

    ``measurable`` when the policy gave the model at least :data:`USED_SHARE` of its
    decisions before.

    >>> picks = ["a"] * 300 + ["b"] * 200 + ["a"] * 300
    >>> r = recovery(picks, range(800), "a", 300, 400, window=10)
    >>> r["share_before"], r["leave"], r["back"]
    (1.0, 10, 108)
    """
    times = np.asarray(t, dtype=float)
    hit = np.asarray([c == model for c in chosen], dtype=float)
    first, last = np.searchsorted(times, [start_s, end_s])
    before = hit[max(0, first - 4 * window) : first]
    share_before = float(before.mean()) if len(before) >= window else None
    rolling = np.convolve(hit, np.ones(window) / window)[: len(hit)]  # share up to each
    rolling[: window - 1] = np.nan  # fewer than a window's decisions so far
    out: dict[str, Any] = {
        "model": model,
        "share_before": share_before,
        "measurable": share_before is not None and share_before >= USED_SHARE,
        "share_during": float(hit[first:last].mean()) if last > first else None,
        "leave": None,
        "back": None,
    }
    if not out["measurable"] or share_before is None:
        return out
    left = np.flatnonzero(rolling[first:last] < LEAVE_SHARE - 1e-12)
    if not len(left):
        return out
    out["leave"] = int(left[0]) + 1
    back = np.flatnonzero(rolling[last:] >= BACK_SHARE * share_before - 1e-12)
    if len(back):
        out["back"] = int(back[0]) + 1
    return out


@dataclass(frozen=True)
class Incident:
    """A model in trouble from ``start_s`` to ``end_s`` (seconds of the day)."""

    model: str
    start_s: float
    end_s: float
    multiplier: float = 1.0


def latency_incidents(events: Sequence[Event]) -> list[Incident]:
    """The day's latency events as incidents."""
    return [
        Incident(e.model, e.start_hour * 3600.0, e.end_hour * 3600.0, e.multiplier)
        for e in events
        if e.kind == "latency"
    ]


def spike_incidents(spikes: Sequence[Spike], models: Sequence[str]) -> list[Incident]:
    """Each model over each traffic spike: the spike may push it past its capacity."""
    return [
        Incident(m, s.start_hour * 3600.0, s.end_hour * 3600.0, s.multiplier)
        for s in spikes
        for m in models
    ]


def replay_lines(found: Sequence[dict[str, Any]], policies: Sequence[str]) -> list[str]:
    """The incident replay's table: for each incident the oracle left, the decisions each
    policy took to leave the model and to come back."""
    worth = [i for i in found if i["worth_leaving"]]
    if not worth:
        return []
    lines = [
        "## Incidents",
        "",
        "Models the oracle left while in trouble (at least 20 % of its turns before, under "
        "10 % during). Decisions of each policy until the model's share of its last 50 is "
        "under 10 % (leave), and after the end until it is back to 80 % of its share "
        "before (back); – where the policy gave the model under 20 % of its turns before.",
        "",
        "| model | from – to | " + " | ".join(f"{p}: leave / back" for p in policies) + " |",
        "|---|---|" + "---|" * len(policies),
    ]

    def cell(r: dict[str, Any]) -> str:
        if not r["measurable"]:
            return "–"
        leave = "never" if r["leave"] is None else f"{r['leave']:,}"
        back = "never" if r["back"] is None else f"{r['back']:,}"
        return f"{leave} / {back}" if r["leave"] is not None else leave

    for i in worth:
        hours = f"{i['start_s'] / 3600:05.2f} – {i['end_s'] / 3600:05.2f} h"
        cells = " | ".join(cell(i["policies"][p]) for p in policies if p in i["policies"])
        lines.append(f"| {i['model']} | {hours} | {cells} |")
    return [*lines, ""]


def incidents(found: Sequence[Incident], results: Sequence[ReplayResult]) -> list[dict[str, Any]]:
    """How every policy went through each incident (:func:`recovery`); ``worth_leaving``
    when the oracle, which knows the world's truth, gave the model at least the used
    share of its decisions before and less than the leaving share during it."""
    days = {}  # each policy's decisions in the order of the day, read once
    for r in results:
        turns = r.turns.sort_values("t", kind="stable")
        days[r.policy] = (turns["chosen"].tolist(), turns["t"].tolist())
    out = []
    for e in found:
        start_s, end_s = e.start_s, e.end_s
        by_policy = {
            p: recovery(chosen, t, e.model, start_s, end_s) for p, (chosen, t) in days.items()
        }
        oracle = by_policy[ORACLE]
        during, before = oracle["share_during"], oracle["share_before"]
        out.append(
            {
                "model": e.model,
                "start_s": start_s,
                "end_s": end_s,
                "multiplier": e.multiplier,
                "worth_leaving": during is not None
                and before is not None
                and before >= USED_SHARE
                and during < LEAVE_SHARE,
                "policies": by_policy,
            }
        )
    return out


def recovery_summary(worlds: list[dict[str, Any]]) -> dict[str, Any]:
    """Per policy, over the incidents worth leaving on a model it used before: how many,
    the median and 90th percentile of the decisions it took to leave and to come back
    (never counts as infinitely many), and how often it never did."""
    out: dict[str, Any] = {}
    found = [i for w in worlds for i in w.get("incidents", []) if i["worth_leaving"]]
    policies = list(found[0]["policies"]) if found else []
    for p in policies:
        measured = [i["policies"][p] for i in found if i["policies"][p]["measurable"]]
        leave = np.array([math.inf if r["leave"] is None else r["leave"] for r in measured])
        left = [r for r in measured if r["leave"] is not None]
        back = np.array([math.inf if r["back"] is None else r["back"] for r in left])
        out[p] = {
            "incidents": len(measured),
            "never_left": len(measured) - len(left),
            "never_back": sum(r["back"] is None for r in left),
            **_quantiles("leave", leave),
            **_quantiles("back", back),
        }
    return out


def _quantiles(name: str, values: np.ndarray) -> dict[str, float | None]:
    """Median and 90th percentile of ``values`` (None: none, or never)."""
    out: dict[str, float | None] = {}
    ranked = np.sort(values)
    for key, q in (("median", 0.5), ("p90", 0.9)):
        # the value at or above which lies the share 1 − q of the incidents (no interpolation)
        value = float(ranked[math.ceil(q * len(ranked)) - 1]) if len(ranked) else math.inf
        out[f"{name}_{key}"] = value if value < math.inf else None
    return out


def incident_lines(found: dict[str, Any]) -> list[str]:
    """The incidents' table: decisions to leave a model in trouble and to come back."""
    if not found:
        return []

    def n(value: float | None) -> str:
        return "never" if value is None else f"{value:,.0f}"

    t = RECOVERY_TARGETS
    lines = [
        "## Latency incidents",
        "",
        "Incidents the oracle left (a model it gave at least 20 % of its decisions before, "
        "and under 10 % while the incident lasted), on a model the policy gave at least 20 % "
        "of its decisions before. Leave: decisions from "
        "the start until the model's share of the last 50 is under 10 %; back: decisions from "
        "the end until that share is back to 80 % of what it was before. Targets: leave "
        f"median ≤ {t['leave_median']}, 90th percentile ≤ {t['leave_p90']}; back median ≤ "
        f"{t['back_median']}, 90th percentile ≤ {t['back_p90']}.",
        "",
        "| policy | incidents | leave: median | leave: 90th pct. | never left | back: median "
        "| back: 90th pct. | never back |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for p, d in found.items():
        if not d["incidents"]:
            continue
        lines.append(
            f"| {p} | {d['incidents']} | {n(d['leave_median'])} | {n(d['leave_p90'])} "
            f"| {d['never_left']} | {n(d['back_median'])} | {n(d['back_p90'])} "
            f"| {d['never_back']} |"
        )
    return [*lines, ""]
