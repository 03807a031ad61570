"""The joined log: one row per decision, for export, training and off-policy evaluation.

Export the joined decision log (decision + call results + outcome) for training.

One row per decision. Columns: the decision (id, time, conversation, policy,
version, model, propensity, fallbacks, relaxed), the request's fields (``req_*``),
the request feature block (``f_<name>``), the decided model's candidate block
(``c_<name>``), every candidate's block as JSON (``candidate_features``), the
candidate scores as JSON, the call results joined (``served_model`` = the model of
the last call reported, ``calls``, ``errors``, ``latency_ms`` = total, tokens,
``cost_usd``), the outcome (``resolved``, ``reward``) and whether any feedback
named another model than decided (``override``). Late feedback is not joined.

The request's fields keep the JSON keys of :class:`~selector.store.records.LoggedRequest`
with the prefix ``req_``; :func:`logged_request` reads them back.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import orjson

from features.schema import CANDIDATE_FEATURES, REQUEST_FEATURES
from selector.store.records import LoggedRequest

__all__ = ["JOINED_QUERY", "joined_row", "logged_request"]

JOINED_QUERY = """
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


def joined_row(r: dict[str, Any]) -> dict[str, Any]:
    """One row of :data:`JOINED_QUERY` (as a dict) as a joined row."""
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


def logged_request(row: Mapping[str, Any]) -> LoggedRequest:
    """The logged request of a joined row (its ``req_*`` columns)."""
    return LoggedRequest.from_json({k[4:]: v for k, v in row.items() if k.startswith("req_")})
