"""A routing dataset generated with a known answer: 'cheap' resolves easy requests,
only 'strong' most hard ones."""

from __future__ import annotations

import numpy as np
import pandas as pd

from training.data import RoutingData

TOPICS = {
    "easy": "what time do you open today",
    "hard": "dispute the duplicate charge of 42 dollars on my statement from march",
}


def generated(n: int = 600, seed: int = 0) -> RoutingData:
    """'cheap' resolves easy requests; only 'strong' resolves most hard ones."""
    rng = np.random.default_rng(seed)
    kind = rng.choice(["easy", "hard"], n)
    requests = pd.DataFrame(
        {
            "request_id": [f"r{i}" for i in range(n)],
            "text": [TOPICS[k] + f" ref {rng.integers(1000)}" for k in kind],
            "intent": np.where(rng.random(n) < 0.5, kind, ""),
            "turns": 1,
            "prompt_tokens": 30,
            "eval": True,
        }
    )
    p_cheap = np.where(kind == "easy", 0.97, 0.2)
    p_strong = np.where(kind == "easy", 0.95, 0.85)
    # 'strong' writes long answers to hard requests; 'cheap' is terse throughout
    length_cheap = np.full(n, 40.0)
    length_strong = np.where(kind == "easy", 60.0, 220.0)
    rows = []
    for model, p, cost, length in (
        ("cheap", p_cheap, 0.001, length_cheap),
        ("strong", p_strong, 0.02, length_strong),
    ):
        rows.append(
            pd.DataFrame(
                {
                    "request_id": requests["request_id"],
                    "model": model,
                    "resolved": (rng.random(n) < p).astype(float),
                    "cost_usd": cost,
                    "completion_tokens": rng.poisson(length).astype(float),
                }
            )
        )
    models = pd.DataFrame(
        {
            "model": ["cheap", "strong"],
            "input_usd_per_mtok": [0.1, 3.0],
            "output_usd_per_mtok": [0.4, 15.0],
        }
    )
    return RoutingData(requests, pd.concat(rows, ignore_index=True), models, "generated", "x")


def as_table(data: RoutingData, outcomes: pd.DataFrame | None = None) -> pd.DataFrame:
    """``data`` (or these ``outcomes`` of its requests) as a user's table: one row per
    request × model, with the text and each model's prices (a model not in ``data``'s
    list gets the middle price)."""
    outcomes = data.outcomes if outcomes is None else outcomes
    table = outcomes[["request_id", "model", "resolved"]].merge(
        data.requests[["request_id", "text"]], on="request_id"
    )
    prices = data.models.set_index("model")
    for col, middle in (("input_usd_per_mtok", 1.0), ("output_usd_per_mtok", 4.0)):
        table[col] = table["model"].map(prices[col]).fillna(middle)
    return table
