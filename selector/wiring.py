"""The composition root: the service built from its settings, the one place that reads
:class:`Settings` and hands every part plain parameters (the catalog, the intent
classifier, the live latency tracker, the feature extractor, the quality model, the
policies) and its background parts (the decision log, the online layer's learner,
restored from its saved state when that is usable, the replicas' sharing, the upkeep),
which the service starts and stops as one.

``selector serve``, the ASGI app's lifespan, the simulator and the offline jobs' OPE
all build through :func:`build_service` and :func:`build_policy`.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from core.errors import ArtifactError, ConfigError
from features.difficulty import load_difficulty
from features.estimates import EstimateConfig
from features.extractor import FeatureExtractor
from features.intents import IntentClassifier, IntentTaxonomy
from models.prior import PriorQualityModel, load_prior
from models.quality import QualityPredictor
from models.registry import bound_requests, resolve
from selector.background import Background, BackgroundConfig
from selector.catalog import Catalog, load_catalog
from selector.config import Settings
from selector.engine import open_log, replica_id, state_store
from selector.health import QualityStatus
from selector.latency import BreakerConfig, LatencyTracker
from selector.online import OnlineLearner, StateError
from selector.online.bandit import BanditParams, OnlineModel
from selector.online.learners import build
from selector.policy import POLICIES, Policy, ProbeConfig, QualityModel, policy_class
from selector.reward import RewardConfig
from selector.service import SelectorService, ServedModel
from selector.store.base import DecisionLog

if TYPE_CHECKING:
    from selector.replicas import Replicas

__all__ = [
    "build_policy",
    "build_service",
    "learner_kind",
    "load_quality_model",
    "new_learner",
    "open_learner",
]

log = logging.getLogger(__name__)


def build_service(
    settings: Settings,
    clock: Callable[[], float] = time.time,
    log_clock: Callable[[], float] = time.time,
) -> SelectorService:
    """The service ``settings`` describe. ``clock`` is the time the live latency
    statistics and circuit breakers run on: the wall clock, or a simulation's (the
    incident replay runs a day in minutes with the service's own windows). ``log_clock``
    is the SQLite log's time, which decisions and feedback are stamped with and join
    windows close on (a test moves it instead of sleeping)."""
    bound_requests(settings.models.registry_timeout_s)  # once per process, before any registry call
    catalog = load_catalog(settings.models.catalog_path)
    degraded: list[tuple[str, str]] = []
    taxonomy, classifier = _intents(settings, degraded)
    tracker = _tracker(settings, catalog, clock)
    extractor = FeatureExtractor(
        catalog.candidate_infos(settings.decision.default_completion_tokens),
        taxonomy,
        classifier,
        tracker,
        tokens_per_turn=settings.decision.tokens_per_turn,
    )
    table = load_prior(settings.models.prior_path)
    # the request difficulty the prior weighs (the shipped one, checked against its manifest)
    difficulty = load_difficulty() if table.difficulty_weight > 0.0 else None
    prior = PriorQualityModel(table, taxonomy.group_names, catalog.names, difficulty)
    quality, status = load_quality_model(settings, prior, catalog.enabled_names)
    if not status.loaded:
        log.warning("quality model not loaded, serving the prior: %s", status.reason)
    else:
        log.info("quality model loaded: serving %s", status.serving)
    background = _background(settings, open_log(settings, log_clock), tracker)
    bandit = background.learner.bandit if background.learner else None
    policy = build_policy(settings.decision.policy, quality, catalog, settings, bandit)
    challenger = _challenger(settings, catalog, prior, quality, bandit, degraded)

    def reload() -> tuple[Policy | None, QualityStatus]:
        """The configured quality model loaded again, and the policy serving it."""
        again, again_status = load_quality_model(settings, prior, catalog.enabled_names)
        if not again_status.loaded:
            return None, again_status
        return build_policy(
            settings.decision.policy, again, catalog, settings, bandit
        ), again_status

    return SelectorService(
        settings,
        catalog,
        extractor,
        policy,
        background,
        challenger,
        ServedModel(prior, status, reload),
        degraded,
    )


def _background(
    settings: Settings, decision_log: DecisionLog, tracker: LatencyTracker
) -> Background:
    """The decision log, the tracker, the online layer (when a policy reads it) and the
    replicas' sharing, to start and stop with the service."""
    learner = learner_if_needed(settings, decision_log)
    config = BackgroundConfig(
        latency_window_s=settings.latency.window_s,
        learn_in_background=settings.online.updates == "background",
        save_every_s=settings.online.save_every_s,
        prune_every_s=settings.retention.prune_every_s,
        retention_days=settings.retention.days,
        archive=settings.archive_folder() if settings.retention.archive else None,
        max_lag_s=settings.online.max_lag_s,
        max_failing_s=settings.online.max_failing_s,
    )
    replicas = _replicas(settings, tracker, learner)
    return Background(config, decision_log, tracker, learner, state_store(settings), replicas)


