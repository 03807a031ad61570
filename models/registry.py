"""Where quality models live: a local folder, or the MLflow model registry.

A model is named either by a folder (written by :meth:`QualityPredictor.save`) or by
an MLflow model URI: ``models:/<name>@<alias>`` (the service's default is the alias
``champion``) or ``models:/<name>/<version>``. The default tracking store is the
SQLite file ``mlflow.db`` with artifacts in ``mlartifacts/`` beside it; a tracking
server's ``http(s)://`` URI works the same.

MLflow is imported only here and only when a registry is actually used, so a service
serving a local folder (or the prior) starts without it.
"""

from __future__ import annotations

import logging
import os
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse

from core.errors import ArtifactError, ConfigError
from core.paths import default_tracking_uri

log = logging.getLogger(__name__)

__all__ = [
    "CHAMPION",
    "DEFAULT_EXPERIMENT",
    "DEFAULT_MODEL_NAME",
    "DEFAULT_TRACKING_URI",
    "ResolvedModel",
    "alias_version",
    "bound_requests",
    "client",
    "experiment_id",
    "resolve",
    "sqlite_path",
]

DEFAULT_TRACKING_URI = default_tracking_uri()
DEFAULT_MODEL_NAME = "model-selector-quality"
DEFAULT_EXPERIMENT = "model-selector"
CHAMPION = "champion"


@dataclass(frozen=True)
class ResolvedModel:
    """A model found on disk, and where it came from."""

    folder: Path
    source: str
    name: str | None = None
    version: str | None = None
    run_id: str | None = None

    def describe(self) -> dict[str, Any]:
        return {"source": self.source, "name": self.name, "version": self.version}


def sqlite_path(tracking_uri: str) -> Path | None:
    """The database file of a ``sqlite:///`` tracking URI (None for other stores).

    >>> sqlite_path("sqlite:///mlflow.db")
    PosixPath('mlflow.db')
    >>> sqlite_path("sqlite:////tmp/x/mlflow.db")
    PosixPath('/tmp/x/mlflow.db')
    >>> sqlite_path("http://mlflow:5000") is None
    True
    """
    prefix = "sqlite:///"
    return Path(tracking_uri[len(prefix) :]) if tracking_uri.startswith(prefix) else None


def bound_requests(timeout_s: float) -> None:
    """Bound how long this process waits on a tracking server: MLflow's own defaults
    (a 120 s timeout, 7 retries with exponential back-off) keep a caller waiting about
    four minutes on a server that refuses connections. Variables the operator set stay."""
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_TIMEOUT", str(max(1, round(timeout_s))))
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "2")
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR", "1")


def client(tracking_uri: str, create: bool = True) -> Any:
    """An ``MlflowClient`` on ``tracking_uri``. With ``create=False`` a SQLite store that
    does not exist yet, or a tracking server that does not answer, is an
    :class:`ArtifactError` instead of a new empty database or MLflow's own error."""
    db = sqlite_path(tracking_uri)
    if db is not None and not create and not db.is_file():
        raise ArtifactError(
            f"no MLflow store at {db}: train and register a model first (`selector train`)"
        )
    if db is not None:
        db.parent.mkdir(parents=True, exist_ok=True)
    with warnings.catch_warnings():
        # MLflow's store still uses a loader option SQLAlchemy 2.1 deprecates; harmless
        warnings.filterwarnings("ignore", message=".*noload.*", category=DeprecationWarning)
        from mlflow import MlflowClient
        from mlflow.exceptions import MlflowException

        c = MlflowClient(tracking_uri=tracking_uri, registry_uri=tracking_uri)
        try:
            c.search_experiments(max_results=1)  # creates or upgrades the schema now
        except MlflowException as exc:
            if create:
                raise
            raise ArtifactError(
                f"MLflow registry at {tracking_uri} is unreachable: {_first_line(exc.message)}"
            ) from exc
    return c


def _first_line(message: str) -> str:
    """MLflow's messages carry a whole retry history; the first line says what failed."""
    return message.strip().splitlines()[0][:300] if message.strip() else "no answer"


