"""The settings of how the service decides and learns: the models decisions are built
from, the policy and its utility, the static baseline, the live latency tracker, its
circuit breakers and probes, the online layer, the reward, and a challenger policy."""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar, Literal

from pydantic import Field, field_validator

from core.limits import (
    BUDGET_PERIOD_S_MAX,
    BUDGET_USD_MAX,
    COST_WEIGHT_MAX,
    LATENCY_MS_MAX,
    LATENCY_WEIGHT_MAX,
    REWARD_PENALTY_MAX,
    TOKENS_MAX,
    WINDOW_S_MAX,
)
from core.paths import default_tracking_uri
from selector.config.group import Group, a_file

__all__ = [
    "PACKAGE_DIR",
    "BaselineSettings",
    "BreakerSettings",
    "BudgetSettings",
    "ChallengerSettings",
    "DecisionSettings",
    "LatencySettings",
    "ModelSettings",
    "OnlineSettings",
    "ProbeSettings",
    "RewardSettings",
]

PACKAGE_DIR = Path(__file__).resolve().parents[1]


class ModelSettings(Group):
    """What decisions are built from: the catalog, the prior, the intent classifier,
    the quality model and its registry."""

    PREFIX: ClassVar[str] = ""
    catalog_path: Path = Field(
        PACKAGE_DIR / "catalog.yaml", description="YAML catalog of candidate LLMs."
    )
    prior_path: Path | None = Field(
        None, description="YAML file overriding the built-in P(resolved) prior."
    )
    intent_model_dir: Path | None = Field(
        None, description="Folder of the intent classifier artifact (default: the built-in one)."
    )
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


class DecisionSettings(Group):
    """The policy served and the utility it maximises."""

    PREFIX: ClassVar[str] = ""
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
    max_fallbacks: int = Field(3, ge=0, le=100, description="Length of the fallback chain.")
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
    sticky_draws: bool = Field(
        True,
        description="Draw a randomising policy's choice with one uniform number per "
        "conversation, so its turns go to the same model while the probabilities hold "
        "(the prompt cache stays warm, the customer hears one voice); each decision's "
        "propensity stays exact (false: a fresh draw every turn).",
    )
    prompt_cache: bool = Field(
        True,
        description="Price a conversation's prefix at the catalog's "
        "cached_input_usd_per_mtok on the model that served its previous turn, within "
        "its cache_lifetime_s (false: every prompt at the full input price).",
    )
    prompt_cache_conversations: int = Field(
        100_000,
        ge=1,
        le=100_000_000,
        description="Conversations whose cached prefix the service remembers (the least "
        "recently decided are forgotten first).",
    )


class BaselineSettings(Group):
    """static-rules: the hand-written baseline."""

    PREFIX: ClassVar[str] = "baseline_"
    small_model: str = Field("gemini-2.5-flash-lite", description="static-rules: the small model.")
    heavy_model: str = Field("claude-opus-4.1", description="static-rules: the heavy model.")
    max_turns: int = Field(
        8, ge=0, le=1_000_000, description="static-rules: longest 'short' conversation."
    )


class LatencySettings(Group):
    """The live latency tracker: its window and how it weighs the catalog's figures."""

    PREFIX: ClassVar[str] = "latency_"
    window_s: float = Field(
        300.0,
        gt=0,
        le=WINDOW_S_MAX,
        description="Window of the live latency and error-rate statistics.",
    )
    max_samples: int = Field(2_000, ge=10, le=1_000_000, description="Samples kept per model.")
    prior_weight: float = Field(
        3.0,
        gt=0,
        le=1e6,
        description="Weight of the catalog's expected_latency_ms, in calls, in a model's "
        "latency estimate (the prior shrinks toward the calls seen as they accrue).",
    )
    prior_sd: float = Field(
        0.6,
        gt=0,
        le=5,
        description="How far the catalog's latency priors may be off: the standard deviation "
        "of ln(true median / expected_latency_ms); 0.6 puts the truth within ×⅓–×3 nine "
        "times in ten.",
    )
    memory: float = Field(
        200.0,
        ge=1,
        le=1e9,
        description="Calls of one model its latency estimate mostly remembers (each call "
        "discounts the older ones by 1 − 1/memory).",
    )


