"""The catalog of candidate LLMs: a YAML file operators edit, validated at start-up.

A mistake names the entry and the field, for example::

    catalog.yaml: models[3] (claude-sonnet-3.7): input_usd_per_mtok: Input should be
    greater than or equal to 0
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import (
    AliasChoices,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from core.errors import ConfigError, FieldProblem, RequestError
from core.limits import LATENCY_MS_MAX, PRICE_PER_MTOK_MAX, TOKENS_MAX, WINDOW_S_MAX
from features.extractor import CandidateInfo, prompt_usd

__all__ = [
    "CACHE_LIFETIME_S",
    "CACHE_MIN_TOKENS",
    "TIERS",
    "Catalog",
    "ModelSpec",
    "load_catalog",
]

Tier = Literal["small", "medium", "large"]
TIERS: tuple[Tier, ...] = ("small", "medium", "large")
# a provider's prompt cache, unless the entry says otherwise: a prefix of at least this
# many tokens stays cached this long after the call that wrote it (OpenAI and Anthropic
# keep one for five minutes of inactivity at least, and cache from 1,024 tokens)
CACHE_LIFETIME_S = 300.0
CACHE_MIN_TOKENS = 1_024


class ModelSpec(BaseModel):
    """One candidate LLM."""

    # every number finite and within :mod:`core.limits` (``.inf`` is valid YAML)
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True, allow_inf_nan=False)

    name: str = Field(min_length=1, max_length=128)
    provider: str = Field(min_length=1)
    tier: Tier
    input_usd_per_mtok: float = Field(ge=0, le=PRICE_PER_MTOK_MAX)
    output_usd_per_mtok: float = Field(ge=0, le=PRICE_PER_MTOK_MAX)
    context_window: int = Field(gt=0, le=TOKENS_MAX)
    latency_slo_ms: float = Field(gt=0, le=LATENCY_MS_MAX)
    expected_latency_ms: float = Field(gt=0, le=LATENCY_MS_MAX)
    expected_completion_tokens: int | None = Field(default=None, gt=0, le=TOKENS_MAX)
    # the provider's price of a million prompt tokens read from its prompt cache (None:
    # no cache priced); ``cached_input_price_per_mtok`` is read as the same field
    cached_input_usd_per_mtok: float | None = Field(
        default=None,
        ge=0,
        le=PRICE_PER_MTOK_MAX,
        validation_alias=AliasChoices("cached_input_usd_per_mtok", "cached_input_price_per_mtok"),
    )
    cache_lifetime_s: float = Field(default=CACHE_LIFETIME_S, gt=0, le=WINDOW_S_MAX)
    cache_min_tokens: int = Field(default=CACHE_MIN_TOKENS, ge=0, le=TOKENS_MAX)
    enabled: bool = True

    @field_validator("name")
    @classmethod
    def _name_is_plain(cls, v: str) -> str:
        if v != v.strip() or any(c.isspace() for c in v):
            raise ValueError("must not contain spaces")
        return v

    @model_validator(mode="after")
    def _cache_cheaper(self) -> ModelSpec:
        cached = self.cached_input_usd_per_mtok
        if cached is not None and cached > self.input_usd_per_mtok:
            raise ValueError(
                f"cached_input_usd_per_mtok ({cached:g}) is above input_usd_per_mtok "
                f"({self.input_usd_per_mtok:g}): a cached prompt token is billed at a "
                "fraction of the input price; leave the field out when the provider has no "
                "prompt cache"
            )
        return self

    def cost_usd(
        self, prompt_tokens: float, completion_tokens: float, cached_tokens: float = 0.0
    ) -> float:
        """List price of one call, ``cached_tokens`` of its prompt read from the cache."""
        prompt = prompt_usd(
            prompt_tokens, cached_tokens, self.input_usd_per_mtok, self.cached_input_usd_per_mtok
        )
        return prompt + completion_tokens * self.output_usd_per_mtok / 1e6


class Catalog:
    """The validated set of candidate LLMs, in file order."""

    def __init__(self, models: list[ModelSpec], source: str = "<memory>") -> None:
        seen: set[str] = set()
        for i, m in enumerate(models):
            if m.name in seen:
                raise ConfigError(f"{source}: models[{i}] ({m.name}): name: duplicate name")
            seen.add(m.name)
        if not any(m.enabled for m in models):
            raise ConfigError(f"{source}: no model is enabled; set 'enabled: true' on one")
        self.source = source
        self._models = {m.name: m for m in models}
        self.names: tuple[str, ...] = tuple(self._models)
        self.enabled_names: tuple[str, ...] = tuple(m.name for m in models if m.enabled)

    def __getitem__(self, name: str) -> ModelSpec:
        return self._models[name]

    def __contains__(self, name: object) -> bool:
        return name in self._models

    def __iter__(self) -> Iterator[ModelSpec]:
        return iter(self._models.values())

    def __len__(self) -> int:
        return len(self._models)

    def _unknown(self, field_name: str, name: object) -> FieldProblem:
        return FieldProblem(
            field_name,
            f"unknown model {name!r}",
            f"use one of the catalog's models: {', '.join(self.names)}",
        )

    def check_model(self, name: str, field_name: str = "model") -> str:
        """``name``, or a :class:`RequestError` when the catalog does not have it."""
        if name not in self._models:
            raise RequestError([self._unknown(field_name, name)])
        return name

    def check_candidates(
        self, names: Sequence[str] | None, field_name: str = "candidates"
    ) -> list[str]:
        """The enabled models among ``names`` (all enabled ones for None), in order and
        once each, or a :class:`RequestError` naming the unknown entries."""
        if names is None:
            return list(self.enabled_names)
        problems = [
            self._unknown(f"{field_name}[{i}]", n) for i, n in enumerate(names) if n not in self
        ]
        if problems:
            raise RequestError(problems)
        out = [n for n in dict.fromkeys(names) if self._models[n].enabled]
        if not out:
            raise RequestError(
                [
                    FieldProblem(
                        field_name,
                        "every model named is disabled in the catalog",
                        f"name at least one enabled model: {', '.join(self.enabled_names)}",
                    )
                ]
            )
        return out

    def candidate_infos(self, default_completion_tokens: int) -> list[CandidateInfo]:
        """What the feature extractor needs of each entry."""
        return [
            CandidateInfo(
                name=m.name,
                provider=m.provider,
                tier=m.tier,
                input_usd_per_mtok=m.input_usd_per_mtok,
                output_usd_per_mtok=m.output_usd_per_mtok,
                context_window=m.context_window,
                latency_slo_ms=m.latency_slo_ms,
                expected_latency_ms=m.expected_latency_ms,
                completion_tokens=m.expected_completion_tokens or default_completion_tokens,
                cached_input_usd_per_mtok=m.cached_input_usd_per_mtok,
                cache_lifetime_s=m.cache_lifetime_s,
                cache_min_tokens=m.cache_min_tokens,
            )
            for m in self
        ]


def _read(path: Path) -> Any:
    """The YAML document at ``path``; a ConfigError saying why it cannot be read."""
    source = path.name
    try:
        return yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise ConfigError(
            f"catalog file {path} does not exist; set SELECTOR_CATALOG_PATH to a catalog YAML"
        ) from exc
    except IsADirectoryError as exc:
        raise ConfigError(
            f"catalog {path} is a folder; set SELECTOR_CATALOG_PATH to a catalog YAML file"
        ) from exc
    except UnicodeDecodeError as exc:
        raise ConfigError(
            f"{source}: not UTF-8 text (byte {exc.start} cannot be decoded): a catalog is a "
            "YAML file; see `selector catalog init`"
        ) from exc
    except OSError as exc:
        raise ConfigError(f"catalog {path} cannot be read: {exc.strerror or exc}") from exc
    except yaml.YAMLError as exc:
        raise ConfigError(f"{source}: not valid YAML: {exc}") from exc


def load_catalog(path: Path) -> Catalog:
    """Read and validate a catalog file; every mistake is a ConfigError naming entry and field."""
    source = path.name
    raw = _read(path)
    if not isinstance(raw, dict) or not isinstance(raw.get("models"), list) or not raw["models"]:
        raise ConfigError(f"{source}: expected a top-level 'models:' list with at least one entry")
    models: list[ModelSpec] = []
    problems: list[str] = []
    for i, entry in enumerate(raw["models"]):
        label = f"models[{i}]"
        if isinstance(entry, dict) and isinstance(entry.get("name"), str):
            label += f" ({entry['name']})"
        if not isinstance(entry, dict):
            problems.append(f"{label}: expected a mapping of fields")
            continue
        try:
            models.append(ModelSpec.model_validate(entry))
        except ValidationError as exc:
            for err in exc.errors():
                where = ".".join(str(p) for p in err["loc"]) or "entry"
                problems.append(f"{label}: {where}: {err['msg']}")
    if problems:
        raise ConfigError(f"{source}: " + "; ".join(problems))
    return Catalog(models, source=source)
