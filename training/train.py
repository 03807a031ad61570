"""``selector train`` and ``selector promote``: fit, evaluate, track and register quality
models in MLflow, and move the ``champion`` alias only to a better model.

A training run

1. loads a data source and splits off its promotion hold-out (a fixed fifth of the
   requests by id, :meth:`RoutingData.holdout_mask`);
2. cross-validates the model on the whole source (the figures docs/training.md reports,
   identical to ``selector evaluate``), unless ``folds`` is 0;
3. fits the model on the other four fifths and scores it on the hold-out;
4. logs one MLflow run — parameters, metrics, plots, the data source with its content
   hash, the model folder (LightGBM text model, arrays, feature schema, checksums) —
   and registers the model as a new version.

Promotion compares a version with the current champion on the hold-out of the
version's data source, which neither model was trained on.
"""

from __future__ import annotations

import json
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from core.errors import ConflictError, NotFoundError
from models.quality import QualityModel, QualityPredictor
from models.registry import (
    CHAMPION,
    DEFAULT_MODEL_NAME,
    DEFAULT_TRACKING_URI,
    client,
    experiment_id,
)
from selector.config import Settings
from training.data import (
    DEFAULT_DATA_DIR,
    HOLDOUT_SHARE,
    LOG_SUFFIXES,
    SOURCES,
    RoutingData,
    load_source,
    unit_hash,
)
from training.evaluate import Evaluation, OutOfFold, cross_validate, evaluate
from training.plots import plot_evaluation, plot_tradeoff
from training.tradeoff import Calibrated, Target, calibrate

__all__ = [
    "Promotion",
    "TrainResult",
    "holdout_evaluation",
    "log_evaluation",
    "promote",
    "train",
]

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


def primary_metric(ev: Evaluation) -> tuple[str, float]:
    """The figure models are compared by: APGR for two models, AIQ for more."""
    key = "APGR" if "APGR" in ev.summary else "AIQ"
    value = ev.summary.get(key)
    if value is None:
        raise ConflictError(
            f"{ev.source}: {key} cannot be measured ({ev.summary.get('notes', 'too few outcomes')})"
            ": log more decisions with exploration (SELECTOR_EXPLORATION) before comparing models"
        )
    return key, float(value)


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


def _numeric(prefix: str, values: dict[str, Any]) -> dict[str, float]:
    out = {}
    for k, v in values.items():
        if isinstance(v, (int, float)) and not isinstance(v, bool) and v == v:  # not NaN
            clean = k.replace("(", "_").replace(")", "").replace("%", "pct").replace(" ", "_")
            out[f"{prefix}{clean}"] = float(v)
    return out


def _calibration_metrics(prefix: str, ev: Evaluation) -> dict[str, float]:
    return {
        f"{prefix}{stat}_{label}": float(ev.calibration[label][stat])
        for label in ("raw", "calibrated")
        for stat in ("brier", "ece")
        if ev.calibration
    }


