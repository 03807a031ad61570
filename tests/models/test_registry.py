from __future__ import annotations

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
