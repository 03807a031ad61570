"""The service: settings (:mod:`selector.config`), the catalog, the decision policies
(:mod:`selector.policy`), the online layer's learning loop (:mod:`selector.online`), the
decision log (:mod:`selector.store`), the service's operations
(:mod:`selector.service`), the HTTP app (:mod:`selector.api`) and the ``selector``
command line (:mod:`selector.cli`).

Each name below is imported from its module when first used."""

from __future__ import annotations

from typing import Any

from core.lazy import load

_EXPORTS = {
    "Catalog": "selector.catalog",
    "SQLiteLog": "selector.store",
    "LogReader": "selector.store",
    "OnlineLearner": "selector.online",
    "RouteInput": "selector.decisions",
    "SelectorService": "selector.service",
    "Settings": "selector.config",
    "create_app": "selector.api.app",
    "get_settings": "selector.config",
    "load_catalog": "selector.catalog",
    "load_settings": "selector.config",
}
__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    return load(__name__, _EXPORTS, name)