class BreakerSettings(Group):
    """The circuit breakers."""

    PREFIX: ClassVar[str] = "breaker_"
    min_samples: int = Field(
        20, ge=1, le=1_000_000, description="Samples needed before a circuit breaker may open."
    )
    error_rate: float = Field(
        0.5, gt=0, le=1, description="Error rate at which a model's circuit opens."
    )
    cooldown_s: float = Field(
        30.0,
        gt=0,
        le=WINDOW_S_MAX,
        description="Seconds an open circuit waits before letting a probe through.",
    )
    probe_timeout_s: float = Field(
        60.0,
        gt=0,
        le=WINDOW_S_MAX,
        description="Seconds a probe may stay unanswered before another is sent.",
    )


class ProbeSettings(Group):
    """Probe traffic to models the policy would otherwise leave unseen."""

    PREFIX: ClassVar[str] = "probe_"
    share: float = Field(
        0.02,
        ge=0,
        lt=1,
        description="Share of decisions given to each model that breaks a constraint only on "
        "a guess (its latency has too little evidence yet may meet the deadline), or that is "
        "in trouble (its calls last showed it slower or failing more), while fewer than "
        "probe_evidence calls stand behind its estimate; 0 turns probing off.",
    )
    max_share: float = Field(
        0.1,
        ge=0,
        lt=1,
        description="Most decisions given to probes in all (each probe's share is cut to fit).",
    )
    evidence: float = Field(
        10.0,
        gt=0,
        le=1e6,
        description="Calls of a model's latency estimate after which it is judged on them "
        "alone and no longer probed.",
    )


class OnlineSettings(Group):
    """The online layer: its learner, updates, saved state and lag."""

    PREFIX: ClassVar[str] = "bandit_"
    ENV: ClassVar[dict[str, str]] = {
        "max_lag_s": "learner_max_lag_s",
        "max_failing_s": "learner_max_failing_s",
    }

    memory: float = Field(
        500.0,
        ge=1,
        le=1e9,
        description="Online layer: outcomes of one model (and of one model × intent group) "
        "it mostly remembers; each outcome discounts the older ones by 1 − 1/memory.",
    )
    prior_weight: float = Field(
        200.0,
        gt=0,
        le=1e9,
        description="Online layer: the offline model's weight, in outcomes: a correction "
        "counts in full only once many more outcomes than this back it.",
    )
    gamma: float = Field(
        10_000.0,
        gt=0,
        le=1e12,
        description="SquareCB greediness γ: exploring costs at most (k − 1)/γ of reward per "
        "decision among k eligible models.",
    )
    min_exploration: float = Field(
        0.003,
        ge=0,
        lt=1,
        description="Uniform exploration floor ε mixed into every online policy's distribution.",
    )
    learner: Literal["residual", "vw"] = Field(
        "residual",
        description="bandit-v1's learner: 'residual' (corrections of the offline utility "
        "per model and model × intent group) or 'vw' (Vowpal Wabbit cb_explore_adf with "
        "SquareCB). bandit-v2 always uses its contextual learner.",
    )
    ridge: float = Field(
        4.0,
        gt=0,
        le=1e9,
        description="bandit-v2 serving the built-in prior: the weight, in outcomes, of the "
        "offline utility (no correction) in each model's regression on the context.",
    )
    ridge_learned: float = Field(
        50.0,
        gt=0,
        le=1e9,
        description="bandit-v2 serving a quality model (SELECTOR_QUALITY_MODEL other than "
        "'prior'), trained on outcomes: the same weight, larger because it was learned.",
    )
    posterior_scale: float = Field(
        0.3,
        gt=0,
        le=100,
        description="bandit-v2: a factor on the standard deviation of each estimate: more "
        "explores more (each model is chosen with its probability of being the best).",
    )
    state_path: Path | None = Field(
        None,
        description="JSON state of the online layer (default: the decision log's path + "
        "'.bandit.json'); restored at start, rebuilt from the log when missing or stale.",
    )
    updates: Literal["background", "inline"] = Field(
        "background",
        description="'background': a thread learns from new feedback in the log, off the "
        "request path; 'inline': each feedback request learns before it is answered "
        "(reproducible step by step, used by the simulator).",
    )
    save_every_s: float = Field(
        10.0,
        gt=0,
        le=WINDOW_S_MAX,
        description="Seconds between saves of the online layer's state.",
    )
    max_lag_s: float = Field(
        60.0,
        gt=0,
        le=WINDOW_S_MAX,
        description="/readyz reports the online layer as lagging when the oldest feedback it "
        "has not read is older than this.",
    )
    max_failing_s: float = Field(
        300.0,
        gt=0,
        le=WINDOW_S_MAX,
        description="/readyz fails when the online layer has been unable to read the "
        "decision log for longer than this (its state is that old); until then it is "
        "reported as degraded.",
    )

    @field_validator("state_path")
    @classmethod
    def _a_file(cls, v: Path | None) -> Path | None:
        return None if v is None else a_file(v)


