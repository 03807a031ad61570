from __future__ import annotations

import pytest

from selector.config import load_settings
from selector.errors import ConfigError


def test_settings_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SELECTOR_COST_WEIGHT", "3.5")
    monkeypatch.setenv("SELECTOR_POLICY", "static-rules")
    s = load_settings()
    assert s.cost_weight == 3.5
    assert s.policy == "static-rules"


def test_a_bad_setting_names_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SELECTOR_EXPLORATION", "1.5")
    with pytest.raises(ConfigError, match="SELECTOR_EXPLORATION"):
        load_settings()


def test_an_unknown_policy_is_refused_at_start(tmp_path: object) -> None:
    from selector.service import SelectorService

    with pytest.raises(ConfigError, match="SELECTOR_POLICY"):
        SelectorService.from_settings(load_settings(policy="magic"))
