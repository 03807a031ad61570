"""What serving loads of the quality model: :class:`QualityPredictor`, plain arrays and
a LightGBM booster. The trainer evaluates through this very class, so the figures
measured offline are those of the model the service loads."""

from __future__ import annotations

import ctypes
import math
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from core.errors import ArtifactError
from features.extractor import C, FeatureVector, R
from features.intents import ngram_counts, word_ngrams
from features.text import TEXT_FEATURES, text_features
from models.quality import persistence
from models.quality.calibration import apply_platt, sigmoid
from models.quality.embedded import EmbeddedScorers
from models.quality.familiarity import Familiarity
from models.quality.layout import FEATURE_NAMES, NGRAM_RANGE, X, clip, shape_matrix, stage2_matrix

if TYPE_CHECKING:  # pandas is not imported by serving: it costs 50 MB and 0.2 s
    import pandas as pd

__all__ = ["QualityPredictor", "Trees"]

_R_TOKENS, _R_TURNS = R["prompt_tokens"], R["turns"]
_C_IN, _C_OUT = C["input_usd_per_mtok"], C["output_usd_per_mtok"]
_X_TOKENS, _X_TURNS, _X_INTENT, _X_MODEL = X["prompt_tokens"], X["turns"], X["intent"], X["model"]
_X_IN, _X_OUT, _X_SCORE = X["input_usd_per_mtok"], X["output_usd_per_mtok"], X["text_score"]
_X_EMBED, _X_KNN, _X_DIFFICULTY = X["embed_score"], X["knn_score"], X["difficulty"]


# LGBM_BoosterPredictForMatSingleRowFast(fast config, row, &written, result) -> status
_SINGLE_ROW = ctypes.CFUNCTYPE(
    ctypes.c_int, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_void_p
)


class Trees:
    """A booster's predictions through LightGBM's C API, with the arguments of
    ``Booster.predict(x, num_threads=1)`` and without the set-up LightGBM's Python
    wrapper does on every call. A decision's few rows go through LightGBM's single-row
    path, prepared once (``LGBM_BoosterPredictForMatSingleRowFastInit``): no per-call
    configuration and no OpenMP region, which a decision paid twice (P(resolved) and
    completion lengths); more rows than :attr:`FAST_ROWS` through the batch call
    (``LGBM_BoosterPredictForMat``). Serving and the batch path both read the trees
    through it; a test holds it equal to ``Booster.predict`` on every row."""

    _FLOAT64, _ROW_MAJOR, _NORMAL = 1, 1, 0  # LightGBM's C API constants
    FAST_ROWS = 32  # up to this many rows, one single-row call each

    def __init__(self, booster: Any) -> None:
        from lightgbm.basic import _safe_call
        from lightgbm.libpath import _LIB

        self._booster = booster  # the prepared path reads its trees: keep it alive
        self._lib = _LIB
        self._handle = booster._handle
        self._predict = _LIB.LGBM_BoosterPredictForMat
        # the single-row call with its argument types declared once (addresses as ints),
        # on a function object of our own so that LightGBM's is left as it is
        address = ctypes.cast(_LIB.LGBM_BoosterPredictForMatSingleRowFast, ctypes.c_void_p)
        self._predict_row = _SINGLE_ROW(address.value or 0)
        self._check = _safe_call
        self._param = ctypes.c_char_p(b"num_threads=1")
        self._ncol = ctypes.c_int32(booster.num_feature())
        self._fast = ctypes.c_void_p()
        _safe_call(
            _LIB.LGBM_BoosterPredictForMatSingleRowFastInit(
                self._handle,
                ctypes.c_int(self._NORMAL),
                ctypes.c_int(0),  # from the first iteration ...
                ctypes.c_int(-1),  # ... to the last
                ctypes.c_int(self._FLOAT64),
                self._ncol,
                self._param,
                ctypes.byref(self._fast),
            )
        )

    def __del__(self) -> None:
        fast = getattr(self, "_fast", None)
        if fast is not None and fast.value:
            self._lib.LGBM_FastConfigFree(fast)

    def __call__(self, x: np.ndarray) -> np.ndarray:
        x = np.ascontiguousarray(x, dtype=np.float64)
        n = len(x)
        if n > self.FAST_ROWS:
            return self._batch(x)
        out = np.empty(n)
        written = ctypes.c_int64(0)
        size, fast, predict_row = ctypes.addressof(written), self._fast.value, self._predict_row
        row, result, step = x.ctypes.data, out.ctypes.data, x.strides[0]
        for i in range(n):
            status = predict_row(fast, row + i * step, size, result + 8 * i)
            if status != 0:
                self._check(status)
        return out

    def _batch(self, x: np.ndarray) -> np.ndarray:
        out = np.empty(len(x))
        written = ctypes.c_int64(0)
        self._check(
            self._predict(
                self._handle,
                x.ctypes.data_as(ctypes.c_void_p),
                ctypes.c_int(self._FLOAT64),
                ctypes.c_int32(len(x)),
                self._ncol,
                ctypes.c_int(self._ROW_MAJOR),
                ctypes.c_int(self._NORMAL),
                ctypes.c_int(0),  # from the first iteration ...
                ctypes.c_int(-1),  # ... to the last
                self._param,
                ctypes.byref(written),
                out.ctypes.data_as(ctypes.POINTER(ctypes.c_double)),
            )
        )
        if written.value != len(x):
            raise RuntimeError(f"LightGBM wrote {written.value} predictions for {len(x)} rows")
        return out


