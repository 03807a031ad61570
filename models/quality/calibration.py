"""Calibration of the quality model's probabilities: the metrics that judge it (Brier
score, expected calibration error) and Platt scaling, fitted on held-out requests and
kept only where a cross-fitted check shows that it helps."""

from __future__ import annotations

import numpy as np

__all__ = [
    "apply_platt",
    "binary_rows",
    "brier_score",
    "calibration_error",
    "crossfit_gain",
    "log_loss",
    "platt",
    "sigmoid",
]


def sigmoid(z: np.ndarray) -> np.ndarray:
    out: np.ndarray = 1.0 / (1.0 + np.exp(-z))
    return out


def binary_rows(
    y: np.ndarray, w: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Graded outcomes as binary ones a classifier can fit: a label ``y`` strictly between
    0 and 1 becomes two rows, labelled 1 with weight ``w·y`` and 0 with weight ``w·(1 − y)``
    (their log-loss is the graded label's cross-entropy). Returns the row each comes
    from, its label and its weight; 0/1 labels stay one row each, in order.

    >>> binary_rows(np.array([1.0, 0.25]))
    (array([0, 1, 1]), array([1., 1., 0.]), array([1.  , 0.25, 0.75]))
    """
    y = np.asarray(y, float)
    w = np.ones_like(y) if w is None else np.asarray(w, float)
    soft = (y > 0) & (y < 1)
    rows = np.concatenate([np.arange(len(y)), np.flatnonzero(soft)])
    labels = np.concatenate([np.where(soft, 1.0, y), np.zeros(int(soft.sum()))])
    weights = np.concatenate([np.where(soft, w * y, w), w[soft] * (1 - y[soft])])
    return rows, labels, weights


def log_loss(p: np.ndarray, y: np.ndarray, w: np.ndarray | None = None) -> float:
    """The (``w``-weighted) mean cross-entropy of probabilities ``p`` against outcomes
    ``y`` (0/1 or graded; NaN: unknown, left out), ``p`` clipped away from 0 and 1.

    >>> round(log_loss(np.array([0.9, 0.2, 0.5]), np.array([1.0, 0.0, np.nan])), 4)
    0.1643
    """
    y = np.asarray(y, float)
    known = ~np.isnan(y)
    q = np.clip(np.asarray(p, float)[known], 1e-15, 1 - 1e-15)
    t = y[known]
    loss = -(t * np.log(q) + (1 - t) * np.log(1 - q))
    weight = np.ones_like(t) if w is None else np.asarray(w, float)[known]
    return float(np.sum(weight * loss) / np.sum(weight))


def brier_score(p: np.ndarray, y: np.ndarray) -> float:
    """Mean squared error of probabilities ``p`` against outcomes ``y`` (0/1 or graded).

    >>> round(brier_score(np.array([0.9, 0.2]), np.array([1.0, 0.0])), 3)
    0.025
    """
    return float(np.mean((np.asarray(p, float) - np.asarray(y, float)) ** 2))


def calibration_error(p: np.ndarray, y: np.ndarray, bins: int = 10) -> float:
    """Expected calibration error: over ``bins`` equal-width probability bins, the
    row-weighted mean |mean predicted − observed rate|.

    >>> calibration_error(np.array([0.25, 0.25, 0.75, 0.75]), np.array([0, 1, 1, 1]))
    0.25
    """
    p, y = np.asarray(p, float), np.asarray(y, float)
    which = np.minimum((p * bins).astype(int), bins - 1)
    total = 0.0
    for b in range(bins):
        mask = which == b
        if mask.any():
            total += mask.sum() * abs(p[mask].mean() - y[mask].mean())
    return float(total / len(p))


def apply_platt(p: np.ndarray, ab: tuple[float, float] | None) -> np.ndarray:
    """``p`` through the Platt map ``ab`` (unchanged when None)."""
    if ab is None:
        return p
    q = np.clip(p, 1e-6, 1 - 1e-6)
    return sigmoid(ab[0] * np.log(q / (1 - q)) + ab[1])


def crossfit_gain(p: np.ndarray, y: np.ndarray, seed: int) -> float:
    """Brier score without minus with Platt scaling, each half scored by a map fitted on
    the other half (positive: calibration helps on data it was not fitted on)."""
    half = np.random.default_rng((seed, 0xCA1)).random(len(p)) < 0.5
    gain = 0.0
    for fit_on in (half, ~half):
        score_on = ~fit_on
        ab = platt(p[fit_on], y[fit_on])
        gain += brier_score(p[score_on], y[score_on])
        gain -= brier_score(apply_platt(p[score_on], ab), y[score_on])
    return gain / 2


def platt(p: np.ndarray, y: np.ndarray) -> tuple[float, float] | None:
    """(a, b) of sigmoid(a · logit(p) + b) fitted to outcomes ``y`` (0/1 or graded);
    None when ``y`` is one-sided."""
    from sklearn.linear_model import LogisticRegression

    rows, labels, weights = binary_rows(y)
    if labels.min() == labels.max():
        return None
    q = np.clip(p, 1e-6, 1 - 1e-6)[rows]
    lr = LogisticRegression(C=1e6, max_iter=1000).fit(
        np.log(q / (1 - q))[:, None], labels, sample_weight=weights
    )
    return float(lr.coef_[0, 0]), float(lr.intercept_[0])
