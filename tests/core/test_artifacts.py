"""Artifacts are read only when every file the loader reads is listed and unchanged."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from core.artifacts import MANIFEST, verify_manifest, write_manifest
from core.errors import ArtifactError


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    (tmp_path / "a.txt").write_text("alpha")
    (tmp_path / "b.txt").write_text("beta")
    write_manifest(tmp_path, ["a.txt", "b.txt"], {"format": "test"})
    return tmp_path


def test_an_intact_artifact_verifies_and_gives_its_meta(folder: Path) -> None:
    assert verify_manifest(folder, ["a.txt", "b.txt"]) == {"format": "test"}


def test_a_changed_file_fails_its_checksum(folder: Path) -> None:
    (folder / "b.txt").write_text("beta, changed")
    with pytest.raises(ArtifactError, match=r"b\.txt fails its checksum"):
        verify_manifest(folder)


def test_a_file_the_loader_reads_must_be_listed(folder: Path) -> None:
    write_manifest(folder, ["a.txt"])  # b.txt left out of the manifest, then changed
    (folder / "b.txt").write_text("anything")
    with pytest.raises(ArtifactError, match=r"does not list b\.txt"):
        verify_manifest(folder, ["a.txt", "b.txt"])


def test_a_listed_file_outside_the_folder_is_refused(folder: Path) -> None:
    body = json.loads((folder / MANIFEST).read_text())
    body["files"]["../a.txt"] = body["files"]["a.txt"]
    (folder / MANIFEST).write_text(json.dumps(body))
    with pytest.raises(ArtifactError, match="outside"):
        verify_manifest(folder)


@pytest.mark.parametrize("manifest", [None, "not json", '{"meta": {}}'])
def test_a_missing_or_broken_manifest_is_refused(folder: Path, manifest: str | None) -> None:
    if manifest is None:
        (folder / MANIFEST).unlink()
    else:
        (folder / MANIFEST).write_text(manifest)
    with pytest.raises(ArtifactError, match=MANIFEST):
        verify_manifest(folder)
