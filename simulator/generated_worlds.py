"""Support worlds the project did not write: :func:`generate` draws one from a seed.

Each world is a scenario of the simulator (:class:`~simulator.scenario.Scenario`) with
a catalog of its own (what the operator believes: :func:`catalog_yaml`), drawn so that
nothing the selector assumes holds by construction:

- **models**: 3 to 12, from four providers, list prices log-uniform between $0.05 and
  $15 per million prompt tokens (completion ×2 to ×6); the catalog's tier follows the
  price, as an operator would label it;
- **quality** is not the price tier's: every model's probability of a good answer is a
  world-wide base per intent group plus an offset per model and one per model × group,
  drawn with a correlation to price that is itself drawn from −0.3 to 0.7 (in some
  worlds the dear models are the weak ones), so a cheap model may be the best on some
  intents and a dear one weak on others;
- **latency and errors** unrelated to the catalog: the catalog's ``expected_latency_ms``
  is the truth's typical latency times a factor from ⅓ to 3, its completion length off
  by up to ×2; error rates from 0.1 % to 3 %, capacities from 30 to 400 calls a minute;
- **the gateway**: a deadline from 1.5 s to 8 s, 2 or 3 attempts, in a third of the
  worlds a budget per turn (sent as ``max_cost_usd``: between what the second-cheapest
  and the dearest model cost on a typical turn), a reward valuing a resolved
  conversation at $2 to $50 and waiting, and late turns, at drawn prices;
- **the customers**: in half the worlds 10–50 % of conversations open with an intent the
  classifier never saw (the first message of an SGD dialogue: restaurants, flights,
  events...; each SGD service answered as well as a drawn quality group);
- **the outcomes**: delayed from 30 s to an hour after a conversation's last turn, and in
  a third of the worlds reported only once per conversation (by ``conversation_id``);
- **the prompt cache**: in two thirds of the worlds, each model's provider caches
  prompts with a chance of 80 %: a cached prompt token billed at 10–50 % of the input
  price (the catalog says so), kept from 1 to 60 minutes after the call that sent it,
  for prompts of 512, 1,024 or 2,048 tokens at least (the catalog states the minimum,
  and the lifetime for half the models; for the others it keeps its default, 5 minutes);
- **the day**: arrivals with a drawn peak, a traffic spike in half the worlds, and
  mid-day events: a latency cliff on a random model (half the worlds), a quality
  regression on a random model and group (half), a price change the catalog is not told
  of (a third), a model the gateway deploys mid-day and one it retires (a quarter each).

A world's numbers are drawn from one generator seeded by ``seed`` alone: the same seed
gives the same world on any machine.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import yaml

from simulator.draws import draw_events, loguniform
from simulator.scenario import GROUPS, Scenario

__all__ = ["SGD_SERVICES", "GeneratedWorld", "catalog_yaml", "generate"]

PROVIDERS = ("northwind", "aperture", "tessellate", "quokka")
TYPICAL_PROMPT_TOKENS = 2_000  # the prompt the catalog's latency prior describes
_TIERS = ("small", "medium", "large")
SGD_SERVICES = (  # the services of SGD's dialogues, as simulator.corpus names them
    "Alarm", "Banks", "Buses", "Calendar", "Events", "Flights", "Homes", "Hotels", "Media",
    "Movies", "Music", "Payment", "RentalCars", "Restaurants", "RideSharing", "Services",
    "Trains", "Travel", "Weather",
)  # fmt: skip


@dataclass(frozen=True)
class GeneratedWorld:
    """A drawn world: the truth (``scenario``) and the operator's catalog entries."""

    seed: int
    scenario: Scenario
    catalog: list[dict[str, Any]]  # entries of a catalog file, in price order
    prior_latency_ratio: dict[str, float]  # catalog's expected latency / the truth's
    price_quality_correlation: float  # of the model offsets with log price


