"""The service's settings: one typed object, validated at start-up, read from the
environment (prefix ``SELECTOR_``) or a ``.env`` file.

Reach it through :func:`get_settings`; nothing else in the code reads ``os.environ``.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, ValidationError
from pydantic_settings import BaseSettings, SettingsConfigDict

from selector.errors import ConfigError

__all__ = ["Settings", "get_settings", "load_settings"]

PACKAGE_DIR = Path(__file__).resolve().parent


class Settings(BaseSettings):
    """Every setting of the service, with its default."""

    model_config = SettingsConfigDict(env_prefix="SELECTOR_", env_file=".env", extra="ignore")

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
    db_path: Path = Field(Path("selector.db"), description="SQLite decision log.")
    db_sync: Literal["normal", "full"] = Field(
        "normal",
        description="'normal': commits are WAL appends written before each answer; they "
        "survive a crash or kill -9 of the process. 'full': every group commit is "
        "fsynced; it survives a power loss too, at a cost in throughput.",
    )
    policy: str = Field(
        "utility-v0", description="Decision policy served (see `selector policies`)."
    )
    cost_weight: float = Field(
        2.0,
        ge=0,
        description="λ: utility lost per USD of expected cost of one turn (2.0: a resolved "
        "conversation is worth about $0.50 of model spend per turn).",
    )
    latency_weight: float = Field(
        0.02, ge=0, description="Utility lost per second of expected latency."
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
        8, ge=0, description="static-rules: longest 'short' conversation."
    )
    max_fallbacks: int = Field(3, ge=0, description="Length of the fallback chain.")
    join_window_s: float = Field(
        86_400.0, gt=0, description="Seconds after a decision during which feedback joins it."
    )
    latency_window_s: float = Field(
        300.0, gt=0, description="Window of the live latency and error-rate statistics."
    )
    latency_max_samples: int = Field(2_000, ge=10, description="Samples kept per model.")
    breaker_min_samples: int = Field(
        20, ge=1, description="Samples needed before a circuit breaker may open."
    )
    breaker_error_rate: float = Field(
        0.5, gt=0, le=1, description="Error rate at which a model's circuit opens."
    )
    breaker_cooldown_s: float = Field(
        30.0, gt=0, description="Seconds an open circuit waits before letting a probe through."
    )
    breaker_probe_timeout_s: float = Field(
        60.0, gt=0, description="Seconds a probe may stay unanswered before another is sent."
    )
    default_completion_tokens: int = Field(
        350, ge=1, description="Completion length assumed when a model has no estimate of its own."
    )
    tokens_per_turn: int = Field(
        17, ge=1, description="Prompt tokens per turn assumed when only `turns` is given."
    )
    max_body_bytes: int = Field(1_048_576, ge=1024, description="Largest request body accepted.")
    api_token: SecretStr | None = Field(
        None, description="When set, every /v1/* call needs 'Authorization: Bearer <token>'."
    )
    quality_model: str = Field(
        "models:/model-selector-quality@champion",
        description="Offline quality model: an MLflow model URI (models:/<name>@<alias> or "
        "models:/<name>/<version>) or a folder written by `selector train --out`; "
        "'prior' serves the built-in prior. When it cannot be loaded the service serves "
        "the prior and /readyz says why.",
    )
    mlflow_tracking_uri: str = Field(
        "sqlite:///mlflow.db", description="MLflow tracking store and model registry."
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
        description="Online layer: outcomes of one model (and of one model × intent group) "
        "it mostly remembers; each outcome discounts the older ones by 1 − 1/memory.",
    )
    bandit_prior_weight: float = Field(
        200.0,
        gt=0,
        description="Online layer: the offline model's weight, in outcomes: a correction "
        "counts in full only once many more outcomes than this back it.",
    )
    bandit_gamma: float = Field(
        10_000.0,
        gt=0,
        description="SquareCB greediness γ: exploring costs at most (k − 1)/γ of reward per "
        "decision among k eligible models.",
    )
    bandit_min_exploration: float = Field(
        0.01,
        ge=0,
        lt=1,
        description="Uniform exploration floor ε mixed into every bandit-v1 distribution.",
    )
    bandit_learner: Literal["residual", "vw"] = Field(
        "residual",
        description="Online layer's learner: 'residual' (corrections of the offline utility "
        "per model and model × intent group) or 'vw' (Vowpal Wabbit cb_explore_adf with "
        "SquareCB).",
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
        10.0, gt=0, description="Seconds between saves of the online layer's state."
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
        0.05, ge=0, description="Reward lost by a call slower than its deadline, or failed."
    )
    reward_deadline_ms: float = Field(
        3_000.0, gt=0, description="Deadline of a decision whose request set no max_latency_ms."
    )
    reward_default_outcome: float | None = Field(
        None,
        description="Outcome assumed once when the join window closes without one (e.g. 0: "
        "silence means unresolved); unset: such decisions are not learned from.",
    )
    log_text: Literal["last_user", "none"] = Field(
        "last_user", description="Message text kept in the decision log for training."
    )


def load_settings(**overrides: object) -> Settings:
    """Build settings from the environment plus ``overrides``; a bad value is a ConfigError."""
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        lines = [
            f"SELECTOR_{'_'.join(str(p) for p in e['loc']).upper()}: {e['msg']}"
            for e in exc.errors()
        ]
        raise ConfigError("invalid settings: " + "; ".join(lines)) from exc


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process's settings, read once."""
    return load_settings()
