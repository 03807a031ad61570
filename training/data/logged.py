"""The service's own decisions with their outcomes, from its decision log or a file
written by ``selector export-log``, weighted by their logged propensities (see
:mod:`training.data`)."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pandas as pd

from core.errors import ConfigError
from features.schema import CANDIDATE_FEATURES
from selector.store import SQLiteLog
from training.data.routing import MAX_IPS_WEIGHT, RoutingData, as_flag, hash_files, require

__all__ = ["LOG_SUFFIXES", "from_joined_log", "load_decision_log", "load_shared_log"]

LOG_SUFFIXES = {".db", ".sqlite", ".sqlite3"}


def load_decision_log(path: Path) -> RoutingData:
    """The service's own decisions with their outcomes: its SQLite decision log
    (``selector.db``) or a file written by ``selector export-log``.

    One outcome per decision, the chosen model's, weighted by its logged propensity
    (see the module docstring for the method and its bias). The label is ``resolved``;
    a decision with only a graded ``reward`` in [0, 1] is learned as that reward: the
    quality model fits it as a share resolved (cross-entropy, see
    :func:`models.quality.binary_rows`), not rounded to 0 or 1.
    Decisions without an outcome yet, and those the gateway overrode, are left out and
    counted in ``notes``.
    """
    require(path)
    if path.suffix in LOG_SUFFIXES:
        with SQLiteLog(path).reader() as reader:
            frame = pd.DataFrame.from_records(list(reader.joined()))
    else:
        frame = pd.read_parquet(path) if path.suffix == ".parquet" else pd.read_csv(path)
    return from_joined_log(frame, path.name, hash_files(path))


def load_shared_log(url: str, chunk: int = 20_000) -> RoutingData:
    """The decisions of the PostgreSQL decision log at ``url`` with their outcomes, as
    :func:`load_decision_log` reads a SQLite one. The joined rows come from a
    server-side cursor and become table columns ``chunk`` at a time, so reading holds
    one chunk of rows beside the table being built."""
    from selector.store.postgres.reader import PostgresReader, where

    parts: list[pd.DataFrame] = []
    rows: list[dict[str, object]] = []
    with PostgresReader(url) as reader:
        for row in reader.joined():
            rows.append(row)
            if len(rows) == chunk:
                parts.append(pd.DataFrame.from_records(rows))
                rows = []
    parts.append(pd.DataFrame.from_records(rows))
    frame = pd.concat(parts, ignore_index=True) if len(parts) > 1 else parts[0]
    name = where(url)
    digest = hashlib.sha256(name.encode())
    if not frame.empty:
        cols = [c for c in ("decision_id", "model", "resolved", "reward") if c in frame]
        digest.update(pd.util.hash_pandas_object(frame[cols], index=False).to_numpy().tobytes())
    return from_joined_log(frame, name, digest.hexdigest())


def _labels(frame: pd.DataFrame, name: str) -> tuple[pd.Series, pd.Series, pd.Series, list[str]]:
    """Each decision's label (``resolved``, else its graded ``reward``), its propensity, which
    decisions to keep (an outcome and no override), and notes on those left out."""
    total = len(frame)
    label = frame["resolved"].map(lambda v: np.nan if pd.isna(v) else as_flag(v))
    reward = pd.to_numeric(frame["reward"], errors="coerce")
    label = label.where(label.notna(), reward.clip(0.0, 1.0))
    override = frame["override"].map(as_flag).fillna(0.0) > 0 if "override" in frame else False
    keep = label.notna() & ~override
    prop = pd.to_numeric(frame["propensity"], errors="coerce")
    bad = keep & ~((prop > 0) & (prop <= 1))
    for i in np.flatnonzero(bad.to_numpy())[:1]:
        raise ConfigError(
            f"{name}: decision {frame['decision_id'].iloc[i]}: propensity "
            f"{frame['propensity'].iloc[i]!r} is not in (0, 1]: the log is damaged"
        )
    notes = []
    if (n := int(label.isna().sum())) > 0:
        notes.append(f"{n} of {total} decisions have no outcome yet and are left out")
    if (n := int((label.notna() & override).sum())) > 0:
        notes.append(f"{n} decisions the gateway overrode (another model served) are left out")
    return label, prop, keep, notes


def _offers(df: pd.DataFrame, ids: pd.Series) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The candidates each decision weighed, with the expected cost the policy used, and
    the prices of every model offered."""
    col = {name: i for i, (name, _) in enumerate(CANDIDATE_FEATURES)}
    offers, prices = [], {}
    # the expected cost the policy weighed: its scores' (a trained model may estimate the
    # completion length), else the feature's (the catalog's estimate)
    scores = df["scores"] if "scores" in df else pd.Series("[]", index=df.index)
    for rid, blob, scored in zip(ids, df["candidate_features"], scores, strict=True):
        used = {s["model"]: s["expected_cost_usd"] for s in json.loads(scored or "[]")}
        for model, row in json.loads(blob).items():
            cost = used.get(model, row[col["expected_cost_usd"]])
            offers.append((rid, model, float(cost)))
            prices[model] = (row[col["input_usd_per_mtok"]], row[col["output_usd_per_mtok"]])
    models = pd.DataFrame(
        [(m, float(i), float(o)) for m, (i, o) in sorted(prices.items())],
        columns=["model", "input_usd_per_mtok", "output_usd_per_mtok"],
    )
    return (
        pd.DataFrame(offers, columns=["request_id", "model", "expected_cost_usd"]),
        models,
    )


