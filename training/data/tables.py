"""A user's own outcome table (CSV or Parquet), documented in docs/your-data.md."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from core.errors import ConfigError
from features.tokens import estimate_prompt_tokens
from training.data.logged import from_joined_log
from training.data.routing import RoutingData, as_flag, hash_files, require

__all__ = ["TABLE_COLUMNS", "TABLE_NUMERIC", "TABLE_OPTIONAL", "load_table"]

TABLE_COLUMNS = {
    "request_id": "identifies the request (several rows per request: one per model tried)",
    "model": "the model that answered",
    "resolved": "1 when it resolved the request (or answered correctly), else 0; or a "
    "graded outcome in [0, 1] (a judge's score), learned as it is",
}
TABLE_OPTIONAL = {
    "text": "prompt or last user message",
    "intent": "intent or another category of the request",
    "turns": "conversation turns",
    "prompt_tokens": "prompt tokens (else estimated from text)",
    "completion_tokens": "completion tokens",
    "cost_usd": "cost of the call",
    "latency_ms": "latency of the call",
    "input_usd_per_mtok": "the model's price per million prompt tokens",
    "output_usd_per_mtok": "the model's price per million completion tokens",
}
TABLE_NUMERIC = [c for c in TABLE_OPTIONAL if c not in ("text", "intent")]


def _checked(df: pd.DataFrame, path: Path) -> tuple[pd.DataFrame, pd.Series]:
    """``df`` with its numeric columns parsed, and ``resolved`` as a number in [0, 1]; a bad value
    is an error naming its row (1-based, header = row 1) and column."""

    def bad(row: int, column: str, problem: str) -> ConfigError:
        return ConfigError(f"{path.name}: row {row + 2}, column {column!r}: {problem}")

    resolved = df["resolved"].map(as_flag)
    graded = pd.to_numeric(df["resolved"].where(resolved.isna()), errors="coerce")
    resolved = resolved.where(resolved.notna(), graded.where((graded >= 0) & (graded <= 1)))
    for i in np.flatnonzero(resolved.isna().to_numpy())[:1]:
        raise bad(
            i,
            "resolved",
            f"{df['resolved'].iloc[i]!r} is not 0/1, true/false or a graded outcome in [0, 1]",
        )
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


def load_table(path: Path) -> RoutingData:
    """A user's own outcomes: CSV or Parquet with one row per request × model tried.

    Required columns: ``request_id``, ``model``, ``resolved`` (0/1, true/false, or a
    graded outcome in [0, 1]);
    optional: see :data:`TABLE_OPTIONAL`. A bad value is an error naming its row
    (1-based, as a spreadsheet shows it, header = row 1) and column.
    """
    require(path)
    df = pd.read_parquet(path) if path.suffix == ".parquet" else pd.read_csv(path)
    if {"decision_id", "propensity"} <= set(df.columns):  # written by `selector export-log`
        return from_joined_log(df, path)
    missing = [c for c in TABLE_COLUMNS if c not in df.columns]
    if missing:
        raise ConfigError(
            f"{path.name}: missing column(s) {missing}; required: {list(TABLE_COLUMNS)}"
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
    if "prompt_tokens" in df:
        requests["prompt_tokens"] = first["prompt_tokens"].to_numpy()
    else:
        requests["prompt_tokens"] = [estimate_prompt_tokens([t]) for t in requests["text"]]
    keep = ["request_id", "model", "resolved"] + [
        c for c in ("completion_tokens", "cost_usd", "latency_ms") if c in df
    ]
    price_cols = [c for c in ("input_usd_per_mtok", "output_usd_per_mtok") if c in df]
    models = df.groupby("model", sort=True)[price_cols].first().reset_index()
    for c in ("input_usd_per_mtok", "output_usd_per_mtok"):
        if c not in models:
            models[c] = 0.0
    return RoutingData(
        requests, df[keep].reset_index(drop=True), models, f"table:{path.name}", hash_files(path)
    )
