"""``selector train``: fit, evaluate, track and register quality models in MLflow.

A training run

1. loads a data source and splits off its promotion hold-out (a fixed fifth of the
   requests by id, :meth:`RoutingData.holdout_mask`);
2. cross-validates the model on the whole source (the figures docs/training.md reports,
   identical to ``selector evaluate``), unless ``folds`` is 0;
3. fits the model on the other four fifths and scores it on the hold-out;
4. logs one MLflow run — parameters, metrics, plots, the data source with its content
   hash, the model folder (LightGBM text model, arrays, feature schema, checksums) —
   and registers the model as a new version (:mod:`training.tracking`).

Promotion (:mod:`training.promotion`) compares a version with the current champion on
the hold-out of the version's data source, which neither model was trained on.
"""

from __future__ import annotations

import json
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from models.quality import QualityPredictor, QualityTrainer
from models.registry import DEFAULT_MODEL_NAME, DEFAULT_TRACKING_URI
from training.data import DEFAULT_DATA_DIR, SOURCES, RoutingData, load_source
from training.evaluate import Evaluation, OutOfFold, cross_validate, evaluate, strong_and_weak
from training.plots import plot_evaluation, plot_tradeoff
from training.tracking import Trained, log_and_register
from training.tradeoff import Calibrated, Target, calibrate

__all__ = ["TrainResult", "data_location", "holdout_evaluation", "holdout_predictions", "train"]

Progress = Callable[[str], None]


@dataclass
class TrainResult:
    run_id: str | None
    version: str | None
    model_folder: Path | None
    cv: Evaluation | None
    holdout: Evaluation
    timings_s: dict[str, float] = field(default_factory=dict)
    tradeoff: Calibrated | None = None
    data_notes: list[str] = field(default_factory=list)


def holdout_predictions(
    predictor: QualityPredictor, data: RoutingData
) -> tuple[RoutingData, OutOfFold]:
    """The hold-out requests of ``data`` and ``predictor``'s predictions for them."""
    hold = data.subset(data.holdout_mask())
    return hold, OutOfFold(*predictor.predict_frames(hold.requests, hold.models))


def holdout_evaluation(
    predictor: QualityPredictor,
    data: RoutingData,
    seed: int,
    predicted: tuple[RoutingData, OutOfFold] | None = None,
) -> Evaluation:
    """Metrics of ``predictor`` on the hold-out requests of ``data`` (``predicted``:
    :func:`holdout_predictions`, when already made)."""
    hold, oof = predicted or holdout_predictions(predictor, data)
    ev = evaluate(hold, oof, folds=0, seed=seed)
    ev.source = f"{data.source} (hold-out)"
    return ev


def _fit(
    data: RoutingData,
    make: Callable[[], QualityTrainer],
    seed: int,
    progress: Progress,
    target: Target | None,
    strong: str | None,
    tradeoff: Calibrated | None,
) -> tuple[QualityTrainer, Evaluation, Calibrated | None]:
    """The model fitted on the requests outside the hold-out, its hold-out evaluation,
    and λ calibrated on the hold-out when a ``target`` was not met by cross-validation."""
    progress("fitting the model on the training requests")
    train_data = data.subset(~data.holdout_mask())
    meta = {"source": data.source, "content_hash": data.content_hash, "seed": seed}
    model = make().fit(
        train_data.requests, train_data.outcomes, data.models, progress=progress, meta=meta
    )
    predicted = holdout_predictions(model.predictor_, data)
    held = holdout_evaluation(model.predictor_, data, seed, predicted)
    if target is not None and tradeoff is None:
        hold, on_hold = predicted
        tradeoff = calibrate(
            hold, on_hold.p, target, strong, "the promotion hold-out", on_hold.completion
        )
    if tradeoff is not None:
        model.predictor_.meta["policy"] = tradeoff.as_dict()
    return model, held, tradeoff


