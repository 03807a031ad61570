"""Outcome tables of the three kinds a team brings, built with a known answer: 0/1
outcomes of several models, graded judge scores, and two models. Each model is good at
some topics and poor at others (the dearest is not best everywhere), the text says which
topic a request is on, and the columns present differ by kind, as they do in practice."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

TOPICS = {
    "hours": "what time do you open on {d} and are you open on holidays",
    "refund": "I want a refund for order {n}, the item arrived broken",
    "billing": "dispute the duplicate charge of {n} dollars on my statement from {d}",
    "code": "my api integration returns error {n} when I post the webhook payload",
}
DAYS = ["monday", "friday", "sunday", "march", "june"]

# kind → model → (input, output USD per million tokens, P(resolved) by topic, mean completion)
KINDS: dict[str, dict[str, tuple[float, float, dict[str, float], float]]] = {
    "binary": {
        "house-small": (0.1, 0.4, {"hours": 0.95, "refund": 0.7, "billing": 0.2, "code": 0.3}, 60),
        "house-mid": (0.5, 2.0, {"hours": 0.95, "refund": 0.9, "billing": 0.5, "code": 0.8}, 150),
        "vendor-large": (3, 15, {"hours": 0.9, "refund": 0.9, "billing": 0.9, "code": 0.75}, 400),
        "vendor-code": (1, 4, {"hours": 0.6, "refund": 0.5, "billing": 0.4, "code": 0.95}, 250),
    },
    "graded": {
        "judge-a": (0.2, 0.8, {"hours": 0.9, "refund": 0.6, "billing": 0.3, "code": 0.5}, 80),
        "judge-b": (1.0, 4.0, {"hours": 0.85, "refund": 0.85, "billing": 0.6, "code": 0.9}, 200),
        "judge-c": (4.0, 16.0, {"hours": 0.9, "refund": 0.9, "billing": 0.9, "code": 0.7}, 500),
    },
    "two": {
        "weak-7b": (0.1, 0.2, {"hours": 0.9, "refund": 0.75, "billing": 0.25, "code": 0.35}, 90),
        "strong-70b": (
            0.9,
            0.9,
            {"hours": 0.92, "refund": 0.85, "billing": 0.9, "code": 0.85},
            220,
        ),
    },
}


def user_table(kind: str, n: int = 700, seed: int = 0) -> pd.DataFrame:
    """A table of ``kind`` ("binary", "graded" or "two"), one row per request × model:
    - binary: 0/1 ``resolved``, prices, ``completion_tokens``, ``latency_ms``, and about
      one model answer in ten missing;
    - graded: a judge's score in [0, 1] as ``reward``, prices, no lengths or latencies;
    - two: 0/1 ``resolved``, prices and ``cost_usd`` per call, no lengths."""
    rng = np.random.default_rng(seed)
    topic = rng.choice(list(TOPICS), n)
    text = [
        TOPICS[t].format(n=int(rng.integers(10, 999)), d=DAYS[int(rng.integers(len(DAYS)))])
        for t in topic
    ]
    prompt = rng.integers(20, 400, n)
    rows = []
    for model, (p_in, p_out, quality, length) in KINDS[kind].items():
        p = np.array([quality[t] for t in topic])
        tokens = rng.poisson(length, n).astype(float)
        frame = pd.DataFrame(
            {"request_id": [f"q{i}" for i in range(n)], "model": model, "text": text}
        )
        frame["prompt_tokens"] = prompt
        if kind == "graded":
            frame["reward"] = np.clip(p + rng.normal(0, 0.15, n), 0, 1).round(2)
        else:
            frame["resolved"] = (rng.random(n) < p).astype(int)
        frame["input_usd_per_mtok"], frame["output_usd_per_mtok"] = p_in, p_out
        if kind == "two":
            frame["cost_usd"] = (prompt * p_in + tokens * p_out) / 1e6
        if kind == "binary":
            frame["completion_tokens"] = tokens
            frame["latency_ms"] = rng.gamma(4, 100 + length, n).round()
            frame = frame[rng.random(n) > 0.1]
        rows.append(frame)
    return pd.concat(rows, ignore_index=True)


def write_user_table(folder: Path, kind: str, n: int = 700, seed: int = 0) -> Path:
    path = folder / f"{kind}-outcomes.csv"
    user_table(kind, n, seed).to_csv(path, index=False)
    return path