def _models(
    rng: np.random.Generator, n: int
) -> tuple[list[str], np.ndarray, np.ndarray, list[str], float]:
    names = [f"model-{i + 1:02d}" for i in range(n)]
    price_in = np.sort(loguniform(rng, 0.05, 15.0, n))
    price_out = price_in * rng.uniform(2.0, 6.0, n)
    tiers = [_TIERS[min(2, 3 * i // n)] for i in range(n)]  # by price, as labelled
    rho = float(rng.uniform(-0.3, 0.7))
    return names, price_in, price_out, tiers, rho


def _quality(
    rng: np.random.Generator, price_in: np.ndarray, rho: float
) -> tuple[dict[str, Any], np.ndarray, np.ndarray]:
    """The world's table (the same for every tier: quality comes from the offsets), and
    each model's offset and offsets by group."""
    n = len(price_in)
    z_price = (np.log(price_in) - np.log(price_in).mean()) / (np.log(price_in).std() + 1e-9)
    spread = float(rng.uniform(0.005, 0.025))
    offset = spread * (rho * z_price + math.sqrt(1 - rho * rho) * rng.standard_normal(n))
    by_group = rng.normal(0.0, float(rng.uniform(0.005, 0.03)), (n, len(GROUPS)))
    base = {g: round(float(rng.uniform(0.93, 0.99)), 4) for g in GROUPS}
    decline = round(float(rng.uniform(0.0005, 0.004)), 5)
    table = {
        "tiers": {t: dict(base) for t in _TIERS},
        "decline_per_turn": dict.fromkeys(_TIERS, decline),
    }
    return table, offset, by_group


def _model_truth(rng: np.random.Generator, offset: float, by_group: np.ndarray) -> dict[str, Any]:
    return {
        "base_ms": round(float(loguniform(rng, 150.0, 1500.0)), 1),
        "ms_per_1k_prompt_tokens": round(float(rng.uniform(20.0, 120.0)), 1),
        "jitter": round(float(rng.uniform(0.15, 0.4)), 3),
        "capacity_per_min": round(float(loguniform(rng, 30.0, 400.0)), 1),
        "background_load": round(float(rng.uniform(0.05, 0.4)), 3),
        "error_rate": round(float(loguniform(rng, 0.001, 0.03)), 4),
        "overload_error_rate": round(float(rng.uniform(0.0, 0.3)), 3),
        "completion_tokens": round(float(rng.uniform(100.0, 400.0)), 1),
        "quality_offset": round(float(offset), 4),
        "group_offsets": {g: round(float(v), 4) for g, v in zip(GROUPS, by_group, strict=True)},
    }


def _catalog_entry(
    rng: np.random.Generator,
    name: str,
    i: int,
    price: tuple[float, float],
    tier: str,
    truth: dict[str, Any],
) -> tuple[dict[str, Any], float]:
    typical = truth["base_ms"] + truth["ms_per_1k_prompt_tokens"] * TYPICAL_PROMPT_TOKENS / 1000
    ratio = float(loguniform(rng, 1 / 3, 3.0))
    expected = max(1.0, round(typical * ratio))
    entry = {
        "name": name,
        "provider": PROVIDERS[i % len(PROVIDERS)],
        "tier": tier,
        "input_usd_per_mtok": round(price[0], 4),
        "output_usd_per_mtok": round(price[1], 4),
        "context_window": int(rng.choice([32_000, 128_000, 200_000, 1_000_000])),
        "latency_slo_ms": float(round(expected * float(rng.uniform(2.0, 4.0)))),
        "expected_latency_ms": float(expected),
        "expected_completion_tokens": max(
            1, round(truth["completion_tokens"] * float(loguniform(rng, 0.5, 2.0)))
        ),
    }
    return entry, ratio


def _unseen(rng: np.random.Generator) -> dict[str, Any] | None:
    """In half the worlds, a share of conversations (10–50 %) opens with an intent the
    classifier never saw (an SGD dialogue's), each SGD service answered as well as a
    drawn quality group."""
    if rng.random() >= 0.5:
        return None
    return {
        "share": round(float(rng.uniform(0.1, 0.5)), 3),
        "groups": {d: str(rng.choice(GROUPS)) for d in SGD_SERVICES},
    }


def _budget(rng: np.random.Generator, catalog: list[dict[str, Any]]) -> float | None:
    """In a third of the worlds, a budget per turn between what the second-cheapest and
    the dearest model cost on a typical turn (log-uniform): at least two models fit it
    there, the dearest never, and longer conversations' turns break it for more."""
    if rng.random() >= 1 / 3:
        return None
    typical = sorted(
        (e["input_usd_per_mtok"] * TYPICAL_PROMPT_TOKENS
         + e["output_usd_per_mtok"] * e["expected_completion_tokens"]) / 1e6
        for e in catalog
    )  # fmt: skip
    return round(float(loguniform(rng, typical[1], typical[-1])), 8)


def _caching(
    rng: np.random.Generator, catalog: list[dict[str, Any]], truth: dict[str, dict[str, Any]]
) -> None:
    """In two thirds of the worlds, a prompt cache on each model's provider with a chance
    of 80 % (see the module docstring): written into its catalog entry and its truth."""
    if rng.random() >= 2 / 3:
        return
    for entry in catalog:
        draws = rng.random(2)
        share = float(loguniform(rng, 0.1, 0.5))
        lifetime = round(float(loguniform(rng, 60.0, 3_600.0)), 1)
        minimum = int(rng.choice([512, 1_024, 2_048]))
        if draws[0] >= 0.8:
            continue
        entry["cached_input_usd_per_mtok"] = round(entry["input_usd_per_mtok"] * share, 6)
        entry["cache_min_tokens"] = minimum
        if draws[1] < 0.5:
            entry["cache_lifetime_s"] = lifetime
        truth[entry["name"]] |= {"cache_lifetime_s": lifetime, "cache_min_tokens": minimum}


def _day(rng: np.random.Generator, conversations: int) -> dict[str, Any]:
    spikes = []
    if rng.random() < 0.5:
        start = float(rng.uniform(8.0, 18.0))
        spikes.append(
            {
                "start_hour": round(start, 2),
                "end_hour": round(min(24.0, start + float(rng.uniform(0.5, 3.0))), 2),
                "multiplier": round(float(rng.uniform(1.5, 4.0)), 2),
            }
        )
    return {
        "conversations": conversations,
        "hours": 24,
        "peak_hour": round(float(rng.uniform(8.0, 20.0)), 2),
        "diurnal_amplitude": round(float(rng.uniform(0.2, 0.8)), 3),
        "spikes": spikes,
        "unseen_intents": _unseen(rng),
    }


def generate(seed: int, conversations: int = 400) -> GeneratedWorld:
    """The world of ``seed`` (see the module docstring), its day ``conversations`` long."""
    rng = np.random.default_rng((seed, 0x3017D))
    n = int(rng.integers(3, 13))
    names, price_in, price_out, tiers, rho = _models(rng, n)
    quality, offsets, by_group = _quality(rng, price_in, rho)
    truth, catalog, ratios = {}, [], {}
    for i, name in enumerate(names):
        truth[name] = _model_truth(rng, float(offsets[i]), by_group[i])
        prices = (float(price_in[i]), float(price_out[i]))
        entry, ratios[name] = _catalog_entry(rng, name, i, prices, tiers[i], truth[name])
        catalog.append(entry)
    deadline = round(float(rng.uniform(1500.0, 8000.0)))
    cheapest, dearest = names[0], names[-1]
    other_provider = [e["name"] for e in catalog if e["provider"] != catalog[-1]["provider"]]
    raw: dict[str, Any] = {
        "name": f"world-{seed}",
        "description": f"A support world drawn from seed {seed}.",
        "seed": int(seed),
        "day": _day(rng, conversations),
        "conversation": {
            "max_user_turns": 25,
            "think_time_s": round(float(rng.uniform(10.0, 60.0)), 1),
            "system_prompt_tokens": int(rng.integers(200, 2_000)),
            "outcome_delay_s": round(float(loguniform(rng, 30.0, 3_600.0)), 1),
            "outcome_level": "conversation" if rng.random() < 1 / 3 else "turn",
        },
        "gateway": {
            "timeout_ms": round(deadline * float(rng.uniform(1.2, 2.0))),
            "deadline_ms": deadline,
            "max_attempts": int(rng.integers(2, 4)),
            "fallback_model": str(rng.choice(other_provider or names[:-1] or names)),
        },
        "reward": {
            "value_usd": round(float(loguniform(rng, 2.0, 50.0)), 2),
            "latency_per_s": round(float(rng.uniform(0.0, 0.005)), 5),
            "late_penalty": round(float(rng.uniform(0.0, 0.1)), 4),
        },
        "heavy_model": dearest,
        "static_rules": {
            "small_model": cheapest,
            "heavy_model": dearest,
            "max_turns": int(rng.integers(4, 13)),
        },
        "quality": quality,
        "models": truth,
        "events": draw_events(rng, names),
    }
    raw["gateway"]["budget_usd"] = _budget(rng, catalog)  # drawn late: the rest stays put
    _caching(rng, catalog, truth)
    return GeneratedWorld(
        seed=int(seed),
        scenario=Scenario.model_validate(raw),
        catalog=catalog,
        prior_latency_ratio=ratios,
        price_quality_correlation=rho,
    )


def catalog_yaml(world: GeneratedWorld) -> str:
    """The catalog file the service of ``world`` loads (what its operator believes)."""
    header = (
        f"# The catalog of world-{world.seed} (simulator/generated_worlds.py): list prices, and "
        "latency and length priors off from the truth by a drawn factor.\n"
    )
    return header + yaml.safe_dump({"models": world.catalog}, sort_keys=False)
