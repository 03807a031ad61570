"""What every layer shares, and imports nothing of the project: the exception tree
(:mod:`core.errors`), artifact checksums (:mod:`core.artifacts`), the finite range of
every number the service accepts (:mod:`core.limits`)."""

from __future__ import annotations

from core.artifacts import (
    MANIFEST,
    sha256_file,
    verify_manifest,
    write_manifest,
)
from core.errors import (
    ArtifactError,
    AuthError,
    ConfigError,
    ConflictError,
    FieldProblem,
    ForbiddenError,
    ModelUnavailableError,
    NotFoundError,
    RequestError,
    SelectorError,
    StoreError,
)

__all__ = [
    "MANIFEST",
    "ArtifactError",
    "AuthError",
    "ConfigError",
    "ConflictError",
    "FieldProblem",
    "ForbiddenError",
    "ModelUnavailableError",
    "NotFoundError",
    "RequestError",
    "SelectorError",
    "StoreError",
    "sha256_file",
    "verify_manifest",
    "write_manifest",
]
