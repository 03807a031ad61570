"""Stage 1 of the quality model, on the pretrained text representation
(:mod:`features.embeddings`): two more scores per request × model for the boosted
stage, beside the TF-IDF scorers' (:mod:`models.quality.scorers`).

- ``embed_score``: a logistic regression per model on the request's embedding, its
  regularisation ``C`` chosen from :data:`CS` by the lowest out-of-fold log-loss.
- ``knn_score``: the outcomes of the nearest training requests
  (:mod:`models.quality.neighbours`, ``k`` and the weighting chosen by
  cross-validation), over at most :data:`SERVED_ROWS` of them, the same rows in
  training and serving. A decision reads every kept row: with 1,024 rows of 256
  floats the product takes about 14 µs, with 4,096 about 0.3 ms (measured on this
  project's machines). (On a prefix of the width, as WordLlama allows, the neighbours
  of words the table never had are found worse.)

Beside them the boosted stage reads the request's ``difficulty``
(:mod:`features.difficulty`), computed from the same embedding; the scorers keep the
difficulty they were trained with, and save it with them.

Their scores on the training requests are out-of-fold (inner folds with every copy
of a text in one fold), so the boosted stage learns how far to trust them; it reads
them as two columns, and the trainer keeps them only where its held-out loss is lower
with them (:class:`~models.quality.trainer.QualityTrainer`, ``use_embeddings``).

Serving embeds a decision's text once (:meth:`EmbeddedScorers.scores`): the vector
product with each model's weights, and one product with the kept rows.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from features.difficulty import Difficulty
from features.embeddings import TextEmbedder, load_embedder
from features.text import text_features
from models.quality.calibration import log_loss, sigmoid
from models.quality.neighbours import Neighbours, fit_neighbours
from models.quality.scorers import fit_scorers

__all__ = ["CS", "SERVED_ROWS", "EmbeddedScorers", "fit_embedded"]

CS: tuple[float, ...] = (0.25, 1.0, 4.0)
SERVED_ROWS = 1_024  # the neighbour rows a decision compares with (a seeded sample beyond)
_DIFFICULTY = "difficulty_"  # prefix of the difficulty's arrays in the scorers' file


@dataclass
class EmbeddedScorers:
    """The fitted scorers: the representation's name, the regressions (models × width,
    and intercepts), the neighbours, and the request difficulty learned from public
    tables (:mod:`features.difficulty`) that the boosted stage reads beside them."""

    embedder: str
    coef: np.ndarray
    intercept: np.ndarray
    neighbours: Neighbours
    difficulty: Difficulty | None = None

    def __post_init__(self) -> None:
        self._embedder: TextEmbedder | None = None

    @property
    def representation(self) -> TextEmbedder:
        if self._embedder is None:
            self._embedder = load_embedder(self.embedder)
        return self._embedder

    def embed(self, texts: list[str]) -> np.ndarray:
        return self.representation.embed(texts)

    def scores(self, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``embed_score`` and ``knn_score``, each embedded rows × models."""
        linear = sigmoid(rows @ self.coef.T + self.intercept)
        return linear, self.neighbours.predict(rows)

    def difficulty_of(self, rows: np.ndarray, shape: np.ndarray) -> np.ndarray:
        """Each embedded row's difficulty, from it and its text's raw shape counts
        (NaN without a difficulty)."""
        if self.difficulty is None:
            return np.full(len(rows), np.nan)
        return self.difficulty.of_rows(rows, shape)

    # -- files -------------------------------------------------------------------------
    def arrays(self) -> dict[str, np.ndarray]:
        n = self.neighbours
        return {
            "coef": self.coef,
            "intercept": self.intercept,
            "rows": n.rows.astype(np.float32),
            "outcomes": n.outcomes,
            "weights": np.ones_like(n.outcomes) if n.weights is None else n.weights,
            "prior": n.prior,
            **({} if self.difficulty is None else self.difficulty.arrays(_DIFFICULTY)),
        }

    def spec(self) -> dict[str, Any]:
        return {
            "embedder": self.embedder,
            "width": int(self.coef.shape[1]),
            "neighbours": {"k": self.neighbours.k, "weighting": self.neighbours.weighting},
            "difficulty": None if self.difficulty is None else self.difficulty.spec(),
        }

    @classmethod
    def from_files(cls, spec: dict[str, Any], arrays: dict[str, np.ndarray]) -> EmbeddedScorers:
        """The scorers :meth:`spec` and :meth:`arrays` describe (KeyError, ValueError
        when they do not fit together)."""
        coef, rows = np.asarray(arrays["coef"], float), np.asarray(arrays["rows"], np.float32)
        outcomes = np.asarray(arrays["outcomes"], float)
        if coef.shape[1] != int(spec["width"]) or rows.shape[1] != coef.shape[1]:
            raise ValueError(f"embedded scorers: widths {coef.shape} and {rows.shape} differ")
        if len(rows) != len(outcomes) or outcomes.shape[1] != len(coef):
            raise ValueError(f"embedded scorers: {rows.shape} rows, outcomes {outcomes.shape}")
        nb = spec["neighbours"]
        weights = np.asarray(arrays["weights"], float)
        if weights.shape != outcomes.shape:
            raise ValueError(
                f"embedded scorers: weights {weights.shape}, outcomes {outcomes.shape}"
            )
        prior = np.asarray(arrays["prior"], float)
        neighbours = Neighbours(rows, outcomes, prior, int(nb["k"]), str(nb["weighting"]), weights)
        difficulty = None
        if spec.get("difficulty") is not None:
            difficulty = Difficulty.from_files(spec["difficulty"], arrays, _DIFFICULTY)
            if len(difficulty.weights) != coef.shape[1]:
                raise ValueError(
                    f"embedded scorers: difficulty of width {len(difficulty.weights)}, "
                    f"scorers of {coef.shape[1]}"
                )
        intercept = np.asarray(arrays["intercept"], float)
        return cls(str(spec["embedder"]), coef, intercept, neighbours, difficulty)


