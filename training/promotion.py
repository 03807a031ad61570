"""``selector promote``: move a registered model's ``champion`` alias to a version only
when it beats the current champion on data neither was trained on: the hold-out of the
version's data source, or, for a model learned from the service's own decision log, the
doubly robust value of the policy each model would serve on the log's hold-out
decisions."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from core.errors import ConfigError, ConflictError, NotFoundError
from models.quality import QualityPredictor
from models.registry import CHAMPION, DEFAULT_TRACKING_URI, client, resolve
from selector.catalog import load_catalog
from selector.config import Settings
from selector.engine import existing_log
from selector.wiring import build_policy
from training.data import (
    DEFAULT_DATA_DIR,
    HOLDOUT_SHARE,
    LOG_SUFFIXES,
    RoutingData,
    load_source,
    unit_hash,
)
from training.logged_decisions import load_logged
from training.policy_eval import evaluate_policy
from training.tracking import primary_metric
from training.train import holdout_evaluation

__all__ = ["Promotion", "promote"]


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


Scores = tuple[str, float, float | None, str]  # metric, candidate, champion, detail


def _dr_gate(
    candidate: QualityPredictor,
    champion: QualityPredictor | None,
    db_path: Path,
    seed: int,
    min_ess: float,
    settings: Settings,
) -> Scores:
    """DR value per decision of the ``utility-v0`` policy serving each model, on the
    hold-out decisions of the log (a ConflictError when the estimate is refused)."""
    settings = settings.replace(db_path=db_path, database_url=None)
    catalog = load_catalog(settings.models.catalog_path)
    logged = load_logged(existing_log(settings), settings.reward.late_penalty)
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


def _holdout_gate(
    candidate: QualityPredictor, champion: QualityPredictor | None, data: RoutingData, seed: int
) -> Scores:
    """The primary metric of each model on the hold-out of ``data``."""
    key, cand_value = primary_metric(holdout_evaluation(candidate, data, seed))
    champ_value = None
    if champion is not None:
        champ_value = primary_metric(holdout_evaluation(champion, data, seed))[1]
    return key, cand_value, champ_value, ""


def _location(c: Any, name: str, version: str) -> str:
    """Where the data source of ``name`` v``version`` was read when it was trained."""
    from mlflow.exceptions import MlflowException

    try:
        mv = c.get_model_version(name, version)
    except MlflowException as exc:
        raise NotFoundError(f"model {name!r} has no version {version!r}: {exc.message}") from exc
    location = mv.tags.get("data.location")
    if not location:
        raise ConflictError(
            f"{name} v{version} has no data.location tag: it was not registered by `selector train`"
        )
    return str(location)


def _champion(c: Any, name: str) -> str | None:
    from mlflow.exceptions import MlflowException

    try:
        return str(c.get_model_version_by_alias(name, CHAMPION).version)
    except MlflowException:
        return None


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
    version = str(version)
    c = client(tracking_uri, create=False)
    location = _location(c, name, version)
    data = load_source(location, data_dir)
    current = _champion(c, name)

    def load(v: str) -> QualityPredictor:
        predictor = QualityPredictor.load(resolve(f"models:/{name}/{v}", tracking_uri).folder)
        predictor.name = f"{name}/v{v}"
        return predictor

    candidate = load(version)
    unknown = _unknown_models(candidate, settings, f"{name} v{version}", force)
    champion = None if current is None else load(current)
    if data.logged and Path(location).suffix in LOG_SUFFIXES:
        policy_settings = settings or Settings.model_construct()  # the defaults
        scores = _dr_gate(candidate, champion, Path(location), seed, min_ess, policy_settings)
    else:
        scores = _holdout_gate(candidate, champion, data, seed)
    key, cand_value, champ_value, detail = scores
    beats = champ_value is None or cand_value > champ_value
    result = Promotion(
        name,
        version,
        current,
        beats or force,
        force and not beats,
        key,
        cand_value,
        champ_value,
        data.source,
        detail,
    )
    if current == version:
        result.promoted, result.forced = True, False
        return result
    if not result.promoted:
        raise ConflictError(
            result.message() + ": it does not beat the champion; pass --force to promote anyway"
        )
    return _record(c, result, unknown)


def _record(c: Any, result: Promotion, unknown: list[str]) -> Promotion:
    """Move the alias and tag the version with the promotion (forced, models unknown)."""
    name, version = result.name, result.version
    if unknown:
        result.forced = True
        note = f"{len(unknown)} catalog models unknown"
        result.detail = f"{result.detail}; {note}" if result.detail else note
    c.set_registered_model_alias(name, CHAMPION, version)
    c.set_model_version_tag(name, version, "promotion", result.message())
    if result.forced:
        c.set_model_version_tag(name, version, "promotion.forced", "true")
    if unknown:
        c.set_model_version_tag(name, version, "promotion.unknown_models", ",".join(unknown))
    return result


def _unknown_models(
    candidate: QualityPredictor, settings: Settings | None, label: str, force: bool
) -> list[str]:
    """The enabled models of the served catalog (``settings``' or the defaults') that
    ``candidate`` was not trained on; without ``force``, a :class:`ConflictError`."""
    path = (settings or Settings.model_construct()).models.catalog_path
    known = set(candidate.models)
    unknown = [m for m in load_catalog(path).enabled_names if m not in known]
    if unknown and not force:
        raise ConflictError(
            f"{label} does not know {len(unknown)} of the catalog's enabled models "
            f"({', '.join(unknown)}): it would score them by their prices alone. Train on "
            "outcomes of those models, disable them in the catalog, or pass --force"
        )
    return unknown