def experiment_id(c: Any, tracking_uri: str, name: str = DEFAULT_EXPERIMENT) -> str:
    """The experiment ``name``, created when missing; with a SQLite store its artifacts
    go to ``mlartifacts/`` beside the database, so the store is one self-contained folder."""
    exp = c.get_experiment_by_name(name)
    if exp is not None:
        return str(exp.experiment_id)
    db = sqlite_path(tracking_uri)
    location = (db.resolve().parent / "mlartifacts").as_uri() if db is not None else None
    return str(c.create_experiment(name, artifact_location=location))


def _parse_models_uri(uri: str) -> tuple[str, str | None, str | None]:
    """(name, alias, version) of ``models:/name@alias`` or ``models:/name/version``.

    >>> _parse_models_uri("models:/q@champion")
    ('q', 'champion', None)
    >>> _parse_models_uri("models:/q/3")
    ('q', None, '3')
    """
    rest = uri[len("models:/") :]
    if "@" in rest:
        name, alias = rest.split("@", 1)
        if name and alias:
            return name, alias, None
    elif "/" in rest:
        name, version = rest.rsplit("/", 1)
        if name and version.isdigit():
            return name, None, version
    raise ConfigError(
        f"{uri!r} is not a model URI: write models:/<name>@<alias> or models:/<name>/<version>"
    )


def _moved(source: str, tracking_uri: str) -> str:
    """``source``, a model's artifact location as the store recorded it; when the store
    was moved (a SQLite store and its ``mlartifacts/`` folder copied or renamed
    together), the same artifacts beside the database where it is now. MLflow records
    absolute locations: without this, a moved store would silently serve the prior."""
    db = sqlite_path(tracking_uri)
    recorded = Path(unquote(urlparse(source).path)) if source.startswith("file:") else Path(source)
    if db is None or recorded.exists() or "mlartifacts" not in recorded.parts:
        return source
    inside = recorded.parts[len(recorded.parts) - recorded.parts[::-1].index("mlartifacts") :]
    here = db.resolve().parent / "mlartifacts" / Path(*inside)
    if not here.exists():
        raise ArtifactError(
            f"the model's files are not at {recorded} (where the store recorded them) nor "
            f"at {here} (beside {db}): copy the store's mlartifacts/ folder with its database"
        )
    log.info("store moved: the model's files are read from %s", here)
    return here.as_uri()


def alias_version(spec: str, tracking_uri: str) -> str | None:
    """The version a ``models:/<name>@<alias>`` URI names now: None when the alias is not
    set (or the store does not exist yet); :class:`ArtifactError` when the store cannot be
    read. Used to notice a promotion without loading anything."""
    name, alias, _ = _parse_models_uri(spec)
    if alias is None:
        raise ConfigError(f"{spec} names a fixed version, not an alias to follow")
    try:
        c = client(tracking_uri, create=False)
    except ArtifactError:
        if sqlite_path(tracking_uri) is not None:
            return None  # no store yet: nothing promoted
        raise
    from mlflow.exceptions import MlflowException

    try:
        return str(c.get_model_version_by_alias(name, alias).version)
    except MlflowException:
        return None


def resolve(spec: str, tracking_uri: str = DEFAULT_TRACKING_URI) -> ResolvedModel:
    """Find the model ``spec`` names (a folder or a ``models:/`` URI) on local disk,
    downloading it from the registry when needed; :class:`ArtifactError` when absent."""
    if not spec.startswith("models:/"):
        folder = Path(spec)
        if not folder.is_dir():
            raise ArtifactError(f"{folder} is not a folder holding a quality model")
        return ResolvedModel(folder, str(folder))
    name, alias, version = _parse_models_uri(spec)
    c = client(tracking_uri, create=False)
    from mlflow.exceptions import MlflowException

    try:
        mv = (
            c.get_model_version_by_alias(name, alias)
            if alias
            else c.get_model_version(name, version)
        )
        import mlflow.artifacts

        source = _moved(c.get_model_version_download_uri(name, mv.version), tracking_uri)
        local = mlflow.artifacts.download_artifacts(artifact_uri=source, tracking_uri=tracking_uri)
    except MlflowException as exc:
        raise ArtifactError(f"{spec} not found in {tracking_uri}: {exc.message}") from exc
    except OSError as exc:
        raise ArtifactError(f"{spec}: cannot read its files: {exc}") from exc
    return ResolvedModel(Path(local), spec, name, str(mv.version), mv.run_id)
