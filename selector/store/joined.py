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

from collections import Counter
from collections.abc import Iterator, Mapping
from typing import Any

import orjson

from features.schema import CANDIDATE_FEATURES, REQUEST_FEATURES
from selector.store.reads import Reads
from selector.store.records import LoggedRequest, id_prefix

__all__ = ["JOINED_QUERY", "JoinedReads", "joined_row", "logged_request"]

_LAST = "\U0010ffff"  # sorts after every decision id

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


class JoinedReads(Reads):
    """What export, training and off-policy evaluation ask of the log: the joined rows,
    the challenger's decisions, a policy's choices."""

    def joined(
        self,
        since: float = 0.0,
        skipped: Counter[str] | None = None,
        id_range: tuple[str, str] | None = None,
    ) -> Iterator[dict[str, Any]]:
        """The joined log (:mod:`selector.store.joined`), one row per decision, oldest
        first: decisions made at or after Unix time ``since`` (or with an id in
        ``id_range``, both ends included). Rows that cannot be parsed are counted in
        ``skipped['unreadable']`` and left out."""
        lo, hi = id_range or (id_prefix(since), _LAST)
        for names, row in self._joined_rows(lo, hi):
            values = dict(zip(names, row, strict=True))
            for column in self.dialect.hidden:
                values.pop(column, None)
            try:
                out = joined_row(values)
            except (ValueError, TypeError, KeyError, IndexError, AttributeError):
                if skipped is not None:
                    skipped["unreadable"] += 1
                continue
            yield out

    def _joined_rows(self, lo: str, hi: str) -> Iterator[tuple[list[str], Any]]:
        cur = self._conn.execute(JOINED_QUERY, (lo, hi))
        names = [c[0] for c in cur.description]
        for row in cur:
            yield names, row

    def other_decisions(self) -> dict[str, tuple[str, str, dict[str, float]]]:
        """The challenger's decision on each request where one ran: decision id →
        ("<policy> <version>", model, {model: probability})."""
        return {
            r[0]: (f"{r[1]} {r[2]}", r[3], orjson.loads(r[4]))
            for r in self._conn.execute(
                "SELECT decision_id, policy, policy_version, model, probabilities "
                "FROM other_decisions"
            )
        }

    def choices(self, policy: str) -> list[tuple[str, list[dict[str, Any]]]]:
        """(chosen model, logged scores) of every decision ``policy`` served, in order."""
        return [
            (r[0], orjson.loads(r[1])) for r in self._conn.execute(self._sql.choices, (policy,))
        ]
