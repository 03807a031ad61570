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


def test_readiness_reports_a_log_that_is_not_running(tmp_path: object) -> None:
    from pathlib import Path

    from selector.service import SelectorService

    svc = SelectorService.from_settings(load_settings(db_path=Path(str(tmp_path)) / "d.db"))
    ok, reasons = svc.readiness()
    assert not ok
    assert reasons == ["the decision log writer is not running"]
    svc.start()
    try:
        assert svc.readiness() == (True, [])
    finally:
        svc.stop()


def test_serve_refuses_a_bad_catalog_with_the_entry_and_field(tmp_path: object) -> None:
    import subprocess
    import sys
    from pathlib import Path

    bad = Path(str(tmp_path)) / "catalog.yaml"
    bad.write_text(
        "models:\n  - name: m\n    provider: p\n    tier: small\n    input_usd_per_mtok: -1\n"
        "    output_usd_per_mtok: 1\n    context_window: 10\n    latency_slo_ms: 10\n"
        "    expected_latency_ms: 5\n"
    )
    proc = subprocess.run(
        [sys.executable, "-m", "selector", "serve", "--catalog", str(bad), "--port", "0"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 2
    assert "models[0] (m): input_usd_per_mtok" in proc.stderr


def test_without_an_intent_classifier_the_service_runs_degraded(tmp_path: object) -> None:
    import asyncio
    from pathlib import Path

    from features.extractor import Conversation
    from selector.service import RouteInput, SelectorService

    empty = Path(str(tmp_path)) / "no-model"
    empty.mkdir()
    settings = load_settings(db_path=Path(str(tmp_path)) / "d.db", intent_model_dir=empty)
    svc = SelectorService.from_settings(settings)
    assert svc.degraded
    assert "MANIFEST.json" in svc.degraded[0]
    svc.start()
    try:
        conv = Conversation(messages=[("user", "I was charged twice")])
        result = asyncio.run(svc.route(RouteInput("c", conv)))
        assert result.intent == "other"
        assert svc.readiness() == (True, [])
    finally:
        svc.stop()


def test_static_rules_need_their_models_in_the_catalog(tmp_path: object) -> None:
    from pathlib import Path

    from selector.service import SelectorService

    settings = load_settings(
        db_path=Path(str(tmp_path)) / "d.db",
        policy="static-rules",
        baseline_heavy_model="gpt-9",
    )
    with pytest.raises(ConfigError, match="SELECTOR_BASELINE_HEAVY_MODEL"):
        SelectorService.from_settings(settings)
