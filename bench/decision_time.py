"""In-process decision time: features + policy, as the service runs it per request.

Measures p50/p99 of one decision for 2, 6 and 20 candidates, with the intent given and
with the intent classified from the last user message, for:

- the static-rules policy: the baseline, measured on the same requests in the same run;
- utility-v0 with the built-in prior;
- utility-v0 with a learned quality model (text scorers + LightGBM + completion length);
- bandit-v1 (the online layer) over the learned model, with a correction learned for
  every model and intent group;
- bandit-v2 (the contextual online layer, the default policy) over the learned model,
  with a regression learned for every model.

The last columns are bandit-v2's p99 over utility-v0's with the same learned model, and
bandit-v2's online layer alone (the candidates' contexts, their estimates, P(best) and
the draw) on the scores of the request.

The candidates are 20 of ZeroEval's models, priced from its ``prices.csv`` and spread
over its price range (a catalog written for the run); 6 and 2 are subsets spread the
same way, the 2 being the cheapest and the dearest (static-rules' small and heavy
models). Unless ``--quality-model`` names one, the learned model is trained for the run
on ZeroEval's gsm outcomes of these 20 models (hold-out excluded), so it knows every
candidate, as a model trained on the service's own log would.

    .venv/bin/python bench/decision_time.py [--n 10000] [--quality-model PATH]

``--pieces`` times each stage of one bandit-v2 decision alone instead (features, the
learned model's text stage and trees, the online layer's contexts, estimates, P(best)).
"""

from __future__ import annotations

import argparse
import copy
import gc
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np
import pandas as pd
import yaml

from bench.common import CONVERSATION, Section, percentiles_us, run_alone
from features.extractor import Conversation
from selector.config import Settings, load_settings
from selector.decisions import RouteInput
from selector.online.bandit import BanditParams, ResidualBandit
from selector.online.contexts import context, contexts_of
from selector.online.contextual import ContextualBandit
from selector.policy import Policy
from selector.service import SelectorService
from selector.wiring import build_policy, build_service, load_quality_model

SIZES = (2, 6, 20)
GROUPS = ["billing_dispute", "payments", "account", "general", "other"]
POLICIES = (
    ("static_rules_baseline", "static-rules"),
    ("utility_v0_prior", "utility-v0 + prior"),
    ("utility_v0_learned", "utility-v0 + learned model"),
    ("bandit_v1_learned", "bandit-v1 + learned model"),
    ("bandit_v2_learned", "bandit-v2 + learned model"),
)


def spread(items: list[str], k: int) -> list[str]:
    """``k`` items evenly spaced over ``items`` (first and last included).

    >>> spread(list("abcdefghij"), 3)
    ['a', 'e', 'j']
    """
    return [items[int(i)] for i in np.linspace(0, len(items) - 1, k).round().astype(int)]


def bench_models() -> pd.DataFrame:
    """Twenty of ZeroEval's models spread over its price range, cheapest first."""
    from training.data import load_source

    models = load_source("zeroeval-gsm").models
    models = models.assign(price=models["input_usd_per_mtok"] + models["output_usd_per_mtok"])
    ordered = models.sort_values(["price", "model"]).reset_index(drop=True)
    keep = spread(list(ordered["model"]), 20)
    return ordered[ordered["model"].isin(keep)].reset_index(drop=True)


def write_catalog(models: pd.DataFrame, path: Path) -> Path:
    entries = []
    for r in models.itertuples():
        tier = "small" if r.price <= 1.5 else "medium" if r.price <= 8 else "large"
        entries.append(
            {
                "name": r.model,
                "provider": str(r.model).split("-")[0].lower(),
                "tier": tier,
                "input_usd_per_mtok": float(r.input_usd_per_mtok),
                "output_usd_per_mtok": float(r.output_usd_per_mtok),
                "context_window": 128_000,
                "latency_slo_ms": 8_000,
                "expected_latency_ms": {"small": 600, "medium": 1_200, "large": 2_400}[tier],
                "expected_completion_tokens": 300,
                "enabled": True,
            }
        )
    path.write_text(yaml.safe_dump({"models": entries}, sort_keys=False))
    return path


def train_model(tmp: Path, names: list[str], requests: int | None = None) -> Path:
    """The learned model of the run, on the first ``requests`` of ZeroEval gsm (all by
    default; fewer for a quick run, which checks the benchmark and not its figures)."""
    from training.data import load_source
    from training.train import train

    print("training a quality model on ZeroEval gsm (20 models) for the run…", file=sys.stderr)
    data = load_source("zeroeval-gsm")
    out = data.outcomes[data.outcomes["model"].isin(names)]
    if requests is not None:
        out = out[out["request_id"].isin(data.requests["request_id"].head(requests))]
    table = out.merge(data.requests, on="request_id").merge(data.models, on="model")
    path = tmp / "twenty.parquet"
    table.drop(columns=["eval"]).to_parquet(path)
    train(str(path), folds=0, track=False, out=tmp)
    return tmp / "model"


