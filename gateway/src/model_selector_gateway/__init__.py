"""The gateway side of model-selector: a Python client of the service, sync
(:class:`SelectorClient`) and asyncio (:class:`AsyncSelectorClient`), on httpx alone,
and a plug-in for LiteLLM (:mod:`model_selector_gateway.litellm`, with the ``litellm``
extra).

The client gives typed results, retries connection failures with back-off, keeps each
call within a deadline (``timeout_s``: connecting, every read and the retries), stops
calling a service that keeps failing for a cool-down (its breaker), and answers with a
default model when the service cannot: a gateway never fails because its selector did.

>>> from model_selector_gateway import SelectorClient
>>> client = SelectorClient("http://127.0.0.1:8080", default_model="gemini-2.5-flash-lite")
>>> client.breaker_state
'closed'
>>> client.close()
"""

from __future__ import annotations

from model_selector_gateway.aio import AsyncSelectorClient
from model_selector_gateway.results import (
    Accepted,
    Decision,
    ModelScore,
    SelectorRejectedError,
    SelectorUnavailableError,
)
from model_selector_gateway.sync import SelectorClient
from model_selector_gateway.wire import Options

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