def _save_and_track(
    job: Trained,
    timings: dict[str, float],
    out: Path | None,
    track: bool,
    tracking_uri: str,
    name: str,
    progress: Progress,
) -> tuple[Path, str | None, str | None]:
    """Save the model (under ``out`` if given), its plots and evaluation; with ``track``,
    log them to MLflow and register the model. Returns the folder, run id and version."""
    with tempfile.TemporaryDirectory() as tmp:
        folder = job.model.save((out or Path(tmp)) / "model")
        importance = job.model.predictor_.feature_importance()
        plots = plot_evaluation(job.cv or job.held, Path(tmp) / "plots", importance)
        if job.tradeoff is not None:
            plots.append(plot_tradeoff(job.tradeoff, Path(tmp) / "plots"))
        report = {
            "cross_validation": job.cv.as_dict() if job.cv else None,
            "holdout": job.held.as_dict(),
            "content_hash": job.data.content_hash,
            "timings_s": timings,
            "cost_weight": job.tradeoff.as_dict() if job.tradeoff else None,
        }
        (Path(tmp) / "evaluation.json").write_text(json.dumps(report, indent=2) + "\n")
        if not track:
            return folder, None, None
        progress("logging the run to MLflow and registering the model")
        run_id, version = log_and_register(
            tracking_uri, name, job, folder, plots, Path(tmp) / "evaluation.json"
        )
    return folder, run_id, version


def data_location(source: str) -> str:
    """Where the data came from, as the registry records it: a source's name, a file's
    absolute path, or a database URL without its password (``promote`` then connects
    with ``PGPASSWORD`` or ``~/.pgpass``).

    >>> data_location("postgresql://selector:secret@db:5432/log")
    'postgresql://selector@db:5432/log'
    """
    if source in SOURCES:
        return source
    if source.startswith(("postgresql://", "postgres://")):
        from urllib.parse import urlsplit, urlunsplit

        parts = urlsplit(source)
        netloc = parts.hostname or ""
        if parts.username:
            netloc = f"{parts.username}@{netloc}"
        if parts.port:
            netloc += f":{parts.port}"
        return urlunsplit(parts._replace(netloc=netloc))
    return str(Path(source).resolve())


def train(
    source: str,
    data_dir: Path = DEFAULT_DATA_DIR,
    folds: int = 5,
    seed: int = 0,
    tracking_uri: str = DEFAULT_TRACKING_URI,
    name: str = DEFAULT_MODEL_NAME,
    out: Path | None = None,
    track: bool = True,
    make_model: Callable[[], QualityTrainer] | None = None,
    progress: Progress = lambda _m: None,
    target: Target | None = None,
    strong: str | None = None,
    data: RoutingData | None = None,
) -> TrainResult:
    """Run the training job described in the module docstring. With a ``target``, λ
    is calibrated to it (:mod:`training.tradeoff`) on the cross-validated predictions
    (on the hold-out without cross-validation) and stored with the model. ``data``:
    ``source`` already loaded, when the caller needed it first."""
    timings: dict[str, float] = {}
    make = make_model or (lambda: QualityTrainer(seed=seed))
    t0 = time.perf_counter()
    data = data if data is not None else load_source(source, data_dir)
    strong_and_weak(data, strong)  # a --strong the data lacks fails before the work
    location = data_location(source)
    progress(
        f"{data.source}: {len(data.requests)} requests, {len(data.models)} models "
        f"({int(data.holdout_mask().sum())} held out for promotion)"
    )
    timings["load"] = time.perf_counter() - t0

    cv = tradeoff = None
    if folds:
        t0 = time.perf_counter()
        oof = cross_validate(data, make, folds, seed, progress=progress, baselines=True)
        cv = evaluate(data, oof, folds, seed, strong)
        timings["cross_validation"] = time.perf_counter() - t0
        if target is not None:
            tradeoff = calibrate(
                data, oof.p, target, strong, f"{folds}-fold cross-validation", oof.completion
            )
    t0 = time.perf_counter()
    model, held, tradeoff = _fit(data, make, seed, progress, target, strong, tradeoff)
    timings["fit"] = time.perf_counter() - t0
    job = Trained(data, location, model, cv, held, folds, tradeoff)
    folder, run_id, version = _save_and_track(
        job, timings, out, track, tracking_uri, name, progress
    )
    return TrainResult(
        run_id, version, folder if out else None, cv, held, timings, tradeoff, data.notes
    )
