"""The service's settings: one typed object, validated at start-up, read from the
environment (prefix ``SELECTOR_``) or a ``.env`` file.

Reach it through :func:`get_settings`; nothing else in the code reads ``os.environ``.
"""

from __future__ import annotations

import difflib
import ipaddress
from collections.abc import Mapping
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Literal, get_args

from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from core.errors import ConfigError
from core.limits import (
    COST_WEIGHT_MAX,
    LATENCY_MS_MAX,
    LATENCY_WEIGHT_MAX,
    REWARD_PENALTY_MAX,
    TOKENS_MAX,
    WINDOW_S_MAX,
)
from core.paths import default_tracking_uri, home

__all__ = [
    "AUTH_EXEMPTABLE",
    "PACKAGE_DIR",
    "Settings",
    "get_settings",
    "host_name",
    "load_settings",
    "unknown_variables",
]

PACKAGE_DIR = Path(__file__).resolve().parent
#: endpoints an operator may open to callers without the API token (SELECTOR_AUTH_EXEMPT)
AuthExempt = Literal["metrics", "docs"]
AUTH_EXEMPTABLE: tuple[str, ...] = get_args(AuthExempt)


class Settings(BaseSettings):
    """Every setting of the service, with its default."""

    # every float must be finite: ``inf`` or ``nan`` is refused with the variable's name
    model_config = SettingsConfigDict(
        env_prefix="SELECTOR_", env_file=".env", extra="ignore", allow_inf_nan=False
    )

    host: str = Field("127.0.0.1", description="Interface the HTTP server binds.")
    port: int = Field(8080, ge=0, le=65535, description="TCP port of the HTTP server.")
    catalog_path: Path = Field(
        PACKAGE_DIR / "catalog.yaml", description="YAML catalog of candidate LLMs."
    )
    prior_path: Path | None = Field(
        None, description="YAML file overriding the built-in P(resolved) prior."
    )
    intent_model_dir: Path | None = Field(
        None, description="Folder of the intent classifier artifact (default: the built-in one)."
    )
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
    policy: str = Field(
        "bandit-v2", description="Decision policy served (see `selector policies`)."
    )
    cost_weight: float = Field(
        2.0,
        ge=0,
        le=COST_WEIGHT_MAX,
        description="λ: utility lost per USD of expected cost of one turn (2.0: a resolved "
        "conversation is worth about $0.50 of model spend per turn).",
    )
    latency_weight: float = Field(
        0.02,
        ge=0,
        le=LATENCY_WEIGHT_MAX,
        description="Utility lost per second of expected latency.",
    )
    exploration: float = Field(
        0.0, ge=0, lt=1, description="Share of decisions drawn uniformly among eligible models."
    )
    seed: int | None = Field(None, description="Seed of the policy's random draws (exploration).")
    baseline_small_model: str = Field(
        "gemini-2.5-flash-lite", description="static-rules: the small model."
    )
    baseline_heavy_model: str = Field(
        "claude-opus-4.1", description="static-rules: the heavy model."
    )
    baseline_max_turns: int = Field(
        8, ge=0, le=1_000_000, description="static-rules: longest 'short' conversation."
    )
    max_fallbacks: int = Field(3, ge=0, le=100, description="Length of the fallback chain.")
    join_window_s: float = Field(
        86_400.0,
        gt=0,
        le=WINDOW_S_MAX,
        description="Seconds after a decision during which feedback joins it.",
    )
    latency_window_s: float = Field(
        300.0,
        gt=0,
        le=WINDOW_S_MAX,
        description="Window of the live latency and error-rate statistics.",
    )
    latency_max_samples: int = Field(
        2_000, ge=10, le=1_000_000, description="Samples kept per model."
    )
    latency_prior_weight: float = Field(
        3.0,
        gt=0,
        le=1e6,
        description="Weight of the catalog's expected_latency_ms, in calls, in a model's "
        "latency estimate (the prior shrinks toward the calls seen as they accrue).",
    )
    latency_prior_sd: float = Field(
        0.6,
        gt=0,
        le=5,
        description="How far the catalog's latency priors may be off: the standard deviation "
        "of ln(true median / expected_latency_ms); 0.6 puts the truth within ×⅓–×3 nine "
        "times in ten.",
    )
    latency_memory: float = Field(
        200.0,
        ge=1,
        le=1e9,
        description="Calls of one model its latency estimate mostly remembers (each call "
        "discounts the older ones by 1 − 1/memory).",
    )
    probe_share: float = Field(
        0.02,
        ge=0,
        lt=1,
        description="Share of decisions given to each model that breaks a constraint only on "
        "a guess (its latency has too little evidence yet may meet the deadline), until it "
        "has probe_evidence calls; 0 turns probing off.",
    )
    probe_max_share: float = Field(
        0.1,
        ge=0,
        lt=1,
        description="Most decisions given to probes in all (each probe's share is cut to fit).",
    )
    probe_evidence: float = Field(
        10.0,
        gt=0,
        le=1e6,
        description="Calls of a model's latency estimate after which it is judged on them "
        "alone and no longer probed.",
    )
    breaker_min_samples: int = Field(
        20, ge=1, le=1_000_000, description="Samples needed before a circuit breaker may open."
    )
    breaker_error_rate: float = Field(
        0.5, gt=0, le=1, description="Error rate at which a model's circuit opens."
    )
    breaker_cooldown_s: float = Field(
        30.0,
        gt=0,
        le=WINDOW_S_MAX,
        description="Seconds an open circuit waits before letting a probe through.",
    )
    breaker_probe_timeout_s: float = Field(
        60.0,
        gt=0,
        le=WINDOW_S_MAX,
        description="Seconds a probe may stay unanswered before another is sent.",
    )
    default_completion_tokens: int = Field(
        350,
        ge=1,
        le=TOKENS_MAX,
        description="Completion length assumed when a model has no estimate of its own.",
    )
    tokens_per_turn: int = Field(
        17,
        ge=1,
        le=1_000_000,
        description="Prompt tokens per turn assumed when only `turns` is given.",
    )
    max_body_bytes: int = Field(
        1_048_576, ge=1024, le=64 * 1_048_576, description="Largest request body accepted."
    )
    api_token: SecretStr | None = Field(
        None,
        description="When set, every endpoint but /healthz and /readyz needs "
        "'Authorization: Bearer <token>' (see auth_exempt). An empty or blank value is an "
        "error, never 'no auth'.",
    )
    allow_unauthenticated: bool = Field(
        False,
        description="Serve on an interface other than loopback without an API token (only "
        "behind a proxy that authenticates callers itself).",
    )
    auth_exempt: Annotated[frozenset[AuthExempt], NoDecode] = Field(
        frozenset(),
        description="Comma-separated endpoints open without the API token: 'metrics' "
        "(/metrics, for a scraper that cannot send a bearer token) and 'docs' (/docs, "
        "/redoc, /openapi.json).",
    )
    allowed_hosts: Annotated[frozenset[str] | None, NoDecode] = Field(
        None,
        description="Comma-separated names a request's Host header may give (its port aside; "
        "'*' allows any). Unset: 127.0.0.1, localhost and ::1 while the service binds "
        "loopback (a web page cannot then reach it through a name of its own: DNS "
        "rebinding), any name otherwise (the API token guards it there).",
    )
    forwarded_allow_ips: Annotated[frozenset[str], NoDecode] = Field(
        frozenset(),
        description="Comma-separated addresses (or networks, or '*') of the proxies in front "
        "whose X-Forwarded-For and X-Forwarded-Proto name the client; from anyone else "
        "they are ignored. Unset: none.",
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
    log_format: Literal["auto", "json", "text"] = Field(
        "auto",
        description="Service log: 'json' lines, readable 'text', or 'auto' (text on a terminal, "
        "JSON lines otherwise).",
    )
    log_level: Literal["debug", "info", "warning", "error"] = Field(
        "info", description="Lowest level logged."
    )
    access_log: bool = Field(True, description="Log one line per HTTP request.")
    quality_model: str = Field(
        "models:/model-selector-quality@champion",
        description="Offline quality model: an MLflow model URI (models:/<name>@<alias> or "
        "models:/<name>/<version>) or a folder written by `selector train --out`; "
        "'prior' serves the built-in prior. When it cannot be loaded the service serves "
        "the prior and /readyz says why.",
    )
    mlflow_tracking_uri: str = Field(
        default_factory=default_tracking_uri,
        description="MLflow tracking store and model registry (default: mlflow.db in "
        "SELECTOR_HOME, its artifacts in mlartifacts/ beside it).",
    )
    model_poll_s: float = Field(
        30.0,
        ge=0,
        le=86_400,
        description="How often (seconds) the service asks the registry which version "
        "SELECTOR_QUALITY_MODEL's alias (models:/<name>@<alias>) names; a newly promoted "
        "version is loaded and swapped in, as POST /v1/admin/reload does, so every replica "
        "serves it within this bound without a restart. 0: only on reload.",
    )
    registry_timeout_s: float = Field(
        10.0,
        gt=0,
        le=600,
        description="How long the service waits on a tracking server (http(s) URI) for one "
        "request, retried twice, before it serves what it has and /readyz says why. "
        "MLFLOW_HTTP_REQUEST_* variables, when set, take precedence.",
    )
    admin_token: SecretStr | None = Field(
        None,
        description="Bearer token of the /v1/admin/* endpoints (they are refused while unset).",
    )
    bandit_memory: float = Field(
        500.0,
        ge=1,
        le=1e9,
        description="Online layer: outcomes of one model (and of one model × intent group) "
        "it mostly remembers; each outcome discounts the older ones by 1 − 1/memory.",
    )
    bandit_prior_weight: float = Field(
        200.0,
        gt=0,
        le=1e9,
        description="Online layer: the offline model's weight, in outcomes: a correction "
        "counts in full only once many more outcomes than this back it.",
    )
    bandit_gamma: float = Field(
        10_000.0,
        gt=0,
        le=1e12,
        description="SquareCB greediness γ: exploring costs at most (k − 1)/γ of reward per "
        "decision among k eligible models.",
    )
    bandit_min_exploration: float = Field(
        0.003,
        ge=0,
        lt=1,
        description="Uniform exploration floor ε mixed into every online policy's distribution.",
    )
    bandit_learner: Literal["residual", "vw"] = Field(
        "residual",
        description="bandit-v1's learner: 'residual' (corrections of the offline utility "
        "per model and model × intent group) or 'vw' (Vowpal Wabbit cb_explore_adf with "
        "SquareCB). bandit-v2 always uses its contextual learner.",
    )
    bandit_ridge: float = Field(
        4.0,
        gt=0,
        le=1e9,
        description="bandit-v2 serving the built-in prior: the weight, in outcomes, of the "
        "offline utility (no correction) in each model's regression on the context.",
    )
    bandit_ridge_learned: float = Field(
        50.0,
        gt=0,
        le=1e9,
        description="bandit-v2 serving a quality model (SELECTOR_QUALITY_MODEL other than "
        "'prior'), trained on outcomes: the same weight, larger because it was learned.",
    )
    bandit_posterior_scale: float = Field(
        0.3,
        gt=0,
        le=100,
        description="bandit-v2: a factor on the standard deviation of each estimate: more "
        "explores more (each model is chosen with its probability of being the best).",
    )
    bandit_state_path: Path | None = Field(
        None,
        description="JSON state of the online layer (default: the decision log's path + "
        "'.bandit.json'); restored at start, rebuilt from the log when missing or stale.",
    )
    bandit_updates: Literal["background", "inline"] = Field(
        "background",
        description="'background': a thread learns from new feedback in the log, off the "
        "request path; 'inline': each feedback request learns before it is answered "
        "(reproducible step by step, used by the simulator).",
    )
    bandit_save_every_s: float = Field(
        10.0,
        gt=0,
        le=WINDOW_S_MAX,
        description="Seconds between saves of the online layer's state.",
    )
    challenger_policy: str | None = Field(
        None,
        description="A second policy deciding on every request beside the served one "
        "(see challenger_mode); its decisions are logged for `selector compare`.",
    )
    challenger_quality_model: str | None = Field(
        None, description="The challenger's quality model (default: the served policy's)."
    )
    challenger_mode: Literal["shadow", "canary"] = Field(
        "shadow",
        description="'shadow': the challenger decides and logs, never serves; 'canary': it "
        "serves canary_share of conversations (the champion's decision is then logged).",
    )
    canary_share: float = Field(
        0.05,
        ge=0,
        le=1,
        description="canary: share of conversations the challenger serves (by a hash of "
        "the conversation id, so a conversation stays with one policy).",
    )
    reward_late_penalty: float = Field(
        0.05,
        ge=0,
        le=REWARD_PENALTY_MAX,
        description="Reward lost by a call slower than its deadline, or failed.",
    )
    reward_deadline_ms: float = Field(
        3_000.0,
        gt=0,
        le=LATENCY_MS_MAX,
        description="Deadline of a decision whose request set no max_latency_ms.",
    )
    reward_default_outcome: float | None = Field(
        None,
        ge=0,
        le=1,
        description="Outcome assumed once when the join window closes without one (e.g. 0: "
        "silence means unresolved); unset: such decisions are not learned from.",
    )
    log_text: Literal["last_user", "none"] = Field(
        "last_user", description="Message text kept in the decision log for training."
    )
    log_text_max_chars: int = Field(
        4_000,
        ge=0,
        le=1_048_576,
        description="Characters of the last user message kept per decision; a longer one is "
        "cut there (its start is what the intent and training read).",
    )
    retention_days: float = Field(
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
    learner_max_lag_s: float = Field(
        60.0,
        gt=0,
        le=WINDOW_S_MAX,
        description="/readyz reports the online layer as lagging when the oldest feedback it "
        "has not read is older than this.",
    )
    learner_max_failing_s: float = Field(
        300.0,
        gt=0,
        le=WINDOW_S_MAX,
        description="/readyz fails when the online layer has been unable to read the "
        "decision log for longer than this (its state is that old); until then it is "
        "reported as degraded.",
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

    @field_validator("db_path", "bandit_state_path")
    @classmethod
    def _a_file(cls, v: Path | None) -> Path | None:
        if v is not None and v.is_dir():
            raise ValueError(f"{v} is a folder: give the path of a file (made when missing)")
        return v

    @field_validator("archive_dir")
    @classmethod
    def _a_folder(cls, v: Path | None) -> Path | None:
        if v is not None and v.exists() and not v.is_dir():
            raise ValueError(f"{v} is a file: give a folder (made when missing)")
        return v

    @field_validator("auth_exempt", "forwarded_allow_ips", mode="before")
    @classmethod
    def _comma_separated(cls, v: object) -> object:
        return _comma_separated(v)

    @field_validator("allowed_hosts", mode="before")
    @classmethod
    def _host_names(cls, v: object) -> object:
        v = _comma_separated(v)
        if isinstance(v, (list, tuple, set, frozenset)):
            names = frozenset(host_name(str(p)) for p in v if str(p).strip())
            if not names:
                raise ValueError("names no host: give the names callers use, or '*' for any")
            return names
        return v

    @model_validator(mode="after")
    def _consistent(self) -> Settings:
        url = self.database_url.get_secret_value() if self.database_url else ""
        if url.startswith("sqlite:///"):
            self.db_path = Path(url.removeprefix("sqlite:///"))
        if self.api_token is None and not self.allow_unauthenticated and not _loopback(self.host):
            raise ValueError(
                f"SELECTOR_HOST={self.host} serves beyond this machine without an API token: "
                "set SELECTOR_API_TOKEN (or SELECTOR_ALLOW_UNAUTHENTICATED=true when a proxy "
                "in front authenticates callers)"
            )
        if self.retention_days and self.retention_days * 86_400 <= self.join_window_s:
            raise ValueError(
                f"SELECTOR_RETENTION_DAYS={self.retention_days:g} is not longer than the join "
                f"window (SELECTOR_JOIN_WINDOW_S={self.join_window_s:g}): outcomes could arrive "
                "for pruned decisions; raise it, or set 0 to keep everything"
            )
        return self

    @property
    def postgres_url(self) -> str | None:
        """The PostgreSQL log's URL, when the log is on PostgreSQL."""
        url = self.database_url.get_secret_value() if self.database_url else ""
        return url if url.startswith(("postgresql://", "postgres://")) else None

    def host_names(self) -> frozenset[str] | None:
        """The names a request's Host header may give; None when any is allowed."""
        if self.allowed_hosts is not None:
            return None if "*" in self.allowed_hosts else self.allowed_hosts
        if _loopback(self.host):
            return frozenset({"127.0.0.1", "localhost", "::1", host_name(self.host)})
        return None

    def archive_folder(self) -> Path:
        """Where pruned decisions are archived."""
        return self.archive_dir or self.db_path.with_name(self.db_path.name + ".archive")


def _comma_separated(v: object) -> object:
    """A setting's comma-separated value as a set of its stripped, non-empty parts."""
    if isinstance(v, str):
        return frozenset(p.strip() for p in v.split(",") if p.strip())
    return v


def host_name(value: str) -> str:
    """The name in a Host header's value (or a setting's), lower case, without its port,
    the brackets of an IPv6 address, or a final dot.

    >>> [host_name(v) for v in ("LocalHost:8080", "[::1]:8080", "::1", "api.example.", "x")]
    ['localhost', '::1', '::1', 'api.example', 'x']
    """
    v = value.strip().lower()
    if v.startswith("["):
        v = v[1 : v.find("]")] if "]" in v else v[1:]
    elif v.count(":") == 1:
        v = v.partition(":")[0]
    return v.rstrip(".")


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


# SELECTOR_* variables read elsewhere than in these settings: the folders (core.paths),
# and the selector's URL in the gateway's examples
_READ_ELSEWHERE = frozenset({"SELECTOR_HOME", "SELECTOR_DATA_DIR", "SELECTOR_URL"})


def unknown_variables(environ: Mapping[str, str]) -> list[str]:
    """A line for each ``SELECTOR_*`` variable of ``environ`` that no setting reads (a
    misspelt one would otherwise be ignored in silence), naming the closest that does.

    >>> unknown_variables({"SELECTOR_API_TOKNE": "t", "SELECTOR_PORT": "80", "PATH": "/"})
    ['SELECTOR_API_TOKNE is not a setting (SELECTOR_API_TOKEN?)']
    """
    known = {f"SELECTOR_{name.upper()}" for name in Settings.model_fields} | _READ_ELSEWHERE
    lines = []
    for name in sorted(n for n in environ if n.startswith("SELECTOR_") and n not in known):
        close = difflib.get_close_matches(name, known, n=1, cutoff=0.8)
        hint = f"{close[0]}?" if close else "no setting reads it; see docs/configuration.md"
        lines.append(f"{name} is not a setting ({hint})")
    return lines


def load_settings(**overrides: object) -> Settings:
    """Build settings from the environment plus ``overrides``; a bad value is a ConfigError."""
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        lines = [_problem(e["loc"], e["msg"]) for e in exc.errors()]
        raise ConfigError("invalid settings: " + "; ".join(lines)) from exc


def _problem(loc: tuple[int | str, ...], msg: str) -> str:
    """``SELECTOR_<FIELD>: <message>``; a check across fields names its variables itself."""
    msg = msg.removeprefix("Value error, ")
    name = "_".join(str(p) for p in loc if not isinstance(p, int)).upper()
    return f"SELECTOR_{name}: {msg}" if name else msg


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process's settings, read once."""
    return load_settings()
