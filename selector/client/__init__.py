"""A Python client of the service, sync (:class:`SelectorClient`) and asyncio
(:class:`AsyncSelectorClient`), on httpx: typed results, retries with back-off on
connection failures only, a time budget per call, and a default model that answers when
the service cannot (a gateway never fails because its selector did).

>>> from selector.client import SelectorClient
>>> client = SelectorClient("http://127.0.0.1:8080", default_model="gemini-2.5-flash-lite")
>>> client.close()
"""

from __future__ import annotations

from selector.client.aio import AsyncSelectorClient
from selector.client.results import (
    Accepted,
    Decision,
    ModelScore,
    SelectorRejectedError,
    SelectorUnavailableError,
)
from selector.client.sync import SelectorClient
from selector.client.wire import Options

__all__ = [
    "Accepted",
    "AsyncSelectorClient",
    "Decision",
    "ModelScore",
    "Options",
    "SelectorClient",
    "SelectorRejectedError",
    "SelectorUnavailableError",
]
