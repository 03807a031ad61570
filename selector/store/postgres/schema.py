"""The decision log's PostgreSQL schema and its versioned migrations.

The tables and columns are SQLite's (:mod:`selector.store.schema`), in PostgreSQL's
types, and each appended table also carries the cursor's columns
(:data:`~selector.store.postgres.cursor.TAIL_COLUMNS`), so that every replica reads the
log in one order; a feedback row also names the replica that stored it (``origin``:
the others feed its call result to their live statistics). Two tables serve the replicas
alone: ``online_snapshots``, the online layer's furthest state per configuration (a new
replica starts from it), ``probes``, who holds each model's half-open probe, and
``budget_spend``, each replica's spend per budget and period.

``meta.schema_version`` says which version a database holds; replicas that start
together migrate it once (a transaction-scoped advisory lock serialises them), and one
written by a newer build is refused. A change of schema adds a step to
:data:`MIGRATIONS`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from core.errors import StoreError
from selector.store.postgres.cursor import TAIL_COLUMNS
from selector.store.schema import BACKFILL_CONVERSATIONS

__all__ = ["DDL", "MIGRATIONS", "SCHEMA_VERSION", "prepare", "version_of"]

_LOCK = 0x5E1EC7  # the advisory lock held while the schema is created or migrated

DDL = f"""
CREATE TABLE IF NOT EXISTS decisions (
    {TAIL_COLUMNS},
    decision_id     text PRIMARY KEY,
    ts              double precision NOT NULL,
    conversation_id text NOT NULL,
    policy          text NOT NULL,
    policy_version  text NOT NULL,
    model           text NOT NULL,
    propensity      double precision NOT NULL,
    fallbacks       bytea NOT NULL,
    relaxed         bytea NOT NULL,
    request         bytea NOT NULL,
    features        bytea NOT NULL,
    scores          bytea NOT NULL,
    text            text
);
CREATE INDEX IF NOT EXISTS decisions_tail ON decisions (xid, seq);
CREATE INDEX IF NOT EXISTS decisions_conversation ON decisions (conversation_id);
CREATE TABLE IF NOT EXISTS feedback (
    {TAIL_COLUMNS},
    event_id          text PRIMARY KEY,
    decision_id       text NOT NULL REFERENCES decisions (decision_id),
    ts                double precision NOT NULL,
    model             text,
    latency_ms        double precision,
    error             text,
    prompt_tokens     bigint,
    completion_tokens bigint,
    cost_usd          double precision,
    resolved          smallint,
    reward            double precision,
    late              smallint NOT NULL DEFAULT 0,
    override          smallint NOT NULL DEFAULT 0,
    origin            text,
    cached_tokens     bigint
);
CREATE INDEX IF NOT EXISTS feedback_tail ON feedback (xid, seq);
CREATE INDEX IF NOT EXISTS feedback_decision ON feedback (decision_id);
CREATE TABLE IF NOT EXISTS outcomes (
    decision_id text PRIMARY KEY REFERENCES decisions (decision_id),
    resolved    smallint,
    reward      double precision,
    event_id    text NOT NULL,
    ts          double precision NOT NULL,
    via         text
);
CREATE TABLE IF NOT EXISTS other_decisions (
    decision_id    text PRIMARY KEY REFERENCES decisions (decision_id),
    policy         text NOT NULL,
    policy_version text NOT NULL,
    model          text NOT NULL,
    propensity     double precision NOT NULL,
    probabilities  bytea NOT NULL
);
CREATE TABLE IF NOT EXISTS meta (key text PRIMARY KEY, value text NOT NULL);
CREATE TABLE IF NOT EXISTS online_snapshots (
    config_sha256 text PRIMARY KEY,
    cursor_xid    bigint NOT NULL,
    cursor_seq    bigint NOT NULL,
    state         text NOT NULL,
    sha256        text NOT NULL,
    saved_at      double precision NOT NULL
);
CREATE TABLE IF NOT EXISTS conversation_outcomes (
    conversation_id text PRIMARY KEY,
    resolved        smallint,
    reward          double precision,
    event_id        text NOT NULL,
    ts              double precision NOT NULL
);
-- each replica's spend and decisions per budget and period, so that replicas pace one
-- shared budget (selector.online.budget); ledger '' is the service's, else a tenant's
CREATE TABLE IF NOT EXISTS budget_spend (
    origin    text NOT NULL,
    ledger    text NOT NULL,
    period    bigint NOT NULL,
    spent     double precision NOT NULL,
    decisions bigint NOT NULL,
    PRIMARY KEY (origin, ledger, period)
);
CREATE TABLE IF NOT EXISTS probes (
    model  text PRIMARY KEY,
    holder text NOT NULL,
    until  double precision NOT NULL
);
"""


def _v2(conn: Any) -> None:
    """Version 2: each conversation's outcome is kept as such (``conversation_outcomes``,
    made by the DDL); those credited before are recorded from their decisions'."""
    conn.execute(BACKFILL_CONVERSATIONS)


def _v3(conn: Any) -> None:
    """Version 3: a call result may say how many of its prompt tokens the provider read
    from its prompt cache (``feedback.cached_tokens``)."""
    conn.execute("ALTER TABLE feedback ADD COLUMN IF NOT EXISTS cached_tokens bigint")


#: steps from version n to n + 1, in order: MIGRATIONS[0] takes a database from 1 to 2
MIGRATIONS: list[Callable[[Any], None]] = [_v2, _v3]
SCHEMA_VERSION = 1 + len(MIGRATIONS)


def version_of(conn: Any) -> int | None:
    """The schema version of the database (None: no log there yet)."""
    if conn.execute("SELECT to_regclass('meta')").fetchone()[0] is None:
        return None
    found = conn.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
    return int(found[0]) if found else None


def prepare(conn: Any, where: str) -> int:
    """Create the log's tables or migrate them to :data:`SCHEMA_VERSION`, once however
    many replicas start together; the version found. ``conn``: a psycopg connection not
    in a transaction. A database of a newer build is a :class:`StoreError`."""
    with conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(%s)", (_LOCK,))
        found = version_of(conn)
        if found is not None and found > SCHEMA_VERSION:
            raise StoreError(
                f"the decision log at {where} has schema version {found}, written by a "
                f"newer build (this one knows {SCHEMA_VERSION}): run that build, or use a "
                "new database"
            )
        conn.execute(DDL)
        for version in range(found or SCHEMA_VERSION, SCHEMA_VERSION):
            MIGRATIONS[version - 1](conn)
        conn.execute(
            "INSERT INTO meta VALUES ('schema_version', %s) "
            "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            (str(SCHEMA_VERSION),),
        )
    return found or SCHEMA_VERSION
