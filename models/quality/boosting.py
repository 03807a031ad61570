"""Where the quality model's gradient-boosted stage trains: in this process
(:class:`LocalBoosting`, LightGBM's own training loop), or on a Dask cluster
(:class:`DaskBoosting`, ``lightgbm.dask``: each worker holds a share of the rows and the
workers grow each tree together). Both do the same two steps: a probe that chooses the
number of rounds by early stopping on the validation rows, then the final model on all
rows with those rounds; both hand back a plain LightGBM ``Booster``, so what is saved
and served does not depend on where it was trained.

``lightgbm.dask`` does not stop early: on Dask the probe trains every round, its
validation loss after each round is computed here (:func:`staged_losses`), and
:func:`best_round` applies LightGBM's rule to it (the best round, unless
``early_stopping`` rounds pass without improving on it), so both choose alike.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np

from models.quality.calibration import log_loss, sigmoid
from models.quality.layout import CATEGORICAL, FEATURE_NAMES

__all__ = [
    "CONNECT_TIMEOUT_S",
    "DaskBoosting",
    "LocalBoosting",
    "Rows",
    "best_round",
    "present",
    "staged_losses",
]

CONNECT_TIMEOUT_S = 30  # how long to wait for the Dask scheduler

Rows = tuple[np.ndarray, np.ndarray, np.ndarray]  # features, 0/1 labels, weights


def present(xs: np.ndarray, categorical: list[str]) -> list[str]:
    """The categorical features that have a value in some row. Distributed LightGBM
    (4.7) crashes a worker on a categorical feature missing from every row (a table
    without intents): such a column carries nothing, so it is left as a plain one.

    >>> x = np.full((3, len(FEATURE_NAMES)), np.nan)
    >>> x[0, FEATURE_NAMES.index("model")] = 2.0
    >>> present(x, ["intent", "model"])
    ['model']
    """
    return [c for c in categorical if np.any(xs[:, FEATURE_NAMES.index(c)] >= 0)]


def staged_losses(booster: Any, rows: Rows) -> list[float]:
    """The weighted log loss of ``booster`` on ``rows`` after each of its rounds."""
    xs, ys, ws = rows
    raw = np.zeros(len(ys))
    out = []
    for i in range(booster.num_trees()):
        raw += booster.predict(xs, start_iteration=i, num_iteration=1, raw_score=True)
        out.append(log_loss(sigmoid(raw), ys, ws))
    return out


def best_round(losses: list[float], early_stopping: int) -> int:
    """The round (1-based) LightGBM's early stopping would keep, given every round's
    validation loss.

    >>> best_round([0.9, 0.7, 0.6, 0.65, 0.5, 0.55], early_stopping=1)
    3
    >>> best_round([0.9, 0.7, 0.6, 0.65, 0.5, 0.55], early_stopping=2)
    5
    """
    best, best_at = math.inf, 0
    for i, loss in enumerate(losses):
        if loss < best:
            best, best_at = loss, i
        elif i - best_at >= early_stopping:
            break
    return best_at + 1


class LocalBoosting:
    """LightGBM's training loop in this process."""

    def __init__(self, params: dict[str, Any]) -> None:
        self.params = params

    @staticmethod
    def _dataset(rows: Rows) -> Any:
        import lightgbm as lgb

        xs, ys, ws = rows
        return lgb.Dataset(
            xs, ys, weight=ws, feature_name=FEATURE_NAMES, categorical_feature=CATEGORICAL
        )

    def probe(
        self, train: Rows, valid: Rows, max_rounds: int, early_stopping: int
    ) -> tuple[Any, int]:
        """A model trained on ``train`` with early stopping on ``valid``, and its best round."""
        import lightgbm as lgb

        model = lgb.train(
            self.params,
            self._dataset(train),
            num_boost_round=max_rounds,
            valid_sets=[self._dataset(valid)],
            callbacks=[lgb.early_stopping(early_stopping, verbose=False)],
        )
        return model, int(model.best_iteration or max_rounds)

    def fit(self, rows: Rows, rounds: int) -> Any:
        import lightgbm as lgb

        return lgb.train(self.params, self._dataset(rows), num_boost_round=rounds)


class DaskBoosting:
    """``lightgbm.dask`` on the Dask cluster whose scheduler is at ``scheduler`` (e.g.
    ``tcp://10.0.0.5:8786``); the rows are split evenly among its workers."""

    def __init__(self, params: dict[str, Any], scheduler: str) -> None:
        import distributed

        self.params = params
        connect: Any = distributed.Client
        self.client: Any = connect(scheduler, timeout=f"{CONNECT_TIMEOUT_S}s")
        self.workers = max(1, len(self.client.scheduler_info()["workers"]))

    def close(self) -> None:
        self.client.close()

    def _arrays(self, rows: Rows) -> tuple[Any, Any, Any]:
        import dask.array

        da: Any = dask.array
        xs, ys, ws = rows
        step = max(1, math.ceil(len(ys) / self.workers))
        parts = (
            da.from_array(xs, chunks=(step, xs.shape[1])),
            da.from_array(ys.astype(np.int64), chunks=step),
            da.from_array(ws, chunks=step),
        )
        x, y, w = self.client.persist(list(parts))
        return x, y, w

    def _model(self, rounds: int) -> Any:
        from lightgbm import DaskLGBMClassifier

        params = {k: v for k, v in self.params.items() if k not in ("num_threads", "verbose")}
        return DaskLGBMClassifier(client=self.client, n_estimators=rounds, verbose=-1, **params)

    def probe(
        self, train: Rows, valid: Rows, max_rounds: int, early_stopping: int
    ) -> tuple[Any, int]:
        """``max_rounds`` on the cluster, then the best round chosen here from the
        validation rows' loss after each round (no evaluation set on the workers: a
        worker that held no part of it would fail the fit)."""
        model = self.fit(train, max_rounds)
        return model, best_round(staged_losses(model, valid), early_stopping)

    def fit(self, rows: Rows, rounds: int) -> Any:
        x, y, w = self._arrays(rows)
        with _quiet():
            model = self._model(rounds).fit(
                x, y, sample_weight=w, feature_name=FEATURE_NAMES,
                categorical_feature=present(rows[0], CATEGORICAL),
            )  # fmt: skip
        return model.booster_


@contextmanager
def _quiet() -> Iterator[None]:
    """Without the warning ``lightgbm.dask`` gives for the thread count the scikit-learn
    wrapper always passes (each worker uses its own threads)."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Parameter n_jobs will be ignored")
        yield
