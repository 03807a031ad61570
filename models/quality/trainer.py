"""The quality model's trainer, :class:`QualityTrainer`: fits both stages (see
:mod:`models.quality`) and hands serving a :class:`QualityPredictor`. It follows
scikit-learn's estimator contract: ``__init__`` stores parameters, ``fit`` returns
``self``, learned attributes end in ``_``."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from features.difficulty import Difficulty, load_difficulty
from models.quality.boosting import DaskBoosting, LocalBoosting, Rows
from models.quality.calibration import binary_rows, crossfit_gain, log_loss, platt
from models.quality.embedded import EmbeddedScorers, fit_embedded
from models.quality.familiarity import fit_familiarity
from models.quality.layout import (
    DEFAULT_LGB_PARAMS,
    FEATURE_NAMES,
    X,
    clip,
    shape_matrix,
    stage2_matrix,
)
from models.quality.lengths import fit_lengths
from models.quality.predictor import QualityPredictor
from models.quality.scorers import out_of_fold_scores, text_matrix

if TYPE_CHECKING:  # pandas is not imported by serving: it costs 50 MB and 0.2 s
    import pandas as pd

__all__ = [
    "CALIBRATION_MODES",
    "DIFFICULTY_MODES",
    "REPRESENTATION_MODES",
    "NotFittedError",
    "QualityTrainer",
]

CALIBRATION_MODES = ("auto", "platt", "none")
# the pretrained representation's scorers: kept by held-out loss, always, or never fitted
REPRESENTATION_MODES = ("auto", "always", "never")
# the request difficulty beside them: the one shipped (features.difficulty), or none
DIFFICULTY_MODES = ("shipped", "none")
_X_MODEL = X["model"]
# the per-model scores: hidden with the model's identity in the dropout copies
_X_SCORES = [X["text_score"], X["embed_score"], X["knn_score"]]
_X_EMBEDDED = [X["embed_score"], X["knn_score"], X["difficulty"]]
_X_DIFFICULTY = X["difficulty"]


def _held_out_loss(probe: Any, rows: Rows, rounds: int) -> float:
    """The weighted log loss of ``probe``'s first ``rounds`` on held-out ``rows``."""
    xs, ys, ws = rows
    return log_loss(np.asarray(probe.predict(xs, num_iteration=rounds)), ys, ws)


class NotFittedError(RuntimeError):
    pass


def _grid(
    outcomes: pd.DataFrame, requests: pd.DataFrame, models: list[str], column: str
) -> np.ndarray:
    """``outcomes[column]`` as a requests × models array (NaN where unknown)."""
    return (
        outcomes.pivot(index="request_id", columns="model", values=column)
        .reindex(index=requests["request_id"], columns=models)
        .to_numpy(dtype=float)
    )