def train(
    source: str,
    data_dir: Path = DEFAULT_DATA_DIR,
    folds: int = 5,
    seed: int = 0,
    tracking_uri: str = DEFAULT_TRACKING_URI,
    name: str = DEFAULT_MODEL_NAME,
    out: Path | None = None,
    track: bool = True,
    make_model: Callable[[], QualityModel] | None = None,
    progress: Progress = lambda _m: None,
    target: Target | None = None,
    strong: str | None = None,
) -> TrainResult:
    """Run the training job described in the module docstring. With a ``target``, λ
    is calibrated to it (:mod:`training.tradeoff`) on the cross-validated predictions
    (on the hold-out without cross-validation) and stored with the model."""
    timings: dict[str, float] = {}
    make = make_model or (lambda: QualityModel(seed=seed))
    t0 = time.perf_counter()
    data = load_source(source, data_dir)
    location = source if source in SOURCES else str(Path(source).resolve())
    holdout = data.holdout_mask()
    train_data = data.subset(~holdout)
    progress(
        f"{data.source}: {len(data.requests)} requests, {len(data.models)} models "
        f"({int(holdout.sum())} held out for promotion)"
    )
    timings["load"] = time.perf_counter() - t0

    cv = tradeoff = None
    if folds:
        t0 = time.perf_counter()
        oof = cross_validate(data, make, folds, seed, progress=progress)
        cv = evaluate(data, oof, folds, seed)
        timings["cross_validation"] = time.perf_counter() - t0
        if target is not None:
            tradeoff = calibrate(
                data, oof.p, target, strong, f"{folds}-fold cross-validation", oof.completion
            )

    t0 = time.perf_counter()
    progress("fitting the model on the training requests")
    meta = {"source": data.source, "content_hash": data.content_hash, "seed": seed}
    model = make().fit(
        train_data.requests, train_data.outcomes, data.models, progress=progress, meta=meta
    )
    timings["fit"] = time.perf_counter() - t0
    predicted = holdout_predictions(model.predictor_, data)
    held = holdout_evaluation(model.predictor_, data, seed, predicted)
    if target is not None and tradeoff is None:
        hold, on_hold = predicted
        tradeoff = calibrate(
            hold, on_hold.p, target, strong, "the promotion hold-out", on_hold.completion
        )
    if tradeoff is not None:
        model.predictor_.meta["policy"] = tradeoff.as_dict()

    with tempfile.TemporaryDirectory() as tmp:
        folder = model.save((out or Path(tmp)) / "model")
        plots = plot_evaluation(
            cv or held, Path(tmp) / "plots", model.predictor_.feature_importance()
        )
        if tradeoff is not None:
            plots.append(plot_tradeoff(tradeoff, Path(tmp) / "plots"))
        report = {
            "cross_validation": cv.as_dict() if cv else None,
            "holdout": held.as_dict(),
            "content_hash": data.content_hash,
            "timings_s": timings,
            "cost_weight": tradeoff.as_dict() if tradeoff else None,
        }
        (Path(tmp) / "evaluation.json").write_text(json.dumps(report, indent=2) + "\n")
        run_id = version = None
        if track:
            progress("logging the run to MLflow and registering the model")
            run_id, version = _log_and_register(
                tracking_uri,
                name,
                data,
                location,
                model,
                cv,
                held,
                folder,
                plots,
                Path(tmp),
                folds,
                tradeoff,
            )
    return TrainResult(
        run_id, version, folder if out else None, cv, held, timings, tradeoff, data.notes
    )


def _log_run(
    tracking_uri: str,
    run_name: str,
    job: str,
    params: dict[str, Any],
    metrics: dict[str, float],
    tags: dict[str, str],
    artifacts: list[tuple[Path, str | None]],
    then: Callable[[Any, Any], Any] = lambda _c, _run: None,
) -> tuple[str, Any]:
    """One MLflow run with everything given; ``then(client, run)`` runs inside it (a
    failure there marks the run FAILED). Returns the run id and ``then``'s result."""
    c = client(tracking_uri)
    run = c.create_run(experiment_id(c, tracking_uri), run_name=run_name, tags={"job": job})
    run_id = run.info.run_id
    try:
        for k, v in params.items():
            c.log_param(run_id, k, str(v))
        for k, v in metrics.items():
            c.log_metric(run_id, k, v)
        for k, v in tags.items():
            c.set_tag(run_id, k, v)
        for path, where in artifacts:
            if path.is_dir():
                c.log_artifacts(run_id, str(path), where)
            else:
                c.log_artifact(run_id, str(path), where)
        result = then(c, run)
        c.set_terminated(run_id)
    except BaseException:
        c.set_terminated(run_id, status="FAILED")
        raise
    return run_id, result


def _data_tags(data: RoutingData) -> dict[str, str]:
    from features.schema import SCHEMA_VERSION

    return {
        "data.source": data.source,
        "data.content_hash": data.content_hash,
        "feature_schema_version": str(SCHEMA_VERSION),
    }


