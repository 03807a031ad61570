"""Export the joined decision log (decision + call results + outcome) for training.

One row per decision. Columns: the decision (id, time, conversation, policy,
version, model, propensity, fallbacks, relaxed), the request's fields (``req_*``),
the request feature block (``f_<name>``), the decided model's candidate block
(``c_<name>``), every candidate's block as JSON (``candidate_features``), the
candidate scores as JSON, the call results joined (``served_model`` = the model of
the last call reported, ``calls``, ``errors``, ``latency_ms`` = total, tokens,
``cost_usd``), the outcome (``resolved``, ``reward``) and whether any feedback
named another model than decided (``override``). Late feedback is not joined.

A row the reader cannot parse (JSON an older build or a hand wrote differently) is
left out and counted in the ``skipped`` counter the caller passes, never an error:
one bad row must not stop an export, a training run or an evaluation.
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path
from typing import Any

import orjson

from core.errors import ConfigError
from features.schema import CANDIDATE_FEATURES, REQUEST_FEATURES
from selector.store import DecisionLog, id_prefix

__all__ = ["export_log", "joined_rows", "write_table"]

_QUERY = """
SELECT d.*, o.resolved AS resolved, o.reward AS reward,
       (SELECT COUNT(*) FROM feedback f WHERE f.decision_id = d.decision_id AND f.late = 0
            AND (f.latency_ms IS NOT NULL OR f.error IS NOT NULL)) AS calls,
       (SELECT COUNT(*) FROM feedback f WHERE f.decision_id = d.decision_id AND f.late = 0
            AND f.error IS NOT NULL) AS errors,
       (SELECT SUM(f.latency_ms) FROM feedback f WHERE f.decision_id = d.decision_id
            AND f.late = 0) AS latency_ms,
       (SELECT SUM(f.prompt_tokens) FROM feedback f WHERE f.decision_id = d.decision_id
            AND f.late = 0) AS prompt_tokens,
       (SELECT SUM(f.completion_tokens) FROM feedback f WHERE f.decision_id = d.decision_id
            AND f.late = 0) AS completion_tokens,
       (SELECT SUM(f.cost_usd) FROM feedback f WHERE f.decision_id = d.decision_id
            AND f.late = 0) AS cost_usd,
       (SELECT f.model FROM feedback f WHERE f.decision_id = d.decision_id AND f.late = 0
            AND f.model IS NOT NULL ORDER BY f.ts DESC LIMIT 1) AS served_model,
       (SELECT MAX(f.override) FROM feedback f WHERE f.decision_id = d.decision_id) AS override
FROM decisions d LEFT JOIN outcomes o USING (decision_id)
WHERE d.decision_id >= ? AND d.decision_id <= ? ORDER BY d.ts, d.decision_id
"""
_LAST = "\U0010ffff"  # sorts after every decision id


def joined_rows(
    log: DecisionLog,
    since: float = 0.0,
    skipped: Counter[str] | None = None,
    id_range: tuple[str, str] | None = None,
) -> Iterator[dict[str, Any]]:
    """The joined log, one dict per decision, oldest first: decisions made at or after
    Unix time ``since`` (or with an id in ``id_range``, both ends included). Rows that
    cannot be parsed are counted in ``skipped['unreadable']`` and left out."""
    lo, hi = id_range or (id_prefix(since), _LAST)
    with closing(log.reader()) as conn:
        for row in conn.execute(_QUERY, (lo, hi)):
            try:
                out = _joined(dict(row))
            except (ValueError, TypeError, KeyError, IndexError, AttributeError):
                if skipped is not None:
                    skipped["unreadable"] += 1
                continue
            yield out


def _joined(r: dict[str, Any]) -> dict[str, Any]:
    """One decision row of :data:`_QUERY` as an export row."""
    feats = orjson.loads(r.pop("features"))
    request = orjson.loads(r.pop("request"))
    out: dict[str, Any] = {
        "decision_id": r["decision_id"],
        "ts": r["ts"],
        "conversation_id": r["conversation_id"],
        "policy": r["policy"],
        "policy_version": r["policy_version"],
        "model": r["model"],
        "propensity": r["propensity"],
        "fallbacks": _text(r["fallbacks"]),
        "relaxed": _text(r["relaxed"]),
        "text": r["text"],
        "intent": feats.get("intent"),
        "intent_group": feats.get("intent_group"),
        "schema_version": feats.get("schema_version"),
    }
    for k, v in request.items():
        out[f"req_{k}"] = orjson.dumps(v).decode() if isinstance(v, list) else v
    for (name, _), v in zip(REQUEST_FEATURES, feats["request"], strict=True):
        out[f"f_{name}"] = v
    idx = feats["candidates"].index(r["model"])
    for (name, _), v in zip(CANDIDATE_FEATURES, feats["candidate_rows"][idx], strict=True):
        out[f"c_{name}"] = v
    out["candidate_features"] = orjson.dumps(
        dict(zip(feats["candidates"], feats["candidate_rows"], strict=True))
    ).decode()
    out["scores"] = _text(r["scores"])
    out["served_model"] = r["served_model"] or (r["model"] if r["calls"] else None)
    for k in (
        "calls",
        "errors",
        "latency_ms",
        "prompt_tokens",
        "completion_tokens",
        "cost_usd",
    ):
        out[k] = r[k]
    out["resolved"] = None if r["resolved"] is None else bool(r["resolved"])
    out["reward"] = r["reward"]
    out["override"] = bool(r["override"] or 0)
    return out


def _text(v: bytes | str) -> str:
    return v.decode() if isinstance(v, bytes) else v


def export_log(
    log: DecisionLog,
    out: Path,
    fmt: str | None = None,
    since: float = 0.0,
    skipped: Counter[str] | None = None,
) -> int:
    """Write the joined log to ``out`` as Parquet or CSV (from ``fmt`` or the suffix);
    the number of rows written (rows that cannot be parsed are counted in ``skipped``)."""
    fmt = (fmt or out.suffix.lstrip(".")).lower()
    if fmt not in {"parquet", "csv"}:
        raise ConfigError(
            f"cannot export to {fmt!r}: use --format parquet or csv (or a .parquet/.csv path)"
        )
    rows = list(joined_rows(log, since, skipped))
    write_table(rows, out, fmt)
    return len(rows)


def write_table(rows: list[dict[str, Any]], out: Path, fmt: str = "parquet") -> Path:
    """Write ``rows`` to ``out`` (Parquet or CSV) through a temporary file, fsynced and
    renamed into place: a file that exists is whole."""
    import pandas as pd

    out.parent.mkdir(parents=True, exist_ok=True)
    frame = pd.DataFrame.from_records(rows)
    tmp = out.with_name(out.name + ".tmp")
    if fmt == "parquet":
        frame.to_parquet(tmp, index=False)
    else:
        frame.to_csv(tmp, index=False)
    with tmp.open("rb") as f:
        os.fsync(f.fileno())
    os.replace(tmp, out)
    return out
