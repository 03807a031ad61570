"""What the quality model is measured against, fitted on the same folds: one model per
candidate (:class:`PerModel`, ``selector evaluate --variant per-model``) and the two
baselines of every evaluation, the ones published routers are compared with: the naive
row (:class:`NaiveText`: TF-IDF of the request's text and a logistic regression per
model) and the neighbours row (:class:`NeighboursText`: the outcomes of the nearest
training requests in a pretrained text representation). They show what the learned
model adds on the data."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression

from models.quality import QualityTrainer, binary_rows

__all__ = ["BASELINES", "KNN", "NAIVE", "NaiveText", "NeighboursText", "PerModel"]

NAIVE = "naive: TF-IDF + logistic regression per model"
KNN = "kNN: nearest requests' outcomes in WordLlama embeddings"


class NaiveText:
    """P(resolved) from the request's text alone: one TF-IDF vocabulary over the training
    requests, one logistic regression per model on its own outcomes (graded ones as their
    cross-entropy, :func:`models.quality.binary_rows`). A model with outcomes of one kind
    only gets their mean; a model without outcomes, the mean of all.
    Same interface as :class:`QualityTrainer`, for :func:`training.evaluate.cross_validate`."""

    def __init__(self, seed: int = 0) -> None:
        self.seed = seed

    def fit(
        self, requests: pd.DataFrame, outcomes: pd.DataFrame, models: pd.DataFrame
    ) -> NaiveText:
        self.vectorizer_: TfidfVectorizer | None = TfidfVectorizer(
            sublinear_tf=True, ngram_range=(1, 2), max_features=50_000
        )
        texts = requests["text"].fillna("").astype(str)
        try:
            x = self.vectorizer_.fit_transform(texts)
        except ValueError:  # no words at all: every model gets its mean
            self.vectorizer_ = None
        row = pd.Series(np.arange(len(requests)), index=requests["request_id"])
        y_all = outcomes["resolved"].dropna().to_numpy(float)
        self.mean_ = float(y_all.mean()) if len(y_all) else 0.5
        self.fitted_: dict[str, Any] = {}
        for name in models["model"]:
            mine = outcomes[(outcomes["model"] == name) & outcomes["resolved"].notna()]
            y = mine["resolved"].to_numpy(float)
            if len(y) == 0:
                continue
            if self.vectorizer_ is None or len(np.unique(y)) < 2 or not (0 < y.mean() < 1):
                self.fitted_[name] = float(y.mean())
                continue
            rows, labels, weights = binary_rows(y)
            at = row.loc[mine["request_id"]].to_numpy()[rows]
            clf = LogisticRegression(max_iter=1000, random_state=self.seed)
            self.fitted_[name] = clf.fit(x[at], labels, sample_weight=weights)
        return self

    def predict_frames(
        self, requests: pd.DataFrame, models: pd.DataFrame
    ) -> tuple[np.ndarray, np.ndarray, None]:
        p = np.full((len(requests), len(models)), self.mean_)
        x = None
        if self.vectorizer_ is not None:
            x = self.vectorizer_.transform(requests["text"].fillna("").astype(str))
        for j, name in enumerate(models["model"]):
            fitted = self.fitted_.get(name)
            if isinstance(fitted, LogisticRegression):
                p[:, j] = fitted.predict_proba(x)[:, 1]
            elif fitted is not None:
                p[:, j] = fitted
        return p, p.copy(), None


class NeighboursText:
    """P(resolved) from the outcomes of the nearest training requests in the pretrained
    text representation (:mod:`features.embeddings`), ``k`` and the weighting chosen by
    cross-validation on the training requests (:mod:`models.quality.neighbours`).
    Same interface as :class:`NaiveText`."""

    def __init__(self, seed: int = 0) -> None:
        self.seed = seed

    def fit(
        self, requests: pd.DataFrame, outcomes: pd.DataFrame, models: pd.DataFrame
    ) -> NeighboursText:
        from features.embeddings import load_embedder
        from models.quality.neighbours import fit_neighbours

        self.embedder_ = load_embedder()
        rows = self.embedder_.embed(list(requests["text"].fillna("").astype(str)))
        y = (
            outcomes.dropna(subset=["resolved"])
            .pivot_table(index="request_id", columns="model", values="resolved", aggfunc="mean")
            .reindex(index=requests["request_id"], columns=models["model"])
            .to_numpy(dtype=float)
        )
        self.scorer_ = fit_neighbours(rows, y, seed=self.seed)
        return self

    def predict_frames(
        self, requests: pd.DataFrame, models: pd.DataFrame
    ) -> tuple[np.ndarray, np.ndarray, None]:
        rows = self.embedder_.embed(list(requests["text"].fillna("").astype(str)))
        p = self.scorer_.predict(rows)
        return p, p.copy(), None


#: the baselines every evaluation fits on its folds: (row label, class)
BASELINES: dict[str, tuple[str, type[NaiveText] | type[NeighboursText]]] = {
    "naive": (NAIVE, NaiveText),
    "knn": (KNN, NeighboursText),
}


class PerModel:
    """The alternative to one model across candidates: an independent quality model per
    candidate, each fitted on that candidate's outcomes only (no prices, no sharing).
    Same interface as :class:`QualityTrainer`, for :func:`cross_validate`; measured
    against it by ``selector evaluate --variant per-model``."""

    def __init__(self, make: Callable[[], QualityTrainer]) -> None:
        self.make = make

    def fit(self, requests: pd.DataFrame, outcomes: pd.DataFrame, models: pd.DataFrame) -> PerModel:
        self.models_ = list(models["model"])
        self.fitted_ = {}
        for name in self.models_:
            mine = outcomes[outcomes["model"] == name]
            if mine.empty:
                continue
            self.fitted_[name] = self.make().fit(
                requests, mine, models[models["model"] == name].reset_index(drop=True)
            )
        return self

    def predict_frames(
        self, requests: pd.DataFrame, models: pd.DataFrame
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
        p = np.full((len(requests), len(models)), 0.5)
        raw = p.copy()
        completion = np.full_like(p, np.nan)
        for j, name in enumerate(models["model"]):
            model = self.fitted_.get(name)
            if model is not None:
                one = models[models["model"] == name].reset_index(drop=True)
                pj, rj, cj = model.predict_frames(requests, one)
                p[:, j], raw[:, j] = pj[:, 0], rj[:, 0]
                if cj is not None:
                    completion[:, j] = cj[:, 0]
        return p, raw, None if np.isnan(completion).all() else completion