def _replicas(
    settings: Settings, tracker: LatencyTracker, learner: OnlineLearner | None
) -> Replicas | None:
    """The live state shared with the other replicas, when the log is PostgreSQL's."""
    url = settings.store.postgres_url
    if url is None:
        return None
    from selector.replicas import Replicas

    return Replicas(url, replica_id(settings), tracker, learner, settings.store.shared_poll_s)


def _intents(
    settings: Settings, degraded: list[tuple[str, str]]
) -> tuple[IntentTaxonomy, IntentClassifier | None]:
    """The intent classifier and its taxonomy; without one, every intent is 'other'."""
    try:
        loaded = IntentClassifier.load(settings.models.intent_model_dir)
        return IntentTaxonomy.from_classifier(loaded), loaded
    except ArtifactError as exc:
        log.error("intent classifier not loaded, intents will be 'other' unless sent: %s", exc)
        degraded.append(
            ("intent_classifier", f"not loaded, intents are 'other' unless sent: {exc}")
        )
        groups = {"default_group": "other", "groups": {"other": {"intents": ["other"]}}}
        return IntentTaxonomy([], [], groups), None


def _tracker(settings: Settings, catalog: Catalog, clock: Callable[[], float]) -> LatencyTracker:
    return LatencyTracker(
        {m.name: m.latency_slo_ms for m in catalog},
        BreakerConfig(
            window_s=settings.latency.window_s,
            max_samples=settings.latency.max_samples,
            min_samples=settings.breaker.min_samples,
            error_rate=settings.breaker.error_rate,
            cooldown_s=settings.breaker.cooldown_s,
            probe_timeout_s=settings.breaker.probe_timeout_s,
        ),
        clock=clock,
        priors={m.name: m.expected_latency_ms for m in catalog},
        estimates=EstimateConfig(
            prior_weight=settings.latency.prior_weight,
            prior_sd=settings.latency.prior_sd,
            memory=settings.latency.memory,
        ),
        shared_probes=settings.store.postgres_url is not None,
    )


def _challenger(
    settings: Settings,
    catalog: Catalog,
    prior: QualityModel,
    quality: QualityModel,
    bandit: OnlineModel | None,
    degraded: list[tuple[str, str]],
) -> Policy | None:
    """The policy deciding beside the served one (shadow or canary), if any."""
    if not settings.challenger.policy:
        return None
    challenger_quality = quality
    spec = settings.challenger.quality_model
    if spec and spec != settings.models.quality_model:
        challenger_quality, status = load_quality_model(settings.replace(quality_model=spec), prior)
        if not status.loaded:
            degraded.append(("challenger_quality_model", f"not loaded: {status.reason}"))
    return build_policy(
        settings.challenger.policy,
        challenger_quality,
        catalog,
        settings,
        bandit,
        variable="SELECTOR_CHALLENGER_POLICY",
    )


def load_quality_model(
    settings: Settings, prior: QualityModel, enabled: Sequence[str] = ()
) -> tuple[QualityModel, QualityStatus]:
    """The quality model ``settings.models.quality_model`` names, or ``prior`` with the reason
    when it cannot be loaded, whatever the failure (a missing or corrupt file or
    registry, a failed checksum, an unreachable server, a library's own error): it
    never raises, so no model file can stop the service. The status names the models
    of ``enabled`` the loaded model was not trained on (it scores them by price)."""
    spec = settings.models.quality_model
    if spec == "prior":
        return prior, QualityStatus(spec, prior.name, loaded=True)
    try:
        found = resolve(spec, settings.models.mlflow_tracking_uri)
        predictor = QualityPredictor.load(found.folder)
    except (ArtifactError, ConfigError) as exc:
        return prior, QualityStatus(spec, prior.name, loaded=False, reason=str(exc))
    except Exception as exc:  # e.g. SQLAlchemy on a damaged mlflow.db
        log.exception("quality model %s could not be loaded", spec)
        reason = (
            f"cannot read it from {settings.models.mlflow_tracking_uri}: "
            f"{type(exc).__name__}: {_first_line(str(exc))}"
        )
        return prior, QualityStatus(spec, prior.name, loaded=False, reason=reason)
    predictor.name = (
        f"{found.name}/v{found.version}" if found.version is not None else str(found.folder)
    )
    known = set(predictor.models)
    unknown = tuple(m for m in enabled if m not in known)
    return predictor, QualityStatus(spec, predictor.name, loaded=True, unknown_models=unknown)


