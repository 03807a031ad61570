"""The completion-length model: LightGBM with a Poisson objective (its prediction is the
mean length, which expected cost needs) over the quality model's stage-2 rows and
features, where the data has lengths."""

from __future__ import annotations

from typing import Any

import numpy as np

from models.quality.layout import CATEGORICAL, DEFAULT_LGB_PARAMS, FEATURE_NAMES

__all__ = ["MAX_COMPLETION_ROWS", "MIN_COMPLETION_ROWS", "fit_lengths"]

MIN_COMPLETION_ROWS = 50  # known completion lengths needed to fit the length model
MAX_COMPLETION_ROWS = 200_000  # a sample this large learns lengths; more only costs time
# sized by what it buys: each decision evaluates every tree once per candidate, and at
# the quality model's learning rate (0.03) the length model stopped at 813 trees on
# ZeroEval gsm (20 models, 20,880 lengths; hold-out MAE 32.92 tokens, per-model means
# 37.37); at 0.2 it stops at 104 trees with an MAE of 33.05 (docs/training.md)
COMPLETION_LGB_PARAMS: dict[str, Any] = {
    **DEFAULT_LGB_PARAMS,
    "objective": "poisson",
    "learning_rate": 0.2,
}


def fit_lengths(
    x: np.ndarray,
    tokens: np.ndarray | None,
    held: np.ndarray,
    seed: int,
    max_rounds: int,
    early_stopping: int,
) -> tuple[str | None, int | None]:
    """The length model (LightGBM's text format) fitted on the rows of ``x`` whose
    completion ``tokens`` are known (at most :data:`MAX_COMPLETION_ROWS` of them, drawn
    at random), and its rounds, found by early stopping on the ``held`` rows; (None,
    None) with fewer than :data:`MIN_COMPLETION_ROWS` known lengths."""
    import lightgbm as lgb

    if tokens is None:
        return None, None
    known = ~np.isnan(tokens)
    if known.sum() < MIN_COMPLETION_ROWS:
        return None, None
    if known.sum() > MAX_COMPLETION_ROWS:
        rng = np.random.default_rng((seed, 0x1E7))
        keep = rng.choice(np.flatnonzero(known), MAX_COMPLETION_ROWS, replace=False)
        known = np.zeros_like(known)
        known[keep] = True
    params = {**COMPLETION_LGB_PARAMS, "seed": seed}

    def dataset(rows: np.ndarray) -> Any:
        return lgb.Dataset(
            x[rows], tokens[rows], feature_name=FEATURE_NAMES, categorical_feature=CATEGORICAL
        )

    val = known & held
    rounds = max_rounds
    if val.sum() >= 20:
        probe = lgb.train(
            params,
            dataset(known & ~val),
            num_boost_round=max_rounds,
            valid_sets=[dataset(val)],
            callbacks=[lgb.early_stopping(early_stopping, verbose=False)],
        )
        rounds = max(10, int(probe.best_iteration or max_rounds))
    model = lgb.train(params, dataset(known), num_boost_round=rounds)
    return str(model.model_to_string()), rounds