def from_joined_log(frame: pd.DataFrame, name: str, content_hash: str) -> RoutingData:
    """The routing data of a joined log (``name`` in messages, ``content_hash`` its
    fingerprint)."""
    need = ["decision_id", "model", "propensity", "candidate_features", "resolved", "reward"]
    missing = [c for c in need if c not in frame.columns]
    if frame.empty or missing:
        raise ConfigError(
            f"{name}: "
            + (f"missing column(s) {missing}" if missing else "no decisions in the log")
            + ": train from the SQLite decision log or a file written by `selector export-log`"
        )
    total = len(frame)
    label, prop, keep, notes = _labels(frame, name)
    df = frame[keep].reset_index(drop=True)
    if df.empty:
        raise ConfigError(
            f"{name}: none of its {total} decisions has an outcome: report `resolved` "
            "or `reward` through POST /v1/feedback"
        )
    label, prop = label[keep].reset_index(drop=True), prop[keep].reset_index(drop=True)
    text = df["text"].fillna("").astype(str) if "text" in df else pd.Series("", index=df.index)
    ids = df["decision_id"].astype(str)
    requests = pd.DataFrame(
        {
            "request_id": ids,
            "text": text,
            "intent": df["intent"].fillna("").astype(str) if "intent" in df else "",
            "turns": pd.to_numeric(df.get("f_turns", 1), errors="coerce"),
            "prompt_tokens": pd.to_numeric(df.get("f_prompt_tokens", 0), errors="coerce"),
            "eval": True,
        }
    ).fillna({"turns": 1, "prompt_tokens": 0})
    if "conversation_id" in df:  # a conversation's decisions stay in one fold
        requests["group"] = df["conversation_id"].astype("string").fillna(ids).to_numpy()
    weight = np.minimum(1.0 / prop.to_numpy(float), MAX_IPS_WEIGHT)
    outcomes = pd.DataFrame(
        {
            "request_id": ids,
            "model": df["model"].astype(str),
            "resolved": label.to_numpy(float),
            "propensity": prop.to_numpy(float),
            "weight": weight / weight.mean(),
        }
    )
    for column in ("completion_tokens", "cost_usd", "latency_ms"):
        if column in df:
            outcomes[column] = pd.to_numeric(df[column], errors="coerce").to_numpy()
    offers, models = _offers(df, ids)
    return RoutingData(
        requests,
        outcomes,
        models,
        f"log:{name}",
        content_hash,
        offers,
        notes,
    )
