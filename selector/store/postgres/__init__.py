"""The decision log on PostgreSQL (``pip install "model-selector[postgres]"``), for
replicas that share one log. So far:

- :mod:`~selector.store.postgres.cursor`: reading a table in one global order that
  concurrent writers cannot break (what each replica's learner folds, in the same order
  as every other replica's);
- :mod:`~selector.store.postgres.schema`: the tables and their versioned migrations,
  made once by replicas starting together;
- :mod:`~selector.store.postgres.statements`: the writes, exactly-once across replicas;
- :mod:`~selector.store.postgres.writer`: :class:`PostgresLog`, committing them in
  groups before each acknowledgement (the same write calls as the SQLite log's,
  :class:`selector.store.commands.LogEngine`).

The service does not serve from PostgreSQL yet: the reader the online layer folds, and
the setting that chooses the engine, come next."""

from __future__ import annotations

from selector.store.postgres.cursor import TAIL_COLUMNS, Position, read_after

__all__ = ["TAIL_COLUMNS", "Position", "read_after"]
