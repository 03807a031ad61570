from __future__ import annotations

import re
from pathlib import Path

import pytest

from core.errors import ConfigError
from selector.config import load_settings


def test_settings_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SELECTOR_COST_WEIGHT", "3.5")
    monkeypatch.setenv("SELECTOR_POLICY", "static-rules")
    s = load_settings()
    assert s.decision.cost_weight == 3.5
    assert s.decision.policy == "static-rules"


def test_a_bad_setting_names_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SELECTOR_EXPLORATION", "1.5")
    with pytest.raises(ConfigError, match="SELECTOR_EXPLORATION"):
        load_settings()


def test_an_unknown_policy_is_refused_at_start(tmp_path: object) -> None:
    from selector.wiring import build_service

    with pytest.raises(ConfigError, match="SELECTOR_POLICY"):
        build_service(load_settings(policy="magic"))


def test_readiness_reports_a_log_that_is_not_running(tmp_path: object) -> None:
    from pathlib import Path

    from selector.wiring import build_service

    svc = build_service(load_settings(db_path=Path(str(tmp_path)) / "d.db"))
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
    from selector.decisions import RouteInput
    from selector.wiring import build_service

    empty = Path(str(tmp_path)) / "no-model"
    empty.mkdir()
    settings = load_settings(db_path=Path(str(tmp_path)) / "d.db", intent_model_dir=empty)
    svc = build_service(settings)
    assert svc.degraded
    assert svc.degraded[0][0] == "intent_classifier"
    assert "MANIFEST.json" in svc.degraded[0][1]
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

    from selector.wiring import build_service

    settings = load_settings(
        db_path=Path(str(tmp_path)) / "d.db",
        policy="static-rules",
        baseline_heavy_model="gpt-9",
    )
    with pytest.raises(ConfigError, match="SELECTOR_BASELINE_HEAVY_MODEL"):
        build_service(settings)


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("SELECTOR_LATENCY_WEIGHT", "inf"),
        ("SELECTOR_COST_WEIGHT", "nan"),
        ("SELECTOR_COST_WEIGHT", "1e400"),
        ("SELECTOR_REWARD_DEADLINE_MS", "-inf"),
        ("SELECTOR_JOIN_WINDOW_S", "Infinity"),
        ("SELECTOR_LATENCY_WEIGHT", "1e300"),  # finite, but w × latency would overflow
        ("SELECTOR_REWARD_LATE_PENALTY", "1e308"),
        ("SELECTOR_REWARD_DEFAULT_OUTCOME", "nan"),
    ],
)
def test_a_number_that_is_not_finite_or_beyond_its_range_is_refused(
    monkeypatch: pytest.MonkeyPatch, variable: str, value: str
) -> None:
    monkeypatch.setenv(variable, value)
    with pytest.raises(ConfigError, match=variable):
        load_settings()


@pytest.mark.parametrize("variable", ["SELECTOR_API_TOKEN", "SELECTOR_ADMIN_TOKEN"])
@pytest.mark.parametrize("value", ["", " ", "\t", "two words", "tök"])
def test_a_token_that_is_set_must_be_usable(
    monkeypatch: pytest.MonkeyPatch, variable: str, value: str
) -> None:
    """An empty token must never mean 'no auth': it is a start-up error."""
    monkeypatch.setenv(variable, value)
    with pytest.raises(ConfigError, match=variable):
        load_settings()


def test_serve_refuses_an_empty_token_before_it_listens(tmp_path: object) -> None:
    import os
    import subprocess
    import sys

    proc = subprocess.run(
        [sys.executable, "-m", "selector", "serve", "--port", "0"],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "SELECTOR_API_TOKEN": "", "SELECTOR_DB_PATH": f"{tmp_path}/d.db"},
    )
    assert proc.returncode == 2
    assert "SELECTOR_API_TOKEN: is empty or blank" in proc.stderr


def test_serving_beyond_loopback_needs_a_token_or_an_explicit_opt_out() -> None:
    with pytest.raises(ConfigError, match="SELECTOR_API_TOKEN"):
        load_settings(host="0.0.0.0")
    assert load_settings(host="0.0.0.0", api_token="t0ken").server.host == "0.0.0.0"
    assert load_settings(host="0.0.0.0", allow_unauthenticated=True).auth.api_token is None
    assert load_settings(host="::1").auth.api_token is None


def test_the_challenger_policy_is_named_by_its_own_variable(tmp_path: object) -> None:
    from pathlib import Path

    from selector.wiring import build_service

    settings = load_settings(db_path=Path(str(tmp_path)) / "d.db", challenger_policy="nope")
    with pytest.raises(ConfigError, match="SELECTOR_CHALLENGER_POLICY='nope'"):
        build_service(settings)


def test_a_damaged_decision_log_says_so_and_how_to_recover(tmp_path: object) -> None:
    from pathlib import Path

    from core.errors import StoreError
    from selector.store import SQLiteLog

    db = Path(str(tmp_path)) / "selector.db"
    db.write_bytes(b"this is not a database, " * 400)
    with pytest.raises(StoreError) as found:
        SQLiteLog(db)
    message = str(found.value)
    assert "is damaged" in message
    assert ".recover" in message
    assert "writable" not in message


