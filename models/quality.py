"""P(resolved | request, model): the offline quality model.

Two stages, both fitted by :meth:`QualityModel.fit`:

1. **Text scorers**, one per model: a logistic regression on TF-IDF word 1–2-grams
   of the request text plus a one-hot of its intent, predicting whether that model
   resolves the request. Inside ``fit`` their scores on the training rows are
   out-of-fold (``inner_folds``), so the second stage learns how far to trust them.
2. **One LightGBM classifier across candidates**: one row per request × model, with
   the request's structural text features (:mod:`features.text`), prompt tokens,
   turns, intent (categorical), the model (categorical), its prices, and its text
   score. A model joins through its prices and scores like any other.

Follows scikit-learn's estimator contract: ``__init__`` stores parameters, ``fit``
returns ``self``, learned attributes end in ``_``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd

from features.text import TEXT_FEATURES, text_features

__all__ = ["QualityModel"]

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
)


class NotFittedError(RuntimeError):
    pass


class QualityModel:
    """Stacked text scorers + LightGBM; see the module docstring."""

    def __init__(
        self,
        text_c: float = 1.0,
        inner_folds: int = 5,
        max_boost_round: int = 1000,
        early_stopping: int = 50,
        lgb_params: dict[str, Any] | None = None,
        use_text_scores: bool = True,
        seed: int = 0,
    ) -> None:
        self.text_c = text_c
        self.inner_folds = inner_folds
        self.max_boost_round = max_boost_round
        self.early_stopping = early_stopping
        self.lgb_params = lgb_params
        self.use_text_scores = use_text_scores
        self.seed = seed

    # -- text stage ------------------------------------------------------------------
    def _text_matrix(self, requests: pd.DataFrame, fit: bool) -> Any:
        from scipy.sparse import csr_matrix, hstack
        from sklearn.feature_extraction.text import TfidfVectorizer

        texts = requests["text"].fillna("").astype(str).to_numpy()
        if fit:
            self.vectorizer_ = TfidfVectorizer(ngram_range=(1, 2), min_df=2, sublinear_tf=True)
            try:
                words = self.vectorizer_.fit_transform(texts)
            except ValueError:  # no text at all
                self.vectorizer_ = None
                words = csr_matrix((len(texts), 0))
        elif self.vectorizer_ is None:
            words = csr_matrix((len(texts), 0))
        else:
            words = self.vectorizer_.transform(texts)
        codes = self._intent_codes(requests)
        known = codes >= 0
        onehot = csr_matrix(
            (np.ones(int(known.sum())), (np.flatnonzero(known), codes[known])),
            shape=(len(texts), len(self.intents_)),
        )
        shape = np.log1p(np.array([text_features(t) for t in texts]).reshape(len(texts), -1))
        if fit:
            self.shape_mean_ = shape.mean(axis=0)
            self.shape_std_ = shape.std(axis=0) + 1e-9
        shape = (shape - self.shape_mean_) / self.shape_std_
        return hstack([words, onehot, csr_matrix(shape)]).tocsr()

    def _fit_scorers(self, x: Any, y: pd.DataFrame) -> list[Any]:
        from sklearn.linear_model import LogisticRegression

        scorers = []
        for model in self.models_:
            target = y[model].to_numpy()
            seen = ~np.isnan(target)
            labels = target[seen]
            if seen.sum() < 10 or labels.min() == labels.max():
                scorers.append(float(labels.mean()) if seen.any() else 0.5)
                continue
            lr = LogisticRegression(C=self.text_c, max_iter=2000)
            scorers.append(lr.fit(x[seen], labels))
        return scorers

    @staticmethod
    def _score(scorers: list[Any], x: Any) -> np.ndarray:
        cols = [
            np.full(x.shape[0], s) if isinstance(s, float) else s.predict_proba(x)[:, 1]
            for s in scorers
        ]
        return np.column_stack(cols)

    def _intent_codes(self, requests: pd.DataFrame) -> np.ndarray:
        index = {name: i for i, name in enumerate(self.intents_)}
        intents = requests["intent"].fillna("").astype(str)
        return np.array([index.get(i, -1) for i in intents], dtype=np.int64)

    # -- rows of the second stage ----------------------------------------------------------
    def _rows(
        self, requests: pd.DataFrame, text_scores: np.ndarray, models: pd.DataFrame
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Feature rows for every request × model (request-major); returns (X, request
        index, model index)."""
        base = np.array([text_features(t) for t in requests["text"].fillna("").astype(str)])
        codes = self._intent_codes(requests).astype(float)
        n, k = len(requests), len(self.models_)
        req_idx = np.repeat(np.arange(n), k)
        mod_idx = np.tile(np.arange(k), n)
        price = models.set_index("model").reindex(self.models_)
        extra = np.column_stack(
            [
                requests["prompt_tokens"].to_numpy(dtype=float)[req_idx],
                requests["turns"].to_numpy(dtype=float)[req_idx],
                np.where(codes < 0, np.nan, codes)[req_idx],
                mod_idx.astype(float),
                price["input_usd_per_mtok"].to_numpy(dtype=float)[mod_idx],
                price["output_usd_per_mtok"].to_numpy(dtype=float)[mod_idx],
                text_scores[req_idx, mod_idx] if self.use_text_scores else np.zeros(n * k),
            ]
        )
        return np.hstack([base[req_idx], extra]), req_idx, mod_idx

    @property
    def feature_names(self) -> list[str]:
        return [name for name, _ in TEXT_FEATURES] + list(EXTRA_FEATURES)

    # -- public ------------------------------------------------------------------------
    def fit(
        self,
        requests: pd.DataFrame,
        outcomes: pd.DataFrame,
        models: pd.DataFrame,
        progress: Callable[[str], None] = lambda _m: None,
    ) -> QualityModel:
        import lightgbm as lgb
        from sklearn.model_selection import KFold

        self.models_ = list(models["model"])
        self.intents_ = sorted({i for i in requests["intent"].fillna("").astype(str) if i})
        y = (
            outcomes.pivot(index="request_id", columns="model", values="resolved")
            .reindex(index=requests["request_id"], columns=self.models_)
            .reset_index(drop=True)
        )
        x_text = self._text_matrix(requests, fit=True)
        oof = np.zeros((len(requests), len(self.models_)))
        if self.use_text_scores:
            folds = KFold(self.inner_folds, shuffle=True, random_state=self.seed)
            for i, (tr, te) in enumerate(folds.split(x_text)):
                progress(f"text scorers, inner fold {i + 1}/{self.inner_folds}")
                oof[te] = self._score(self._fit_scorers(x_text[tr], y.iloc[tr]), x_text[te])
            progress("text scorers on all training requests")
            self.scorers_ = self._fit_scorers(x_text, y)
        x, req_idx, mod_idx = self._rows(requests, oof, models)
        target = y.to_numpy()[req_idx, mod_idx]
        seen = ~np.isnan(target)
        params = {**DEFAULT_LGB_PARAMS, **(self.lgb_params or {}), "seed": self.seed}
        names = self.feature_names
        cats = ["intent", "model"]
        # rounds: early stopping on a fifth of the training requests, then a refit on all
        rng = np.random.default_rng(self.seed)
        held = rng.random(len(requests)) < 0.2
        fit_rows, val_rows = seen & ~held[req_idx], seen & held[req_idx]
        progress("gradient-boosted model across candidates: choosing the number of rounds")
        probe = lgb.train(
            params,
            lgb.Dataset(
                x[fit_rows], target[fit_rows], feature_name=names, categorical_feature=cats
            ),
            num_boost_round=self.max_boost_round,
            valid_sets=[
                lgb.Dataset(
                    x[val_rows], target[val_rows], feature_name=names, categorical_feature=cats
                )
            ],
            callbacks=[lgb.early_stopping(self.early_stopping, verbose=False)],
        )
        self.best_rounds_ = max(10, int(probe.best_iteration or self.max_boost_round))
        progress(f"gradient-boosted model across candidates: {self.best_rounds_} rounds")
        dataset = lgb.Dataset(x[seen], target[seen], feature_name=names, categorical_feature=cats)
        self.booster_ = lgb.train(params, dataset, num_boost_round=self.best_rounds_)
        return self

    def predict_proba(self, requests: pd.DataFrame, models: pd.DataFrame) -> np.ndarray:
        """P(resolved) as a requests × models array (columns in the fitted model order)."""
        if not hasattr(self, "booster_"):
            raise NotFittedError(
                "This QualityModel instance is not fitted yet. Call 'fit' with training data first."
            )
        scores = (
            self._score(self.scorers_, self._text_matrix(requests, fit=False))
            if self.use_text_scores
            else np.zeros((len(requests), len(self.models_)))
        )
        x, _, _ = self._rows(requests, scores, models)
        p = np.asarray(self.booster_.predict(x))
        return p.reshape(len(requests), len(self.models_))
