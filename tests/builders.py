"""Real objects built from the default catalog, for unit tests."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from features.extractor import Conversation, FeatureExtractor
from features.intents import IntentClassifier, IntentTaxonomy
from models.prior import PriorQualityModel, load_prior
from selector.catalog import Catalog, load_catalog
from selector.config import PACKAGE_DIR, Settings, load_settings
from selector.decisions import RouteInput
from selector.latency import BreakerConfig, LatencyTracker
from selector.store import FeedbackEvent
from selector.wiring import build_service

# A two-model world whose truth is known: P(resolved) by kind of question and model.
SMALL, LARGE = "gemini-2.5-flash-lite", "gpt-5"
TEXTS = {
    "billing": "I was charged twice for the same order, ref {}",
    "card": "my new card has still not arrived, ref {}",
}
TRUTH = {
    ("billing", SMALL): 0.25,
    ("billing", LARGE): 0.85,
    ("card", SMALL): 0.9,
    ("card", LARGE): 0.9,
}


def default_catalog() -> Catalog:
    return load_catalog(PACKAGE_DIR / "catalog.yaml")


class Parts:
    """Catalog, classifier, taxonomy, tracker, extractor and prior, wired as the service does."""

    def __init__(
        self, with_classifier: bool = True, clock: object = None, priors: bool = False
    ) -> None:
        self.catalog = default_catalog()
        self.classifier = IntentClassifier.load()
        self.taxonomy = IntentTaxonomy.from_classifier(self.classifier)
        kwargs: dict[str, Any] = {"clock": clock} if clock is not None else {}
        if priors:  # the service's latency estimates, from the catalog's priors
            kwargs["priors"] = {m.name: m.expected_latency_ms for m in self.catalog}
        self.tracker = LatencyTracker(
            {m.name: m.latency_slo_ms for m in self.catalog}, BreakerConfig(min_samples=5), **kwargs
        )
        self.extractor = FeatureExtractor(
            self.catalog.candidate_infos(350),
            self.taxonomy,
            self.classifier if with_classifier else None,
            self.tracker,
        )
        self.quality = PriorQualityModel(
            load_prior(), self.taxonomy.group_names, self.catalog.names
        )
        self.providers = {m.name: m.provider for m in self.catalog}


def write_outcome_log(
    folder: Path,
    n: int,
    seed: int,
    unanswered: int = 0,
    override_first: bool = False,
    graded: bool = False,
    **settings: Any,
) -> tuple[Settings, dict[str, str]]:
    """``n`` decisions of the real service (prior quality model, ``settings``) between
    SMALL and LARGE on billing and card questions, outcomes drawn from TRUTH; the last
    ``unanswered`` get none, and with ``override_first`` the gateway serves the other
    model for the first; with ``graded`` each outcome is a ``reward`` in [0, 1] around
    TRUTH (σ 0.15) instead of ``resolved``. Returns the settings and each decision's kind
    of question."""
    rng = np.random.default_rng(seed)
    s = load_settings(
        **{
            "db_path": folder / "selector.db",
            "policy": "utility-v0",  # ε-exploration: propensities these tests know
            "sticky_draws": False,  # one decision per conversation: draws from the seed
            "quality_model": "prior",
            "seed": seed,
            "mlflow_tracking_uri": f"sqlite:///{folder}/mlflow.db",
            **settings,
        }
    )
    service = build_service(s)
    kinds: dict[str, str] = {}

    async def run() -> None:
        for i in range(n):
            kind = "billing" if rng.random() < 0.5 else "card"
            text = TEXTS[kind].format(i)
            res = await service.route(
                RouteInput(
                    f"c{i}", Conversation(messages=[("user", text)]), [SMALL, LARGE], text=text
                )
            )
            kinds[res.decision_id] = kind
            if i >= n - unanswered:
                continue
            truth = TRUTH[kind, res.decision.model]
            fields: dict[str, object] = (
                {"reward": float(np.clip(truth + rng.normal(0.0, 0.15), 0.0, 1.0))}
                if graded
                else {"resolved": bool(rng.random() < truth)}
            )
            if override_first and i == 0:
                fields["model"] = LARGE if res.decision.model == SMALL else SMALL
            await service.feedback(FeedbackEvent(res.decision_id, fields))

    service.start()
    try:
        asyncio.run(run())
    finally:
        service.stop()
    return s, kinds


def covering(folder: Path, names: list[str], **overrides: Any) -> Settings:
    """Settings whose catalog holds exactly ``names``: the built-in catalog's entries for
    its models, plain ones for the others (so a model trained on them may be promoted)."""
    base = default_catalog()
    entries = []
    for i, name in enumerate(names):
        if name in base:
            entries.append(base[name].model_dump(exclude_none=True))
            continue
        entries.append(
            {
                "name": name,
                "provider": "test",
                "tier": "small",
                "input_usd_per_mtok": 0.1 * (i + 1),
                "output_usd_per_mtok": 0.4 * (i + 1),
                "context_window": 128_000,
                "latency_slo_ms": 3000.0,
                "expected_latency_ms": 800.0,
            }
        )
    path = folder / "covering-catalog.yaml"
    path.write_text(yaml.safe_dump({"models": entries}, sort_keys=False), encoding="utf-8")
    return load_settings(catalog_path=path, **overrides)
