"""``selector catalog init``: a catalog written from an outcome table, so a team can route
among the models it already runs without inventing their figures.

Every entry comes from the table where the table says it; every other field is a guess,
written with a ``# guessed`` comment that says what it rests on:

- prices: the table's ``input_usd_per_mtok`` / ``output_usd_per_mtok`` (the table loader
  refuses a model without them, unless the served catalog lists it), and its
  ``cached_input_usd_per_mtok`` where it has one (the prompt cache's price);
- ``expected_latency_ms``: the median of the model's ``latency_ms``; ``latency_slo_ms``:
  its 95th percentile × 1.5 (without latencies: 1,000 ms and 4,000 ms, guessed);
- ``expected_completion_tokens``: the mean of its ``completion_tokens`` (without them,
  the service's default length, guessed: the cost of every model then rests on it);
- ``tier`` (guessed): by list price, models of one price in one tier: of the distinct
  prices, the cheapest third ``small`` and the dearest third ``large`` (of two prices,
  one of each; of one, ``medium``);
- ``provider`` (guessed): from the name (``gpt``/``o1``… openai, ``claude`` anthropic,
  ``gemini`` and ``gemma`` google, ``llama`` meta, ``mistral``/``mixtral`` mistral), else
  ``unknown``; ``context_window`` (guessed): 128,000, since tables do not say.
"""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd

from selector.catalog import TIERS
from training.data import RoutingData

__all__ = ["catalog_yaml", "tiers"]

_PROVIDERS = (
    (("gpt", "o1", "o3", "o4", "chatgpt"), "openai"),
    (("claude",), "anthropic"),
    (("gemini", "gemma"), "google"),
    (("llama", "meta-"), "meta"),
    (("mistral", "mixtral", "codestral"), "mistral"),
    (("qwen",), "alibaba"),
    (("deepseek",), "deepseek"),
)
_CONTEXT_WINDOW = 128_000
_LATENCY_MS, _SLO_MS = 1_000.0, 4_000.0


def _number(x: float) -> str:
    """``x`` as a YAML float in plain notation (``1e-05`` would be read as text).

    >>> _number(0.000012), _number(3.0), _number(0.1)
    ('0.000012', '3.0', '0.1')
    """
    text = f"{x:.10f}".rstrip("0")
    return text + "0" if text.endswith(".") else text


def _provider(name: str) -> str | None:
    low = name.lower()
    for prefixes, provider in _PROVIDERS:
        if any(low.startswith(p) or f"/{p}" in low for p in prefixes):
            return provider
    return None


def _column(data: RoutingData, column: str, model: str) -> np.ndarray:
    if column not in data.outcomes:
        return np.zeros(0)
    rows = data.outcomes[data.outcomes["model"] == model]
    values = pd.to_numeric(rows[column], errors="coerce").to_numpy(float)
    kept: np.ndarray = values[np.isfinite(values) & (values > 0)]
    return kept


def _entry(
    data: RoutingData, model: str, tier: str, prices: tuple[float, float], length: int
) -> list[str]:
    """The YAML lines of one model, each guessed field with a comment saying so."""
    provider = _provider(model)
    latency = _column(data, "latency_ms", model)
    tokens = _column(data, "completion_tokens", model)
    lines = [
        f"  - name: {json.dumps(model)}",
        f"    provider: {provider or 'unknown'}"
        + (
            "  # guessed from the name; check it"
            if provider
            else "  # guessed: the name does not say; set it"
        ),
        f"    tier: {tier}  # guessed: by list price among the table's models",
        f"    input_usd_per_mtok: {_number(prices[0])}",
        f"    output_usd_per_mtok: {_number(prices[1])}",
    ]
    cached = _cached_price(data, model)
    if cached is not None:
        lines.append(f"    cached_input_usd_per_mtok: {_number(cached)}")
    lines += [
        f"    context_window: {_CONTEXT_WINDOW}  # guessed: the table does not say; set it",
    ]
    if len(latency):
        typical, p95 = float(np.median(latency)), float(np.quantile(latency, 0.95))
        lines += [
            f"    expected_latency_ms: {typical:.0f}  # median of {len(latency)} latencies",
            f"    latency_slo_ms: {max(p95 * 1.5, typical + 1):.0f}  # their p95 × 1.5",
        ]
    else:
        lines += [
            f"    expected_latency_ms: {_LATENCY_MS:.0f}  # guessed: no latency_ms in the table",
            f"    latency_slo_ms: {_SLO_MS:.0f}  # guessed: no latency_ms in the table",
        ]
    if len(tokens):
        mean = max(1, math.ceil(float(tokens.mean())))
        lines.append(f"    expected_completion_tokens: {mean}  # mean of {len(tokens)} answers")
    else:
        lines.append(
            f"    expected_completion_tokens: {length}  # guessed: no completion_tokens in the "
            "table; the service's default length, on which this model's cost rests"
        )
    return lines


def _cached_price(data: RoutingData, model: str) -> float | None:
    """The model's price of a cached prompt token in ``data`` (None: none given)."""
    if "cached_input_usd_per_mtok" not in data.models:
        return None
    found = data.models.loc[data.models["model"] == model, "cached_input_usd_per_mtok"]
    value = float(found.iloc[0]) if len(found) else math.nan
    return None if math.isnan(value) else value


def tiers(prices: list[float]) -> list[str]:
    """A tier for each price, equal prices in one tier.

    >>> tiers([1.0, 5.0, 5.0, 20.0])
    ['small', 'medium', 'medium', 'large']
    >>> tiers([2.0, 2.0]), tiers([1.0, 3.0, 3.0])
    (['medium', 'medium'], ['small', 'large', 'large'])
    """
    levels = sorted(set(prices))
    k = len(levels)

    def tier(price: float) -> str:
        i = levels.index(price)
        if k == 1:
            return "medium"
        return TIERS[2 * i] if k == 2 else TIERS[min(2, 3 * i // k)]

    return [tier(p) for p in prices]


def catalog_yaml(data: RoutingData, default_length: int = 350) -> str:
    """A catalog file for the models of ``data`` (see the module docstring);
    ``default_length``: the completion length the service assumes for a model without
    an estimate (its ``default_completion_tokens``)."""
    models = data.models.assign(
        price=data.models["input_usd_per_mtok"] + data.models["output_usd_per_mtok"]
    ).sort_values(["price", "model"], kind="stable")
    levels = tiers([float(p) for p in models["price"]])
    lines = [
        f"# A catalog written by `selector catalog init` from {data.source}.",
        "# Check every field marked 'guessed', then: selector catalog check <this file>",
        "models:",
    ]
    for tier, name, p_in, p_out in zip(
        levels,
        models["model"],
        models["input_usd_per_mtok"],
        models["output_usd_per_mtok"],
        strict=True,
    ):
        lines += _entry(data, str(name), tier, (float(p_in), float(p_out)), default_length)
    return "\n".join(lines) + "\n"