class QualityPredictor:
    """A fitted quality model as plain arrays + a LightGBM booster (see
    :mod:`models.quality`)."""

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
        embedded: EmbeddedScorers | None = None,
        familiarity: Familiarity | None = None,
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
        # the decision's path to each booster (:class:`Trees`)
        self._quality_trees = Trees(self.booster)
        self._length_trees = None if self.completion is None else Trees(self.completion)
        self.calibration = calibration
        self.use_text_scores = use_text_scores
        self.embedded = embedded  # the representation's scorers (None: missing columns)
        # requests unlike the training ones are scored nearer each model's success rate
        self.familiarity = familiarity
        self.meta = meta or {}
        self._read_meta()
        self._model_code = {m: i for i, m in enumerate(self.models)}
        self._intent_code = {m: i for i, m in enumerate(self.intents)}
        n_vocab, n_intents = len(vocab), len(self.intents)
        self._check_shapes(n_vocab + n_intents + len(TEXT_FEATURES))
        # stage 1 reads the coefficients by input column: one contiguous row of every
        # model's weights per n-gram, intent and shape feature
        by_column = np.ascontiguousarray(self.coef.T)
        self._coef_words = by_column[:n_vocab]
        self._coef_intents = by_column[n_vocab : n_vocab + n_intents]
        self._coef_shape = by_column[n_vocab + n_intents :]
        self._idf = self.idf.tolist()

    def _read_meta(self) -> None:
        """Each model's mean completion in training, and the λ calibrated to a target at
        training (``selector train --target``), if any."""
        self.completion_means: dict[str, float] = dict(
            self.meta.get("completion_tokens_mean") or {}
        )
        policy = self.meta.get("policy") or {}
        self.cost_weight: float | None = (
            float(policy["cost_weight"]) if "cost_weight" in policy else None
        )

    def _check_shapes(self, columns: int) -> None:
        fam = self.familiarity
        if fam is not None and (
            len(fam.rates) != len(self.models) or len(fam.low) != len(TEXT_FEATURES)
        ):
            raise ArtifactError(
                f"quality model: familiarity for {len(fam.rates)} models and "
                f"{len(fam.low)} shape counts, expected {len(self.models)} and "
                f"{len(TEXT_FEATURES)}"
            )
        if self.embedded is not None and len(self.embedded.coef) != len(self.models):
            raise ArtifactError(
                f"quality model: embedded scorers for {len(self.embedded.coef)} models, "
                f"{len(self.models)} expected"
            )
        if self.coef.shape != (len(self.models), columns):
            raise ArtifactError(
                f"quality model: coefficients have shape {self.coef.shape}, expected "
                f"({len(self.models)}, {columns})"
            )
        if self.booster.num_feature() != len(FEATURE_NAMES):
            raise ArtifactError(
                f"quality model: the booster reads {self.booster.num_feature()} features, "
                f"this version of the selector builds {len(FEATURE_NAMES)}"
            )

    # -- stage 1 ---------------------------------------------------------------------------
    def _logits(self, text: str, intent_code: int, shape: np.ndarray) -> np.ndarray:
        """Stage-1 logits of one text for every model: its L2-normalised sublinear
        TF-IDF n-grams, its intent (a code of -1: none the model knows) and its raw
        :func:`text_features` ``shape`` through each model's logistic regression."""
        z: np.ndarray = ((np.log1p(shape) - self.shape_mean) / self.shape_std) @ self._coef_shape
        z += self.intercept
        if intent_code >= 0:
            z += self._coef_intents[intent_code]
        cols, vals = self._words(text)
        if cols:
            z += vals @ self._coef_words[cols]
        return z

    def _words(self, text: str) -> tuple[list[int], np.ndarray]:
        """Columns and L2-normalised sublinear TF-IDF values of ``text``'s n-grams."""
        counts = ngram_counts(word_ngrams(text, NGRAM_RANGE), self.vocab)
        if not counts:
            return [], np.empty(0)
        idf = self._idf
        vals = np.array([(1.0 + math.log(n)) * idf[col] for col, n in counts.items()])
        vals /= math.sqrt(float(vals @ vals))
        return list(counts), vals

    def text_scores(
        self, texts: Sequence[str], intent_codes: np.ndarray, shape: np.ndarray
    ) -> np.ndarray:
        """Stage-1 probabilities, texts × models (``shape``: the texts' raw
        :func:`text_features`, computed once by the caller, which needs them too)."""
        z = np.empty((len(texts), len(self.models)))
        for i, text in enumerate(texts):
            z[i] = self._logits(text, int(intent_codes[i]), shape[i])
        return sigmoid(z)

    # -- stage 2 ---------------------------------------------------------------------------
    def _calibrate(self, p: np.ndarray) -> np.ndarray:
        return apply_platt(p, self.calibration)

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
        texts = [clip(t) for t in requests["text"].fillna("").astype(str)]
        intents = requests["intent"].fillna("").astype(str)
        icodes = np.array([self._intent_code.get(i, -1) for i in intents], dtype=np.int64)
        names = list(models["model"])
        mcodes = np.array([self._model_code.get(m, -1) for m in names], dtype=np.int64)
        n, k = len(texts), len(names)
        base = shape_matrix(texts)
        scores = np.full((n, k), np.nan)
        if self.use_text_scores:
            known = mcodes >= 0
            scores[:, known] = self.text_scores(texts, icodes, base)[:, mcodes[known]]
        else:
            scores[:] = 0.0
        req_idx, mod_idx = np.repeat(np.arange(n), k), np.tile(np.arange(k), n)
        embedded = self._embedded_frame(texts, mcodes, base)
        x = stage2_matrix(
            base, requests, icodes, mcodes, models, scores, req_idx, mod_idx, embedded
        )
        raw = self._quality_trees(x).reshape(n, k)
        completion = None
        if self.completion is not None:
            completion = self._lengths(x, mcodes[mod_idx] >= 0).reshape(n, k)
        p = self._calibrate(raw)
        if self.familiarity is not None:
            trust = self.familiarity.trust(base)
            p = self.familiarity.blend(p, mcodes, trust)
            raw = self.familiarity.blend(raw, mcodes, trust)
        return p, raw, completion

    def _embedded_frame(
        self, texts: list[str], mcodes: np.ndarray, shape: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
        """The representation's two scores, texts × the asked models (NaN for a model
        the scorers never saw), and each text's difficulty."""
        if self.embedded is None:
            return None
        vectors = self.embedded.embed(texts)
        linear, knn = self.embedded.scores(vectors)
        known = mcodes >= 0
        out = []
        for part in (linear, knn):
            cols = np.full((len(texts), len(mcodes)), np.nan)
            cols[:, known] = part[:, mcodes[known]]
            out.append(cols)
        return out[0], out[1], self.embedded.difficulty_of(vectors, shape)

    def _lengths(self, x: np.ndarray, known: np.ndarray) -> np.ndarray:
        """Expected completion tokens of stage-2 rows ``x``; NaN for a model the length
        model never saw, or without a length model."""
        trees = self._length_trees
        if self.completion is None or trees is None or not known.any():
            return np.full(len(x), np.nan)
        if known.all():
            return trees(x)
        out = np.full(len(x), np.nan)
        out[known] = trees(x[known])
        return out

    def predict(self, fv: FeatureVector) -> list[float]:
        """P(resolved) of each candidate of a decision's feature vector (serving)."""
        return self.predict_all(fv)[0]

    def _rows(self, fv: FeatureVector, text: str) -> np.ndarray:
        """The stage-2 rows of a decision's candidates."""
        icode = self._intent_code.get(fv.intent, -1)
        shape = text_features(text)
        if self.use_text_scores:
            all_scores = sigmoid(self._logits(text, icode, np.array(shape))).tolist()
        linear: list[float] = []
        knn: list[float] = []
        difficulty = np.nan
        if self.embedded is not None:
            vector = self.embedded.representation.embed_one(text)[None, :]
            found = self.embedded.scores(vector)
            linear, knn = found[0][0].tolist(), found[1][0].tolist()
            if self.embedded.difficulty is not None:
                difficulty = self.embedded.difficulty.of_vector(vector[0], shape)
        x = np.empty((len(fv.candidates), len(FEATURE_NAMES)))
        x[:, : len(shape)] = shape
        req = fv.request
        x[:, _X_TOKENS] = req[_R_TOKENS]
        x[:, _X_TURNS] = req[_R_TURNS]
        x[:, _X_INTENT] = icode if icode >= 0 else np.nan
        x[:, _X_DIFFICULTY] = difficulty
        for j, (name, row) in enumerate(zip(fv.candidates, fv.candidate_rows, strict=True)):
            code = self._model_code.get(name, -1)
            x[j, _X_MODEL] = code if code >= 0 else np.nan
            x[j, _X_IN] = row[_C_IN]
            x[j, _X_OUT] = row[_C_OUT]
            if not self.use_text_scores:
                x[j, _X_SCORE] = 0.0
            else:
                x[j, _X_SCORE] = all_scores[code] if code >= 0 else np.nan
            known = code >= 0 and self.embedded is not None
            x[j, _X_EMBED] = linear[code] if known else np.nan
            x[j, _X_KNN] = knn[code] if known else np.nan
        return x

    def predict_all(self, fv: FeatureVector) -> tuple[list[float], list[float | None] | None]:
        """P(resolved) of each candidate and its expected completion tokens: the length
        model's (None for a model it never saw), else the model's mean completion on the
        training data (None without one); None altogether without either."""
        x = self._rows(fv, clip(fv.text))
        p = self._calibrate(self._quality_trees(x))
        if self.familiarity is not None:
            trust = self.familiarity.trust(x[:1, : len(TEXT_FEATURES)])
            codes = np.nan_to_num(x[:, _X_MODEL], nan=-1.0).astype(np.int64)
            p = self.familiarity.blend(p[None, :], codes, trust)[0]
        lengths = None
        if self.completion is not None:
            tokens = self._lengths(x, ~np.isnan(x[:, _X_MODEL])).tolist()
            lengths = [None if t != t else t for t in tokens]
        elif self.completion_means:  # no length model: each model's mean on the training data
            lengths = [self.completion_means.get(name) for name in fv.candidates]
        return p.tolist(), lengths

    def feature_importance(self) -> dict[str, float]:
        """Total gain of each stage-2 feature."""
        gain = self.booster.feature_importance(importance_type="gain")
        return {name: float(g) for name, g in zip(FEATURE_NAMES, gain, strict=True)}

    # -- files ---------------------------------------------------------------------------
    def save(self, folder: Path) -> Path:
        """Write the model to ``folder`` (created) with its manifest; returns ``folder``."""
        return persistence.write(self, folder)

    @classmethod
    def load(cls, folder: Path) -> QualityPredictor:
        """Load a saved model after checking every file against the manifest."""
        folder = Path(folder)
        arguments = persistence.read(folder)
        try:
            return cls(**arguments)
        except (KeyError, ValueError, OSError) as exc:
            raise ArtifactError(f"quality model in {folder} is malformed: {exc}") from exc
        except Exception as exc:  # LightGBM reports a bad model text as LightGBMError
            if type(exc).__name__ != "LightGBMError":
                raise
            booster = folder / persistence.BOOSTER
            raise ArtifactError(f"{booster}: not a LightGBM model: {exc}") from exc