def _text_folds(texts: list[str], folds: int, seed: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """Inner folds with every copy of a text in one fold: a copy elsewhere would vote
    for its twin, and leaving a request out of its own vote among equal texts ranks
    the resolved ones lower (their twins' mean lacks their own success)."""
    _, group = np.unique(np.asarray(texts, dtype=object), return_inverse=True)
    fold = np.random.default_rng(seed).permutation(int(group.max()) + 1) % folds
    at = fold[group]
    return [(np.flatnonzero(at != f), np.flatnonzero(at == f)) for f in range(folds)]


def _linear_oof(
    x: np.ndarray,
    y: np.ndarray,
    w: np.ndarray,
    split: list[tuple[np.ndarray, np.ndarray]],
) -> tuple[np.ndarray, float]:
    """The out-of-fold regression scores with the ``C`` of the lowest log-loss."""
    best: tuple[float, float, np.ndarray] | None = None
    for c in CS:
        oof = np.zeros_like(y)
        for tr, te in split:
            coef, intercept = fit_scorers(x[tr], y[tr], w[tr], c)
            oof[te] = sigmoid(x[te] @ coef.T + intercept)
        loss = log_loss(oof, y)
        if best is None or loss < best[0]:
            best = (loss, c, oof)
    assert best is not None
    return best[2], best[1]


def fit_embedded(
    texts: list[str],
    y: np.ndarray,
    w: np.ndarray,
    folds: int,
    seed: int,
    progress: Callable[[str], None] = lambda _m: None,
    difficulty: Difficulty | None = None,
) -> tuple[tuple[np.ndarray, np.ndarray, np.ndarray], EmbeddedScorers]:
    """Out-of-fold ``embed_score`` and ``knn_score`` of the training requests (each
    requests × models; ``w``: the outcomes' weights) and their ``difficulty`` (NaN
    without one), and the scorers fitted on all (on ``difficulty``'s representation
    when given)."""
    rep = load_embedder() if difficulty is None else load_embedder(difficulty.embedder)
    progress(f"pretrained representation ({rep.name}) of {len(texts):,} requests")
    x = rep.embed(texts)
    split = _text_folds(texts, max(2, folds), seed)
    progress("embedding scorers: choosing the regularisation")
    oof_linear, c = _linear_oof(x, y, w, split)
    coef, intercept = fit_scorers(x, y, w, c)
    progress("nearest-request scorer: choosing k and the weighting")
    kept = np.zeros(len(x), dtype=bool)
    kept[: min(len(x), SERVED_ROWS)] = True
    kept = np.random.default_rng(seed).permutation(kept)  # the rows a decision reads
    wt = np.where(np.isnan(y), 0.0, w)
    neighbours = fit_neighbours(x[kept], y[kept], seed=seed, weights=wt[kept])
    oof_knn = np.zeros_like(y)
    for tr, te in split:  # as served: among the kept rows, none of the fold's texts
        mine = np.intersect1d(tr, np.flatnonzero(kept))
        if not len(mine):
            oof_knn[te] = neighbours.prior
            continue
        inner = Neighbours(
            x[mine], y[mine], neighbours.prior, neighbours.k, neighbours.weighting, wt[mine]
        )
        oof_knn[te] = inner.predict(x[te])
    scorers = EmbeddedScorers(rep.name, coef, intercept, neighbours, difficulty)
    shape = np.array([text_features(t) for t in texts], dtype=float).reshape(len(texts), -1)
    return (oof_linear, oof_knn, scorers.difficulty_of(x, shape)), scorers
