"""Artifacts the service loads: plain files (JSON, NumPy ``.npz`` without pickles,
LightGBM text models) listed with their SHA-256 in a ``MANIFEST.json`` beside them.

Loading never executes code from the artifact; a file whose checksum does not match
its manifest is refused.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import numpy as np

from core.errors import ArtifactError

__all__ = ["MANIFEST", "save_arrays", "sha256_file", "verify_manifest", "write_manifest"]

MANIFEST = "MANIFEST.json"


def sha256_file(path: Path) -> str:
    """Hex SHA-256 of a file's bytes."""
    h = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def save_arrays(path: Path, arrays: dict[str, np.ndarray]) -> None:
    """Write ``arrays`` by name to a compressed ``.npz`` at ``path`` (no object arrays:
    it is read back with ``allow_pickle=False``)."""
    savez: Callable[..., None] = np.savez_compressed
    with path.open("wb") as f:
        savez(f, **arrays)


def write_manifest(folder: Path, files: list[str], meta: dict[str, Any] | None = None) -> Path:
    """Write ``MANIFEST.json`` listing ``files`` (names inside ``folder``) with checksums."""
    body = {
        "files": {name: sha256_file(folder / name) for name in sorted(files)},
        "meta": meta or {},
    }
    out = folder / MANIFEST
    out.write_text(json.dumps(body, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    return out


def verify_manifest(folder: Path, required: Iterable[str] = ()) -> dict[str, Any]:
    """Check every file listed in ``folder/MANIFEST.json``, and that each of ``required``
    (the files the loader will read) is listed; return the manifest's ``meta``."""
    path = folder / MANIFEST
    if not folder.is_dir():
        what = "does not exist" if not folder.exists() else "is a file, not a folder"
        raise ArtifactError(f"{folder} {what}: a model artifact is a folder")
    try:
        body = json.loads(path.read_text(encoding="utf-8"))
        files: dict[str, str] = body["files"]
    except FileNotFoundError as exc:
        raise ArtifactError(f"{path} is missing: {folder} is not a model artifact") from exc
    except OSError as exc:
        raise ArtifactError(f"{path} cannot be read: {exc.strerror or exc}") from exc
    except (ValueError, KeyError, TypeError) as exc:
        raise ArtifactError(f"{path} is not a valid manifest: {exc}") from exc
    unlisted = sorted(set(required) - set(files))
    if unlisted:
        raise ArtifactError(
            f"{path} does not list {', '.join(unlisted)}: the file is unchecked, so it is not "
            "read; rebuild the artifact"
        )
    for name, expected in files.items():
        if Path(name).name != name:
            raise ArtifactError(f"{path} lists {name!r}, outside {folder}: rebuild the artifact")
        f = folder / name
        if not f.is_file():
            raise ArtifactError(f"{f} is listed in {MANIFEST} but missing; rebuild the artifact")
        actual = sha256_file(f)
        if actual != expected:
            raise ArtifactError(
                f"{f} fails its checksum (expected {expected[:12]}…, got {actual[:12]}…); "
                "the file is corrupt or was changed: rebuild the artifact"
            )
    meta = body.get("meta", {})
    return meta if isinstance(meta, dict) else {}