def _log_and_register(
    tracking_uri: str,
    name: str,
    data: RoutingData,
    location: str,
    model: QualityModel,
    cv: Evaluation | None,
    held: Evaluation,
    folder: Path,
    plots: list[Path],
    tmp: Path,
    folds: int,
    tradeoff: Calibrated | None = None,
) -> tuple[str, str]:
    from mlflow.exceptions import MlflowException

    from core.artifacts import MANIFEST, sha256_file

    params = {
        **model.get_params(),
        "source": data.source,
        "folds": folds,
        "n_requests": len(data.requests),
        "n_models": len(data.models),
        "holdout_share": HOLDOUT_SHARE,
        **({"target": str(tradeoff.target)} if tradeoff else {}),
    }
    metrics = {
        **(_numeric("cv_", cv.summary) if cv else {}),
        **(_calibration_metrics("cv_", cv) if cv else {}),
        **_numeric("holdout_", held.summary),
        **_calibration_metrics("holdout_", held),
        "best_rounds": float(model.best_rounds_),
        **(_numeric("tradeoff_", tradeoff.setting.as_dict()) if tradeoff else {}),
    }
    tags = {
        **_data_tags(data),
        "data.location": location,
        "model.manifest_sha256": sha256_file(folder / MANIFEST),
    }
    key, value = primary_metric(held)

    def register(c: Any, run: Any) -> str:
        try:
            c.create_registered_model(name)
        except MlflowException as exc:
            if exc.error_code != "RESOURCE_ALREADY_EXISTS":
                raise
        mv = c.create_model_version(
            name,
            f"{run.info.artifact_uri}/model",
            run_id=run.info.run_id,
            tags={**_data_tags(data), "data.location": location, f"holdout_{key}": f"{value:.4f}"},
        )
        return str(mv.version)

    artifacts = [(folder, "model"), *((p, "plots") for p in plots), (tmp / "evaluation.json", None)]
    run_id, version = _log_run(
        tracking_uri, f"train {data.source}", "train", params, metrics, tags, artifacts, register
    )
    return run_id, str(version)


def log_evaluation(
    tracking_uri: str,
    data: RoutingData,
    ev: Evaluation,
    params: dict[str, Any],
    metrics_json: Path,
    importance: dict[str, float] | None = None,
) -> str:
    """Log a ``selector evaluate`` run: parameters, metrics, plots, the metrics JSON."""
    with tempfile.TemporaryDirectory() as tmp:
        plots = plot_evaluation(ev, Path(tmp), importance)
        run_id, _ = _log_run(
            tracking_uri,
            f"evaluate {data.source}",
            "evaluate",
            {**params, "source": data.source, "n_requests": len(data.requests)},
            {**_numeric("cv_", ev.summary), **_calibration_metrics("cv_", ev)},
            _data_tags(data),
            [*((p, "plots") for p in plots), (metrics_json, None)],
        )
    return run_id


# -- promotion ------------------------------------------------------------------------
@dataclass
class Promotion:
    name: str
    version: str
    previous: str | None
    promoted: bool
    forced: bool
    metric: str
    candidate_value: float
    champion_value: float | None
    source: str
    detail: str = ""

    def message(self) -> str:
        vs = (
            "no champion yet"
            if self.champion_value is None
            else f"champion v{self.previous}: {self.champion_value:.4f}"
        )
        verdict = (
            ("promoted (forced)" if self.forced else "promoted")
            if self.promoted
            else "not promoted"
        )
        detail = f"; {self.detail}" if self.detail else ""
        return (
            f"{self.name} v{self.version}: hold-out {self.metric} {self.candidate_value:.4f} "
            f"on {self.source} ({vs}{detail}) — {verdict}"
        )


