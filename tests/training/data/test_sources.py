"""Every source by name or path."""

from __future__ import annotations

import pytest

from core.errors import ConfigError
from training.data import load_source


def test_unknown_sources_say_what_exists() -> None:
    with pytest.raises(ConfigError, match="routellm-mmlu"):
        load_source("no-such-source")
