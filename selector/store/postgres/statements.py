"""The SQL that writes the decision log on PostgreSQL, one function per write, each run
inside the caller's transaction (a group commit holds many), each leaving nothing behind
when it is refused: a feedback event is one statement (one round trip), removed again
if its outcome is refused; a conversation's outcome runs in a savepoint of its own.
What holds on SQLite (:mod:`selector.store.statements`) holds here across replicas, by
the database's own unique keys rather than a look before writing:

- a resent event is stored once: ``INSERT … ON CONFLICT (event_id) DO NOTHING
  RETURNING``, whichever replica it reaches, however many at once;
- a decision's outcome is recorded once: the second, different one, from any replica, is
  a :class:`ConflictError` (its insert waits on the first's key, then finds it);
- time is the database's (``transaction_timestamp()``, one per group commit), for
  decisions and feedback alike, so the join window does not depend on the replicas'
  clocks, and the decisions one conversation's outcome credits share its time (the
  online layer weighs them as one observation by it).
"""

from __future__ import annotations

from typing import Any

from core.errors import ConflictError, NotFoundError
from selector.store.records import (
    ConversationOutcome,
    ConversationResult,
    DecisionRecord,
    FeedbackEvent,
    FeedbackResult,
)
from selector.store.statements import (
    decision_row,
    other_row,
    outcome_of,
    settled_before,
    sort_conversation,
    unknown,
)

__all__ = [
    "MARK_WRITABLE",
    "NOW",
    "delete_decisions",
    "insert_conversation_outcome",
    "insert_decisions",
    "insert_feedback",
    "insert_feedbacks",
]

NOW = "extract(epoch FROM transaction_timestamp())"
#: a write of the writer's own, to learn whether the log takes writes again (one row)
MARK_WRITABLE = (
    f"INSERT INTO meta VALUES ('writable_at', {NOW}::text) "
    "ON CONFLICT (key) DO UPDATE SET value = excluded.value"
)
_DECISION_COLUMNS = (
    "decision_id, ts, conversation_id, policy, policy_version, model, propensity, "
    "fallbacks, relaxed, request, features, scores, text"
)
_INSERT_DECISION = (
    f"INSERT INTO decisions ({_DECISION_COLUMNS}) "
    f"VALUES (%s, {NOW}, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)"
)
_INSERT_OTHER = "INSERT INTO other_decisions VALUES (%s, %s, %s, %s, %s, %s)"
_FEEDBACK_COLUMNS = (
    "event_id, decision_id, ts, model, latency_ms, error, prompt_tokens, "
    "completion_tokens, cost_usd, resolved, reward, late, override, origin, cached_tokens"
)
_INSERT_FEEDBACK = (
    f"INSERT INTO feedback ({_FEEDBACK_COLUMNS}) "
    f"VALUES (%s, %s, {NOW}, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s) "
    "ON CONFLICT (event_id) DO NOTHING RETURNING event_id"
)
_INSERT_OUTCOME = (
    "INSERT INTO outcomes (decision_id, resolved, reward, event_id, ts, via) "
    f"VALUES (%s, %s, %s, %s, {NOW}, %s) ON CONFLICT (decision_id) DO NOTHING "
    "RETURNING decision_id"
)
# one round trip per event: the decision (none: unknown), the event stored unless it is
# a resend, its outcome recorded unless late or there is one; the caller compares a
# refused outcome with the one recorded
_FEEDBACK = f"""
WITH d AS (
    SELECT model, {NOW} - ts > %(window)s AS late,
           %(model)s::text IS NOT NULL AND %(model)s::text <> model AS override
    FROM decisions WHERE decision_id = %(decision)s
), f AS (
    INSERT INTO feedback ({_FEEDBACK_COLUMNS})
    SELECT %(event)s, %(decision)s, {NOW}, %(model)s::text, %(latency)s::float8,
           %(error)s::text, %(prompt)s::bigint, %(completion)s::bigint, %(cost)s::float8,
           %(resolved)s::smallint, %(reward)s::float8, d.late::int, d.override::int,
           %(origin)s::text, %(cached)s::bigint
    FROM d
    ON CONFLICT (event_id) DO NOTHING RETURNING event_id
), o AS (
    INSERT INTO outcomes (decision_id, resolved, reward, event_id, ts, via)
    SELECT %(decision)s, %(resolved)s::smallint, %(reward)s::float8, f.event_id, {NOW}, NULL
    FROM f, d WHERE %(outcome)s AND NOT d.late
    ON CONFLICT (decision_id) DO NOTHING RETURNING decision_id
)
SELECT d.model, d.late, d.override, EXISTS (SELECT 1 FROM f), EXISTS (SELECT 1 FROM o)
FROM d
"""
_INSERT_CONVERSATION = (
    f"INSERT INTO conversation_outcomes VALUES (%s, %s, %s, %s, {NOW}) "
    "ON CONFLICT (conversation_id) DO NOTHING RETURNING conversation_id"
)
_CONVERSATION_HAD = "SELECT resolved, reward FROM conversation_outcomes WHERE conversation_id = %s"
_OF_CONVERSATION = f"""
SELECT d.decision_id, {NOW} - d.ts, o.resolved, o.reward, o.via FROM decisions d
LEFT JOIN outcomes o USING (decision_id)
WHERE d.conversation_id = %s ORDER BY d.decision_id
"""