def _first_line(text: str) -> str:
    return (text.strip().splitlines() or ["no message"])[0][:300]


def _policy_options(
    name: str, settings: Settings, catalog: Catalog, bandit: OnlineModel | None
) -> dict[str, Any]:
    """The constructor arguments of policy ``name`` that come from the settings."""
    if name == "utility-v0":
        return {"exploration": settings.decision.exploration}
    if name == "static-rules":
        for key in ("small_model", "heavy_model"):
            model = getattr(settings.baseline, key)
            if model not in catalog:
                raise ConfigError(
                    f"SELECTOR_BASELINE_{key.upper()}={model!r} is not in the catalog"
                )
        return {
            "small_model": settings.baseline.small_model,
            "heavy_model": settings.baseline.heavy_model,
            "max_turns": settings.baseline.max_turns,
        }
    if POLICIES[name].online:
        return {"bandit": bandit}
    return {}


def build_policy(
    name: str,
    quality: QualityModel,
    catalog: Catalog,
    settings: Settings,
    bandit: OnlineModel | None = None,
    variable: str = "SELECTOR_POLICY",
) -> Policy:
    """The policy called ``name`` (see :data:`selector.policy.POLICIES`) with its
    settings; an online policy reads ``bandit``'s corrections."""
    cls = policy_class(name, variable)
    policy = cls(
        quality,
        {m.name: m.provider for m in catalog},
        max_fallbacks=settings.decision.max_fallbacks,
        seed=settings.decision.seed,
        **_policy_options(name, settings, catalog, bandit),
    )
    if cls.probed and settings.probe.share > 0.0:
        policy.probes = ProbeConfig(
            share=settings.probe.share,
            max_share=settings.probe.max_share,
            evidence=settings.probe.evidence,
        )
    return policy


# -- the online layer ----------------------------------------------------------------
def _online_policies(settings: Settings) -> list[tuple[str, type[Policy]]]:
    named = [(settings.decision.policy, "SELECTOR_POLICY")]
    if settings.challenger.policy:
        named.append((settings.challenger.policy, "SELECTOR_CHALLENGER_POLICY"))
    found = [(n, policy_class(n, v)) for n, v in named]
    return [(n, cls) for n, cls in found if cls.online]


def learner_kind(settings: Settings) -> str:
    """The learner the online policies need: the one a policy names (``bandit-v2``:
    'contextual'), else ``bandit_learner``; a ConfigError when the served policy and the
    challenger need different ones (they read one online layer)."""
    kinds = {n: getattr(cls, "learner", None) for n, cls in _online_policies(settings)}
    needed = {k for k in kinds.values() if k is not None}
    if len(needed) > 1:
        raise ConfigError(
            f"the served policy and the challenger need different online learners "
            f"({kinds}); they share one: pick a challenger of the same family"
        )
    return needed.pop() if needed else settings.online.learner


def learner_if_needed(settings: Settings, source: DecisionLog) -> OnlineLearner | None:
    """The online layer's learner over ``source`` when the served or the challenger
    policy reads it."""
    if not _online_policies(settings):
        return None
    learner, how = open_learner(settings, source)
    log.info("online layer: %s", how)
    return learner


def new_learner(settings: Settings, source: DecisionLog) -> OnlineLearner:
    """An online layer's learner that has read nothing of the decision log yet."""
    params = BanditParams(
        memory=settings.online.memory,
        prior_weight=settings.online.prior_weight,
        gamma=settings.online.gamma,
        min_exploration=settings.online.min_exploration,
        learner=learner_kind(settings),
        ridge=(
            settings.online.ridge
            if settings.models.quality_model == "prior"
            else settings.online.ridge_learned
        ),
        posterior_scale=settings.online.posterior_scale,
    )
    reward = RewardConfig(
        late_penalty=settings.reward.late_penalty,
        deadline_ms=settings.reward.deadline_ms,
        default_outcome=settings.reward.default_outcome,
    )
    return OnlineLearner(build(params), source, reward, settings.store.join_window_s)


def open_learner(settings: Settings, source: DecisionLog) -> tuple[OnlineLearner, str]:
    """The online layer's learner over the decision log ``source``: the saved one when
    it is usable, else a new one (that will read the whole log); and what was done, for
    the logs."""
    fresh = new_learner(settings, source)
    store = state_store(settings)
    try:
        learner = OnlineLearner.from_saved(
            store, fresh.bandit.params, source, fresh.reward, settings.store.join_window_s
        )
        return learner, f"restored from {store.where} (feedback row {learner.cursor})"
    except StateError as exc:
        return fresh, f"{exc}: learning from the whole decision log"