class QualityTrainer:
    """Stacked text scorers + LightGBM + Platt calibration; see :mod:`models.quality`."""

    def __init__(
        self,
        text_c: float = 1.0,
        inner_folds: int = 5,
        max_boost_round: int = 1000,
        early_stopping: int = 50,
        lgb_params: dict[str, Any] | None = None,
        use_text_scores: bool = True,
        use_embeddings: str = "auto",
        difficulty: Difficulty | str = "shipped",
        calibrate: str = "auto",
        identity_dropout: float = 0.2,
        seed: int = 0,
        dask_scheduler: str | None = None,
    ) -> None:
        if calibrate not in CALIBRATION_MODES:
            raise ValueError(f"calibrate must be one of {CALIBRATION_MODES}, not {calibrate!r}")
        if use_embeddings not in REPRESENTATION_MODES:
            raise ValueError(
                f"use_embeddings must be one of {REPRESENTATION_MODES}, not {use_embeddings!r}"
            )
        self.text_c = text_c
        self.inner_folds = inner_folds
        self.max_boost_round = max_boost_round
        self.early_stopping = early_stopping
        self.lgb_params = lgb_params
        self.use_text_scores = use_text_scores
        if isinstance(difficulty, str) and difficulty not in DIFFICULTY_MODES:
            raise ValueError(
                f"difficulty must be a Difficulty or one of {DIFFICULTY_MODES}, not {difficulty!r}"
            )
        self.use_embeddings = use_embeddings
        self.difficulty = difficulty  # the request difficulty read beside the scorers
        self.calibrate = calibrate
        self.identity_dropout = identity_dropout
        self.seed = seed
        self.dask_scheduler = dask_scheduler  # None: LightGBM trains in this process

    _PARAMS = (
        "text_c",
        "inner_folds",
        "max_boost_round",
        "early_stopping",
        "lgb_params",
        "use_text_scores",
        "use_embeddings",
        "difficulty",
        "calibrate",
        "identity_dropout",
        "seed",
        "dask_scheduler",
    )

    def get_params(self, deep: bool = True) -> dict[str, Any]:
        """The constructor's parameters (scikit-learn's contract; none is an estimator,
        so ``deep`` changes nothing)."""
        return {name: getattr(self, name) for name in self._PARAMS}

    def set_params(self, **params: Any) -> QualityTrainer:
        """Set constructor parameters by name (scikit-learn's contract)."""
        unknown = sorted(set(params) - set(self._PARAMS))
        if unknown:
            raise ValueError(f"not parameters of QualityTrainer: {unknown} (see {self._PARAMS})")
        merged = {**self.get_params(), **params}
        self.__init__(**merged)  # type: ignore[misc]  # validates as the constructor does
        return self

    def logged_params(self) -> dict[str, Any]:
        """The parameters a training run logs (MLflow's params, the model's description):
        the constructor's, with LightGBM's resolved and flattened as ``lgb_<name>``."""
        return {
            "text_c": self.text_c,
            "inner_folds": self.inner_folds,
            "max_boost_round": self.max_boost_round,
            "early_stopping": self.early_stopping,
            "use_text_scores": self.use_text_scores,
            "use_embeddings": self.use_embeddings,
            "difficulty": self._difficulty_name(),
            "calibrate": self.calibrate,
            "identity_dropout": self.identity_dropout,
            "seed": self.seed,
            **{f"lgb_{k}": v for k, v in self._lgb_params().items() if k != "verbose"},
        }

    def _difficulty_name(self) -> str:
        if isinstance(self.difficulty, str):
            return self.difficulty
        return "from " + "+".join(self.difficulty.meta.get("sources", ["a table"]))

    def _lgb_params(self) -> dict[str, Any]:
        return {**DEFAULT_LGB_PARAMS, **(self.lgb_params or {}), "seed": self.seed}

    # -- stage 2 ---------------------------------------------------------------------------
    @staticmethod
    def _rows(
        x: np.ndarray,
        target: np.ndarray,
        weight: np.ndarray,
        masked: np.ndarray,
        rows: np.ndarray,
        augment: bool = True,
    ) -> Rows:
        xs, ys, ws = x[rows], target[rows], weight[rows]
        if augment and (masked & rows).any():
            # copies of some rows with the model's identity hidden, so the trees also
            # learn to predict from prices alone: how a new catalog entry is scored
            copies = x[masked & rows].copy()
            copies[:, _X_MODEL] = np.nan
            copies[:, _X_SCORES] = np.nan
            xs, ys = np.vstack([xs, copies]), np.concatenate([ys, target[masked & rows]])
            ws = np.concatenate([ws, weight[masked & rows]])
        pick, ys, ws = binary_rows(ys, ws)  # graded outcomes as weighted 0/1 pairs
        if len(pick) > len(xs):
            xs = xs[pick]
        return xs, ys, ws

    def _stage2(
        self,
        variants: list[np.ndarray],
        target: np.ndarray,
        weight: np.ndarray,
        masked: np.ndarray,
        val_rows: np.ndarray,
        progress: Callable[[str], None],
    ) -> tuple[Any, int]:
        """The boosted model across candidates (here, or on the Dask cluster at
        ``dask_scheduler``: :mod:`models.quality.boosting`), and which of the
        ``variants`` of its rows (the same rows, some columns missing) it reads. Rounds,
        variant and calibration: a fifth of the training requests (``val_rows``) is held
        out of a probe model per variant, and the variant with the lowest held-out loss
        is kept; the final model is refitted on all requests with the rounds found."""
        params = self._lgb_params()
        boosting: Any = LocalBoosting(params)
        if self.dask_scheduler:
            boosting = DaskBoosting(params, self.dask_scheduler)
        try:
            best: tuple[float, int, Any, int] | None = None
            for i, x in enumerate(variants):
                progress(
                    "gradient-boosted model across candidates: choosing the number of rounds"
                    + (f" (inputs {i + 1} of {len(variants)})" if len(variants) > 1 else "")
                )
                valid = self._rows(x, target, weight, masked, val_rows, augment=False)
                probe, rounds = boosting.probe(
                    self._rows(x, target, weight, masked, ~val_rows),
                    valid,
                    self.max_boost_round,
                    self.early_stopping,
                )
                loss = _held_out_loss(probe, valid, rounds)
                if best is None or loss < best[0]:
                    best = (loss, i, probe, rounds)
            assert best is not None
            _, chosen, probe, rounds = best
            x = variants[chosen]
            self.best_rounds_ = max(10, rounds)
            self._calibrate(probe, x[val_rows], target[val_rows])
            progress(f"gradient-boosted model across candidates: {self.best_rounds_} rounds")
            everything = np.ones(len(target), dtype=bool)
            final = boosting.fit(
                self._rows(x, target, weight, masked, everything), self.best_rounds_
            )
            return final, chosen
        finally:
            if isinstance(boosting, DaskBoosting):
                boosting.close()

    def _calibrate(self, probe: Any, x_val: np.ndarray, labels: np.ndarray) -> None:
        """Platt scaling of the probe's scores on the validation rows, when it helps (or
        when asked for)."""
        self.calibration_ = None
        self.calibration_check_ = None
        if self.calibrate != "none" and len(labels) >= 100:
            raw = np.asarray(probe.predict(x_val, num_iteration=self.best_rounds_))
            if self.calibrate == "auto":
                self.calibration_check_ = crossfit_gain(raw, labels, self.seed)
            if self.calibrate == "platt" or (self.calibration_check_ or 0.0) > 0.0:
                self.calibration_ = platt(raw, labels)

    def _stage1(
        self,
        texts: list[str],
        icodes: np.ndarray,
        base: np.ndarray,
        y: np.ndarray,
        w: np.ndarray,
        progress: Callable[[str], None],
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The text scorers: out-of-fold scores of the training requests, coefficients and
        intercepts (zeros without text scores)."""
        stage1 = text_matrix(texts, icodes, base, len(self.intents_))
        self.vectorizer_ = stage1.vectorizer
        self.shape_mean_, self.shape_std_ = stage1.shape_mean, stage1.shape_std
        if not self.use_text_scores:
            coef = np.zeros((len(self.models_), stage1.x.shape[1]))
            return np.zeros_like(y), coef, np.zeros(len(y.T))
        return out_of_fold_scores(
            stage1.x, y, w, self.text_c, self.inner_folds, self.seed, progress
        )

    def _representation(
        self, texts: list[str], y: np.ndarray, w: np.ndarray, progress: Callable[[str], None]
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
        """The representation's scorers (``embedded_``), their out-of-fold scores of the
        training requests and the requests' difficulty; None when not used."""
        self.embedded_: EmbeddedScorers | None = None
        if self.use_embeddings == "never":
            return None
        difficulty = self.difficulty
        if difficulty == "shipped":
            difficulty = load_difficulty()
        columns, self.embedded_ = fit_embedded(
            texts,
            y,
            w,
            self.inner_folds,
            self.seed,
            progress,
            difficulty if isinstance(difficulty, Difficulty) else None,
        )
        return columns

    def _predictor(
        self,
        coef: np.ndarray,
        intercept: np.ndarray,
        booster: Any,
        completion: str | None,
        meta: dict[str, Any] | None,
    ) -> QualityPredictor:
        vocab = {} if self.vectorizer_ is None else self.vectorizer_.vocabulary_
        return QualityPredictor(
            self.models_,
            self.intents_,
            {str(t): int(i) for t, i in vocab.items()},
            np.zeros(0) if self.vectorizer_ is None else self.vectorizer_.idf_,
            coef,
            intercept,
            self.shape_mean_,
            self.shape_std_,
            booster.model_to_string(),
            self.calibration_,
            self.use_text_scores,
            {
                **(meta or {}),
                "params": self.logged_params(),
                "best_rounds": self.best_rounds_,
                "calibration_check_brier_gain": self.calibration_check_,
                "completion_rounds": self.completion_rounds_,
                # the pretrained representation's scorers, when held-out loss kept them
                "text_representation": None if self.embedded_ is None else self.embedded_.spec(),
                # each model's mean completion on the training data: the served cost's
                # length where there is no length model, as offline (training.counterfactual)
                "completion_tokens_mean": self.completion_means_,
            },
            completion,
            self.embedded_,
            self.familiarity_,
        )

    # -- public ------------------------------------------------------------------------
    def fit(
        self,
        requests: pd.DataFrame,
        outcomes: pd.DataFrame,
        models: pd.DataFrame,
        progress: Callable[[str], None] = lambda _m: None,
        meta: dict[str, Any] | None = None,
    ) -> QualityTrainer:
        self.models_ = list(models["model"])
        self.intents_ = sorted({i for i in requests["intent"].fillna("").astype(str) if i})
        y = _grid(outcomes, requests, self.models_, "resolved")
        # outcomes of logged decisions carry importance weights (training.data); others 1
        w = np.ones_like(y)
        if "weight" in outcomes:
            w = np.nan_to_num(_grid(outcomes, requests, self.models_, "weight"), nan=1.0)
        texts = [clip(t) for t in requests["text"].fillna("").astype(str)]
        index = {name: i for i, name in enumerate(self.intents_)}
        icodes = np.array(
            [index.get(i, -1) for i in requests["intent"].fillna("").astype(str)], dtype=np.int64
        )
        base = shape_matrix(texts)
        self.familiarity_ = fit_familiarity(base, y, w)
        oof, coef, intercept = self._stage1(texts, icodes, base, y, w, progress)
        embedded = self._representation(texts, y, w, progress)

        # one row per outcome known (all request × model pairs for benchmarks, the chosen
        # model's for logged decisions), request-major
        req_idx, mod_idx = np.nonzero(~np.isnan(y))
        all_models = np.arange(len(self.models_))
        x = stage2_matrix(
            base, requests, icodes, all_models, models, oof, req_idx, mod_idx, embedded
        )
        target = y[req_idx, mod_idx]
        # a stream of its own: a user's data drawn with the same seed must not line up
        rng = np.random.default_rng((self.seed, 0x5E1EC7))
        masked = rng.random(len(target)) < self.identity_dropout
        held = rng.random(len(y)) < 0.2
        variants = self._variants(x)
        booster, chosen = self._stage2(
            [v for _, v in variants], target, w[req_idx, mod_idx], masked, held[req_idx], progress
        )
        kept, x = variants[chosen]
        if self.embedded_ is not None and kept != "all":
            if kept == "scorers":
                self.embedded_.difficulty = None  # the column stays missing in serving
            else:
                self.embedded_ = None  # serving then never embeds a text
        rows = (x, req_idx, mod_idx, held[req_idx])
        completion = self._lengths(outcomes, requests, rows)
        self.predictor_ = self._predictor(coef, intercept, booster, completion, meta)
        return self

    def _variants(self, x: np.ndarray) -> list[tuple[str, np.ndarray]]:
        """The stage-2 inputs held-out loss chooses from: every column; without the
        request difficulty; (``use_embeddings="auto"``) without anything of the
        representation. Without the representation, only ``x``."""
        if self.embedded_ is None:
            return [("all", x)]
        variants = [("all", x)]
        if self.embedded_.difficulty is not None:
            scorers = x.copy()
            scorers[:, _X_DIFFICULTY] = np.nan
            variants.append(("scorers", scorers))
        if self.use_embeddings == "auto":
            none = x.copy()
            none[:, _X_EMBEDDED] = np.nan
            variants.append(("none", none))
        return variants

    def _lengths(
        self,
        outcomes: pd.DataFrame,
        requests: pd.DataFrame,
        rows: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray],
    ) -> str | None:
        """The completion-length model on the stage-2 ``rows`` (matrix, their request
        and model, held out or not), and each model's mean completion."""
        x, req_idx, mod_idx, held = rows
        tokens = None
        self.completion_means_: dict[str, float] = {}
        if "completion_tokens" in outcomes:
            means = outcomes.groupby("model")["completion_tokens"].mean().dropna()
            self.completion_means_ = {
                str(m): float(v) for m, v in means.items() if m in set(self.models_)
            }
            grid = _grid(outcomes, requests, self.models_, "completion_tokens")
            tokens = grid[req_idx, mod_idx]
        completion, self.completion_rounds_ = fit_lengths(
            x, tokens, held, self.seed, self.max_boost_round, self.early_stopping
        )
        return completion

    def _fitted(self) -> QualityPredictor:
        if not hasattr(self, "predictor_"):
            raise NotFittedError(
                "This QualityTrainer is not fitted yet: call 'fit' with training data first."
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
