from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from core.errors import ArtifactError, ConfigError
from models import registry


def test_a_folder_resolves_to_itself(tmp_path: Path) -> None:
    found = registry.resolve(str(tmp_path))
    assert found.folder == tmp_path
    assert found.version is None


def test_a_missing_folder_is_an_artifact_error(tmp_path: Path) -> None:
    with pytest.raises(ArtifactError, match="is not a folder holding a quality model"):
        registry.resolve(str(tmp_path / "nope"))


@pytest.mark.parametrize("uri", ["models:/x", "models:/@champion", "models:/x/latest"])
def test_a_malformed_model_uri_says_how_to_write_one(uri: str, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"models:/<name>@<alias>"):
        registry.resolve(uri, f"sqlite:///{tmp_path}/mlflow.db")


def test_an_alias_nobody_set_is_an_artifact_error(tmp_path: Path) -> None:
    store = f"sqlite:///{tmp_path}/mlflow.db"
    registry.client(store)  # an empty store
    with pytest.raises(ArtifactError, match="not found in"):
        registry.resolve("models:/q@champion", store)


def registered(folder: Path) -> str:
    """A SQLite store in ``folder`` with model ``m`` version 1 (one file), as training
    leaves it: its artifacts in ``mlartifacts/`` beside the database."""
    store = f"sqlite:///{folder}/mlflow.db"
    c = registry.client(store)
    run = c.create_run(registry.experiment_id(c, store))
    staged = folder.parent / "staged" / "model"
    staged.mkdir(parents=True)
    (staged / "model.json").write_text('{"format": "test"}')
    c.log_artifacts(run.info.run_id, str(staged.parent))
    c.create_registered_model("m")
    c.create_model_version("m", f"{run.info.artifact_uri}/model", run.info.run_id)
    return store


def test_a_moved_store_still_serves_its_models(tmp_path: Path) -> None:
    registered(tmp_path / "store")
    moved = tmp_path / "elsewhere" / "store"
    moved.parent.mkdir()
    (tmp_path / "store").rename(moved)
    found = registry.resolve("models:/m/1", f"sqlite:///{moved}/mlflow.db")
    assert (found.folder / "model.json").read_text() == '{"format": "test"}'
    assert found.version == "1"


def test_a_store_moved_without_its_artifacts_says_what_to_copy(tmp_path: Path) -> None:
    registered(tmp_path / "store")
    moved = tmp_path / "moved"
    (tmp_path / "store").rename(moved)
    shutil.rmtree(moved / "mlartifacts")
    with pytest.raises(ArtifactError, match="copy the store's mlartifacts/ folder"):
        registry.resolve("models:/m/1", f"sqlite:///{moved}/mlflow.db")