class BudgetSettings(Group):
    """A spend budget per period: the cost weight paced online to spend it
    (:mod:`selector.online.budget`)."""

    PREFIX: ClassVar[str] = "budget_"
    usd: float | None = Field(
        None,
        gt=0,
        le=BUDGET_USD_MAX,
        description="USD the whole service may spend per budget_period_s; the cost weight "
        "is paced to spend it (unset: no budget; requests keep their own max_cost_usd).",
    )
    period_s: float = Field(
        86_400.0,
        ge=1,
        le=BUDGET_PERIOD_S_MAX,
        description="The budget's period in seconds, aligned to the epoch (86400: a UTC "
        "day; 3600: an hour; 2592000: 30 days).",
    )
    tenants: dict[str, float] = Field(
        default_factory=dict,
        description="A budget per tenant (the route request's `tenant`) per period, as "
        "`name=usd` pairs separated by commas: `acme=50,globex=20`.",
    )
    tenant_usd: float | None = Field(
        None,
        gt=0,
        le=BUDGET_USD_MAX,
        description="The budget per period of each tenant not named in budget_tenants "
        "(unset: such tenants share the service's budget only).",
    )

    @field_validator("tenants", mode="before")
    @classmethod
    def _pairs(cls, v: object) -> object:
        if not isinstance(v, str):
            return v
        out: dict[str, float] = {}
        for part in (p.strip() for p in v.split(",")):
            if not part:
                continue
            name, eq, usd = part.partition("=")
            if not eq or not name.strip():
                raise ValueError(f"{part!r} is not a `name=usd` pair (e.g. acme=50)")
            try:
                out[name.strip()] = float(usd)
            except ValueError:
                raise ValueError(f"{part!r}: the budget must be a number of USD") from None
        return out

    @field_validator("tenants")
    @classmethod
    def _positive(cls, v: dict[str, float]) -> dict[str, float]:
        for name, usd in v.items():
            if not 0.0 < usd <= BUDGET_USD_MAX:
                raise ValueError(
                    f"tenant {name!r}: the budget must be > 0 and ≤ {BUDGET_USD_MAX:g} USD, "
                    f"got {usd}"
                )
        return v


class RewardSettings(Group):
    """The reward a decision is learned from."""

    PREFIX: ClassVar[str] = "reward_"
    late_penalty: float = Field(
        0.05,
        ge=0,
        le=REWARD_PENALTY_MAX,
        description="Reward lost by a call slower than its deadline, or failed.",
    )
    deadline_ms: float = Field(
        3_000.0,
        gt=0,
        le=LATENCY_MS_MAX,
        description="Deadline of a decision whose request set no max_latency_ms.",
    )
    default_outcome: float | None = Field(
        None,
        ge=0,
        le=1,
        description="Outcome assumed once when the join window closes without one (e.g. 0: "
        "silence means unresolved); unset: such decisions are not learned from.",
    )


class ChallengerSettings(Group):
    """A policy deciding beside the served one: in its shadow, or serving a share."""

    PREFIX: ClassVar[str] = "challenger_"
    ENV: ClassVar[dict[str, str]] = {"canary_share": "canary_share"}

    policy: str | None = Field(
        None,
        description="A second policy deciding on every request beside the served one "
        "(see challenger_mode); its decisions are logged for `selector compare`.",
    )
    quality_model: str | None = Field(
        None, description="The challenger's quality model (default: the served policy's)."
    )
    mode: Literal["shadow", "canary"] = Field(
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
