"""The scenario file: everything the simulated world is made of, in one YAML file.

A scenario describes a day of support traffic (arrivals, spikes, conversation
shapes), the gateway that replays it (timeouts, deadline, fallbacks), how a turn's
outcome is valued (the reward), and, per catalog model, its latency, capacity,
errors and answer quality. ``simulator/scenarios/`` holds the built-in ones, each
field commented; a mistake names the field (``models.claude-opus-4.1.capacity_per_min:
Input should be greater than 0``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from core.errors import ConfigError

__all__ = [
    "BUILTIN",
    "GROUPS",
    "Event",
    "Scenario",
    "Spike",
    "UnseenIntents",
    "load_scenario",
]

BUILTIN = Path(__file__).resolve().parent / "scenarios"
GROUPS = ("billing_dispute", "payments", "account", "general", "other")
Tier = Literal["small", "medium", "large"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Spike(_Strict):
    """Arrivals multiplied by ``multiplier`` between two hours of the day."""

    start_hour: float = Field(ge=0, le=24)
    end_hour: float = Field(gt=0, le=24)
    multiplier: float = Field(gt=0)

    @model_validator(mode="after")
    def _ordered(self) -> Spike:
        if self.end_hour <= self.start_hour:
            raise ValueError("end_hour must be after start_hour")
        return self


class UnseenIntents(_Strict):
    """Conversations opened with the first message of an SGD dialogue (restaurants,
    flights, events...: intents the classifier, trained on BANKING77 and CLINC150, never
    saw); each SGD service is answered as one of the quality groups (``groups``; a
    service not named is ``other``)."""

    share: float = Field(ge=0, le=1, description="Share of the day's conversations.")
    groups: dict[str, str] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _known(self) -> UnseenIntents:
        bad = sorted({g for g in self.groups.values() if g not in GROUPS})
        if bad:
            raise ValueError(f"groups: unknown quality groups {bad}; use one of {list(GROUPS)}")
        return self


class Day(_Strict):
    conversations: int = Field(gt=0, description="Conversations started over the day.")
    hours: float = Field(24.0, gt=0, le=24)
    peak_hour: float = Field(14.0, ge=0, le=24)
    diurnal_amplitude: float = Field(
        0.6, ge=0, lt=1, description="Arrival rate ∝ 1 + A·cos(2π(hour − peak) / 24)."
    )
    spikes: list[Spike] = Field(default_factory=list)
    unseen_intents: UnseenIntents | None = None


class ConversationShape(_Strict):
    max_user_turns: int = Field(25, ge=1, description="SGD's user-turn counts, capped here.")
    think_time_s: float = Field(
        25.0, gt=0, description="Mean seconds between an answer and the next message."
    )
    system_prompt_tokens: int = Field(
        600, ge=0, description="Instructions and retrieved articles sent with every turn."
    )
    outcome_delay_s: float = Field(
        120.0, ge=0, description="After the last turn, seconds until its outcome is known."
    )
    outcome_level: Literal["turn", "conversation"] = Field(
        "turn",
        description="turn: each decision's outcome is reported; conversation: only the "
        "conversation's, once, after its last turn (by conversation_id).",
    )


class Gateway(_Strict):
    timeout_ms: float = Field(4000.0, gt=0, description="A call slower than this is abandoned.")
    deadline_ms: float = Field(
        3000.0, gt=0, description="Latency the gateway asks for (sent as max_latency_ms)."
    )
    max_attempts: int = Field(3, ge=1, description="Calls a turn may make, fallbacks included.")
    fallback_model: str = Field(
        description="The second model of the baselines' chains (a model of another provider)."
    )
    budget_usd: float | None = Field(
        None, gt=0, description="Most a turn should cost, sent as max_cost_usd (none: no budget)."
    )


class Reward(_Strict):
    value_usd: float = Field(
        gt=0, description="What a resolved conversation is worth; λ = 1 / value per USD."
    )
    late_penalty: float = Field(
        0.05, ge=0, description="Reward lost per turn answered after the deadline."
    )
    latency_per_s: float = Field(
        0.0, ge=0, description="Reward lost per second a customer waits for an answer."
    )

    @property
    def cost_weight(self) -> float:
        return 1.0 / self.value_usd


class StaticRules(_Strict):
    small_model: str
    heavy_model: str
    max_turns: int = Field(8, ge=0)


class Quality(_Strict):
    """Per-turn probability that a model's answer is good (the customer does not escalate):
    ``tiers[tier][group] + model offset + model×group offset − decline[tier] × (user turn − 1)``,
    clipped to [0.01, 0.999]."""

    tiers: dict[Tier, dict[str, float]]
    decline_per_turn: dict[Tier, float]

    @model_validator(mode="after")
    def _complete(self) -> Quality:
        for tier in ("small", "medium", "large"):
            if tier not in self.tiers:
                raise ValueError(f"tiers.{tier} is missing")
            if tier not in self.decline_per_turn:
                raise ValueError(f"decline_per_turn.{tier} is missing")
            missing = [g for g in GROUPS if g not in self.tiers[tier]]
            if missing:
                raise ValueError(f"tiers.{tier} lacks groups {missing}")
        return self


class ModelWorld(_Strict):
    """One catalog model as the simulated provider serves it."""

    base_ms: float = Field(gt=0, description="Time to first token of an empty prompt, idle.")
    ms_per_1k_prompt_tokens: float = Field(
        0.0, ge=0, description="Prefill time per thousand prompt tokens."
    )
    jitter: float = Field(0.2, ge=0, description="σ of the log-normal noise on latency.")
    capacity_per_min: float = Field(
        gt=0, description="Calls a minute it serves before queueing grows sharply."
    )
    background_load: float = Field(
        0.0,
        ge=0,
        description="The provider's load from other customers at the day's mean "
        "arrival rate, as a share of capacity; it follows the day's profile and spikes.",
    )
    error_rate: float = Field(0.002, ge=0, le=1)
    overload_error_rate: float = Field(
        0.3, ge=0, description="Extra error rate per unit of load beyond capacity."
    )
    completion_tokens: float = Field(gt=0, description="Mean completion length.")
    quality_offset: float = Field(0.0, description="Added to its tier's per-turn quality.")
    group_offsets: dict[str, float] = Field(default_factory=dict)
    cache_lifetime_s: float | None = Field(
        None,
        gt=0,
        description="How long the provider keeps a prompt cached after the call that sent "
        "it (None: the catalog's cache_lifetime_s). It bills a cached prefix at the "
        "catalog's cached_input_usd_per_mtok; a model without one caches nothing.",
    )
    cache_min_tokens: int | None = Field(
        None, ge=0, description="The shortest prompt it caches (None: the catalog's)."
    )


class Event(_Strict):
    """A change in the world during the day: a provider slowdown (``latency``), a quality
    regression (``quality``), a price change (``price``), or a model that the gateway
    deploys only from ``start_hour`` (``added``) or stops calling at it (``removed``)."""

    kind: Literal["latency", "quality", "price", "added", "removed"]
    model: str
    start_hour: float = Field(ge=0, le=24)
    end_hour: float = Field(24.0, gt=0, le=24)
    multiplier: float = Field(
        1.0, gt=0, description="latency: time multiplied by this; price: cost multiplied."
    )
    delta: float = Field(0.0, ge=-1, le=1, description="quality: added to the probability.")
    group: str | None = Field(None, description="quality: only this intent group.")


class History(_Strict):
    conversations: int = Field(1500, gt=0, description="Past conversations to train on.")
    seed_offset: int = 1_000


class Scenario(_Strict):
    name: str
    description: str = ""
    seed: int = 0
    day: Day
    conversation: ConversationShape = ConversationShape()
    gateway: Gateway
    reward: Reward
    heavy_model: str
    static_rules: StaticRules
    sharpness: float = Field(
        8.0, gt=0, description="Queueing: time × (1 + load^sharpness), load = share of capacity."
    )
    load_window_s: float = Field(60.0, gt=0, description="Window the load is measured over.")
    quality: Quality
    models: dict[str, ModelWorld]
    events: list[Event] = Field(default_factory=list)
    history: History = History()

    @model_validator(mode="after")
    def _names(self) -> Scenario:
        known = set(self.models)
        named = {
            "heavy_model": self.heavy_model,
            "gateway.fallback_model": self.gateway.fallback_model,
            "static_rules.small_model": self.static_rules.small_model,
            "static_rules.heavy_model": self.static_rules.heavy_model,
            **{f"events[{i}].model": e.model for i, e in enumerate(self.events)},
        }
        for where, name in named.items():
            if name not in known:
                raise ValueError(f"{where}: {name!r} is not one of the scenario's models")
        deployed = [
            m
            for m in known
            if not any(e.kind in ("added", "removed") and e.model == m for e in self.events)
        ]
        if self.events and not deployed:
            raise ValueError("events: every model is added or removed; keep one deployed all day")
        for name, m in self.models.items():
            bad = [g for g in m.group_offsets if g not in GROUPS]
            if bad:
                raise ValueError(f"models.{name}.group_offsets: unknown groups {bad}")
        return self


def load_scenario(spec: str | Path) -> Scenario:
    """A scenario from a YAML file, or a built-in one by name (``incident``)."""
    path = Path(spec)
    if not path.exists() and (BUILTIN / f"{spec}.yaml").exists():
        path = BUILTIN / f"{spec}.yaml"
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        names = ", ".join(sorted(p.stem for p in BUILTIN.glob("*.yaml")))
        raise ConfigError(
            f"scenario {spec} does not exist: give a scenario YAML file or a built-in "
            f"name ({names})"
        ) from exc
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path.name}: not valid YAML: {exc}") from exc
    try:
        return Scenario.model_validate(raw)
    except ValidationError as exc:
        problems = [
            f"{'.'.join(str(p) for p in e['loc']) or 'scenario'}: {e['msg']}" for e in exc.errors()
        ]
        raise ConfigError(f"{path.name}: " + "; ".join(problems)) from exc
