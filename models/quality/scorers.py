"""Stage 1 of the quality model: one text scorer per model, a logistic regression on
TF-IDF word 1–2-grams of the request text, a one-hot of its intent and its standardised
structural text features, predicting whether that model resolves the request."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from models.quality.calibration import binary_rows, sigmoid
from models.quality.layout import NGRAM_RANGE

__all__ = ["TextMatrix", "fit_scorers", "out_of_fold_scores", "text_matrix"]


@dataclass
class TextMatrix:
    """The scorers' inputs (requests × columns, sparse) and what serving needs to build
    them again: the vocabulary and IDF (None without any text), the shape statistics."""

    x: Any
    vectorizer: Any
    shape_mean: np.ndarray
    shape_std: np.ndarray


def text_matrix(
    texts: list[str], intent_codes: np.ndarray, shape: np.ndarray, n_intents: int
) -> TextMatrix:
    from scipy.sparse import csr_matrix, hstack
    from sklearn.feature_extraction.text import TfidfVectorizer

    vectorizer: Any = TfidfVectorizer(ngram_range=NGRAM_RANGE, min_df=2, sublinear_tf=True)
    try:
        words = vectorizer.fit_transform(texts)
    except ValueError:  # no text at all
        vectorizer = None
        words = csr_matrix((len(texts), 0))
    known = intent_codes >= 0
    onehot = csr_matrix(
        (np.ones(int(known.sum())), (np.flatnonzero(known), intent_codes[known])),
        shape=(len(texts), n_intents),
    )
    shape = np.log1p(shape)
    mean, std = shape.mean(axis=0), shape.std(axis=0) + 1e-9
    x = hstack([words, onehot, csr_matrix((shape - mean) / std)]).tocsr()
    return TextMatrix(x, vectorizer, mean, std)


def fit_scorers(
    x: Any, y: np.ndarray, w: np.ndarray, text_c: float
) -> tuple[np.ndarray, np.ndarray]:
    """Coefficients (models × columns) and intercepts of the per-model scorers; a
    model with too few or one-sided labels gets its base rate."""
    from sklearn.linear_model import LogisticRegression
    from threadpoolctl import threadpool_limits

    coef = np.zeros((y.shape[1], x.shape[1]))
    intercept = np.zeros(y.shape[1])
    # the solver's small vector products: BLAS threads only contend (5× slower here)
    with threadpool_limits(1, user_api="blas"):
        for j in range(y.shape[1]):
            seen = ~np.isnan(y[:, j])
            rows, labels, weights = binary_rows(y[seen, j], w[seen, j])
            if seen.sum() < 10 or labels.min() == labels.max():
                rate = float(np.clip(y[seen, j].mean(), 1e-3, 1 - 1e-3)) if seen.any() else 0.5
                intercept[j] = math.log(rate / (1 - rate))
                continue
            lr = LogisticRegression(C=text_c, max_iter=2000).fit(
                x[seen][rows], labels, sample_weight=weights
            )
            coef[j], intercept[j] = lr.coef_[0], lr.intercept_[0]
    return coef, intercept


def out_of_fold_scores(
    x: Any,
    y: np.ndarray,
    w: np.ndarray,
    text_c: float,
    folds: int,
    seed: int,
    progress: Callable[[str], None],
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Out-of-fold text scores of the training requests (so the second stage learns how
    far to trust them), then the scorers' coefficients and intercepts fitted on all."""
    from sklearn.model_selection import KFold

    oof = np.zeros_like(y)
    for i, (tr, te) in enumerate(KFold(folds, shuffle=True, random_state=seed).split(x)):
        progress(f"text scorers, inner fold {i + 1}/{folds}")
        c, b = fit_scorers(x[tr], y[tr], w[tr], text_c)
        oof[te] = sigmoid(x[te] @ c.T + b)
    progress("text scorers on all training requests")
    coef, intercept = fit_scorers(x, y, w, text_c)
    return oof, coef, intercept
