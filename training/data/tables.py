"""A user's own outcome table (CSV or Parquet), documented in docs/your-data.md."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from core.errors import ConfigError
from features.tokens import estimate_prompt_tokens
from selector.catalog import Catalog
from training.data.logged import from_joined_log
from training.data.routing import RoutingData, as_flag, hash_files, require

if TYPE_CHECKING:
    from selector.config import Settings

__all__ = [
    "OUTCOME_COLUMNS",
    "TABLE_COLUMNS",
    "TABLE_NUMERIC",
    "TABLE_OPTIONAL",
    "load_table",
    "with_served_priors",
]

TABLE_COLUMNS = {
    "request_id": "identifies the request (several rows per request: one per model tried)",
    "model": "the model that answered",
    "resolved": "1 when it resolved the request (or answered correctly), else 0; or a "
    "graded outcome in [0, 1] (a judge's score), learned as it is",
}
OUTCOME_COLUMNS = ("resolved", "reward")  # at least one; reward wins where both are given
TABLE_OPTIONAL = {
    "reward": "a graded outcome in [0, 1] (a judge's score), beside or instead of resolved",
    "text": "prompt or last user message",
    "intent": "intent or another category of the request",
    "group": "requests that belong together (a conversation's turns, near-duplicates): kept "
    "in one cross-validation fold and on one side of the hold-out",
    "conversation_id": "the conversation: the group when there is no group column",
    "turns": "conversation turns",
    "prompt_tokens": "prompt tokens (else estimated from text)",
    "completion_tokens": "completion tokens",
    "cost_usd": "cost of the call",
    "latency_ms": "latency of the call",
    "input_usd_per_mtok": "the model's price per million prompt tokens",
    "output_usd_per_mtok": "the model's price per million completion tokens",
    "cached_input_usd_per_mtok": "the model's price per million prompt tokens read from its "
    "provider's prompt cache (also read as cached_input_price_per_mtok)",
}
TABLE_NUMERIC = [
    c for c in TABLE_OPTIONAL if c not in ("text", "intent", "reward", "group", "conversation_id")
]


def _checked(df: pd.DataFrame, path: Path) -> tuple[pd.DataFrame, pd.Series]:
    """``df`` with its numeric columns parsed, and ``resolved`` as a number in [0, 1]; a bad value
    is an error naming its row (1-based, header = row 1) and column."""

    def bad(row: int, column: str, problem: str) -> ConfigError:
        return ConfigError(f"{path.name}: row {row + 2}, column {column!r}: {problem}")

    resolved = pd.Series(np.nan, index=df.index)
    for column in (c for c in OUTCOME_COLUMNS if c in df):  # reward last: it wins
        flag = df[column].map(as_flag)
        graded = pd.to_numeric(df[column].where(flag.isna()), errors="coerce")
        value = flag.where(flag.notna(), graded.where((graded >= 0) & (graded <= 1)))
        wrong = value.isna() & df[column].notna()
        for i in np.flatnonzero(wrong.to_numpy())[:1]:
            raise bad(
                i, column, f"'{df[column].iloc[i]}' is not 0/1, true/false or a number in [0, 1]"
            )
        resolved = value.where(value.notna(), resolved)
    for i in np.flatnonzero(resolved.isna().to_numpy())[:1]:
        raise bad(i, " or ".join(c for c in OUTCOME_COLUMNS if c in df), "empty: no outcome")
    for column in ("request_id", "model"):
        for i in np.flatnonzero(df[column].isna().to_numpy())[:1]:
            raise bad(i, column, "empty")
    for column in TABLE_NUMERIC:
        if column in df:
            values = pd.to_numeric(df[column], errors="coerce")
            wrong = (values.isna() & df[column].notna()) | (values < 0)
            for i in np.flatnonzero(wrong.to_numpy())[:1]:
                raise bad(i, column, f"{df[column].iloc[i]!r} is not a number ≥ 0")
            df[column] = values
    dupes = df.duplicated(["request_id", "model"])
    for i in np.flatnonzero(dupes.to_numpy())[:1]:
        raise bad(i, "model", "this request already has an outcome for this model")
    return df, resolved


def _read(path: Path) -> pd.DataFrame:
    """The table at ``path``; a file that cannot be read is a one-line error."""
    try:
        return pd.read_parquet(path) if path.suffix == ".parquet" else pd.read_csv(path)
    except pd.errors.EmptyDataError:
        raise ConfigError(f"{path.name}: the file is empty: write a header and rows") from None
    except (ValueError, OSError, UnicodeDecodeError, pd.errors.ParserError) as exc:
        kind = "Parquet" if path.suffix == ".parquet" else "CSV"
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ConfigError(f"{path.name}: not a readable {kind} file: {first}") from None


def _served_catalog() -> Catalog:
    """The catalog the service would load (SELECTOR_CATALOG_PATH, else the built-in one)."""
    from selector.catalog import load_catalog
    from selector.config import load_settings

    return load_catalog(load_settings().models.catalog_path)


def with_served_priors(data: RoutingData, catalog: Catalog | None = None) -> RoutingData:
    """``data`` with what the service assumes of each model before any call, for the
    offline replays to score candidates as the service does
    (:class:`training.counterfactual.Replay`), as columns of ``models``:

    - ``expected_completion_tokens``, for the models ``data`` has no completion lengths
      of: the catalog's, else the setting ``default_completion_tokens``;
    - ``latency_penalty``: what the service's utility charges a candidate before any
      call (:mod:`selector.policy.base`): ``latency_weight`` × its prior p50 / 1000, and
      the reward's ``late_penalty`` × P(the call fails or answers after ``deadline_ms``)
      under the prior latency estimate (:class:`features.estimates.LogLatency` from the
      catalog's ``expected_latency_ms``); 0 for a model the catalog does not list;
    - ``error_prior``: the error rate every model starts with (1 %).

    Decision logs are returned as they are: their costs are the ones the service used."""
    if data.logged:
        return data
    from features.estimates import EstimateConfig
    from selector.config import load_settings

    settings = load_settings()
    catalog = catalog or _served_catalog()
    lengths = data.matrix("completion_tokens")
    names = [str(m) for m in data.models["model"]]
    tokens, penalty = [], []
    specs = {spec.name: spec for spec in catalog}
    for m in names:
        spec = specs.get(m)
        prior = (
            spec.expected_completion_tokens if spec else None
        ) or settings.decision.default_completion_tokens
        tokens.append(float(prior) if lengths[m].isna().all() else np.nan)
        penalty.append(_cold_penalty(settings, spec.expected_latency_ms) if spec else 0.0)
    unknown = [m for m in names if m not in specs]
    notes = list(data.notes)
    if unknown:
        notes.append(
            f"{len(unknown)} of {len(names)} models are not in the served catalog "
            f"({', '.join(unknown[:5])}{', …' if len(unknown) > 5 else ''}): offline, their "
            "latency is not scored; set SELECTOR_CATALOG_PATH to the catalog you serve "
            "(selector catalog init --from TABLE writes one)"
        )
    models = data.models.assign(
        expected_completion_tokens=tokens,
        latency_penalty=penalty,
        error_prior=EstimateConfig().prior_error_rate,
    )
    return dataclasses.replace(data, models=models, notes=notes)


def _cold_penalty(settings: Settings, expected_latency_ms: float) -> float:
    """The latency and lateness a candidate is charged before any call of it: the
    utility's terms of :meth:`selector.policy.base.Policy._score` under the prior
    latency estimate."""
    from features.estimates import EstimateConfig, LogLatency, p_slower

    config = EstimateConfig(
        prior_weight=settings.latency.prior_weight,
        prior_sd=settings.latency.prior_sd,
        memory=settings.latency.memory,
    )
    cold = LogLatency(expected_latency_ms, config).estimate()
    err = config.prior_error_rate
    late = p_slower(cold.p50_ms, cold.p95_ms, settings.reward.deadline_ms)
    return (
        settings.decision.latency_weight * cold.p50_ms / 1000.0
        + settings.reward.late_penalty * (err + (1.0 - err) * late)
    )


def _prices(df: pd.DataFrame, path: Path, catalog: Catalog | None) -> pd.DataFrame:
    """Each model's prices: the table's, else the catalog's; missing ones are an error.
    The price of a cached prompt token is optional (NaN: none)."""
    cols = ["input_usd_per_mtok", "output_usd_per_mtok"]
    every = [*cols, "cached_input_usd_per_mtok"]
    present = [c for c in every if c in df]
    models = df.groupby("model", sort=True)[present].first().reindex(columns=every).reset_index()
    missing = models[cols].isna().any(axis=1).to_numpy()
    if missing.any():
        catalog = catalog or _served_catalog()
        for i in map(int, np.flatnonzero(missing)):
            name = str(models.loc[i, "model"])
            if name in catalog:
                spec = catalog[name]
                cached = spec.cached_input_usd_per_mtok
                models.loc[i, every] = [
                    spec.input_usd_per_mtok,
                    spec.output_usd_per_mtok,
                    np.nan if cached is None else cached,
                ]
    dear = models[models["cached_input_usd_per_mtok"] > models["input_usd_per_mtok"]]
    if len(dear):
        raise ConfigError(
            f"{path.name}: cached_input_usd_per_mtok above input_usd_per_mtok for model(s) "
            f"{dear['model'].astype(str).tolist()}: a cached prompt token costs a fraction of "
            "the input price; leave the cell empty for a model without a prompt cache"
        )
    unpriced = [
        str(m)
        for m, ok in zip(models["model"], models[cols].notna().all(axis=1), strict=True)
        if not ok
    ]
    if unpriced:
        raise ConfigError(
            f"{path.name}: no prices for model(s) {unpriced}: add the columns "
            "input_usd_per_mtok and output_usd_per_mtok (USD per million tokens), or list "
            "the models in the catalog (SELECTOR_CATALOG_PATH)"
        )
    return models


def load_table(path: Path, catalog: Catalog | None = None) -> RoutingData:
    """A user's own outcomes: CSV or Parquet with one row per request × model tried.

    Required columns: ``request_id``, ``model``, and ``resolved`` (0/1, true/false, or a
    graded outcome in [0, 1]) or ``reward`` (graded; it wins where both are given); a
    model's prices come from the table, else from ``catalog``, else it is an error
    naming the models;
    optional: see :data:`TABLE_OPTIONAL`. A bad value is an error naming its row
    (1-based, as a spreadsheet shows it, header = row 1) and column.
    """
    require(path)
    df = _read(path)
    if "cached_input_usd_per_mtok" not in df and "cached_input_price_per_mtok" in df:
        df = df.rename(columns={"cached_input_price_per_mtok": "cached_input_usd_per_mtok"})
    if {"decision_id", "propensity"} <= set(df.columns):  # written by `selector export-log`
        return from_joined_log(df, path.name, hash_files(path))
    missing = [c for c in ("request_id", "model") if c not in df.columns]
    if not any(c in df.columns for c in OUTCOME_COLUMNS):
        missing.append("resolved (or reward)")
    if missing:
        raise ConfigError(
            f"{path.name}: missing column(s) {missing}; required: request_id, model, and "
            "resolved (0/1) or reward (0–1)"
        )
    if df.empty:
        raise ConfigError(
            f"{path.name}: no rows: give one row per request and model tried, with its outcome"
        )

    df, resolved = _checked(df, path)
    df = df.assign(resolved=resolved, request_id=df["request_id"].astype(str))
    text = df["text"].fillna("").astype(str) if "text" in df else pd.Series("", index=df.index)
    first = df.assign(text=text).drop_duplicates("request_id")
    requests = pd.DataFrame(
        {
            "request_id": first["request_id"].to_numpy(),
            "text": first["text"].to_numpy(),
            "intent": first["intent"].fillna("").astype(str).to_numpy() if "intent" in df else "",
            "turns": first["turns"].fillna(1).to_numpy() if "turns" in df else 1,
            "eval": True,
        }
    )
    grouping = next((c for c in ("group", "conversation_id") if c in df), None)
    if grouping is not None:  # a request without one is a group of its own
        requests["group"] = first[grouping].astype("string").fillna(first["request_id"]).to_numpy()
    if "prompt_tokens" in df:
        requests["prompt_tokens"] = first["prompt_tokens"].to_numpy()
    else:
        requests["prompt_tokens"] = [estimate_prompt_tokens([t]) for t in requests["text"]]
    keep = ["request_id", "model", "resolved"] + [
        c for c in ("completion_tokens", "cost_usd", "latency_ms") if c in df
    ]
    models = _prices(df, path, catalog)
    return RoutingData(
        requests, df[keep].reset_index(drop=True), models, f"table:{path.name}", hash_files(path)
    )
