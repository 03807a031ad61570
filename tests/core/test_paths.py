"""The defaults of the data folder and of the service's own files do not depend on the
shell's folder."""

from __future__ import annotations

from pathlib import Path

import pytest

from core.paths import PROJECT_ROOT, default_data_dir, default_tracking_uri, home


def test_outside_the_project_the_data_beside_the_project_is_found(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("SELECTOR_DATA_DIR", raising=False)
    monkeypatch.chdir(tmp_path)
    assert default_data_dir() == (PROJECT_ROOT.parent / "shared" / "data").resolve()
    assert (PROJECT_ROOT / "selector").is_dir()


def test_the_setting_and_a_checkout_s_own_folder_come_first(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SELECTOR_DATA_DIR", str(tmp_path / "elsewhere"))
    assert default_data_dir() == tmp_path / "elsewhere"
    monkeypatch.delenv("SELECTOR_DATA_DIR")
    (tmp_path / "shared" / "data").mkdir(parents=True)
    (tmp_path / "work").mkdir()
    monkeypatch.chdir(tmp_path / "work")
    assert default_data_dir() == Path("../shared/data")


def test_the_service_s_files_default_to_its_home_whatever_the_current_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from selector.config import load_settings

    for name in ("SELECTOR_HOME", "SELECTOR_DB_PATH", "SELECTOR_MLFLOW_TRACKING_URI"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)
    assert home() == PROJECT_ROOT  # a checkout: the project's folder
    settings = load_settings()
    assert settings.store.db_path == PROJECT_ROOT / "selector.db"
    assert settings.models.mlflow_tracking_uri == f"sqlite:///{PROJECT_ROOT}/mlflow.db"
    monkeypatch.setenv("SELECTOR_HOME", str(tmp_path / "srv"))
    assert load_settings().store.db_path == tmp_path / "srv" / "selector.db"
    assert default_tracking_uri() == f"sqlite:///{tmp_path}/srv/mlflow.db"
