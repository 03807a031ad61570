"""The settings of how the service runs: its HTTP server, who may call it, its own
logs, the decision log's database and how long it keeps decisions."""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar, Literal, get_args

from pydantic import Field, SecretStr, field_validator, model_validator

from core.limits import WINDOW_S_MAX
from core.paths import home
from selector.config.group import Group, a_file, comma_separated, host_name, loopback

__all__ = [
    "AUTH_EXEMPTABLE",
    "AuthSettings",
    "LogSettings",
    "RetentionSettings",
    "ServerSettings",
    "StoreSettings",
]

#: endpoints an operator may open to callers without the API token (SELECTOR_AUTH_EXEMPT)
AuthExempt = Literal["metrics", "docs"]
AUTH_EXEMPTABLE: tuple[str, ...] = get_args(AuthExempt)


class ServerSettings(Group):
    """The HTTP server: where it listens, its limits and who may call it by name."""

    PREFIX: ClassVar[str] = ""
    host: str = Field("127.0.0.1", description="Interface the HTTP server binds.")
    port: int = Field(8080, ge=0, le=65535, description="TCP port of the HTTP server.")
    max_body_bytes: int = Field(
        1_048_576, ge=1024, le=64 * 1_048_576, description="Largest request body accepted."
    )
    request_timeout_s: float = Field(
        10.0,
        gt=0,
        le=3_600,
        description="A request whose headers and body have not all arrived this long after "
        "its first byte is answered 408 and its connection closed (slow or stuck clients).",
    )
    keepalive_timeout_s: float = Field(
        5.0,
        gt=0,
        le=3_600,
        description="An idle connection (new, or between requests) is closed after this long.",
    )
    max_connections: int = Field(
        2_048,
        ge=1,
        le=1_000_000,
        description="Open connections served at once; a connection beyond it is answered 503 "
        "and closed at once.",
    )
    shutdown_timeout_s: float = Field(
        10.0,
        gt=0,
        le=3_600,
        description="On SIGTERM: stop accepting, answer the requests in flight (each with "
        "'Connection: close'), then stop; requests still running after this long are "
        "cancelled.",
    )
    allowed_hosts: frozenset[str] | None = Field(
        None,
        description="Comma-separated names a request's Host header may give (its port aside; "
        "'*' allows any). Unset: 127.0.0.1, localhost and ::1 while the service binds "
        "loopback (a web page cannot then reach it through a name of its own: DNS "
        "rebinding), any name otherwise (the API token guards it there).",
    )
    forwarded_allow_ips: frozenset[str] = Field(
        frozenset(),
        description="Comma-separated addresses (or networks, or '*') of the proxies in front "
        "whose X-Forwarded-For and X-Forwarded-Proto name the client; from anyone else "
        "they are ignored. Unset: none.",
    )

    @field_validator("forwarded_allow_ips", mode="before")
    @classmethod
    def _comma_separated(cls, v: object) -> object:
        return comma_separated(v)

    @field_validator("allowed_hosts", mode="before")
    @classmethod
    def _host_names(cls, v: object) -> object:
        v = comma_separated(v)
        if isinstance(v, (list, tuple, set, frozenset)):
            names = frozenset(host_name(str(p)) for p in v if str(p).strip())
            if not names:
                raise ValueError("names no host: give the names callers use, or '*' for any")
            return names
        return v

    def host_names(self) -> frozenset[str] | None:
        """The names a request's Host header may give; None when any is allowed."""
        if self.allowed_hosts is not None:
            return None if "*" in self.allowed_hosts else self.allowed_hosts
        if loopback(self.host):
            return frozenset({"127.0.0.1", "localhost", "::1", host_name(self.host)})
        return None


class AuthSettings(Group):
    """Who may call the service: the API and admin tokens."""

    PREFIX: ClassVar[str] = ""
    api_token: SecretStr | None = Field(
        None,
        description="When set, every endpoint but /healthz and /readyz needs "
        "'Authorization: Bearer <token>' (see auth_exempt). An empty or blank value is an "
        "error, never 'no auth'.",
    )
    admin_token: SecretStr | None = Field(
        None,
        description="Bearer token of the /v1/admin/* endpoints (they are refused while unset).",
    )
    allow_unauthenticated: bool = Field(
        False,
        description="Serve on an interface other than loopback without an API token (only "
        "behind a proxy that authenticates callers itself).",
    )
    auth_exempt: frozenset[AuthExempt] = Field(
        frozenset(),
        description="Comma-separated endpoints open without the API token: 'metrics' "
        "(/metrics, for a scraper that cannot send a bearer token) and 'docs' (/docs, "
        "/redoc, /openapi.json).",
    )

    @field_validator("api_token", "admin_token")
    @classmethod
    def _token_is_usable(cls, v: SecretStr | None) -> SecretStr | None:
        """A token that is set must be one a client can send: never empty or blank (that
        would silently mean 'no auth'), visible ASCII without spaces (a header value)."""
        if v is None:
            return v
        token = v.get_secret_value()
        if not token.strip():
            raise ValueError(
                "is empty or blank: set a real token (for example `openssl rand -hex 32`), "
                "or unset the variable"
            )
        if not all("!" <= c <= "~" for c in token):
            raise ValueError(
                "must be printable ASCII without spaces (it is sent in an HTTP header): "
                "generate one with `openssl rand -hex 32`"
            )
        return v

    @field_validator("auth_exempt", mode="before")
    @classmethod
    def _comma_separated(cls, v: object) -> object:
        return comma_separated(v)


