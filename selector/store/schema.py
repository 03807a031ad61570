"""The decision log's SQLite schema, and its migrations.

``meta.schema_version`` says which version a log file holds. Opening a log creates the
tables of a new one, migrates an older one step by step (each step in one
transaction), and refuses one written by a newer build. Version 1 is the first schema;
version 2 adds ``outcomes.via`` (an outcome credited from the conversation's) and an
index of decisions by conversation; version 3 adds ``conversation_outcomes``; version 4
adds ``feedback.cached_tokens``. A change of schema adds a step to :data:`MIGRATIONS`.

Tables: ``decisions`` (one row per decision), ``feedback`` (one row per distinct
event; ``event_id`` is a hash of the decision id and the event's fields, so a resent
event is recognised), ``outcomes`` (the one outcome a decision may have),
``other_decisions`` (what the policy not served decided on the same request, when a
challenger runs in shadow or canary mode), ``conversation_outcomes`` (the one outcome a
conversation may have), ``meta``.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable
from pathlib import Path

from core.errors import StoreError

__all__ = [
    "BACKFILL_CONVERSATIONS",
    "DDL",
    "MIGRATIONS",
    "SCHEMA_VERSION",
    "check",
    "connect",
    "open_failure",
    "prepare",
    "version_of",
]

DDL = """
-- decision ids start with the time in milliseconds (hex): their order is time order,
-- so time ranges are id ranges and no index on ts is kept up on the hot path.
CREATE TABLE IF NOT EXISTS decisions (
    decision_id     TEXT PRIMARY KEY,
    ts              REAL NOT NULL,
    conversation_id TEXT NOT NULL,
    policy          TEXT NOT NULL,
    policy_version  TEXT NOT NULL,
    model           TEXT NOT NULL,
    propensity      REAL NOT NULL,
    fallbacks       BLOB NOT NULL,  -- JSON, as UTF-8 bytes
    relaxed         BLOB NOT NULL,  -- JSON
    request         BLOB NOT NULL,  -- JSON
    features        BLOB NOT NULL,  -- JSON
    scores          BLOB NOT NULL,  -- JSON
    text            TEXT
);
CREATE TABLE IF NOT EXISTS feedback (
    event_id          TEXT PRIMARY KEY,
    decision_id       TEXT NOT NULL REFERENCES decisions(decision_id),
    ts                REAL NOT NULL,
    model             TEXT,
    latency_ms        REAL,
    error             TEXT,
    prompt_tokens     INTEGER,
    completion_tokens INTEGER,
    cost_usd          REAL,
    resolved          INTEGER,
    reward            REAL,
    late              INTEGER NOT NULL DEFAULT 0,
    override          INTEGER NOT NULL DEFAULT 0,
    cached_tokens     INTEGER  -- of prompt_tokens, read from the provider's prompt cache
);
CREATE INDEX IF NOT EXISTS feedback_decision ON feedback(decision_id);
CREATE INDEX IF NOT EXISTS feedback_ts ON feedback(ts);
CREATE TABLE IF NOT EXISTS outcomes (
    decision_id TEXT PRIMARY KEY REFERENCES decisions(decision_id),
    resolved    INTEGER,
    reward      REAL,
    event_id    TEXT NOT NULL,
    ts          REAL NOT NULL,
    via         TEXT  -- NULL: the decision's own outcome; 'conversation': its conversation's
);
CREATE INDEX IF NOT EXISTS decisions_conversation ON decisions(conversation_id);
-- the challenger's decision on the same request, when one runs beside the served policy
-- (shadow: never served; canary: the champion's, on the requests the challenger served)
CREATE TABLE IF NOT EXISTS other_decisions (
    decision_id    TEXT PRIMARY KEY REFERENCES decisions(decision_id),
    policy         TEXT NOT NULL,
    policy_version TEXT NOT NULL,
    model          TEXT NOT NULL,
    propensity     REAL NOT NULL,
    probabilities  BLOB NOT NULL  -- JSON {model: probability of being chosen}
);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
-- the outcome each conversation was given (once: a repeat is a duplicate, another a
-- conflict), whether or not any of its decisions could be credited with it
CREATE TABLE IF NOT EXISTS conversation_outcomes (
    conversation_id TEXT PRIMARY KEY,
    resolved        INTEGER,
    reward          REAL,
    event_id        TEXT NOT NULL,
    ts              REAL NOT NULL
);
"""


def _v2(conn: sqlite3.Connection) -> None:
    """Version 2: an outcome says whether it came from the conversation's outcome; the
    decisions of a conversation are found by an index."""
    conn.execute("ALTER TABLE outcomes ADD COLUMN via TEXT")
    conn.execute("CREATE INDEX IF NOT EXISTS decisions_conversation ON decisions(conversation_id)")


#: a conversation's outcome credited before version 3, recorded as the conversation's
BACKFILL_CONVERSATIONS = """
INSERT INTO conversation_outcomes
SELECT d.conversation_id, o.resolved, o.reward, MIN(o.event_id), MIN(o.ts)
FROM outcomes o JOIN decisions d USING (decision_id)
WHERE o.via = 'conversation' GROUP BY d.conversation_id, o.resolved, o.reward
ON CONFLICT (conversation_id) DO NOTHING
"""


def _v3(conn: sqlite3.Connection) -> None:
    """Version 3: each conversation's outcome is kept as such (table
    ``conversation_outcomes``, made by the DDL), so a repeat is known even when no
    decision took it; those credited before are recorded from their decisions'."""
    conn.execute(BACKFILL_CONVERSATIONS)


