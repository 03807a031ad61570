"""The decision log: every decision and feedback event, and every read of them.

- :mod:`~selector.store.records`: what the log holds, as typed records;
- :mod:`~selector.store.base`: :class:`~selector.store.base.DecisionLog`, what every
  engine offers (the same writes, reads and lifecycle);
- :mod:`~selector.store.writer`: :class:`SQLiteLog`, the SQLite engine, written in
  group commits before each answer;
- :mod:`~selector.store.reader`: :class:`LogReader`, a read-only connection offering
  every read, grouped by who asks: the online layer's (:class:`LearnerReads`), export's,
  training's and off-policy evaluation's (:class:`JoinedReads`, with the joined log, one
  row per decision, in :mod:`~selector.store.joined`), retention's
  (:class:`PruningReads`); :mod:`~selector.store.reads` is what they share;
- :mod:`~selector.store.statements`: the SQL of each write; :mod:`~selector.store.waiters`:
  how results reach whoever waits for them;
- :mod:`~selector.store.schema`: the schema and its versioned migrations.

The PostgreSQL engine (:mod:`~selector.store.postgres`) implements the same
:class:`~selector.store.base.DecisionLog` and :class:`LogReader`'s reads; nothing above
this package writes SQL against the log.
"""

from selector.store.dialect import READ_ERRORS, Dialect
from selector.store.joined import JoinedReads, logged_request
from selector.store.learner_reads import LearnerReads
from selector.store.pruning_reads import PruningReads
from selector.store.reader import LogReader
from selector.store.records import (
    FEEDBACK_FIELDS,
    CallResults,
    ConversationOutcome,
    ConversationResult,
    DecisionRecord,
    FeedbackEvent,
    FeedbackResult,
    FeedbackRow,
    LoggedDecision,
    LoggedRequest,
    OtherDecision,
    UnusableRecordError,
    finite,
    id_prefix,
    logged_propensity,
)
from selector.store.schema import SCHEMA_VERSION
from selector.store.writer import SQLiteLog

__all__ = [
    "FEEDBACK_FIELDS",
    "READ_ERRORS",
    "SCHEMA_VERSION",
    "CallResults",
    "ConversationOutcome",
    "ConversationResult",
    "DecisionRecord",
    "Dialect",
    "FeedbackEvent",
    "FeedbackResult",
    "FeedbackRow",
    "JoinedReads",
    "LearnerReads",
    "LogReader",
    "LoggedDecision",
    "LoggedRequest",
    "OtherDecision",
    "PruningReads",
    "SQLiteLog",
    "UnusableRecordError",
    "finite",
    "id_prefix",
    "logged_propensity",
    "logged_request",
]
