"""The quality model's inputs: what it reads of a request's text, the columns of its
second stage (:data:`FEATURE_NAMES`) and how a batch of request × model pairs becomes
rows of them. Training and serving build their rows here, so they cannot drift."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from features.text import TEXT_FEATURES, text_features

if TYPE_CHECKING:  # pandas is not imported by serving: it costs 50 MB and 0.2 s
    import pandas as pd

__all__ = [
    "CATEGORICAL",
    "DEFAULT_LGB_PARAMS",
    "FEATURE_NAMES",
    "MAX_TEXT_CHARS",
    "NGRAM_RANGE",
    "X",
    "clip",
    "shape_matrix",
    "stage2_matrix",
]

MAX_TEXT_CHARS = 4_000  # the first 4,000 characters are read, in training and serving alike
NGRAM_RANGE = (1, 2)

DEFAULT_LGB_PARAMS: dict[str, Any] = {
    "objective": "binary",
    "learning_rate": 0.03,
    "num_leaves": 7,
    "min_data_in_leaf": 40,
    "feature_fraction": 0.8,
    "bagging_fraction": 0.8,
    "bagging_freq": 1,
    "lambda_l2": 1.0,
    "verbose": -1,
    "num_threads": 2,
}
EXTRA_FEATURES = (
    "prompt_tokens",
    "turns",
    "intent",
    "model",
    "input_usd_per_mtok",
    "output_usd_per_mtok",
    "text_score",
    "embed_score",
    "knn_score",
    "difficulty",
)
FEATURE_NAMES = [name for name, _ in TEXT_FEATURES] + list(EXTRA_FEATURES)
CATEGORICAL = ["intent", "model"]
X = {name: i for i, name in enumerate(FEATURE_NAMES)}  # column of each feature


def clip(text: str) -> str:
    return text[:MAX_TEXT_CHARS]


def shape_matrix(texts: Sequence[str]) -> np.ndarray:
    """Raw :func:`text_features` of each text, texts × features."""
    return np.array([text_features(t) for t in texts]).reshape(len(texts), len(TEXT_FEATURES))


def stage2_matrix(
    shape: np.ndarray,
    requests: pd.DataFrame,
    intent_codes: np.ndarray,
    model_codes: np.ndarray,
    models: pd.DataFrame,
    scores: np.ndarray,
    req_idx: np.ndarray,
    mod_idx: np.ndarray,
    embedded: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None,
) -> np.ndarray:
    """Stage-2 rows (columns :data:`FEATURE_NAMES`) for the pairs ``req_idx`` ×
    ``mod_idx``; a code of -1 (an intent or model the model never saw) is missing;
    ``scores`` are the TF-IDF scorers', ``embedded`` the representation's two
    (requests × models each) and each request's difficulty (all missing without
    them)."""
    if embedded is None:
        missing = np.full(scores.shape, np.nan)
        embedded = (missing, missing, np.full(len(scores), np.nan))
    return np.column_stack(
        [
            shape[req_idx],
            requests["prompt_tokens"].to_numpy(dtype=float)[req_idx],
            requests["turns"].to_numpy(dtype=float)[req_idx],
            np.where(intent_codes < 0, np.nan, intent_codes)[req_idx],
            np.where(model_codes < 0, np.nan, model_codes)[mod_idx],
            models["input_usd_per_mtok"].to_numpy(dtype=float)[mod_idx],
            models["output_usd_per_mtok"].to_numpy(dtype=float)[mod_idx],
            scores[req_idx, mod_idx],
            embedded[0][req_idx, mod_idx],
            embedded[1][req_idx, mod_idx],
            embedded[2][req_idx],
        ]
    )
