"""P(resolved | request, model): the offline quality model.

Two stages, both fitted by :meth:`QualityModel.fit`:

1. **Text scorers**, one per model: a logistic regression on TF-IDF word 1–2-grams
   of the request text, a one-hot of its intent and its standardised structural text
   features, predicting whether that model resolves the request. Inside ``fit`` their
   scores on the training rows are out-of-fold (``inner_folds``), so the second stage
   learns how far to trust them.
2. **One LightGBM classifier across candidates**: one row per request × model, with
   the request's structural text features (:mod:`features.text`), prompt tokens,
   turns, intent (categorical), the model (categorical), its prices, and its text
   score. A model the training data never saw is scored through its prices (its
   model code and text score are missing). Prices alone would never be used while the
   model's identity explains everything, so training adds copies of a share of rows
   (``identity_dropout``) with the identity and text score hidden.

The boosted probabilities can then be **calibrated** by Platt scaling (a logistic
regression on their logit) fitted on requests held out of the boosting, the fifth that
also chooses the number of rounds. Platt's map is strictly increasing, so it never ties
two candidates as an isotonic map does (on GSM8K isotonic calibration made both the
Brier score and the routing worse). With ``calibrate="auto"`` (the default) the map is
applied only when it lowers the Brier score in a cross-fitted check on those held-out
requests: boosting with a log-loss objective is often calibrated already, and a map
fitted on a few hundred requests can then only add noise.

What serving needs is a :class:`QualityPredictor`: plain arrays, a LightGBM booster
and a JSON description, saved as files that cannot run code on load (``.npz`` without
pickles, LightGBM's text format, JSON) and checked against a SHA-256 manifest. The
trainer evaluates through the very same predictor, so the figures measured offline
are those of the model the service loads.

:class:`QualityModel` follows scikit-learn's estimator contract: ``__init__`` stores
parameters, ``fit`` returns ``self``, learned attributes end in ``_``.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from core.artifacts import verify_manifest, write_manifest
from core.errors import ArtifactError
from features.extractor import C, FeatureVector, R
from features.intents import word_ngrams
from features.schema import SCHEMA_VERSION
from features.text import TEXT_FEATURES, text_features

__all__ = [
    "FORMAT",
    "NotFittedError",
    "QualityModel",
    "QualityPredictor",
    "brier_score",
    "calibration_error",
]

FORMAT = "model-selector-quality"
FORMAT_VERSION = 1
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
)
FEATURE_NAMES = [name for name, _ in TEXT_FEATURES] + list(EXTRA_FEATURES)
CATEGORICAL = ["intent", "model"]

CALIBRATION_MODES = ("auto", "platt", "none")
_BOOSTER, _ARRAYS, _SPEC = "booster.txt", "text_scorers.npz", "model.json"
_COMPLETION = "completion.txt"
MIN_COMPLETION_ROWS = 50  # known completion lengths needed to fit the length model
MAX_COMPLETION_ROWS = 200_000  # a sample this large learns lengths; more only costs time
COMPLETION_LGB_PARAMS: dict[str, Any] = {**DEFAULT_LGB_PARAMS, "objective": "poisson"}


class NotFittedError(RuntimeError):
    pass


def _clip(text: str) -> str:
    return text[:MAX_TEXT_CHARS]


def _sigmoid(z: np.ndarray) -> np.ndarray:
    out: np.ndarray = 1.0 / (1.0 + np.exp(-z))
    return out


# -- calibration metrics ----------------------------------------------------------------
def brier_score(p: np.ndarray, y: np.ndarray) -> float:
    """Mean squared error of probabilities ``p`` against 0/1 outcomes ``y``.

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


def _apply_platt(p: np.ndarray, ab: tuple[float, float] | None) -> np.ndarray:
    if ab is None:
        return p
    q = np.clip(p, 1e-6, 1 - 1e-6)
    return _sigmoid(ab[0] * np.log(q / (1 - q)) + ab[1])


