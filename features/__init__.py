"""Features: a conversation and the live state turned into one vector with a documented
schema, shared by serving and training (:mod:`features.schema`,
:mod:`features.extractor`), the token estimate (:mod:`features.tokens`), the intent
classifier and its taxonomy (:mod:`features.intents`), text shape features
(:mod:`features.text`), latency estimates with their evidence (:mod:`features.estimates`).

Each name below is imported from its module when first used."""

from __future__ import annotations

from typing import Any

from core.lazy import load

_EXPORTS = {
    "CandidateInfo": "features.extractor",
    "Conversation": "features.extractor",
    "EstimateConfig": "features.estimates",
    "LatencyEstimate": "features.estimates",
    "LogLatency": "features.estimates",
    "FeatureExtractor": "features.extractor",
    "FeatureVector": "features.extractor",
    "IntentClassifier": "features.intents",
    "IntentTaxonomy": "features.intents",
    "SCHEMA_VERSION": "features.schema",
    "estimate_prompt_tokens": "features.tokens",
    "schema_markdown": "features.schema",
}
__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    return load(__name__, _EXPORTS, name)
