"""Following the registry: a task of the service that asks, every ``SELECTOR_MODEL_POLL_S``
seconds, which version the served alias (``models:/<name>@champion``) names, and loads
and swaps in a newly promoted one (:meth:`SelectorService.reload_quality_model`: decisions
in flight finish with the model they started with). Every replica does the same, so a
promotion reaches all of them within one poll, without a restart. A version that fails to
load is reported once and the current model stays."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from selector.service import SelectorService

__all__ = ["follows", "watch_champion"]

log = logging.getLogger(__name__)


def follows(spec: str) -> bool:
    """Whether the quality model setting names an alias to follow."""
    return spec.startswith("models:/") and "@" in spec


async def watch_champion(
    service: SelectorService, version_now: Callable[[], str | None], every_s: float
) -> None:
    """Reload ``service``'s quality model whenever ``version_now()`` (the alias's version)
    changes; runs until cancelled."""
    seen = await asyncio.to_thread(_asked, version_now)
    while True:
        await asyncio.sleep(every_s)
        version = await asyncio.to_thread(_asked, version_now)
        if version is None or version == seen:
            continue
        seen = version
        try:
            status = await service.reload_quality_model()
            log.info("promotion followed: serving %s", status.serving)
        except Exception as exc:  # the task must outlive any failure: the next poll retries
            log.warning("version %s was promoted but not loaded: %s", version, exc)


def _asked(version_now: Callable[[], str | None]) -> str | None:
    try:
        return version_now()
    except Exception as exc:  # a registry down must not end the watch
        log.warning("the registry could not be asked for the served alias: %s", exc)
        return None