def insert_decisions(conn: Any, records: list[DecisionRecord]) -> None:
    """Store ``records`` (at the database's time) and the challengers' decisions."""
    with conn.cursor() as cur:
        cur.executemany(_INSERT_DECISION, [_without_ts(decision_row(r)) for r in records])
        others = [other_row(r.decision_id, o) for r in records if (o := r.other) is not None]
        if others:
            cur.executemany(_INSERT_OTHER, others)


def _without_ts(row: tuple[Any, ...]) -> tuple[Any, ...]:
    return (row[0], *row[2:])


def _outcome_of(conn: Any, decision_id: str) -> tuple[Any, Any]:
    found = conn.execute(
        "SELECT resolved, reward FROM outcomes WHERE decision_id = %s", (decision_id,)
    ).fetchone()
    return (found[0], found[1]) if found else (None, None)


def _params(ev: FeedbackEvent, join_window_s: float, origin: str | None) -> dict[str, Any]:
    f = ev.fields
    return {
        "event": ev.event_id, "decision": ev.decision_id, "model": f.get("model"),
        "latency": f.get("latency_ms"), "error": f.get("error"),
        "prompt": f.get("prompt_tokens"), "completion": f.get("completion_tokens"),
        "cost": f.get("cost_usd"), "reward": f.get("reward"),
        "cached": f.get("cached_tokens"),
        "resolved": None if f.get("resolved") is None else int(f["resolved"]),
        "window": join_window_s, "origin": origin, "outcome": ev.has_outcome,
    }  # fmt: skip


def _settle(conn: Any, ev: FeedbackEvent, found: Any) -> FeedbackResult:
    """The result of ``ev`` from its statement's row; a refused outcome's row removed."""
    if found is None:
        raise unknown("decision_id", ev.decision_id)
    decided_model, late, override, stored, recorded = found
    if not stored:
        return FeedbackResult(ev.decision_id, True, False, bool(override), decided_model)
    if ev.has_outcome and not late and not recorded:
        had = _outcome_of(conn, ev.decision_id)  # another event's, committed meanwhile
        resolved = None if ev.fields.get("resolved") is None else int(ev.fields["resolved"])
        if had != (resolved, ev.fields.get("reward")):
            conn.execute("DELETE FROM feedback WHERE event_id = %s", (ev.event_id,))
            raise ConflictError(
                f"decision {ev.decision_id} already has an outcome (resolved="
                f"{None if had[0] is None else bool(had[0])}, reward={had[1]}); an outcome "
                "is recorded once"
            )
    return FeedbackResult(ev.decision_id, False, bool(late), bool(override), decided_model)


def insert_feedback(
    conn: Any, ev: FeedbackEvent, join_window_s: float, origin: str | None = None
) -> FeedbackResult:
    """Store a feedback event (stored by replica ``origin``) in one statement; see the
    module docstring for what a resend, a second outcome and a late event do. A refused
    second outcome removes the event's row again, in the caller's transaction."""
    found = conn.execute(_FEEDBACK, _params(ev, join_window_s, origin)).fetchone()
    return _settle(conn, ev, found)