class LogSettings(Group):
    """The service's own logs, and the text a decision's record keeps."""

    PREFIX: ClassVar[str] = "log_"
    ENV: ClassVar[dict[str, str]] = {"access_log": "access_log"}

    format: Literal["auto", "json", "text"] = Field(
        "auto",
        description="Service log: 'json' lines, readable 'text', or 'auto' (text on a terminal, "
        "JSON lines otherwise).",
    )
    level: Literal["debug", "info", "warning", "error"] = Field(
        "info", description="Lowest level logged."
    )
    access_log: bool = Field(True, description="Log one line per HTTP request.")
    text: Literal["last_user", "none"] = Field(
        "last_user", description="Message text kept in the decision log for training."
    )
    text_max_chars: int = Field(
        4_000,
        ge=0,
        le=1_048_576,
        description="Characters of the last user message kept per decision; a longer one is "
        "cut there (its start is what the intent and training read).",
    )


class StoreSettings(Group):
    """The decision log: its database, durability and the join of feedback to decisions."""

    PREFIX: ClassVar[str] = ""
    db_path: Path = Field(
        default_factory=lambda: home() / "selector.db",
        description="SQLite decision log (default: selector.db in SELECTOR_HOME).",
    )
    database_url: SecretStr | None = Field(
        None,
        description="The decision log's database: sqlite:///PATH (the default, at "
        "SELECTOR_DB_PATH) or postgresql://USER:PASSWORD@HOST:PORT/DB, which replicas share "
        "(pip install 'model-selector[postgres]').",
    )
    replica_id: str = Field(
        "",
        max_length=200,
        description="This replica's name on the feedback it stores in a shared log "
        "(default: host name and process id).",
    )
    shared_poll_s: float = Field(
        0.5,
        gt=0,
        le=60,
        description="PostgreSQL: how often a replica reads the feedback the others stored "
        "when no notification woke it (LISTEN/NOTIFY wakes it at once).",
    )
    db_sync: Literal["normal", "full"] = Field(
        "normal",
        description="'normal': commits are WAL appends written before each answer; they "
        "survive a crash or kill -9 of the process. 'full': every group commit is "
        "fsynced; it survives a power loss too, at a cost in throughput.",
    )
    db_check_s: float = Field(
        10.0,
        ge=0,
        le=WINDOW_S_MAX,
        description="At start, SQLite's quick_check reads every page of the decision log for "
        "up to this many seconds (about 9 s per 740 MB from a cold disk): a damaged log stops "
        "the start with the command that recovers it. 0: no check.",
    )
    join_window_s: float = Field(
        86_400.0,
        gt=0,
        le=WINDOW_S_MAX,
        description="Seconds after a decision during which feedback joins it.",
    )

    @field_validator("database_url")
    @classmethod
    def _database_url(cls, v: SecretStr | None) -> SecretStr | None:
        if v is None:
            return v
        url = v.get_secret_value().strip()
        if not url:
            raise ValueError(
                "is empty: unset it for the SQLite log at SELECTOR_DB_PATH, or give "
                "sqlite:///PATH or postgresql://USER:PASSWORD@HOST:PORT/DB"
            )
        if url.startswith("sqlite:///") and len(url) > len("sqlite:///"):
            return SecretStr(url)
        if url.startswith(("postgresql://", "postgres://")):
            return SecretStr(url)
        scheme = url.split("://", 1)[0] if "://" in url else url[:20]
        raise ValueError(
            f"names no database this service can use ({scheme!r}): give sqlite:///PATH or "
            "postgresql://USER:PASSWORD@HOST:PORT/DB"
        )

    @field_validator("db_path")
    @classmethod
    def _a_file(cls, v: Path) -> Path:
        return a_file(v)

    @model_validator(mode="after")
    def _sqlite_url(self) -> StoreSettings:
        url = self.database_url.get_secret_value() if self.database_url else ""
        if url.startswith("sqlite:///"):
            self.db_path = Path(url.removeprefix("sqlite:///"))
        return self

    @property
    def postgres_url(self) -> str | None:
        """The PostgreSQL log's URL, when the log is on PostgreSQL."""
        url = self.database_url.get_secret_value() if self.database_url else ""
        return url if url.startswith(("postgresql://", "postgres://")) else None


class RetentionSettings(Group):
    """How long the decision log keeps decisions, and where pruned ones are archived."""

    PREFIX: ClassVar[str] = ""
    ENV: ClassVar[dict[str, str]] = {"days": "retention_days"}

    days: float = Field(
        90.0,
        ge=0,
        le=36_500,
        description="Decisions older than this (with their feedback) leave the decision log, "
        "archived first when `archive` is on; checked every prune_every_s. 0 keeps "
        "everything. Must exceed the join window.",
    )
    archive: bool = Field(
        True,
        description="Write pruned decisions to Parquet (archive_dir) before deleting them.",
    )
    archive_dir: Path | None = Field(
        None,
        description="Folder of the Parquet archives (default: the decision log's path + "
        "'.archive').",
    )
    prune_every_s: float = Field(
        3_600.0, gt=0, le=WINDOW_S_MAX, description="Seconds between retention runs."
    )

    @field_validator("archive_dir")
    @classmethod
    def _a_folder(cls, v: Path | None) -> Path | None:
        if v is not None and v.exists() and not v.is_dir():
            raise ValueError(f"{v} is a file: give a folder (made when missing)")
        return v