def measure(service: SelectorService, req: RouteInput, n: int) -> dict[str, float]:
    return _timed(lambda: service.decide(req), n)


def _timed(step: Any, n: int) -> dict[str, float]:
    """p50/p99 of ``step()`` over ``n`` calls, after a warm-up, the collector off."""
    for _ in range(min(500, n)):
        step()
    samples = []
    gc.disable()
    try:
        for _ in range(n):
            t0 = time.perf_counter_ns()
            step()
            samples.append(time.perf_counter_ns() - t0)
    finally:
        gc.enable()
    return percentiles_us(samples)


def online_alone(
    service: SelectorService, policy: Policy, req: RouteInput, n: int
) -> dict[str, float]:
    """p50/p99 of the online layer's share of one decision: the contexts of the
    candidates, their estimates, P(best) and the draw, on the request's scores."""
    bandit = policy.bandit  # type: ignore[attr-defined]
    fv = service.extractor.extract(req.conversation, req.candidates, service.tracker.clock())
    scores = policy.decide(fv, service._context(req, policy)).scores
    models, utilities = [s.model for s in scores], [s.utility for s in scores]
    p_resolved = [s.p_resolved for s in scores]
    rows, request, group = fv.candidate_rows, fv.request, fv.intent_group

    def step() -> None:
        contexts = contexts_of(request, rows, p_resolved)
        bandit.distribution(models, group, utilities, 0.5, contexts)

    return _timed(step, n)


def pieces(service: SelectorService, policy: Policy, req: RouteInput, n: int) -> str:
    """Where one decision of ``policy`` (bandit-v2 over the learned model) spends its
    time: each stage timed alone on the request, as a Markdown table."""
    from features.embeddings import load_embedder
    from models.quality.layout import clip
    from selector.online.contextual import probability_best

    quality: Any = policy.quality
    bandit: Any = policy.bandit  # type: ignore[attr-defined]
    clock = service.tracker.clock
    fv = service.extractor.extract(req.conversation, req.candidates, clock())
    x = quality._rows(fv, clip(fv.text))
    scores = policy.decide(fv, service._context(req, policy)).scores
    models, utilities = [s.model for s in scores], [s.utility for s in scores]
    contexts = contexts_of(fv.request, fv.candidate_rows, [s.p_resolved for s in scores])
    mean, sd = bandit.estimates(models, utilities, contexts)
    embedder = load_embedder()
    prior: Any = service.prior
    bare = copy.copy(prior)
    bare.difficulty = None
    plain = copy.copy(quality)
    plain.embedded = None  # the text stage as it was before the representation
    service.policy = policy
    stages = [
        ("the whole decision (service.decide)", lambda: service.decide(req)),
        (
            "features (extractor)",
            lambda: service.extractor.extract(req.conversation, req.candidates, clock()),
        ),
        ("learned model: P(resolved) and lengths (predict_all)", lambda: quality.predict_all(fv)),
        (
            "  text stage and rows (text features, TF-IDF scores)",
            lambda: quality._rows(fv, clip(fv.text)),
        ),
        (
            "  the same without the representation's two scorers",
            lambda: plain._rows(fv, clip(fv.text)),
        ),
        (
            f"  pretrained representation alone ({embedder.name}, the same text)",
            lambda: embedder.embed_one(clip(fv.text)),
        ),
        ("the prior's P(resolved), with the request difficulty", lambda: prior.predict(fv)),
        ("  the same without it (the table alone)", lambda: bare.predict(fv)),
        (f"  quality trees ({quality.booster.num_trees()})", lambda: quality._quality_trees(x)),
        (f"  length trees ({quality.completion.num_trees()})", lambda: quality._length_trees(x)),
        (
            "online layer: contexts",
            lambda: contexts_of(fv.request, fv.candidate_rows, [s.p_resolved for s in scores]),
        ),
        (
            "online layer: estimates (θ·x, xᵀA⁻¹x)",
            lambda: bandit.estimates(models, utilities, contexts),
        ),
        ("online layer: P(best)", lambda: probability_best(mean, sd)),
    ]
    return _stage_table(stages, n, len(req.candidates))


def _stage_table(stages: list[tuple[str, Callable[[], object]]], n: int, k: int) -> str:
    """Each stage timed ``n`` times alone, as a Markdown table."""
    md = [f"| stage ({k} candidates, intent given) | p50 | p99 |", "|---|---|---|"]
    for label, step in stages:
        t = _timed(step, n)
        md.append(f"| {label} | {t['p50_us']} µs | {t['p99_us']} µs |")
    return "\n".join(md)


