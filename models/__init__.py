"""The learned and prior models: the P(resolved) prior (:mod:`models.prior`), the quality
model (:mod:`models.quality`), the online layer (:mod:`models.bandit`,
:mod:`models.contextual` and its :mod:`models.contexts`, :mod:`models.vw`, built by name
in :mod:`models.learners`), the MLflow registry (:mod:`models.registry`).

Each name below is imported from its module when first used."""

from __future__ import annotations

from typing import Any

from core.lazy import load

_EXPORTS = {
    "BanditParams": "models.bandit",
    "ContextualBandit": "models.contextual",
    "OnlineModel": "models.bandit",
    "PriorQualityModel": "models.prior",
    "QualityTrainer": "models.quality",
    "QualityPredictor": "models.quality",
    "ResidualBandit": "models.bandit",
    "build": "models.learners",
    "context": "models.contexts",
    "load_prior": "models.prior",
    "resolve": "models.registry",
    "squarecb": "models.bandit",
}
__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    return load(__name__, _EXPORTS, name)
