"""What a simulated day holds, for people and for evaluation code: the traffic, the
world's truth per turn × model, and a printed description."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from simulator.world import Conversation, World

__all__ = ["describe", "traffic_table", "truth_table"]


def traffic_table(day: Sequence[Conversation]) -> pd.DataFrame:
    """One row per conversation."""
    return pd.DataFrame(
        {
            "conversation_id": [c.id for c in day],
            "start_s": [c.start_s for c in day],
            "user_turns": [c.user_turns for c in day],
            "user_tokens": [c.user_tokens for c in day],
            "intent": [c.intent for c in day],
            "group": [c.group for c in day],
            "text": [c.text for c in day],
        }
    )


def truth_table(world: World, day: Sequence[Conversation]) -> pd.DataFrame:
    """One row per conversation × user turn × model: the true probability of a good
    answer, and the median latency and error probability at the provider's background
    load, at the time the turn would come if every earlier answer were instant, for a
    prompt of the instructions and the customer's messages (the answers in it depend on
    the policy)."""
    rows: dict[str, list[object]] = {
        k: []
        for k in (
            "conversation_id",
            "user_turn",
            "t",
            "model",
            "p_good",
            "idle_latency_ms",
            "p_error",
        )
    }
    system = world.scenario.conversation.system_prompt_tokens
    for c in day:
        for k in range(1, c.user_turns + 1):
            t = c.start_s + float(c.think_s[: k - 1].sum())
            prompt = system + k * c.user_tokens
            for m in world.models:
                load = world.load(m, 0.0, t)
                rows["conversation_id"].append(c.id)
                rows["user_turn"].append(k)
                rows["t"].append(t)
                rows["model"].append(m)
                rows["p_good"].append(world.p_good(m, c.group, k, t))
                rows["idle_latency_ms"].append(world.latency_ms(m, prompt, load, 0.0, t))
                rows["p_error"].append(world.p_error(m, load))
    return pd.DataFrame(rows)


def describe(world: World, day: Sequence[Conversation]) -> str:
    """A printed summary of the scenario's day and models."""
    sc = world.scenario
    turns = np.array([c.user_turns for c in day])
    hours = np.array([c.start_s for c in day]) // 3600
    per_hour = np.bincount(hours.astype(int), minlength=int(np.ceil(sc.day.hours)))
    groups = pd.Series([c.group for c in day]).value_counts(normalize=True)
    lines = [
        f"scenario {sc.name} (seed {sc.seed}): {len(day):,} conversations, "
        f"{int(turns.sum()):,} user turns if none escalates",
        f"user turns per conversation: mean {turns.mean():.2f}, median {np.median(turns):g}, "
        f"max {turns.max()} (SGD's shape: mean {world.corpus.user_turns.mean():.2f})",
        f"arrivals per hour: min {per_hour.min()}, max {per_hour.max()} at "
        f"{int(per_hour.argmax())}:00; spikes: "
        + (
            ", ".join(f"×{s.multiplier:g} {s.start_hour:g}–{s.end_hour:g} h" for s in sc.day.spikes)
            or "none"
        ),
        "intent groups: " + ", ".join(f"{g} {v:.0%}" for g, v in groups.items()),
        "",
        "| model | tier | $ in / out per Mtok | idle p50 ms (1k-token prompt) | capacity / min "
        "| P(good) turn 1 → 9: billing_dispute | payments | account |",
        "|---|---|---|---|---|---|---|---|",
    ]
    noon = 12 * 3600.0
    for m in world.models:
        spec = world.catalog[m]
        p50 = world.latency_ms(m, 1000, world.load(m, 0.0, noon), 0.0, noon)
        cells = [
            f"{world.p_good(m, g, 1):.3f} → {world.p_good(m, g, 9):.3f}"
            for g in ("billing_dispute", "payments", "account")
        ]
        lines.append(
            f"| {m} | {spec.tier} | {spec.input_usd_per_mtok:g} / {spec.output_usd_per_mtok:g} "
            f"| {p50:,.0f} | {sc.models[m].capacity_per_min:g} | " + " | ".join(cells) + " |"
        )
    return "\n".join(lines)
