"""In-process decision time: features + policy, as the service runs it per request.

Measures p50/p99 over many decisions with 6 candidates, intent given and intent
classified from the last user message, for the utility-v0 policy; the static-rules
policy on the same requests is the baseline measured in the same run.

    .venv/bin/python bench/decision_time.py [--n 20000]
"""

from __future__ import annotations

import argparse
import gc
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import CONVERSATION, percentiles_us, write_results
from features.extractor import Conversation
from selector.config import load_settings
from selector.service import RouteInput, SelectorService, build_policy

SIX = [
    "gemini-2.5-flash-lite",
    "gpt-5-mini",
    "gemini-2.5-flash",
    "claude-sonnet-3.7",
    "gemini-2.5-pro",
    "gpt-5",
]


def measure(service: SelectorService, req: RouteInput, n: int) -> dict[str, float]:
    for _ in range(500):
        service.decide(req)
    samples = []
    gc.disable()
    try:
        for _ in range(n):
            t0 = time.perf_counter_ns()
            service.decide(req)
            samples.append(time.perf_counter_ns() - t0)
    finally:
        gc.enable()
    return percentiles_us(samples)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=20_000)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        service = SelectorService.from_settings(load_settings(db_path=Path(tmp) / "b.db"))
        baseline = build_policy(
            "static-rules", service.policy.quality, service.catalog, service.settings
        )  # type: ignore[arg-type]
        given = RouteInput(
            "bench", Conversation(messages=CONVERSATION, intent="card_arrival"), candidates=SIX
        )
        classified = RouteInput("bench", Conversation(messages=CONVERSATION), candidates=SIX)
        utility = service.policy
        rows = []
        for label, req in (("intent given", given), ("intent classified", classified)):
            service.policy = baseline
            base = measure(service, req, args.n)
            service.policy = utility
            ours = measure(service, req, args.n)
            rows.append(
                {
                    "case": label,
                    "candidates": 6,
                    "utility_v0": ours,
                    "static_rules_baseline": base,
                    "p99_ratio_to_baseline": round(ours["p99_us"] / base["p99_us"], 2),
                }
            )
    md = [
        "| case (6 candidates) | utility-v0 p50 | utility-v0 p99 "
        "| static-rules p50 | static-rules p99 | p99 ratio |",
        "|---|---|---|---|---|---|",
    ]
    for r in rows:
        u, b = r["utility_v0"], r["static_rules_baseline"]
        cells = [
            r["case"],
            f"{u['p50_us']} µs",
            f"{u['p99_us']} µs",
            f"{b['p50_us']} µs",
            f"{b['p99_us']} µs",
            f"{r['p99_ratio_to_baseline']}×",
        ]
        md.append("| " + " | ".join(cells) + " |")
    write_results("decision_time", rows, "\n".join(md))


if __name__ == "__main__":
    main()
