"""Training time and peak memory of the quality model on large decision logs.

For each size in ``--rows`` (100k and 1M by default), builds a log of that many
logged decisions (one outcome each: only the chosen model's is known), with real
customer messages from BANKING77's training set, turn counts from 1 to 20, the seven
catalog models chosen uniformly, an outcome drawn from a probability by model tier ×
intent group × length, a completion length by tier and length, and the importance
weight of the logged propensity. Then fits on the same rows:

- the baseline: LightGBM alone on the same rows (no text scorers), as
  ``QualityTrainer(use_text_scores=False)``;
- the full quality model (text scorers out of fold + LightGBM).

Each fit runs in a fresh interpreter so its peak memory (max RSS) is its own.

    .venv/bin/python bench/train_scale.py [--rows 100000 1000000]
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np
import pandas as pd

from bench.common import Section, run_alone

BANKING = (
    Path(__file__).resolve().parents[2] / "shared" / "data" / "intents" / "banking77_train.csv"
)
TIER_P = {"small": 0.62, "medium": 0.72, "large": 0.8}


def make_log(rows: int, seed: int = 0) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    from features.intents import normalize_intent
    from selector.catalog import load_catalog
    from selector.config import load_settings

    rng = np.random.default_rng(seed)
    bank = pd.read_csv(BANKING)
    pick = rng.integers(0, len(bank), rows)
    texts = bank["text"].to_numpy()[pick]
    intents = [normalize_intent(str(c)) for c in bank["category"].to_numpy()[pick]]
    turns = rng.integers(1, 21, rows)
    catalog = load_catalog(load_settings().models.catalog_path)
    names = list(catalog.names)
    chosen = rng.integers(0, len(names), rows)
    tiers = np.array([catalog[n].tier for n in names])[chosen]
    base = np.array([TIER_P[t] for t in tiers])
    hard = np.array(["dispute" in i or "charge" in i or "refund" in i for i in intents])
    p = base - 0.25 * hard * (tiers == "small") - 0.01 * turns
    requests = pd.DataFrame(
        {
            "request_id": [f"d{i}" for i in range(rows)],
            "text": texts,
            "intent": intents,
            "turns": turns,
            "prompt_tokens": turns * 17 + 20,
            "eval": True,
        }
    )
    outcomes = pd.DataFrame(
        {
            "request_id": requests["request_id"],
            "model": np.array(names)[chosen],
            "resolved": (rng.random(rows) < p).astype(float),
            # what a real log holds too: the completion length and the logged propensity
            "completion_tokens": rng.poisson(np.where(tiers == "large", 260, 140) + 5 * turns),
            "weight": 1.0,  # uniform choice among the seven: 1 / (1/7), scaled to mean 1
        }
    )
    models = pd.DataFrame(
        {
            "model": names,
            "input_usd_per_mtok": [catalog[n].input_usd_per_mtok for n in names],
            "output_usd_per_mtok": [catalog[n].output_usd_per_mtok for n in names],
        }
    )
    return requests, outcomes, models


def fit_one(rows: int, use_text: bool) -> dict[str, Any]:
    """One fit in this process: its time, this process's peak memory, its rounds."""
    from models.quality import QualityTrainer

    requests, outcomes, models = make_log(rows)
    t0 = time.perf_counter()
    model = QualityTrainer(use_text_scores=use_text).fit(requests, outcomes, models)
    seconds = time.perf_counter() - t0
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {"seconds": round(seconds, 1), "peak_mb": round(peak_mb), "rounds": model.best_rounds_}


def run_fit(rows: int, use_text: bool) -> dict[str, Any]:
    """:func:`fit_one` in a fresh interpreter that imports only this script, so the
    peak memory is the fit's whoever runs the benchmark."""
    flag = "--text" if use_text else "--no-text"
    out = subprocess.run(
        [sys.executable, __file__, "--fit-one", str(rows), flag],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    result: dict[str, Any] = json.loads(out.strip().splitlines()[-1])
    return result


def run(sizes: tuple[int, ...] = (100_000, 1_000_000)) -> Section:
    if not BANKING.exists():
        raise SystemExit(f"{BANKING} not found: the benchmark reads BANKING77's messages")
    rows = []
    md = [
        "| rows | LightGBM only, with the length model (baseline): time, peak memory "
        "| quality model (text scorers out of fold + LightGBM + length model): time, peak "
        "memory | ratio time, memory |",
        "|---|---|---|---|",
    ]
    for n in sizes:
        print(f"fitting on {n:,} logged decisions (baseline, then full)…", file=sys.stderr)
        base = run_fit(n, use_text=False)
        full = run_fit(n, use_text=True)
        rows.append({"rows": n, "lightgbm_only_baseline": base, "quality_model": full})
        md.append(
            f"| {n:,} | {base['seconds']} s, {base['peak_mb']:,} MB "
            f"| {full['seconds']} s, {full['peak_mb']:,} MB "
            f"| {full['seconds'] / base['seconds']:.2f}×, "
            f"{full['peak_mb'] / base['peak_mb']:.2f}× |"
        )
    return Section(
        "train_scale",
        "Training time and peak memory (max RSS) on logged decisions, each fit in its own process",
        "\n".join(md),
        rows,
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument(
        "--rows", type=int, nargs="+", default=[100_000, 1_000_000], help="log sizes to fit"
    )
    ap.add_argument("--fit-one", type=int, default=None, help=argparse.SUPPRESS)
    ap.add_argument("--text", action=argparse.BooleanOptionalAction, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.fit_one is not None:
        print(json.dumps(fit_one(args.fit_one, bool(args.text))))
        return
    run_alone(run(tuple(args.rows)))


if __name__ == "__main__":
    main()
