"""The decision log on PostgreSQL (``pip install "model-selector[postgres]"``), for
replicas that share one log. So far: :mod:`~selector.store.postgres.cursor`, reading a
table in one global order that concurrent writers cannot break (what each replica's
learner folds, in the same order as every other replica's)."""

from __future__ import annotations

from selector.store.postgres.cursor import TAIL_COLUMNS, Position, read_after

__all__ = ["TAIL_COLUMNS", "Position", "read_after"]