def _dr_gate(
    candidate: QualityPredictor,
    champion: QualityPredictor | None,
    db_path: Path,
    seed: int,
    min_ess: float,
    settings: Settings,
) -> tuple[str, float, float | None, str]:
    """DR value per decision of the ``utility-v0`` policy serving each model, on the
    hold-out decisions of the log (a ConflictError when the estimate is refused)."""
    from core.errors import ConfigError
    from selector.catalog import load_catalog
    from selector.wiring import build_policy
    from training.policy_eval import evaluate_policy, load_logged

    settings = settings.model_copy(update={"db_path": db_path})
    catalog = load_catalog(settings.catalog_path)
    logged = load_logged(db_path, settings.reward_late_penalty)
    hold = logged.subset(np.array([unit_hash(d) < HOLDOUT_SHARE for d in logged.ids]))
    values: list[dict[str, Any]] = []
    for model in (candidate, champion):
        if model is None:
            continue
        policy = build_policy("utility-v0", model, catalog, settings)
        try:
            values.append(evaluate_policy(hold, policy, min_ess=min_ess, seed=seed)["dr"])
        except ConfigError as exc:
            raise ConflictError(f"{model.name}: {exc}") from exc
    text = ", ".join(
        f"{m.name} [{v['low']:.4f}, {v['high']:.4f}]"
        for m, v in zip((candidate, champion), values, strict=False)
        if m is not None
    )
    detail = f"95 % intervals {text} on {len(hold.ids):,} decisions"
    champ = values[1]["value"] if len(values) > 1 else None
    return "DR reward / decision", float(values[0]["value"]), champ, detail


def promote(
    name: str,
    version: str,
    tracking_uri: str = DEFAULT_TRACKING_URI,
    data_dir: Path = DEFAULT_DATA_DIR,
    force: bool = False,
    seed: int = 0,
    min_ess: float = 200.0,
    settings: Settings | None = None,
) -> Promotion:
    """Point the ``champion`` alias of ``name`` at ``version`` when it beats the current
    champion on the hold-out of its data source, or unconditionally with ``force`` (the
    version is then tagged ``promotion.forced``). Refusal raises :class:`ConflictError`.
    A model learned from a decision log is compared by the value of the policy each
    would serve under ``settings`` (the defaults when None)."""
    from mlflow.exceptions import MlflowException

    from models.registry import resolve

    c = client(tracking_uri, create=False)
    try:
        mv = c.get_model_version(name, version)
    except MlflowException as exc:
        raise NotFoundError(f"model {name!r} has no version {version!r}: {exc.message}") from exc
    location = mv.tags.get("data.location")
    if not location:
        raise ConflictError(
            f"{name} v{version} has no data.location tag: it was not registered by `selector train`"
        )
    data = load_source(location, data_dir)
    try:
        current = c.get_model_version_by_alias(name, CHAMPION)
    except MlflowException:
        current = None

    def load(v: str) -> QualityPredictor:
        predictor = QualityPredictor.load(resolve(f"models:/{name}/{v}", tracking_uri).folder)
        predictor.name = f"{name}/v{v}"
        return predictor

    candidate = load(str(version))
    champion = None if current is None else load(str(current.version))
    detail = ""
    if data.logged and Path(location).suffix in LOG_SUFFIXES:
        # learned from the service's own log: compare the policies each model would serve
        # by their doubly robust value on the log's hold-out decisions
        policy_settings = settings or Settings.model_construct()  # the defaults
        key, cand_value, champ_value, detail = _dr_gate(
            candidate, champion, Path(location), seed, min_ess, policy_settings
        )
    else:
        key, cand_value = primary_metric(holdout_evaluation(candidate, data, seed))
        champ_value = None
        if champion is not None:
            champ_value = primary_metric(holdout_evaluation(champion, data, seed))[1]
    beats = champ_value is None or cand_value > champ_value
    result = Promotion(
        name,
        str(version),
        None if current is None else str(current.version),
        beats or force,
        force and not beats,
        key,
        cand_value,
        champ_value,
        data.source,
        detail,
    )
    if current is not None and str(current.version) == str(version):
        result.promoted, result.forced = True, False
        return result
    if not result.promoted:
        raise ConflictError(
            result.message() + ": it does not beat the champion; pass --force to promote anyway"
        )
    c.set_registered_model_alias(name, CHAMPION, str(version))
    c.set_model_version_tag(name, str(version), "promotion", result.message())
    if result.forced:
        c.set_model_version_tag(name, str(version), "promotion.forced", "true")
    return result
