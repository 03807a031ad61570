"""The SQL that writes the decision log, one function per write, each run inside the
caller's transaction (:class:`~selector.store.writer.SQLiteLog` groups them), except
:func:`delete_decisions`, a transaction of its own."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from typing import Any

import orjson

from core.errors import ConflictError, NotFoundError
from selector.store.records import (
    ConversationOutcome,
    ConversationResult,
    DecisionRecord,
    FeedbackEvent,
    FeedbackResult,
    OtherDecision,
)

__all__ = [
    "MARK_WRITABLE",
    "decision_row",
    "delete_decisions",
    "insert_conversation_outcome",
    "insert_decisions",
    "insert_feedback",
    "other_row",
    "outcome_of",
    "settled_before",
    "sort_conversation",
    "unknown",
]

#: a write of the writer's own, to learn whether the log takes writes again (one row)
MARK_WRITABLE = "INSERT OR REPLACE INTO meta VALUES ('writable_at', ?)"
_INSERT_DECISION = "INSERT INTO decisions VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)"
_INSERT_OTHER = "INSERT INTO other_decisions VALUES (?,?,?,?,?,?)"
_INSERT_OUTCOME = (
    "INSERT INTO outcomes (decision_id, resolved, reward, event_id, ts, via) VALUES (?,?,?,?,?,?)"
)
_INSERT_FEEDBACK = (
    "INSERT INTO feedback (event_id, decision_id, ts, model, latency_ms, error, prompt_tokens, "
    "completion_tokens, cost_usd, resolved, reward, late, override, cached_tokens) "
    "VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?)"
)
_INSERT_CONVERSATION = "INSERT OR IGNORE INTO conversation_outcomes VALUES (?,?,?,?,?)"
_CONVERSATION_HAD = "SELECT resolved, reward FROM conversation_outcomes WHERE conversation_id = ?"
# a conversation's outcome goes with the last of its decisions (retention)
_FORGET_CONVERSATION = (
    "DELETE FROM conversation_outcomes WHERE conversation_id = ? AND NOT EXISTS "
    "(SELECT 1 FROM decisions d WHERE d.conversation_id = conversation_outcomes.conversation_id)"
)
_OF_CONVERSATION = """
SELECT d.decision_id, d.ts, o.resolved, o.reward, o.via FROM decisions d
LEFT JOIN outcomes o USING (decision_id)
WHERE d.conversation_id = ? ORDER BY d.decision_id
"""


def other_row(decision_id: str, o: OtherDecision) -> tuple[Any, ...]:
    """The ``other_decisions`` row of a challenger's decision ``o``."""
    return (
        decision_id,
        o.policy,
        o.policy_version,
        o.model,
        o.propensity,
        orjson.dumps(o.probabilities),
    )


def decision_row(r: DecisionRecord) -> tuple[Any, ...]:
    """The ``decisions`` row of ``r``."""
    return (
        r.decision_id,
        r.ts,
        r.conversation_id,
        r.policy,
        r.policy_version,
        r.model,
        r.propensity,
        orjson.dumps(r.fallbacks),
        orjson.dumps(r.relaxed),
        orjson.dumps(r.request.as_json()),
        orjson.dumps(r.features),
        orjson.dumps(r.scores),
        r.text,
    )


def insert_decisions(conn: sqlite3.Connection, records: list[DecisionRecord]) -> None:
    """Store ``records`` and the challengers' decisions beside them, in one statement each."""
    conn.executemany(_INSERT_DECISION, [decision_row(r) for r in records])
    others = [other_row(r.decision_id, o) for r in records if (o := r.other) is not None]
    if others:
        conn.executemany(_INSERT_OTHER, others)


def insert_feedback(
    conn: sqlite3.Connection, ev: FeedbackEvent, now: float, join_window_s: float
) -> FeedbackResult:
    """Store a feedback event inside the caller's transaction: a resent event is
    recognised, an outcome is recorded once (a different second one is a
    :class:`ConflictError`), and one arriving after the join window is kept but marked
    late (it is not an outcome of the decision)."""
    row = conn.execute(
        "SELECT ts, model FROM decisions WHERE decision_id = ?", (ev.decision_id,)
    ).fetchone()
    if row is None:
        raise unknown("decision_id", ev.decision_id)
    decided_at, decided_model = row
    f = ev.fields
    event_id = ev.event_id
    override = "model" in f and f["model"] != decided_model
    if conn.execute("SELECT 1 FROM feedback WHERE event_id = ?", (event_id,)).fetchone():
        return FeedbackResult(ev.decision_id, True, False, override, decided_model)
    late = now - decided_at > join_window_s
    resolved = f.get("resolved")
    resolved_i = None if resolved is None else int(resolved)
    if ev.has_outcome:
        prev = conn.execute(
            "SELECT resolved, reward FROM outcomes WHERE decision_id = ?", (ev.decision_id,)
        ).fetchone()
        if prev is not None:
            if (prev[0], prev[1]) != (resolved_i, f.get("reward")):
                raise ConflictError(
                    f"decision {ev.decision_id} already has an outcome "
                    f"(resolved={_b(prev[0])}, reward={prev[1]}); an outcome is recorded once"
                )
        elif not late:
            conn.execute(
                _INSERT_OUTCOME, (ev.decision_id, resolved_i, f.get("reward"), event_id, now, None)
            )
    conn.execute(
        _INSERT_FEEDBACK,
        (
            event_id,
            ev.decision_id,
            now,
            f.get("model"),
            f.get("latency_ms"),
            f.get("error"),
            f.get("prompt_tokens"),
            f.get("completion_tokens"),
            f.get("cost_usd"),
            resolved_i,
            f.get("reward"),
            int(late),
            int(override),
            f.get("cached_tokens"),
        ),
    )
    return FeedbackResult(ev.decision_id, False, late, override, decided_model)