def test_a_damaged_mlflow_store_serves_the_prior_and_says_why(tmp_path: object) -> None:
    from pathlib import Path

    from selector.wiring import build_service

    folder = Path(str(tmp_path))
    (folder / "mlflow.db").write_bytes(b"\x00garbage" * 1000)
    settings = load_settings(
        db_path=folder / "d.db", mlflow_tracking_uri=f"sqlite:///{folder}/mlflow.db"
    )
    svc = build_service(settings)
    status = svc.quality_status
    assert (status.loaded, status.serving) == (False, "prior")
    assert "not a database" in (status.reason or "")
    assert any(p.part == "quality_model" for p in svc.health().degraded)


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("", "SELECTOR_DATABASE_URL: is empty: unset it"),
        ("   ", "SELECTOR_DATABASE_URL: is empty"),
        ("mysql://u@h/db", "names no database this service can use ('mysql')"),
        ("sqlite:///", "names no database"),
        ("selector.db", "give sqlite:///PATH or postgresql://"),
    ],
)
def test_a_database_url_that_names_no_usable_database_is_refused(url: str, message: str) -> None:
    with pytest.raises(ConfigError, match=re.escape(message)):
        load_settings(database_url=url)


def test_the_database_url_chooses_the_engine(tmp_path: Path) -> None:
    on_file = load_settings(database_url=f"sqlite:///{tmp_path}/log.db")
    assert on_file.store.db_path == tmp_path / "log.db"
    assert on_file.store.postgres_url is None
    shared = load_settings(database_url="postgresql://u:secret@db.internal:5433/selector")
    assert shared.store.postgres_url == "postgresql://u:secret@db.internal:5433/selector"
    assert "secret" not in repr(shared)  # a password is never printed with the settings
    assert load_settings().store.postgres_url is None  # the default: SQLite at SELECTOR_DB_PATH


def test_an_unreachable_postgresql_log_is_a_clear_error_naming_it(tmp_path: Path) -> None:
    from core.errors import StoreError
    from selector.engine import open_log
    from tests.conftest import free_port

    url = f"postgresql://u:secret@127.0.0.1:{free_port()}/selector"
    with pytest.raises(StoreError, match=r"decision log at 127\.0\.0\.1:\d+/selector") as err:
        open_log(load_settings(database_url=url))
    assert "secret" not in str(err.value)


def damaged_log(folder: Path) -> Path:
    """A log of 3,000 decisions with one page in its middle overwritten: its header and
    schema read fine, so only a check of every page finds the damage. Before the damage,
    a check stopped by its budget says so (and not "damaged")."""
    import sqlite3
    import time

    from selector.store import SQLiteLog
    from selector.store.schema import check
    from tests.selector.store.build import record

    db = folder / "selector.db"
    log = SQLiteLog(db)
    log.start()
    for i in range(3000):
        log.submit_decision(record(f"d{i:05d}", ts=time.time()))
    log.submit_decision(record("last")).result(timeout=30)
    log.close()
    with sqlite3.connect(db) as conn:
        assert check(conn, db, 60.0)
        assert not check(conn, db, 1e-9)
    size = db.stat().st_size
    with db.open("r+b") as f:
        f.seek(size // 4096 // 2 * 4096)
        f.write(bytes(range(256)) * 16)
    return db


def test_a_log_with_damaged_pages_stops_the_start_with_the_recovery_command(
    tmp_path: Path,
) -> None:
    import os
    import subprocess
    import sys

    from core.errors import StoreError
    from selector.store import SQLiteLog

    db = damaged_log(tmp_path)
    SQLiteLog(db).close()  # unchecked, it opens: the damage is inside
    with pytest.raises(StoreError, match="is damaged") as found:
        SQLiteLog(db, check_s=10)
    assert ".recover" in str(found.value)
    proc = subprocess.run(
        [sys.executable, "-m", "selector", "serve", "--port", "0"],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "SELECTOR_DB_PATH": str(db)},
    )
    assert proc.returncode == 2
    errors = [line for line in proc.stderr.splitlines() if not line.startswith("{")]
    assert len(errors) == 1, proc.stderr  # one line, no traceback
    assert errors[0].startswith("error: the decision log at ")
    assert f"sqlite3 {db} .recover" in errors[0]


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"\xcd\x00\xff garbage", "not UTF-8 text (byte 0 cannot be decoded)"),
        (None, "is a folder; set SELECTOR_CATALOG_PATH to a catalog YAML file"),
    ],
)
def test_a_catalog_that_cannot_be_read_is_one_clear_error(
    tmp_path: Path, content: bytes | None, message: str
) -> None:
    from selector.catalog import load_catalog

    path = tmp_path / "catalog.yaml"
    if content is None:
        path.mkdir()
    else:
        path.write_bytes(content)
    with pytest.raises(ConfigError, match=re.escape(message)):
        load_catalog(path)


def test_files_and_folders_given_the_wrong_way_round_are_refused_at_start(
    tmp_path: Path,
) -> None:
    folder = tmp_path
    (folder / "a-file").write_text("x")
    with pytest.raises(ConfigError, match=r"SELECTOR_DB_PATH: .* is a folder"):
        load_settings(db_path=folder)
    with pytest.raises(ConfigError, match=r"SELECTOR_BANDIT_STATE_PATH: .* is a folder"):
        load_settings(db_path=folder / "d.db", bandit_state_path=folder)
    with pytest.raises(ConfigError, match=r"SELECTOR_ARCHIVE_DIR: .* is a file"):
        load_settings(db_path=folder / "d.db", archive_dir=folder / "a-file")


def test_an_intent_classifier_path_that_is_a_file_runs_degraded(tmp_path: Path) -> None:
    from selector.wiring import build_service

    folder = tmp_path
    (folder / "a-file").write_text("x")
    svc = build_service(load_settings(db_path=folder / "d.db", intent_model_dir=folder / "a-file"))
    reasons = [p.reason for p in svc.health().degraded if p.part == "intent_classifier"]
    assert reasons == [f"not loaded, intents are 'other' unless sent: {folder}/a-file is a file, "
                       "not a folder: a model artifact is a folder"]  # fmt: skip