def insert_feedbacks(
    conn: Any, events: list[FeedbackEvent], join_window_s: float, origin: str | None = None
) -> list[FeedbackResult | NotFoundError | ConflictError]:
    """:func:`insert_feedback` of each of ``events`` in order, their statements sent
    together (psycopg's pipeline mode: one round trip for all); each one's result, or
    the error that refused it. A resend of an event refused in the same batch is refused
    alike (the row its first copy stored was removed)."""
    with conn.pipeline():
        cursors = [conn.execute(_FEEDBACK, _params(ev, join_window_s, origin)) for ev in events]
        rows = [c.fetchone() for c in cursors]
    out: list[FeedbackResult | NotFoundError | ConflictError] = []
    refused: dict[str, ConflictError] = {}
    for ev, found in zip(events, rows, strict=True):
        try:
            result = _settle(conn, ev, found)
            if result.duplicate and ev.event_id in refused:
                raise refused[ev.event_id]
            out.append(result)
        except ConflictError as exc:
            refused[ev.event_id] = exc
            out.append(exc)
        except NotFoundError as exc:
            out.append(exc)
    return out


def insert_conversation_outcome(
    conn: Any, ev: ConversationOutcome, join_window_s: float, origin: str | None = None
) -> ConversationResult:
    """Record a conversation's outcome once and credit it to each of its decisions that
    has none yet, within the join window, as on SQLite
    (:func:`selector.store.statements.insert_conversation_outcome`); a different outcome
    of the conversation is a :class:`ConflictError` (the caller rolls back: nothing is
    written)."""
    rows = conn.execute(_OF_CONVERSATION, (ev.conversation_id,)).fetchall()
    if not rows:
        raise unknown("conversation_id", ev.conversation_id)
    outcome = outcome_of(ev)
    todo, kept, late, _ = sort_conversation(ev, rows, lambda age: age > join_window_s)
    cid = ev.conversation_id
    # the first of two replicas inserts; the other waits on its key, then finds it
    if not conn.execute(_INSERT_CONVERSATION, (cid, *outcome, ev.event_id(cid))).fetchone():
        settled_before(ev, conn.execute(_CONVERSATION_HAD, (cid,)).fetchone())
        return ConversationResult(cid, [], kept, late, duplicate=True)
    credited: list[str] = []
    for did in todo:
        event_id = ev.event_id(did)
        conn.execute(_INSERT_FEEDBACK, (event_id, did, *([None] * 6), *outcome, 0, 0, origin, None))
        if conn.execute(_INSERT_OUTCOME, (did, *outcome, event_id, "conversation")).fetchone():
            credited.append(did)
        else:  # its own outcome arrived meanwhile, through another replica: it keeps it
            conn.execute("DELETE FROM feedback WHERE event_id = %s", (event_id,))
            kept += 1
    return ConversationResult(cid, credited, kept, late, duplicate=False)


def delete_decisions(conn: Any, ids: list[str]) -> int:
    """Remove decisions ``ids`` with everything that refers to them, inside the caller's
    transaction; the number of feedback events removed."""
    conversations = [
        r[0]
        for r in conn.execute(
            "SELECT DISTINCT conversation_id FROM decisions WHERE decision_id = ANY(%s)", (ids,)
        )
    ]
    removed = 0
    for table in ("other_decisions", "outcomes", "feedback", "decisions"):
        cur = conn.execute(f"DELETE FROM {table} WHERE decision_id = ANY(%s)", (ids,))
        if table == "feedback":
            removed = cur.rowcount
    conn.execute(  # a conversation's outcome goes with the last of its decisions
        "DELETE FROM conversation_outcomes c WHERE c.conversation_id = ANY(%s) AND NOT EXISTS "
        "(SELECT 1 FROM decisions d WHERE d.conversation_id = c.conversation_id)",
        (conversations,),
    )
    conn.execute(
        "INSERT INTO meta VALUES ('pruned_through', %s) "
        "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        (max(ids),),
    )
    return removed
