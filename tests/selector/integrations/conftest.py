"""A selector that accepts connections but never answers (the fake LLM backend is in
``tests/conftest.py``, shared with the docs' LiteLLM walk-through)."""

from __future__ import annotations

import os
import socket
from collections.abc import Iterator

import pytest

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")  # no network at import


@pytest.fixture
def mute() -> Iterator[str]:
    """The URL of a server that accepts connections and never answers."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen(16)
        yield f"http://127.0.0.1:{s.getsockname()[1]}"
