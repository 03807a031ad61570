"""How the online layer learns: a deterministic fold over the decision log.

The learner reads feedback rows in the order the log committed them (their ``rowid`` on
SQLite; on PostgreSQL, ``(transaction id, serial)`` among finished transactions, the
same order on every replica: :mod:`selector.store.dialect`).
When a decision's outcome arrives, it sums the decided model's call results from the
log (the feedback rows of that decision read so far), computes the reward
(:func:`selector.reward.logged_reward`) and updates the bandit with ``reward − utility``
of the decided model. The log's own time (the latest feedback's ``ts``) closes join
windows: a decision older than the window without an outcome gets
``reward_default_outcome`` once, or is dropped.

- A feedback event the log marked ``late`` (after the window) is not learned from.
- A decision the gateway overrode (a call result names another ``model``) is not
  learned as the decided model's outcome; the latency of that call already counts for
  the model that served it, in the live statistics.
- **Nothing is held per decision in memory**: call results waiting for their outcome
  stay in the log, read back (by an index on the decision id) when the outcome comes.
  The learner's memory does not grow with traffic, however long the join window.
- **One event cannot stop learning.** An event no reward can be computed from (a
  non-finite or absurd cost or latency, a decision row an older build or a hand wrote
  differently, unreadable JSON) is skipped: counted (``skipped``, on ``/metrics``),
  logged once with its row and decision id, and kept among the last
  :data:`SKIPPED_KEPT` shown by ``selector bandit``. An error of the database itself is
  not an event's fault: the fold stops before that row and the next round retries it.

Because the fold reads only the log, in the log's order, a replay of the log from the
beginning reproduces the live state exactly (``selector bandit --replay``), and a
restart loses nothing: the state saved on disk records how far it has read, and the
rest is read again at start (replicas on PostgreSQL keep it in the log's snapshot
table, :mod:`selector.online.snapshots`). Decisions never wait for learning: in
``background`` mode a thread reads new feedback when told there is some (and every
``poll_s``); it survives any error (it backs off and retries), and says what failed in
:meth:`OnlineLearner.status`.

The package holds the whole online layer: its learners (:mod:`~selector.online.bandit`,
the interface every learner offers and bandit-v1's residual learner;
:mod:`~selector.online.contextual` and its :mod:`~selector.online.contexts` for
bandit-v2; :mod:`~selector.online.vw`; built by name in :mod:`~selector.online.learners`),
the fold (:mod:`~selector.online.learner`) and a decision's update
(:mod:`~selector.online.updates`), the saved state (:mod:`~selector.online.state`,
:mod:`~selector.online.snapshots`), the background thread (:mod:`~selector.online.runner`)
and its lag (:mod:`~selector.online.lag`).
"""

from __future__ import annotations

from selector.online.learner import SKIPPED_KEPT, OnlineLearner
from selector.online.state import StateError, StateFile, StateStore

__all__ = ["SKIPPED_KEPT", "OnlineLearner", "StateError", "StateFile", "StateStore"]
