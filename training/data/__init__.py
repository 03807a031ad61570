"""Training data for the quality model: every source behind one interface.

A :class:`RoutingData` holds

- ``requests``: one row per request — ``request_id``, ``text`` (the prompt or last
  user message, may be empty), ``intent`` (a category such as an intent or an MMLU
  subject, may be empty), ``turns``, ``prompt_tokens``, ``eval`` (False for rows to keep
  out of evaluation, e.g. RouteLLM's contaminated prompts);
- ``outcomes``: one row per request × model that was tried — ``request_id``, ``model``,
  ``resolved`` (0/1), and when known ``completion_tokens``, ``cost_usd``, ``latency_ms``;
- ``models``: one row per model — ``model``, ``input_usd_per_mtok``,
  ``output_usd_per_mtok``;
- ``source`` and ``content_hash`` (SHA-256 of the files read), for the record;
- for logged decisions only: ``propensity`` and ``weight`` in ``outcomes`` (see
  below) and ``offers``, one row per request × candidate the service considered, with
  the ``expected_cost_usd`` it used; ``notes`` says what was left out and why.

Sources (:data:`SOURCES`): RouteLLM's GSM8K and MMLU (two models, full information),
ZeroEval's gsm and crux (many models, with prices), a generic table users fill from
their own logs (:func:`load_table`, documented in docs/your-data.md), and the service's own
decision log (:func:`load_decision_log`).

**Learning from logged decisions.** A decision log holds one outcome per request: the
chosen model's. The models it did not choose are missing *not at random*: the policy
that logged them chose by the request (hard requests go to strong models), so a
plain fit learns each model only on the requests the policy gave it. Each outcome is
therefore weighted by the inverse of its logged propensity (``weight`` = 1 /
propensity, capped at :data:`MAX_IPS_WEIGHT` and scaled to mean 1), which re-balances
every model's requests towards the whole traffic (importance weighting). What stays
biased: a model a request had no chance of getting (propensity 0 for it, e.g. with no
exploration at all) is learned there only by extrapolation, through its prices and
the requests it did get; the cap trades a little bias for variance; outcomes of
decisions the gateway overrode (it served another model, whose propensity is
unknown) are left out.

The package: :mod:`~training.data.routing` (:class:`RoutingData`),
:mod:`~training.data.benchmarks`, :mod:`~training.data.tables`,
:mod:`~training.data.logged`, :mod:`~training.data.sources` (:func:`load_source`).
"""

from __future__ import annotations

from training.data.benchmarks import load_routellm, load_zeroeval
from training.data.logged import LOG_SUFFIXES, load_decision_log
from training.data.routing import (
    DEFAULT_DATA_DIR,
    HOLDOUT_SHARE,
    MAX_IPS_WEIGHT,
    STRONG,
    WEAK,
    RoutingData,
    unit_hash,
)
from training.data.sources import SOURCES, load_source
from training.data.tables import TABLE_COLUMNS, TABLE_OPTIONAL, load_table

__all__ = [
    "DEFAULT_DATA_DIR",
    "HOLDOUT_SHARE",
    "LOG_SUFFIXES",
    "MAX_IPS_WEIGHT",
    "SOURCES",
    "STRONG",
    "TABLE_COLUMNS",
    "TABLE_OPTIONAL",
    "WEAK",
    "RoutingData",
    "load_decision_log",
    "load_routellm",
    "load_source",
    "load_table",
    "load_zeroeval",
    "unit_hash",
]
