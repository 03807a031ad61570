"""Across sources: the quality model and the baselines trained on all of one table and
judged on every request of another (``selector evaluate --source B --train-source A``).

Cross-validation within a table measures requests like the ones trained on; a user's
first model meets requests of another kind. Here nothing of the judged table is seen
in training: not its outcomes, not its texts (the request difficulty is learned
without them, :func:`training.difficulty.held_out_difficulty`). Both tables are cut to
the models they share, so every router chooses among the same candidates.
"""

from __future__ import annotations

from collections.abc import Callable

from core.errors import ConfigError
from models.quality import QualityTrainer
from training.baselines import NaiveText, PerModel
from training.data import RoutingData
from training.evaluate import OutOfFold, fit_and_predict

__all__ = ["across_sources", "shared_models"]


def _with_models(data: RoutingData, names: list[str]) -> RoutingData:
    """``data`` with only the models ``names`` (in that order)."""
    models = data.models.set_index("model").loc[names].reset_index()
    outcomes = data.outcomes[data.outcomes["model"].isin(names)].reset_index(drop=True)
    offers = None
    if data.offers is not None:
        offers = data.offers[data.offers["model"].isin(names)].reset_index(drop=True)
    return RoutingData(
        data.requests, outcomes, models, data.source, data.content_hash, offers, data.notes
    )


def shared_models(train: RoutingData, test: RoutingData) -> tuple[RoutingData, RoutingData]:
    """Both tables cut to the models they share (in ``test``'s order); an error naming
    both lists when they share fewer than two."""
    known = set(train.models["model"])
    names = [str(m) for m in test.models["model"] if m in known]
    if len(names) < 2:
        raise ConfigError(
            f"--train-source {train.source} and --source {test.source} share "
            f"{len(names)} model(s) ({names}); a route needs two: "
            f"{train.source} has {sorted(map(str, known))[:8]}…, {test.source} has "
            f"{sorted(map(str, test.models['model']))[:8]}…"
        )
    if test.logged:
        raise ConfigError(
            f"--source {test.source} is a decision log: judge another source on a table "
            "with every model's outcome"
        )
    return _with_models(train, names), _with_models(test, names)


def across_sources(
    train: RoutingData,
    test: RoutingData,
    make_model: Callable[[], QualityTrainer | PerModel | NaiveText],
    seed: int = 0,
) -> tuple[RoutingData, OutOfFold]:
    """The judged table (cut to the shared models) and the P(resolved) of its requests
    by the quality model and the baselines trained on all of ``train``."""
    train, test = shared_models(train, test)
    found = fit_and_predict(train, test.requests, make_model, seed, baselines=True)
    return test, found
