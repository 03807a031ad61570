"""The replay's report: a summary table per policy, the targets, hourly series and plots.

Measures (all over the replayed day, every policy on the same conversations):

- **resolution rate**: conversations whose every answer was good, over conversations;
- **cost per conversation**: list price of the calls that answered (failed calls are
  not billed);
- **p95 latency**: of what the customer waited for each turn, failed attempts and
  fallbacks included;
- **reward per conversation**: resolved − cost / value − late penalty × turns after
  the deadline (the scenario's ``reward``), and as a share of the oracle's.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from simulator.incidents import incidents, latency_incidents, replay_lines, spike_incidents
from simulator.replay import ReplayResult
from simulator.replay_plots import plot
from simulator.scenario import Scenario
from simulator.world import World

__all__ = ["TARGETS", "hourly", "summarize", "targets", "write_report"]

SELECTOR, HEAVY, RULES, ORACLE = "selector", "always-heavy", "static-rules", "oracle"
ONLINE = "selector + online"
TARGETS = {
    "cost_reduction_vs_heavy": 0.50,
    "p95_reduction_vs_heavy": 0.60,
    "resolution_gap_vs_heavy_pts": -1.0,
    "reward_share_of_oracle": 0.90,
}


def summarize(results: list[ReplayResult]) -> pd.DataFrame:
    """One row per policy."""
    rows = []
    for r in results:
        t, c = r.turns, r.conversations
        shares = t["served"].value_counts(normalize=True)
        rows.append(
            {
                "policy": r.policy,
                "conversations": len(c),
                "turns": len(t),
                "resolution_rate": float(c["resolved"].mean()),
                "cost_per_conversation_usd": float(c["cost_usd"].mean()),
                "p50_latency_ms": float(np.percentile(t["latency_ms"], 50)),
                "p95_latency_ms": float(np.percentile(t["latency_ms"], 95)),
                "late_turn_share": float(t["late"].mean()),
                "failed_calls": int(t["errors"].sum()),
                "unanswered_turns": int(t["served"].isna().sum()),
                "reward_per_conversation": float(c["reward"].mean()),
                "top_model": str(shares.index[0]) if len(shares) else "",
                "top_model_share": float(shares.iloc[0]) if len(shares) else 0.0,
            }
        )
    out = pd.DataFrame(rows).set_index("policy")
    if ORACLE in out.index:
        oracle = float(out.loc[ORACLE, "reward_per_conversation"])  # type: ignore[arg-type]
        out["reward_share_of_oracle"] = out["reward_per_conversation"] / oracle
    return out


def targets(summary: pd.DataFrame, policy: str = SELECTOR) -> list[dict[str, Any]]:
    """The incident targets of ``policy``: against always-heavy, the static rules and the
    oracle. Rows whose baseline was not replayed are left out."""
    rows: dict[str, dict[str, Any]] = summary.to_dict(orient="index")  # type: ignore[assignment]
    if policy not in rows:
        return []
    s = rows[policy]
    out: list[dict[str, Any]] = []

    def add(name: str, value: float, goal: str, met: bool) -> None:
        out.append({"target": name, "value": value, "goal": goal, "met": bool(met)})

    if HEAVY in rows:
        h = rows[HEAVY]
        cost = 1 - s["cost_per_conversation_usd"] / h["cost_per_conversation_usd"]
        p95 = 1 - s["p95_latency_ms"] / h["p95_latency_ms"]
        # shares of whole conversations: 0.86 − 0.87 is −1 point, not −1.0000000000000009
        gap = round(100 * (s["resolution_rate"] - h["resolution_rate"]), 9)
        add("cost per conversation, lower than always-heavy by", cost, "≥ 50 %", cost >= 0.5)
        add("p95 latency, lower than always-heavy by", p95, "≥ 60 %", p95 >= 0.6)
        add("resolution rate − always-heavy's (points)", gap, "≥ −1", gap >= -1.0)
    if RULES in rows:
        r = rows[RULES]
        for label, col, better in (
            ("cost per conversation", "cost_per_conversation_usd", np.less),
            ("p95 latency", "p95_latency_ms", np.less),
            ("resolution rate", "resolution_rate", np.greater),
        ):
            add(
                f"{label} vs static rules (ratio)",
                float(s[col] / r[col]),
                "< 1" if better is np.less else "> 1",
                bool(better(s[col], r[col])),
            )
    if ORACLE in rows:
        share = float(s["reward_share_of_oracle"])
        add("reward per conversation, share of the oracle's", share, "≥ 90 %", share >= 0.9)
    return out


def hourly(results: list[ReplayResult]) -> dict[str, pd.DataFrame]:
    """Per policy and hour of the day: traffic share per model, p95 latency, cost per
    conversation and resolution rate (the last two by the hour the conversation began)."""
    out: dict[str, pd.DataFrame] = {}
    for r in results:
        t = r.turns.assign(hour=(r.turns["t"] // 3600).astype(int))
        c = r.conversations.assign(hour=(r.conversations["start_s"] // 3600).astype(int))
        share = pd.crosstab(t["hour"], t["served"].fillna("(none)"), normalize="index")
        frame = share.add_prefix("share:")
        frame["p95_latency_ms"] = t.groupby("hour")["latency_ms"].quantile(0.95)
        frame["cost_per_conversation_usd"] = c.groupby("hour")["cost_usd"].mean()
        frame["resolution_rate"] = c.groupby("hour")["resolved"].mean()
        frame["turns"] = t.groupby("hour").size()
        out[r.policy] = frame
    return out


def _fmt_summary(summary: pd.DataFrame) -> str:
    lines = [
        "| policy | resolution rate | cost / conversation | p50 / p95 latency | late turns "
        "| reward / conversation | share of oracle's reward | most used model |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for name, s in summary.iterrows():
        share = s.get("reward_share_of_oracle", float("nan"))
        lines.append(
            f"| {name} | {s['resolution_rate']:.1%} | ${s['cost_per_conversation_usd']:.4f} "
            f"| {s['p50_latency_ms']:,.0f} / {s['p95_latency_ms']:,.0f} ms "
            f"| {s['late_turn_share']:.1%} | {s['reward_per_conversation']:.4f} | {share:.1%} "
            f"| {s['top_model']} ({s['top_model_share']:.0%}) |"
        )
    return "\n".join(lines)


def _fmt_targets(checks: dict[str, list[dict[str, Any]]]) -> str:
    """One row per target, one column per policy measured."""
    policies = [p for p, rows in checks.items() if rows]
    if not policies:
        return "(no selector was replayed)"
    lines = [
        "| target | goal | " + " | ".join(policies) + " |",
        "|---|---|" + "---|" * len(policies),
    ]
    for i, first in enumerate(checks[policies[0]]):
        cells = []
        for p in policies:
            r = checks[p][i]
            v = r["value"]
            shown = (
                f"{v:+.1f}"
                if "points" in r["target"]
                else (f"{v:.1%}" if "%" in r["goal"] else f"{v:.3f}")
            )
            cells.append(f"{shown} {'✓' if r['met'] else '✗'}")
        lines.append(f"| {first['target']} | {first['goal']} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _policies(scenario: Scenario) -> list[str]:
    """The report's section describing each policy replayed."""
    return [
        "## Policies",
        "",
        f"- **always-heavy**: every turn to `{scenario.heavy_model}`, then "
        f"`{scenario.gateway.fallback_model}` on an error or timeout.",
        f"- **static-rules**: turns ≤ {scenario.static_rules.max_turns} → "
        f"`{scenario.static_rules.small_model}`, else `{scenario.static_rules.heavy_model}`; "
        "the other one on a failure. Like always-heavy, it runs in the gateway, blind to "
        "live latency.",
        "- **selector**: the decision service over HTTP with the offline model trained on "
        "the simulated history, live latency tracking and circuit breakers; the gateway "
        "follows its fallbacks.",
        "- **selector + online**: the same with the online layer (`bandit-v2`, the default "
        "policy): the offline utility corrected per model by a regression on the request's "
        "context, learned from the outcomes the gateway reports; each model chosen with its "
        "probability of being the best, logged.",
        "- **oracle**: knows each model's true probability of a good answer and its current "
        "latency and error distributions (not the dice); picks the best expected reward.",
        "",
    ]


