"""The decision log on PostgreSQL (``pip install "model-selector[postgres]"``), for
replicas that share one log (``SELECTOR_DATABASE_URL=postgresql://…``):

- :mod:`~selector.store.postgres.cursor`: reading a table in one global order that
  concurrent writers cannot break (what each replica's learner folds, in the same order
  as every other replica's);
- :mod:`~selector.store.postgres.schema`: the tables and their versioned migrations,
  made once by replicas starting together;
- :mod:`~selector.store.postgres.statements`: the writes, exactly-once across replicas;
- :mod:`~selector.store.postgres.writer`: :class:`PostgresLog`, committing them in
  groups before each acknowledgement (the same calls as the SQLite log's,
  :class:`selector.store.base.DecisionLog`);
- :mod:`~selector.store.postgres.reader`: every read, in the cursor's order (the
  online layer, export, retention, training);
- :mod:`~selector.store.postgres.live`: what replicas tell each other besides the
  records: the others' call results, and who holds a model's half-open probe.

:mod:`selector.engine` opens it; :mod:`selector.replicas` shares the live state."""

from __future__ import annotations

from selector.store.postgres.cursor import TAIL_COLUMNS, Position, read_after

__all__ = ["TAIL_COLUMNS", "Position", "read_after"]