def _policies(
    tmp: Path, quality_model: str | None, train_requests: int | None
) -> tuple[SelectorService, dict[str, Policy]]:
    """A service over a bench catalog, and the policies measured on it."""
    models = bench_models()
    names = list(models["model"])
    settings: Settings = load_settings(
        db_path=tmp / "b.db",
        quality_model="prior",
        catalog_path=write_catalog(models, tmp / "catalog.yaml"),
        baseline_small_model=names[0],
        baseline_heavy_model=names[-1],
    )
    service = build_service(settings)
    spec = quality_model or str(train_model(tmp, names, train_requests))
    learned, status = load_quality_model(settings.replace(quality_model=spec), service.prior)
    if not status.loaded:
        raise SystemExit(f"cannot load {spec}: {status.reason}")
    bandit = ResidualBandit()
    contextual = ContextualBandit(BanditParams(learner="contextual"))
    for i in range(5_000):  # corrections for every model × group
        for m in names:
            bandit.update(m, GROUPS[i % len(GROUPS)], (i % 13 - 6) / 100)
    for i in range(2_000):  # a regression for every model
        for m in names:
            x = context(i % 7, 1 + i % 20, 100 + 7 * i % 900, i % 11 == 0, i % 3, 0.8, 0.01, 900)
            contextual.update(m, x, (i % 13 - 6) / 100)
    catalog = service.catalog
    return service, {
        "static_rules_baseline": build_policy("static-rules", service.prior, catalog, settings),
        "utility_v0_prior": build_policy("utility-v0", service.prior, catalog, settings),
        "utility_v0_learned": build_policy("utility-v0", learned, catalog, settings),
        "bandit_v1_learned": build_policy("bandit-v1", learned, catalog, settings, bandit),
        "bandit_v2_learned": build_policy("bandit-v2", learned, catalog, settings, contextual),
    }


def _table(rows: list[dict[str, Any]]) -> str:
    md = [
        "| candidates | intent | "
        + " | ".join(f"{label} p50 / p99" for _, label in POLICIES)
        + " | p99 ratio learned / bandit-v1 to static-rules | p99 ratio bandit-v2 to "
        "utility-v0 (learned model) | bandit-v2's online layer alone p50 / p99 |",
        "|---|---|" + "---|" * (len(POLICIES) + 3),
    ]
    for r in rows:
        cells = [str(r["candidates"]), r["case"].removeprefix("intent ")]
        cells += [f"{r[k]['p50_us']} / {r[k]['p99_us']} µs" for k, _ in POLICIES]
        ratios = r["p99_ratio_to_baseline"]
        cells.append(f"{ratios['utility_v0_learned']}× / {ratios['bandit_v1_learned']}×")
        cells.append(f"**{r['bandit_v2_to_utility_v0']}×**")
        alone = r["online_layer_alone"]
        cells.append(f"{alone['p50_us']} / {alone['p99_us']} µs")
        md.append("| " + " | ".join(cells) + " |")
    return "\n".join(md)


def run(
    n: int = 10_000, quality_model: str | None = None, train_requests: int | None = None
) -> Section:
    with tempfile.TemporaryDirectory() as tmp_name:
        service, policies = _policies(Path(tmp_name), quality_model, train_requests)
        names = list(service.catalog.names)
        rows: list[dict[str, Any]] = []
        for size in SIZES:
            candidates = spread(names, size)
            for case, intent in (("intent given", "card_arrival"), ("intent classified", None)):
                conv = Conversation(messages=CONVERSATION, intent=intent)
                req = RouteInput("bench", conv, candidates=candidates)
                row: dict[str, Any] = {"candidates": size, "case": case}
                for key, policy in policies.items():
                    service.policy = policy
                    row[key] = measure(service, req, n)
                base = row["static_rules_baseline"]["p99_us"]
                row["p99_ratio_to_baseline"] = {
                    key: round(row[key]["p99_us"] / base, 2) for key, _ in POLICIES[1:]
                }
                row["bandit_v2_to_utility_v0"] = round(
                    row["bandit_v2_learned"]["p99_us"] / row["utility_v0_learned"]["p99_us"], 2
                )
                row["online_layer_alone"] = online_alone(
                    service, policies["bandit_v2_learned"], req, n
                )
                rows.append(row)
                print(
                    f"{size:>2} candidates, {case}: "
                    + ", ".join(f"{k} p99 {row[k]['p99_us']} µs" for k, _ in POLICIES),
                    file=sys.stderr,
                )
    return Section(
        "decision_time",
        f"In-process decision time (features + policy; {n:,} decisions per cell)",
        _table(rows),
        rows,
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=10_000, help="decisions timed per cell")
    ap.add_argument("--quality-model", default=None, help="a model folder or models:/ URI")
    ap.add_argument(
        "--pieces",
        action="store_true",
        help="only time each stage of one bandit-v2 decision (6 candidates, learned model)",
    )
    args = ap.parse_args()
    if args.pieces:
        with tempfile.TemporaryDirectory() as tmp_name:
            service, policies = _policies(Path(tmp_name), args.quality_model, None)
            candidates = spread(list(service.catalog.names), 6)
            conv = Conversation(messages=CONVERSATION, intent="card_arrival")
            req = RouteInput("bench", conv, candidates=candidates)
            print(pieces(service, policies["bandit_v2_learned"], req, args.n))
        return
    run_alone(run(args.n, args.quality_model))


if __name__ == "__main__":
    main()