def _setting(scenario: Scenario, possible: int) -> str:
    """The day, the spikes and the reward, in one paragraph."""
    r = scenario.reward
    spikes = ", ".join(
        f"×{s.multiplier:g} from {s.start_hour:g}:00 to {s.end_hour:g}:00"
        for s in scenario.day.spikes
    )
    return (
        f"{scenario.day.conversations:,} conversations over {scenario.day.hours:g} hours "
        f"({possible:,} user turns if none escalates), arrivals {spikes or 'without spikes'}; "
        f"scenario seed {scenario.seed}. Every policy meets the same customers and the same "
        f"dice. Reward per conversation: resolved − cost / ${r.value_usd:g} − "
        f"{r.latency_per_s:g} × seconds waited − {r.late_penalty:g} × turns answered later "
        f"than {scenario.gateway.deadline_ms:g} ms."
    )


def write_report(
    scenario: Scenario,
    world: World,
    results: list[ReplayResult],
    out: Path,
    timings: dict[str, float] | None = None,
) -> tuple[Path, dict[str, Any]]:
    """Write ``report.md``, ``plots/*.png`` and ``results.json`` into ``out``."""
    summary = summarize(results)
    checks = {p: targets(summary, p) for p in (SELECTOR, ONLINE) if p in summary.index}
    series = hourly(results)
    plots = plot(scenario, world, series, out / "plots")
    troubles = latency_incidents(scenario.events) + spike_incidents(
        scenario.day.spikes, list(scenario.models)
    )
    found = incidents(troubles, results) if any(r.policy == ORACLE for r in results) else []
    served = [r.policy for r in results if r.policy != ORACLE]
    md = [
        f"# Incident replay: {scenario.name}",
        "",
        scenario.description,
        "",
        _setting(scenario, int(results[0].conversations["user_turns"].sum()) if results else 0),
        "",
        "## Summary",
        "",
        _fmt_summary(summary),
        "",
        "## Targets",
        "",
        _fmt_targets(checks),
        "",
        *replay_lines(found, served),
        "## Plots",
        "",
        *[f"![{p.stem}](plots/{p.name})\n" for p in plots],
        *_policies(scenario),
    ]
    if timings:
        md += [
            "Time taken: "
            + ", ".join(f"{k} {v:.1f} s" for k, v in timings.items())
            + f" (total {sum(timings.values()):.1f} s).",
            "",
        ]
    report = out / "report.md"
    report.write_text("\n".join(md), encoding="utf-8")
    payload = {
        "scenario": scenario.model_dump(mode="json"),
        "summary": json.loads(summary.to_json(orient="index")),
        "targets": checks,
        "hourly": {k: json.loads(v.to_json(orient="index")) for k, v in series.items()},
        "incidents": [i for i in found if i["worth_leaving"]],
        "timings_s": timings or {},
    }
    (out / "results.json").write_text(json.dumps(payload, indent=2) + "\n", encoding="utf-8")
    return report, payload
