"""Training time and peak memory of the quality model on a large decision log.

Builds a log of ``--rows`` logged decisions (one outcome each: only the chosen model's
is known), with real customer messages from BANKING77's training set, turn counts
from 1 to 20, the seven catalog models chosen uniformly, an outcome drawn from a
probability by model tier × intent group × length, a completion length by tier and
length, and the importance weight of the logged propensity. Then fits, in the same process:

- the baseline: LightGBM alone on the same rows (no text scorers), as
  ``QualityModel(use_text_scores=False)``;
- the full quality model (text scorers out of fold + LightGBM).

Each fit runs in a child process so its peak memory (max RSS) is its own.

    .venv/bin/python bench/train_scale.py [--rows 1000000]
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import resource
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np
import pandas as pd

from bench.common import write_results

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
    catalog = load_catalog(load_settings().catalog_path)
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


def _fit(rows: int, use_text: bool, out: Any) -> None:
    from models.quality import QualityModel

    requests, outcomes, models = make_log(rows)
    t0 = time.perf_counter()
    model = QualityModel(use_text_scores=use_text).fit(requests, outcomes, models)
    seconds = time.perf_counter() - t0
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    out.put({"seconds": round(seconds, 1), "peak_mb": round(peak_mb), "rounds": model.best_rounds_})


def run(rows: int, use_text: bool) -> dict[str, Any]:
    ctx = mp.get_context("spawn")
    q = ctx.Queue()
    p = ctx.Process(target=_fit, args=(rows, use_text, q))
    p.start()
    result: dict[str, Any] = q.get()
    p.join()
    return result


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=1_000_000)
    args = ap.parse_args()
    if not BANKING.exists():
        raise SystemExit(f"{BANKING} not found: the benchmark reads BANKING77's messages")
    print(f"fitting on {args.rows:,} logged decisions (baseline, then full)…", file=sys.stderr)
    base = run(args.rows, use_text=False)
    full = run(args.rows, use_text=True)
    rows = [{"rows": args.rows, "lightgbm_only_baseline": base, "quality_model": full}]
    md = "\n".join(
        [
            "| fit on logged decisions | time | peak memory | boosting rounds |",
            "|---|---|---|---|",
            f"| LightGBM only (baseline), {args.rows:,} rows | {base['seconds']} s "
            f"| {base['peak_mb']} MB | {base['rounds']} |",
            f"| quality model (text scorers + LightGBM), {args.rows:,} rows "
            f"| {full['seconds']} s | {full['peak_mb']} MB | {full['rounds']} |",
            f"| ratio full / baseline | {full['seconds'] / base['seconds']:.2f}× "
            f"| {full['peak_mb'] / base['peak_mb']:.2f}× | |",
        ]
    )
    write_results("train_scale", rows, md)


if __name__ == "__main__":
    main()
