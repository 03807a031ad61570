"""In-process decision time: features + policy, as the service runs it per request.

Measures p50/p99 over many decisions with 6 candidates, intent given and intent
classified from the last user message, for the utility-v0 policy with the built-in
prior and with a learned quality model (text scorers + LightGBM), and for the online
layer (bandit-v1 over the learned model, with a correction learned for every model and
intent group); the static-rules policy on the same requests is the baseline measured in
the same run.

The learned model is the one ``--quality-model`` names (a folder or a ``models:/``
URI); by default one is trained for the run on ZeroEval's gsm outcomes of six models
renamed to the six candidates (hold-out excluded), so that it knows every candidate:
per-candidate text scores and completion lengths, the full serving path.

    .venv/bin/python bench/decision_time.py [--n 20000] [--quality-model PATH]
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
from models.bandit import ResidualBandit
from selector.catalog import Catalog
from selector.config import load_settings
from selector.service import RouteInput, SelectorService, build_policy, load_quality_model

GROUPS = ["billing_dispute", "payments", "account", "general", "other"]

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
    ap.add_argument("--quality-model", default=None)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        settings = load_settings(db_path=Path(tmp) / "b.db", quality_model="prior")
        service = SelectorService.from_settings(settings)
        baseline = build_policy("static-rules", service.prior, service.catalog, settings)
        spec = args.quality_model or str(_train_model(Path(tmp), service.catalog))
        learned, status = load_quality_model(
            load_settings(db_path=Path(tmp) / "b.db", quality_model=spec), service.prior
        )
        if not status.loaded:
            raise SystemExit(f"cannot load {spec}: {status.reason}")
        with_model = build_policy("utility-v0", learned, service.catalog, settings)
        bandit = ResidualBandit()
        for i in range(5_000):  # corrections for every model × group
            for m in service.catalog.names:
                bandit.update(m, GROUPS[i % len(GROUPS)], (i % 13 - 6) / 100)
        online = build_policy("bandit-v1", learned, service.catalog, settings, bandit)
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
            service.policy = with_model
            model = measure(service, req, args.n)
            service.policy = online
            on = measure(service, req, args.n)
            rows.append(
                {
                    "case": label,
                    "candidates": 6,
                    "utility_v0": ours,
                    "utility_v0_learned_model": model,
                    "bandit_v1_learned_model": on,
                    "static_rules_baseline": base,
                    "p99_ratio_to_baseline": round(ours["p99_us"] / base["p99_us"], 2),
                    "learned_p99_ratio_to_baseline": round(model["p99_us"] / base["p99_us"], 2),
                    "online_p99_ratio_to_baseline": round(on["p99_us"] / base["p99_us"], 2),
                }
            )
    md = [
        "| case (6 candidates) | static-rules p50 / p99 | utility-v0 + prior p50 / p99 "
        "| utility-v0 + learned model p50 / p99 | bandit-v1 + learned model p50 / p99 "
        "| p99 ratios to static-rules |",
        "|---|---|---|---|---|---|",
    ]
    for r in rows:
        u, b, m = r["utility_v0"], r["static_rules_baseline"], r["utility_v0_learned_model"]
        o = r["bandit_v1_learned_model"]
        cells = [
            r["case"],
            f"{b['p50_us']} / {b['p99_us']} µs",
            f"{u['p50_us']} / {u['p99_us']} µs",
            f"{m['p50_us']} / {m['p99_us']} µs",
            f"{o['p50_us']} / {o['p99_us']} µs",
            f"{r['p99_ratio_to_baseline']}× / {r['learned_p99_ratio_to_baseline']}× / "
            f"{r['online_p99_ratio_to_baseline']}×",
        ]
        md.append("| " + " | ".join(cells) + " |")
    write_results("decision_time", rows, "\n".join(md))


# six of ZeroEval's models stand in for the six candidates, so the learned model knows
# every candidate (text scores and completion lengths for each), as a model trained on
# the service's own log would
STAND_INS = {
    "gemma-2-9b-it": "gemini-2.5-flash-lite",
    "gpt-4o-mini-2024-07-18": "gpt-5-mini",
    "gemini-1.5-flash": "gemini-2.5-flash",
    "claude-3-5-haiku-20241022": "claude-sonnet-3.7",
    "gemini-1.5-pro": "gemini-2.5-pro",
    "gpt-4o-2024-08-06": "gpt-5",
}


def _train_model(tmp: Path, catalog: Catalog) -> Path:
    from training.data import load_source
    from training.train import train

    print("training a quality model on ZeroEval gsm (6 models) for the run…", file=sys.stderr)
    data = load_source("zeroeval-gsm")
    out = data.outcomes[data.outcomes["model"].isin(STAND_INS)]
    table = out.merge(data.requests, on="request_id").assign(
        model=lambda t: t["model"].map(STAND_INS)
    )
    table["input_usd_per_mtok"] = [catalog[m].input_usd_per_mtok for m in table["model"]]
    table["output_usd_per_mtok"] = [catalog[m].output_usd_per_mtok for m in table["model"]]
    path = tmp / "six.parquet"
    table.drop(columns=["eval"]).to_parquet(path)
    train(str(path), folds=0, track=False, out=tmp)
    return tmp / "model"


if __name__ == "__main__":
    main()
