"""The data folder's default does not depend on the shell's folder."""

from __future__ import annotations

from pathlib import Path

import pytest

from core.paths import PROJECT_ROOT, default_data_dir


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