def _v4(conn: sqlite3.Connection) -> None:
    """Version 4: a call result may say how many of its prompt tokens the provider read
    from its prompt cache (``feedback.cached_tokens``)."""
    columns = {r[1] for r in conn.execute("PRAGMA table_info(feedback)")}
    if "cached_tokens" not in columns:  # a log made by this build and marked older has it
        conn.execute("ALTER TABLE feedback ADD COLUMN cached_tokens INTEGER")


#: steps from version n to n + 1, in order: MIGRATIONS[0] takes a log from 1 to 2
MIGRATIONS: list[Callable[[sqlite3.Connection], None]] = [_v2, _v3, _v4]
SCHEMA_VERSION = 1 + len(MIGRATIONS)


_WAL_SIZE_LIMIT = 64 * 1024 * 1024


def connect(path: Path, sync: str, autocheckpoint: bool = True) -> sqlite3.Connection:
    """A write connection to the log at ``path``: WAL, ``sync`` ('normal' or 'full')."""
    conn = sqlite3.connect(path, timeout=30.0, isolation_level=None, check_same_thread=False)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute(f"PRAGMA synchronous={sync.upper()}")
    conn.execute("PRAGMA foreign_keys=ON")
    # a WAL file that grew in a burst is cut back to this size when it starts over
    conn.execute(f"PRAGMA journal_size_limit={_WAL_SIZE_LIMIT}")
    if not autocheckpoint:
        conn.execute("PRAGMA wal_autocheckpoint=0")
    return conn


def version_of(conn: sqlite3.Connection) -> int | None:
    """The schema version of an open log (None: no tables yet)."""
    has_meta = conn.execute(
        "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'meta'"
    ).fetchone()
    if not has_meta:
        return None
    found = conn.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
    return int(found[0]) if found else 1


def prepare(conn: sqlite3.Connection, where: str) -> int:
    """Create the tables of a new log or migrate an older one to :data:`SCHEMA_VERSION`;
    the version the log had. A log of a newer build is a StoreError."""
    found = version_of(conn)
    if found is None:
        conn.executescript(DDL)
        conn.execute(
            "INSERT OR IGNORE INTO meta VALUES ('schema_version', ?)", (str(SCHEMA_VERSION),)
        )
        return SCHEMA_VERSION
    if found > SCHEMA_VERSION:
        raise StoreError(
            f"the decision log at {where} has schema version {found}, written by a newer "
            f"build (this one knows {SCHEMA_VERSION}): run that build, or start a new log"
        )
    conn.executescript(DDL)  # tables an older build did not create yet
    for version in range(found, SCHEMA_VERSION):
        conn.execute("BEGIN IMMEDIATE")
        try:
            MIGRATIONS[version - 1](conn)
            conn.execute(
                "INSERT OR REPLACE INTO meta VALUES ('schema_version', ?)", (str(version + 1),)
            )
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
    return found


def check(conn: sqlite3.Connection, path: Path, budget_s: float) -> bool:
    """SQLite's ``quick_check`` of the log (every page read once: about 0.6 s for 740 MB
    in the page cache, 9 s from a cold disk), stopped after ``budget_s`` seconds; False
    when it was stopped before the end. A damaged log is a :class:`StoreError` saying how
    to recover it."""
    deadline = time.monotonic() + budget_s
    conn.set_progress_handler(lambda: time.monotonic() > deadline, 100_000)
    try:
        found = [str(r[0]) for r in conn.execute("PRAGMA quick_check(3)").fetchall()]
    except sqlite3.OperationalError as exc:
        if "interrupt" in str(exc):
            return False
        raise
    finally:
        conn.set_progress_handler(None, 0)
    if found != ["ok"]:
        problem = sqlite3.DatabaseError("; ".join(found))
        raise StoreError(open_failure(path, problem))
    return True


def open_failure(path: Path, exc: BaseException) -> str:
    """Why the log at ``path`` cannot be opened, and what to do about it."""
    damaged = isinstance(exc, sqlite3.DatabaseError) and not isinstance(
        exc, sqlite3.OperationalError
    )
    if damaged:  # "file is not a database", "database disk image is malformed"
        return (
            f"the decision log at {path} is damaged ({exc}): recover what it holds with "
            f"`sqlite3 {path} .recover | sqlite3 {path}.recovered` and point SELECTOR_DB_PATH "
            f"at {path}.recovered, or move {path} aside to start a new, empty log"
        )
    return (
        f"cannot open the decision log at {path}: {exc}; set SELECTOR_DB_PATH to a file in a "
        "folder the service can write"
    )
