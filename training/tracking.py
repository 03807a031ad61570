"""Experiments in MLflow: one run per training or evaluation job, with its parameters,
metrics, plots, data source (and content hash) and, for training, the model folder
registered as a new version."""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from core.artifacts import MANIFEST, sha256_file
from core.errors import ConflictError
from features.schema import SCHEMA_VERSION
from models.quality import QualityTrainer
from models.registry import client, experiment_id
from training.data import HOLDOUT_SHARE, RoutingData
from training.evaluate import Evaluation
from training.plots import plot_evaluation
from training.tradeoff import Calibrated

__all__ = ["Trained", "log_and_register", "log_evaluation", "primary_metric"]


@dataclass
class Trained:
    """What a training job produced, as it is logged."""

    data: RoutingData
    location: str  # where the data source was read (a name or an absolute path)
    model: QualityTrainer
    cv: Evaluation | None
    held: Evaluation
    folds: int
    tradeoff: Calibrated | None = None


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
    return {
        "data.source": data.source,
        "data.content_hash": data.content_hash,
        "feature_schema_version": str(SCHEMA_VERSION),
    }


def _register(c: Any, run: Any, name: str, tags: dict[str, str]) -> str:
    """A new version of ``name`` (created if missing) from the run's model folder."""
    from mlflow.exceptions import MlflowException

    try:
        c.create_registered_model(name)
    except MlflowException as exc:
        if exc.error_code != "RESOURCE_ALREADY_EXISTS":
            raise
    mv = c.create_model_version(
        name, f"{run.info.artifact_uri}/model", run_id=run.info.run_id, tags=tags
    )
    return str(mv.version)


def log_and_register(
    tracking_uri: str, name: str, job: Trained, folder: Path, plots: list[Path], report: Path
) -> tuple[str, str]:
    """Log a training run (``folder``: the saved model; ``report``: its evaluation JSON)
    and register its model as a new version of ``name``; returns the run id and version."""
    data, model, cv, held, tradeoff = job.data, job.model, job.cv, job.held, job.tradeoff
    params = {
        **model.logged_params(),
        "source": data.source,
        "folds": job.folds,
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
        "data.location": job.location,
        "model.manifest_sha256": sha256_file(folder / MANIFEST),
    }
    key, value = primary_metric(held)
    version_tags = {**_data_tags(data), "data.location": job.location}
    version_tags[f"holdout_{key}"] = f"{value:.4f}"
    artifacts = [(folder, "model"), *((p, "plots") for p in plots), (report, None)]
    run_id, version = _log_run(
        tracking_uri,
        f"train {data.source}",
        "train",
        params,
        metrics,
        tags,
        artifacts,
        lambda c, run: _register(c, run, name, version_tags),
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