def _crossfit_gain(p: np.ndarray, y: np.ndarray, seed: int) -> float:
    """Brier score without minus with Platt scaling, each half scored by a map fitted on
    the other half (positive: calibration helps on data it was not fitted on)."""
    half = np.random.default_rng((seed, 0xCA1)).random(len(p)) < 0.5
    gain = 0.0
    for fit_on in (half, ~half):
        score_on = ~fit_on
        ab = _platt(p[fit_on], y[fit_on])
        gain += brier_score(p[score_on], y[score_on])
        gain -= brier_score(_apply_platt(p[score_on], ab), y[score_on])
    return gain / 2


def _platt(p: np.ndarray, y: np.ndarray) -> tuple[float, float] | None:
    """(a, b) of sigmoid(a · logit(p) + b) fitted to outcomes ``y``; None when ``y`` is
    one-sided."""
    from sklearn.linear_model import LogisticRegression

    if y.min() == y.max():
        return None
    q = np.clip(p, 1e-6, 1 - 1e-6)
    lr = LogisticRegression(C=1e6, max_iter=1000).fit(np.log(q / (1 - q))[:, None], y)
    return float(lr.coef_[0, 0]), float(lr.intercept_[0])


def _shape_matrix(texts: Sequence[str]) -> np.ndarray:
    """Raw :func:`text_features` of each text, texts × features."""
    return np.array([text_features(t) for t in texts]).reshape(len(texts), len(TEXT_FEATURES))


def _stage2_matrix(
    shape: np.ndarray,
    requests: pd.DataFrame,
    intent_codes: np.ndarray,
    model_codes: np.ndarray,
    models: pd.DataFrame,
    scores: np.ndarray,
    req_idx: np.ndarray,
    mod_idx: np.ndarray,
) -> np.ndarray:
    """Stage-2 rows (columns :data:`FEATURE_NAMES`) for the pairs ``req_idx`` ×
    ``mod_idx``; a code of -1 (an intent or model the model never saw) is missing."""
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
        ]
    )


