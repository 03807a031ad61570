"""``selector train``, ``evaluate``, ``promote``, ``ope``, ``compare``,
``train-intents``, ``train-difficulty`` and ``catalog``: the offline jobs' commands
(found by ``selector`` through the ``model_selector.commands`` entry point)."""

from __future__ import annotations

from training.cli.catalog import catalog
from training.cli.logged import compare, ope
from training.cli.models import evaluate, promote, train, train_difficulty, train_intents

__all__ = ["COMMANDS"]

COMMANDS = [train_intents, train_difficulty, evaluate, train, promote, ope, compare, catalog]
