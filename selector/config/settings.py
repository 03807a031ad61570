"""The service's settings: one typed object of groups, one per concern, validated at
start-up, read from the environment or a ``.env`` file. Each setting has its own
variable, ``SELECTOR_`` + its flat name (:data:`VARIABLES`): ``SELECTOR_BANDIT_MEMORY``
is ``settings.online.memory``.

Reach it through :func:`get_settings`; nothing else in the code reads ``os.environ``.
"""

from __future__ import annotations

import difflib
import os
from collections.abc import Mapping
from functools import lru_cache
from pathlib import Path
from typing import Any

from dotenv import dotenv_values
from pydantic import Field, ValidationError, model_validator
from pydantic.fields import FieldInfo
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from core.errors import ConfigError
from selector.config.deciding import (
    BaselineSettings,
    BreakerSettings,
    BudgetSettings,
    ChallengerSettings,
    DecisionSettings,
    LatencySettings,
    ModelSettings,
    OnlineSettings,
    ProbeSettings,
    RewardSettings,
)
from selector.config.group import Group, loopback
from selector.config.service import (
    AuthSettings,
    LogSettings,
    RetentionSettings,
    ServerSettings,
    StoreSettings,
)

__all__ = ["VARIABLES", "Settings", "get_settings", "load_settings", "unknown_variables"]


class Settings(BaseSettings):
    """Every setting of the service, with its default, grouped by concern."""

    model_config = SettingsConfigDict(extra="forbid", allow_inf_nan=False)

    server: ServerSettings = Field(default_factory=ServerSettings)
    auth: AuthSettings = Field(default_factory=AuthSettings)
    logs: LogSettings = Field(default_factory=LogSettings)
    store: StoreSettings = Field(default_factory=StoreSettings)
    retention: RetentionSettings = Field(default_factory=RetentionSettings)
    models: ModelSettings = Field(default_factory=ModelSettings)
    decision: DecisionSettings = Field(default_factory=DecisionSettings)
    baseline: BaselineSettings = Field(default_factory=BaselineSettings)
    latency: LatencySettings = Field(default_factory=LatencySettings)
    breaker: BreakerSettings = Field(default_factory=BreakerSettings)
    probe: ProbeSettings = Field(default_factory=ProbeSettings)
    online: OnlineSettings = Field(default_factory=OnlineSettings)
    reward: RewardSettings = Field(default_factory=RewardSettings)
    budget: BudgetSettings = Field(default_factory=BudgetSettings)
    challenger: ChallengerSettings = Field(default_factory=ChallengerSettings)

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        """What the caller passes, then the environment, then ``.env``."""
        return (
            init_settings,
            _Variables(settings_cls, os.environ),
            _Variables(settings_cls, _dotenv(Path(".env"))),
        )

    @model_validator(mode="after")
    def _consistent(self) -> Settings:
        auth = self.auth
        if (
            auth.api_token is None
            and not auth.allow_unauthenticated
            and not loopback(self.server.host)
        ):
            raise ValueError(
                f"SELECTOR_HOST={self.server.host} serves beyond this machine without an "
                "API token: set SELECTOR_API_TOKEN (or SELECTOR_ALLOW_UNAUTHENTICATED=true "
                "when a proxy in front authenticates callers)"
            )
        days, window = self.retention.days, self.store.join_window_s
        if days and days * 86_400 <= window:
            raise ValueError(
                f"SELECTOR_RETENTION_DAYS={days:g} is not longer than the join window "
                f"(SELECTOR_JOIN_WINDOW_S={window:g}): outcomes could arrive for pruned "
                "decisions; raise it, or set 0 to keep everything"
            )
        return self

    def archive_folder(self) -> Path:
        """Where pruned decisions are archived."""
        db = self.store.db_path
        return self.retention.archive_dir or db.with_name(db.name + ".archive")

    def replace(self, **changes: Any) -> Settings:
        """These settings with ``changes``, named as their variables are without
        ``SELECTOR_`` (``bandit_memory=0.99``), validated like the environment's."""
        groups: dict[str, Any] = {name: getattr(self, name) for name in type(self).model_fields}
        for group, values in _nested(changes).items():
            old = groups[group]
            kept = {k: getattr(old, k) for k in old.model_fields_set}
            try:
                groups[group] = type(old).model_validate({**kept, **values})
            except ValidationError as exc:
                raise _config_error(exc, group) from exc
        try:
            return type(self).model_validate(groups)
        except ValidationError as exc:
            raise _config_error(exc) from exc