# -- the predictor: what the service loads ------------------------------------------------
class QualityPredictor:
    """A fitted quality model as plain arrays + a LightGBM booster (see the module doc)."""

    name = "quality-model"

    def __init__(
        self,
        models: Sequence[str],
        intents: Sequence[str],
        vocab: dict[str, int],
        idf: np.ndarray,
        coef: np.ndarray,
        intercept: np.ndarray,
        shape_mean: np.ndarray,
        shape_std: np.ndarray,
        booster_text: str,
        calibration: tuple[float, float] | None,
        use_text_scores: bool = True,
        meta: dict[str, Any] | None = None,
        completion_text: str | None = None,
    ) -> None:
        import lightgbm as lgb

        self.models = list(models)
        self.intents = list(intents)
        self.vocab = vocab
        self.idf = np.asarray(idf, dtype=np.float64)
        self.coef = np.asarray(coef, dtype=np.float64)  # models × (vocab + intents + shape)
        self.intercept = np.asarray(intercept, dtype=np.float64)
        self.shape_mean = np.asarray(shape_mean, dtype=np.float64)
        self.shape_std = np.asarray(shape_std, dtype=np.float64)
        self.booster_text = booster_text
        self.booster = lgb.Booster(model_str=booster_text)
        self.completion_text = completion_text
        self.completion = (
            None if completion_text is None else lgb.Booster(model_str=completion_text)
        )
        self.calibration = calibration
        self.use_text_scores = use_text_scores
        self.meta = meta or {}
        # λ calibrated to a target at training (``selector train --target``), if any
        policy = self.meta.get("policy") or {}
        self.cost_weight: float | None = (
            float(policy["cost_weight"]) if "cost_weight" in policy else None
        )
        self._model_code = {m: i for i, m in enumerate(self.models)}
        self._intent_code = {m: i for i, m in enumerate(self.intents)}
        n_vocab, n_intents = len(vocab), len(self.intents)
        self._coef_intent = self.coef[:, n_vocab : n_vocab + n_intents]
        self._coef_shape = self.coef[:, n_vocab + n_intents :]
        if self.coef.shape != (len(self.models), n_vocab + n_intents + len(TEXT_FEATURES)):
            raise ArtifactError(
                f"quality model: coefficients have shape {self.coef.shape}, expected "
                f"({len(self.models)}, {n_vocab + n_intents + len(TEXT_FEATURES)})"
            )
        if self.booster.num_feature() != len(FEATURE_NAMES):
            raise ArtifactError(
                f"quality model: the booster reads {self.booster.num_feature()} features, "
                f"this version of the selector builds {len(FEATURE_NAMES)}"
            )

    # -- stage 1 ---------------------------------------------------------------------------
    def _words(self, text: str) -> tuple[np.ndarray, np.ndarray]:
        """Columns and L2-normalised sublinear TF-IDF values of ``text``'s n-grams."""
        counts: dict[int, int] = {}
        vocab = self.vocab
        for gram in word_ngrams(text, NGRAM_RANGE):
            col = vocab.get(gram)
            if col is not None:
                counts[col] = counts.get(col, 0) + 1
        if not counts:
            return np.empty(0, dtype=np.intp), np.empty(0)
        cols = np.fromiter(counts, dtype=np.intp, count=len(counts))
        tf = np.fromiter(counts.values(), dtype=np.float64, count=len(counts))
        vals = (1.0 + np.log(tf)) * self.idf[cols]
        return cols, vals / math.sqrt(float(vals @ vals))

    def text_scores(
        self, texts: Sequence[str], intent_codes: np.ndarray, shape: np.ndarray
    ) -> np.ndarray:
        """Stage-1 probabilities, texts × models (``shape``: the texts' raw
        :func:`text_features`, computed once by the caller, which needs them too)."""
        shape = np.log1p(shape)
        z = ((shape - self.shape_mean) / self.shape_std) @ self._coef_shape.T + self.intercept
        known = intent_codes >= 0
        if known.any() and self._coef_intent.shape[1]:
            z[known] += self._coef_intent[:, intent_codes[known]].T
        for i, text in enumerate(texts):
            cols, vals = self._words(text)
            if len(cols):
                z[i] += self.coef[:, cols] @ vals
        return _sigmoid(z)

    # -- stage 2 ---------------------------------------------------------------------------
    def _calibrate(self, p: np.ndarray) -> np.ndarray:
        return _apply_platt(p, self.calibration)

    def predict_frame(
        self, requests: pd.DataFrame, models: pd.DataFrame, calibrated: bool = True
    ) -> np.ndarray:
        """P(resolved) as a requests × models array, columns in the order of ``models``.

        ``requests`` needs ``text``, ``intent``, ``turns`` and ``prompt_tokens``;
        ``models`` needs ``model``, ``input_usd_per_mtok`` and ``output_usd_per_mtok``.
        """
        p, raw, _ = self.predict_frames(requests, models)
        return p if calibrated else raw

    def predict_frames(
        self, requests: pd.DataFrame, models: pd.DataFrame
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
        """In one pass: calibrated P(resolved), the boosted model's raw P, and the
        expected completion tokens (None without a length model; NaN for a model the
        length model never saw), each requests × models."""
        texts = [_clip(t) for t in requests["text"].fillna("").astype(str)]
        intents = requests["intent"].fillna("").astype(str)
        icodes = np.array([self._intent_code.get(i, -1) for i in intents], dtype=np.int64)
        names = list(models["model"])
        mcodes = np.array([self._model_code.get(m, -1) for m in names], dtype=np.int64)
        n, k = len(texts), len(names)
        base = _shape_matrix(texts)
        scores = np.full((n, k), np.nan)
        if self.use_text_scores:
            known = mcodes >= 0
            scores[:, known] = self.text_scores(texts, icodes, base)[:, mcodes[known]]
        else:
            scores[:] = 0.0
        req_idx, mod_idx = np.repeat(np.arange(n), k), np.tile(np.arange(k), n)
        x = _stage2_matrix(base, requests, icodes, mcodes, models, scores, req_idx, mod_idx)
        raw = np.asarray(self.booster.predict(x, num_threads=1)).reshape(n, k)
        completion = None
        if self.completion is not None:
            completion = self._lengths(x, mcodes[mod_idx] >= 0).reshape(n, k)
        return self._calibrate(raw), raw, completion

    def _lengths(self, x: np.ndarray, known: np.ndarray) -> np.ndarray:
        """Expected completion tokens of stage-2 rows ``x``; NaN for a model the length
        model never saw, or without a length model."""
        out = np.full(len(x), np.nan)
        if self.completion is not None and known.any():
            out[known] = self.completion.predict(x[known], num_threads=1)
        return out

    def predict(self, fv: FeatureVector) -> list[float]:
        """P(resolved) of each candidate of a decision's feature vector (serving)."""
        return self.predict_all(fv)[0]

    def predict_all(self, fv: FeatureVector) -> tuple[list[float], list[float | None] | None]:
        """P(resolved) of each candidate and, with a length model, its expected completion
        tokens (None for a model the length model never saw)."""
        text = _clip(fv.text)
        icode = self._intent_code.get(fv.intent, -1)
        k = len(fv.candidates)
        shape = text_features(text)
        if self.use_text_scores:
            all_scores = self.text_scores([text], np.array([icode]), np.array([shape]))[0]
        x = np.empty((k, len(FEATURE_NAMES)))
        x[:, : len(shape)] = shape
        req = fv.request
        x[:, _X_TOKENS] = req[_R_TOKENS]
        x[:, _X_TURNS] = req[_R_TURNS]
        x[:, _X_INTENT] = icode if icode >= 0 else np.nan
        for j, (name, row) in enumerate(zip(fv.candidates, fv.candidate_rows, strict=True)):
            code = self._model_code.get(name, -1)
            x[j, _X_MODEL] = code if code >= 0 else np.nan
            x[j, _X_IN] = row[_C_IN]
            x[j, _X_OUT] = row[_C_OUT]
            if not self.use_text_scores:
                x[j, _X_SCORE] = 0.0
            else:
                x[j, _X_SCORE] = all_scores[code] if code >= 0 else np.nan
        p = self._calibrate(np.asarray(self.booster.predict(x, num_threads=1)))
        lengths = None
        if self.completion is not None:
            tokens = self._lengths(x, ~np.isnan(x[:, _X_MODEL]))
            lengths = [None if t != t else float(t) for t in tokens]
        return [float(v) for v in p], lengths

    def feature_importance(self) -> dict[str, float]:
        """Total gain of each stage-2 feature."""
        gain = self.booster.feature_importance(importance_type="gain")
        return {name: float(g) for name, g in zip(FEATURE_NAMES, gain, strict=True)}

    # -- files ---------------------------------------------------------------------------
    def save(self, folder: Path) -> Path:
        """Write the model to ``folder`` (created) with its manifest; returns ``folder``."""
        folder.mkdir(parents=True, exist_ok=True)
        (folder / _BOOSTER).write_text(self.booster_text, encoding="utf-8")
        files = [_BOOSTER, _ARRAYS, _SPEC]
        if self.completion_text is not None:
            (folder / _COMPLETION).write_text(self.completion_text, encoding="utf-8")
            files.append(_COMPLETION)
        terms = sorted(self.vocab, key=self.vocab.__getitem__)
        with (folder / _ARRAYS).open("wb") as f:
            np.savez_compressed(
                f,
                vocab=np.array(terms, dtype=np.str_),
                idf=self.idf,
                coef=self.coef,
                intercept=self.intercept,
                shape_mean=self.shape_mean,
                shape_std=self.shape_std,
            )
        spec = {
            "format": FORMAT,
            "format_version": FORMAT_VERSION,
            "feature_schema_version": SCHEMA_VERSION,
            "features": FEATURE_NAMES,
            "categorical": CATEGORICAL,
            "models": self.models,
            "intents": self.intents,
            "text": {"ngram_range": list(NGRAM_RANGE), "max_chars": MAX_TEXT_CHARS},
            "use_text_scores": self.use_text_scores,
            "calibration": None
            if self.calibration is None
            else {"method": "platt", "a": self.calibration[0], "b": self.calibration[1]},
            "completion": None
            if self.completion_text is None
            else {"file": _COMPLETION, "objective": "poisson", "unit": "tokens"},
            "meta": self.meta,
        }
        (folder / _SPEC).write_text(json.dumps(spec, indent=2) + "\n", encoding="utf-8")
        write_manifest(folder, files, {"format": FORMAT})
        return folder

    @classmethod
    def load(cls, folder: Path) -> QualityPredictor:
        """Load a saved model after checking every file against the manifest."""
        folder = Path(folder)
        verify_manifest(folder)
        try:
            spec = json.loads((folder / _SPEC).read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise ArtifactError(f"{folder / _SPEC}: unreadable model description: {exc}") from exc
        if spec.get("format") != FORMAT or spec.get("format_version") != FORMAT_VERSION:
            raise ArtifactError(
                f"{folder} holds {spec.get('format')!r} v{spec.get('format_version')}, "
                f"not {FORMAT!r} v{FORMAT_VERSION}: retrain with `selector train`"
            )
        if spec.get("features") != FEATURE_NAMES:
            raise ArtifactError(
                f"{folder}: the model's features differ from this selector's "
                f"(schema v{spec.get('feature_schema_version')}): retrain with `selector train`"
            )
        try:
            with np.load(folder / _ARRAYS, allow_pickle=False) as z:
                arrays = {k: z[k] for k in z.files}
            cal = spec["calibration"]
            return cls(
                models=spec["models"],
                intents=spec["intents"],
                vocab={str(t): i for i, t in enumerate(arrays["vocab"])},
                idf=arrays["idf"],
                coef=arrays["coef"],
                intercept=arrays["intercept"],
                shape_mean=arrays["shape_mean"],
                shape_std=arrays["shape_std"],
                booster_text=(folder / _BOOSTER).read_text(encoding="utf-8"),
                calibration=None if cal is None else (float(cal["a"]), float(cal["b"])),
                use_text_scores=bool(spec["use_text_scores"]),
                meta=spec.get("meta", {}),
                completion_text=(folder / _COMPLETION).read_text(encoding="utf-8")
                if spec.get("completion")
                else None,
            )
        except (KeyError, ValueError, OSError) as exc:
            raise ArtifactError(f"quality model in {folder} is malformed: {exc}") from exc
        except Exception as exc:  # LightGBM reports a bad model text as LightGBMError
            if type(exc).__name__ == "LightGBMError":
                raise ArtifactError(f"{folder / _BOOSTER}: not a LightGBM model: {exc}") from exc
            raise


_R_TOKENS, _R_TURNS = R["prompt_tokens"], R["turns"]
_C_IN, _C_OUT = C["input_usd_per_mtok"], C["output_usd_per_mtok"]
_X = {name: i for i, name in enumerate(FEATURE_NAMES)}
_X_TOKENS, _X_TURNS, _X_INTENT, _X_MODEL = (
    _X["prompt_tokens"],
    _X["turns"],
    _X["intent"],
    _X["model"],
)
_X_IN, _X_OUT, _X_SCORE = _X["input_usd_per_mtok"], _X["output_usd_per_mtok"], _X["text_score"]


# -- the trainer ------------------------------------------------------------------------
class QualityModel:
    """Stacked text scorers + LightGBM + Platt calibration; see the module docstring."""

    def __init__(
        self,
        text_c: float = 1.0,
        inner_folds: int = 5,
        max_boost_round: int = 1000,
        early_stopping: int = 50,
        lgb_params: dict[str, Any] | None = None,
        use_text_scores: bool = True,
        calibrate: str = "auto",
        identity_dropout: float = 0.2,
        seed: int = 0,
    ) -> None:
        if calibrate not in CALIBRATION_MODES:
            raise ValueError(f"calibrate must be one of {CALIBRATION_MODES}, not {calibrate!r}")
        self.text_c = text_c
        self.inner_folds = inner_folds
        self.max_boost_round = max_boost_round
        self.early_stopping = early_stopping
        self.lgb_params = lgb_params
        self.use_text_scores = use_text_scores
        self.calibrate = calibrate
        self.identity_dropout = identity_dropout
        self.seed = seed

    def get_params(self) -> dict[str, Any]:
        return {
            "text_c": self.text_c,
            "inner_folds": self.inner_folds,
            "max_boost_round": self.max_boost_round,
            "early_stopping": self.early_stopping,
            "use_text_scores": self.use_text_scores,
            "calibrate": self.calibrate,
            "identity_dropout": self.identity_dropout,
            "seed": self.seed,
            **{f"lgb_{k}": v for k, v in self._lgb_params().items() if k != "verbose"},
        }

    def _lgb_params(self) -> dict[str, Any]:
        return {**DEFAULT_LGB_PARAMS, **(self.lgb_params or {}), "seed": self.seed}

    # -- stage 1 ---------------------------------------------------------------------------
    def _text_matrix(self, texts: list[str], intent_codes: np.ndarray, shape: np.ndarray) -> Any:
        from scipy.sparse import csr_matrix, hstack
        from sklearn.feature_extraction.text import TfidfVectorizer

        self.vectorizer_ = TfidfVectorizer(ngram_range=NGRAM_RANGE, min_df=2, sublinear_tf=True)
        try:
            words = self.vectorizer_.fit_transform(texts)
        except ValueError:  # no text at all
            self.vectorizer_ = None
            words = csr_matrix((len(texts), 0))
        known = intent_codes >= 0
        onehot = csr_matrix(
            (np.ones(int(known.sum())), (np.flatnonzero(known), intent_codes[known])),
            shape=(len(texts), len(self.intents_)),
        )
        shape = np.log1p(shape)
        self.shape_mean_ = shape.mean(axis=0)
        self.shape_std_ = shape.std(axis=0) + 1e-9
        shape = (shape - self.shape_mean_) / self.shape_std_
        return hstack([words, onehot, csr_matrix(shape)]).tocsr()

    def _fit_scorers(self, x: Any, y: np.ndarray, w: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Coefficients (models × columns) and intercepts of the per-model scorers; a
        model with too few or one-sided labels gets its base rate."""
        from sklearn.linear_model import LogisticRegression
        from threadpoolctl import threadpool_limits

        with threadpool_limits(1, user_api="blas"):
            # the solver's small vector products: BLAS threads only contend (5× slower here)
            return self._fit_scorers_serial(x, y, w, LogisticRegression)

    def _fit_scorers_serial(
        self, x: Any, y: np.ndarray, w: np.ndarray, lr_class: Any
    ) -> tuple[np.ndarray, np.ndarray]:
        coef = np.zeros((y.shape[1], x.shape[1]))
        intercept = np.zeros(y.shape[1])
        for j in range(y.shape[1]):
            seen = ~np.isnan(y[:, j])
            labels = y[seen, j]
            if seen.sum() < 10 or labels.min() == labels.max():
                rate = float(np.clip(labels.mean(), 1e-3, 1 - 1e-3)) if seen.any() else 0.5
                intercept[j] = math.log(rate / (1 - rate))
                continue
            lr = lr_class(C=self.text_c, max_iter=2000).fit(
                x[seen], labels, sample_weight=w[seen, j]
            )
            coef[j], intercept[j] = lr.coef_[0], lr.intercept_[0]
        return coef, intercept

    # -- public ------------------------------------------------------------------------
    def fit(
        self,
        requests: pd.DataFrame,
        outcomes: pd.DataFrame,
        models: pd.DataFrame,
        progress: Callable[[str], None] = lambda _m: None,
        meta: dict[str, Any] | None = None,
    ) -> QualityModel:
        import lightgbm as lgb
        from sklearn.model_selection import KFold

        self.models_ = list(models["model"])
        self.intents_ = sorted({i for i in requests["intent"].fillna("").astype(str) if i})

        def grid(column: str) -> np.ndarray:
            return (
                outcomes.pivot(index="request_id", columns="model", values=column)
                .reindex(index=requests["request_id"], columns=self.models_)
                .to_numpy(dtype=float)
            )

        y = grid("resolved")
        # outcomes of logged decisions carry importance weights (training.data); others 1
        w = np.nan_to_num(grid("weight"), nan=1.0) if "weight" in outcomes else np.ones_like(y)
        texts = [_clip(t) for t in requests["text"].fillna("").astype(str)]
        index = {name: i for i, name in enumerate(self.intents_)}
        icodes = np.array(
            [index.get(i, -1) for i in requests["intent"].fillna("").astype(str)], dtype=np.int64
        )
        base = _shape_matrix(texts)
        x_text = self._text_matrix(texts, icodes, base)
        vocab = {} if self.vectorizer_ is None else dict(self.vectorizer_.vocabulary_)
        idf = np.zeros(0) if self.vectorizer_ is None else self.vectorizer_.idf_

        oof = np.zeros_like(y)
        coef, intercept = np.zeros((len(self.models_), x_text.shape[1])), np.zeros(len(y.T))
        if self.use_text_scores:
            folds = KFold(self.inner_folds, shuffle=True, random_state=self.seed)
            for i, (tr, te) in enumerate(folds.split(x_text)):
                progress(f"text scorers, inner fold {i + 1}/{self.inner_folds}")
                c, b = self._fit_scorers(x_text[tr], y[tr], w[tr])
                oof[te] = _sigmoid(x_text[te] @ c.T + b)
            progress("text scorers on all training requests")
            coef, intercept = self._fit_scorers(x_text, y, w)

        # one row per outcome known (all request × model pairs for benchmarks, the chosen
        # model's for logged decisions), request-major
        req_idx, mod_idx = np.nonzero(~np.isnan(y))
        x = _stage2_matrix(
            base, requests, icodes, np.arange(len(self.models_)), models, oof, req_idx, mod_idx
        )
        target = y[req_idx, mod_idx]
        weight = w[req_idx, mod_idx]
        params = self._lgb_params()

        # a stream of its own: a user's data drawn with the same seed must not line up
        rng = np.random.default_rng((self.seed, 0x5E1EC7))
        masked = rng.random(len(target)) < self.identity_dropout

        def dataset(rows: np.ndarray, augment: bool = True) -> Any:
            xs, ys, ws = x[rows], target[rows], weight[rows]
            if augment and (masked & rows).any():
                # copies of some rows with the model's identity hidden, so the trees also
                # learn to predict from prices alone: how a new catalog entry is scored
                copies = x[masked & rows].copy()
                copies[:, _X_MODEL] = np.nan
                copies[:, _X_SCORE] = np.nan
                xs, ys = np.vstack([xs, copies]), np.concatenate([ys, target[masked & rows]])
                ws = np.concatenate([ws, weight[masked & rows]])
            return lgb.Dataset(
                xs, ys, weight=ws, feature_name=FEATURE_NAMES, categorical_feature=CATEGORICAL
            )

        # rounds and calibration: a fifth of the training requests is held out of a probe
        # model; the final model is refitted on all requests with the rounds found
        held = rng.random(len(y)) < 0.2
        val_rows = held[req_idx]
        fit_rows = ~val_rows
        progress("gradient-boosted model across candidates: choosing the number of rounds")
        probe = lgb.train(
            params,
            dataset(fit_rows),
            num_boost_round=self.max_boost_round,
            valid_sets=[dataset(val_rows, augment=False)],
            callbacks=[lgb.early_stopping(self.early_stopping, verbose=False)],
        )
        self.best_rounds_ = max(10, int(probe.best_iteration or self.max_boost_round))
        self.calibration_ = None
        self.calibration_check_ = None
        if self.calibrate != "none" and val_rows.sum() >= 100:
            raw = np.asarray(probe.predict(x[val_rows], num_iteration=self.best_rounds_))
            labels = target[val_rows]
            if self.calibrate == "auto":
                self.calibration_check_ = _crossfit_gain(raw, labels, self.seed)
            if self.calibrate == "platt" or (self.calibration_check_ or 0.0) > 0.0:
                self.calibration_ = _platt(raw, labels)
        progress(f"gradient-boosted model across candidates: {self.best_rounds_} rounds")
        everything = np.ones(len(target), dtype=bool)
        booster = lgb.train(params, dataset(everything), num_boost_round=self.best_rounds_)
        completion = self._fit_completion(outcomes, requests, x, req_idx, mod_idx, held)
        self.predictor_ = QualityPredictor(
            self.models_,
            self.intents_,
            {str(t): int(i) for t, i in vocab.items()},
            idf,
            coef,
            intercept,
            self.shape_mean_,
            self.shape_std_,
            booster.model_to_string(),
            self.calibration_,
            self.use_text_scores,
            {
                **(meta or {}),
                "params": self.get_params(),
                "best_rounds": self.best_rounds_,
                "calibration_check_brier_gain": self.calibration_check_,
                "completion_rounds": self.completion_rounds_,
            },
            completion,
        )
        return self

    def _fit_completion(
        self,
        outcomes: pd.DataFrame,
        requests: pd.DataFrame,
        x: np.ndarray,
        req_idx: np.ndarray,
        mod_idx: np.ndarray,
        held: np.ndarray,
    ) -> str | None:
        """The completion-length model: LightGBM with a Poisson objective (its prediction
        is the mean length, which expected cost needs) over the same rows and features,
        where the data has lengths (at most :data:`MAX_COMPLETION_ROWS` of them, drawn at
        random); rounds by early stopping on the same held-out fifth."""
        import lightgbm as lgb

        self.completion_rounds_: int | None = None
        if "completion_tokens" not in outcomes:
            return None
        tokens = (
            outcomes.pivot(index="request_id", columns="model", values="completion_tokens")
            .reindex(index=requests["request_id"], columns=self.models_)
            .to_numpy(dtype=float)[req_idx, mod_idx]
        )
        known = ~np.isnan(tokens)
        if known.sum() < MIN_COMPLETION_ROWS:
            return None
        if known.sum() > MAX_COMPLETION_ROWS:
            rng = np.random.default_rng((self.seed, 0x1E7))
            keep = rng.choice(np.flatnonzero(known), MAX_COMPLETION_ROWS, replace=False)
            known = np.zeros_like(known)
            known[keep] = True
        params = {**COMPLETION_LGB_PARAMS, "seed": self.seed}

        def dataset(rows: np.ndarray) -> Any:
            return lgb.Dataset(
                x[rows], tokens[rows], feature_name=FEATURE_NAMES, categorical_feature=CATEGORICAL
            )

        val = known & held[req_idx]
        rounds = self.max_boost_round
        if val.sum() >= 20:
            probe = lgb.train(
                params,
                dataset(known & ~val),
                num_boost_round=self.max_boost_round,
                valid_sets=[dataset(val)],
                callbacks=[lgb.early_stopping(self.early_stopping, verbose=False)],
            )
            rounds = max(10, int(probe.best_iteration or self.max_boost_round))
        self.completion_rounds_ = rounds
        return str(lgb.train(params, dataset(known), num_boost_round=rounds).model_to_string())

    def _fitted(self) -> QualityPredictor:
        if not hasattr(self, "predictor_"):
            raise NotFittedError(
                "This QualityModel instance is not fitted yet. Call 'fit' with training data first."
            )
        return self.predictor_

    def predict_proba(
        self, requests: pd.DataFrame, models: pd.DataFrame, calibrated: bool = True
    ) -> np.ndarray:
        """P(resolved) as a requests × models array (columns in the order of ``models``)."""
        return self._fitted().predict_frame(requests, models, calibrated)

    def predict_frames(
        self, requests: pd.DataFrame, models: pd.DataFrame
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
        """See :meth:`QualityPredictor.predict_frames`."""
        return self._fitted().predict_frames(requests, models)

    def save(self, folder: Path) -> Path:
        """Save what serving needs (see :class:`QualityPredictor`)."""
        return self._fitted().save(folder)

    @property
    def feature_names(self) -> list[str]:
        return list(FEATURE_NAMES)
