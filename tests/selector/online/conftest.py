"""A started service serving bandit-v1 on a temporary log."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from selector.wiring import build_service
from tests.selector.online.traffic import settings_for


@pytest.fixture
def service(tmp_path: Path) -> Any:
    svc = build_service(settings_for(tmp_path))
    svc.start()
    yield svc
    svc.stop()