def _groups() -> dict[str, type[Group]]:
    return {name: f.annotation for name, f in Settings.model_fields.items()}  # type: ignore[misc]


#: each setting's variable, without ``SELECTOR_`` and in lower case → (group, name)
VARIABLES: dict[str, tuple[str, str]] = {
    cls.variable(name): (group, name)
    for group, cls in _groups().items()
    for name in cls.model_fields
}
_BY_PLACE = {place: variable for variable, place in VARIABLES.items()}


def _nested(flat: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """``{"bandit_memory": 0.9}`` → ``{"online": {"memory": 0.9}}``; a name no setting
    has is a ConfigError naming the closest one."""
    out: dict[str, dict[str, Any]] = {}
    for key, value in flat.items():
        place = VARIABLES.get(key)
        if place is None:
            close = difflib.get_close_matches(key, VARIABLES, n=1, cutoff=0.8)
            hint = f" ({close[0]}?)" if close else ""
            raise ConfigError(f"{key!r} is not a setting{hint}")
        out.setdefault(place[0], {})[place[1]] = value
    return out


def _dotenv(path: Path) -> dict[str, str]:
    if not path.is_file():
        return {}
    return {k: v for k, v in dotenv_values(path).items() if v is not None}


class _Variables(PydanticBaseSettingsSource):
    """Each setting's ``SELECTOR_*`` variable of ``environ`` (names in any case), placed
    in its group."""

    def __init__(self, settings_cls: type[BaseSettings], environ: Mapping[str, str]) -> None:
        super().__init__(settings_cls)
        self._values = {k.lower(): v for k, v in environ.items()}

    def get_field_value(self, field: FieldInfo, field_name: str) -> tuple[Any, str, bool]:
        return None, field_name, False  # the groups are built whole in __call__

    def __call__(self) -> dict[str, Any]:
        out: dict[str, dict[str, Any]] = {}
        for variable, (group, name) in VARIABLES.items():
            value = self._values.get("selector_" + variable)
            if value is not None:
                out.setdefault(group, {})[name] = value
        return out


# SELECTOR_* variables read elsewhere than in these settings: the folders (core.paths),
# and the selector's URL in the gateway's examples
_READ_ELSEWHERE = frozenset({"SELECTOR_HOME", "SELECTOR_DATA_DIR", "SELECTOR_URL"})


def unknown_variables(environ: Mapping[str, str]) -> list[str]:
    """A line for each ``SELECTOR_*`` variable of ``environ`` that no setting reads (a
    misspelt one would otherwise be ignored in silence), naming the closest that does.

    >>> unknown_variables({"SELECTOR_API_TOKNE": "t", "SELECTOR_PORT": "80", "PATH": "/"})
    ['SELECTOR_API_TOKNE is not a setting (SELECTOR_API_TOKEN?)']
    """
    known = {f"SELECTOR_{name.upper()}" for name in VARIABLES} | _READ_ELSEWHERE
    lines = []
    for name in sorted(n for n in environ if n.startswith("SELECTOR_") and n not in known):
        close = difflib.get_close_matches(name, known, n=1, cutoff=0.8)
        hint = f"{close[0]}?" if close else "no setting reads it; see docs/configuration.md"
        lines.append(f"{name} is not a setting ({hint})")
    return lines


def load_settings(**overrides: Any) -> Settings:
    """Settings from the environment plus ``overrides``, named as their variables are
    without ``SELECTOR_`` (``policy="utility-v0"``); a bad value is a ConfigError."""
    nested = _nested(overrides)
    try:
        return Settings(**nested)  # type: ignore[arg-type]
    except ValidationError as exc:
        raise _config_error(exc) from exc


def _config_error(exc: ValidationError, group: str | None = None) -> ConfigError:
    """The errors of ``exc`` (of the whole settings, or of one ``group``)."""
    where: tuple[str, ...] = () if group is None else (group,)
    lines = [_problem((*where, *e["loc"]), e["msg"]) for e in exc.errors()]
    return ConfigError("invalid settings: " + "; ".join(lines))


def _problem(loc: tuple[int | str, ...], msg: str) -> str:
    """``SELECTOR_<VARIABLE>: <message>``; a check across fields names its variables
    itself."""
    msg = msg.removeprefix("Value error, ")
    place = tuple(str(p) for p in loc[:2] if not isinstance(p, int))
    variable = _BY_PLACE.get(place) if len(place) == 2 else None
    return f"SELECTOR_{variable.upper()}: {msg}" if variable else msg


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process's settings, read once."""
    return load_settings()