def unknown(field: str, value: str) -> NotFoundError:
    """The error for feedback on a decision or conversation the log does not hold."""
    fix = {
        "decision_id": "send the id that POST /v1/route returned",
        "conversation_id": "send the id the conversation's POST /v1/route requests carried",
    }[field]
    return NotFoundError(f"no decision with {field} {value!r}: {fix}")


def outcome_of(ev: ConversationOutcome) -> tuple[int | None, float | None]:
    """A conversation's outcome as the log stores it: (resolved as 0/1, reward)."""
    resolved = ev.fields.get("resolved")
    return (None if resolved is None else int(resolved), ev.fields.get("reward"))


def sort_conversation(
    ev: ConversationOutcome, rows: list[tuple[Any, ...]], late: Callable[[float], bool]
) -> tuple[list[str], int, int, int]:
    """The conversation's decisions (``rows``: id, time, resolved, reward, via) to credit
    with its outcome, and how many keep their own, are too late (``late(time)``), or were
    credited with the same outcome already; a different outcome of the conversation
    already credited is a :class:`ConflictError`."""
    outcome = outcome_of(ev)
    credited: list[str] = []
    kept = missed = same = 0
    for did, at, had_resolved, had_reward, via in rows:
        if via == "conversation":
            if (had_resolved, had_reward) != outcome:
                raise ConflictError(
                    f"conversation {ev.conversation_id} already has an outcome "
                    f"(resolved={_b(had_resolved)}, reward={had_reward}); an outcome is "
                    "recorded once"
                )
            same += 1
        elif had_resolved is not None or had_reward is not None:
            kept += 1
        elif late(at):
            missed += 1
        else:
            credited.append(did)
    return credited, kept, missed, same


def settled_before(ev: ConversationOutcome, had: tuple[Any, ...]) -> None:
    """The conversation had an outcome already (``had``: resolved, reward): the same one
    is a repeat; another is a :class:`ConflictError`."""
    if (had[0], had[1]) != outcome_of(ev):
        raise ConflictError(
            f"conversation {ev.conversation_id} already has an outcome (resolved="
            f"{_b(had[0])}, reward={had[1]}); an outcome is recorded once"
        )


def insert_conversation_outcome(
    conn: sqlite3.Connection, ev: ConversationOutcome, now: float, join_window_s: float
) -> ConversationResult:
    """Record a conversation's outcome, and credit it to each of its decisions that has
    none yet, within the join window, inside the caller's transaction. A decision that
    has an outcome of its own keeps it. A conversation's outcome is recorded once, even
    when no decision takes it: sent again it is a duplicate that credits nothing (not a
    decision made since either); a different one is a :class:`ConflictError` (nothing is
    written)."""
    rows = conn.execute(_OF_CONVERSATION, (ev.conversation_id,)).fetchall()
    if not rows:
        raise unknown("conversation_id", ev.conversation_id)
    outcome = outcome_of(ev)
    credited, kept, late, _ = sort_conversation(ev, rows, lambda ts: now - ts > join_window_s)
    cid = ev.conversation_id
    if not conn.execute(_INSERT_CONVERSATION, (cid, *outcome, ev.event_id(cid), now)).rowcount:
        settled_before(ev, conn.execute(_CONVERSATION_HAD, (cid,)).fetchone())
        return ConversationResult(cid, [], kept, late, duplicate=True)
    for did in credited:
        event_id = ev.event_id(did)
        conn.execute(_INSERT_FEEDBACK, (event_id, did, now, *([None] * 6), *outcome, 0, 0, None))
        conn.execute(_INSERT_OUTCOME, (did, *outcome, event_id, now, "conversation"))
    return ConversationResult(cid, credited, kept, late, duplicate=False)


def delete_decisions(conn: sqlite3.Connection, ids: list[str]) -> int:
    """Remove decisions ``ids`` with everything that refers to them, in one transaction;
    the number of feedback events removed."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        conn.execute("CREATE TEMP TABLE IF NOT EXISTS prune_ids (decision_id TEXT PRIMARY KEY)")
        conn.execute("DELETE FROM prune_ids")
        conn.executemany("INSERT INTO prune_ids VALUES (?)", [(d,) for d in ids])
        conversations = [
            r[0]
            for r in conn.execute(
                "SELECT DISTINCT conversation_id FROM decisions "
                "WHERE decision_id IN (SELECT decision_id FROM prune_ids)"
            )
        ]
        removed = 0
        for table in ("other_decisions", "outcomes", "feedback", "decisions"):
            cur = conn.execute(
                f"DELETE FROM {table} WHERE decision_id IN (SELECT decision_id FROM prune_ids)"
            )
            if table == "feedback":
                removed = cur.rowcount
        conn.executemany(_FORGET_CONVERSATION, [(c,) for c in conversations])
        conn.execute(
            "INSERT INTO meta VALUES ('pruned_through', ?) "
            "ON CONFLICT(key) DO UPDATE SET value = excluded.value",
            (max(ids),),
        )
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    return removed


def _b(v: int | None) -> bool | None:
    return None if v is None else bool(v)
