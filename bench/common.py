"""Helpers shared by the benchmarks: percentiles, a results table, the sample request."""

from __future__ import annotations

import json
import os
import platform
import time
from pathlib import Path
from typing import Any

import numpy as np

RESULTS = Path(__file__).resolve().parent / "results"

CONVERSATION = [
    ("system", "You are the support assistant of a retail bank. Be brief and precise."),
    ("user", "Hi, I have a question about my card"),
    ("assistant", "Of course, what would you like to know about your card?"),
    ("user", "I ordered a new one two weeks ago and it still has not arrived"),
    ("assistant", "I'm sorry about the delay. Could you confirm the address we sent it to?"),
    ("user", "Yes it's the same address as always. Where is my card? I need it for a trip"),
]


def percentiles_us(samples_ns: list[int]) -> dict[str, float]:
    a = np.asarray(samples_ns, dtype=np.float64) / 1_000.0
    return {
        "p50_us": round(float(np.percentile(a, 50)), 1),
        "p99_us": round(float(np.percentile(a, 99)), 1),
        "mean_us": round(float(a.mean()), 1),
    }


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    return f"{cpu}, {os.cpu_count()} cores, Python {platform.python_version()}"


def write_results(name: str, rows: list[dict[str, Any]], markdown: str) -> None:
    RESULTS.mkdir(exist_ok=True)
    stamp = time.strftime("%Y-%m-%d %H:%M:%S")
    body = {"benchmark": name, "when": stamp, "machine": machine(), "rows": rows}
    (RESULTS / f"{name}.json").write_text(json.dumps(body, indent=2) + "\n")
    (RESULTS / f"{name}.md").write_text(f"{markdown}\n\n_{machine()}, {stamp}_\n")
    print(markdown)
    print(f"\n({machine()}; written to {RESULTS}/{name}.json and .md)")
