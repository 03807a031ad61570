"""Every error the selector raises on purpose, in one tree.

    SelectorError                 base class; ``http_status`` maps it to HTTP in one handler
    ├── ConfigError               settings, catalog or prior file is invalid (start-up)
    ├── ArtifactError             a model artifact is missing, corrupt or fails its checksum
    ├── RequestError              a request is well-formed JSON but cannot be served (422)
    ├── AuthError                 missing or wrong bearer token (401)
    ├── ForbiddenError            the endpoint is disabled by configuration (403)
    ├── NotFoundError             an id names nothing we know (404)
    ├── ConflictError             the request contradicts what is already recorded (409)
    ├── StoreError                the decision log cannot be written or read (503)
    └── ModelUnavailableError     a model asked for cannot be loaded (503)

Messages say what is wrong and what to do about it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

__all__ = [
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
]


class SelectorError(Exception):
    """Base class of the selector's own errors."""

    http_status = 500
    code = "internal_error"


class ConfigError(SelectorError):
    """A settings value, the catalog or the prior file is invalid."""

    code = "config_error"


class ArtifactError(SelectorError):
    """A model artifact is missing, corrupt or does not match its checksum."""

    code = "artifact_error"


@dataclass(frozen=True)
class FieldProblem:
    """One invalid field of a request: where it is, what is wrong, how to fix it."""

    field: str
    problem: str
    fix: str = ""

    def as_dict(self) -> dict[str, str]:
        out = {"field": self.field, "problem": self.problem}
        if self.fix:
            out["fix"] = self.fix
        return out


@dataclass
class RequestError(SelectorError):
    """The request is valid JSON but one or more fields cannot be served."""

    problems: list[FieldProblem] = field(default_factory=list)
    http_status = 422
    code = "validation_error"

    def __str__(self) -> str:
        return "; ".join(f"{p.field}: {p.problem}" for p in self.problems)


class AuthError(SelectorError):
    """A ``/v1/*`` call without the right ``Authorization: Bearer`` token."""

    http_status = 401
    code = "unauthorized"


class ForbiddenError(SelectorError):
    """The endpoint is disabled by the service's configuration."""

    http_status = 403
    code = "forbidden"


class NotFoundError(SelectorError):
    """An identifier (decision id, model name) names nothing we know."""

    http_status = 404
    code = "not_found"


class ConflictError(SelectorError):
    """The request contradicts what is already recorded."""

    http_status = 409
    code = "conflict"


class StoreError(SelectorError):
    """The decision log cannot be written or read."""

    http_status = 503
    code = "store_unavailable"


class ModelUnavailableError(SelectorError):
    """A model asked for (e.g. on reload) cannot be loaded; the current one stays."""

    http_status = 503
    code = "model_unavailable"
