"""The context the contextual online layer (:mod:`selector.online.contextual`) learns on: one
vector per candidate and request, each term of order 1, computed from the logged
feature vector (:mod:`features.schema`) the same way when deciding and when learning.

Terms: a bias; the intent group, one-hot over :data:`GROUP_SLOTS` slots (ids past the
last share it); then :data:`CONTEXT`: the conversation's length (log turns), its prompt
(log tokens), escalation, priority, the offline P(resolved) of the candidate, its live
error rate and its latency (log seconds).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from features.schema import CANDIDATE_FEATURES, REQUEST_FEATURES

__all__ = [
    "CONTEXT",
    "DIM",
    "GROUP_SLOTS",
    "context",
    "context_of",
    "contexts_of",
    "logged_contexts",
]

GROUP_SLOTS = 16  # intent groups with a term of their own (ids past the last share it)
#: the continuous part of a context, after the bias and the group's one-hot slots
CONTEXT = (
    "log_turns",
    "log_prompt_tokens",
    "escalation",
    "priority",
    "p_resolved",
    "error_rate",
    "log_latency_s",
)
DIM = 1 + GROUP_SLOTS + len(CONTEXT)
_R = {name: i for i, (name, _) in enumerate(REQUEST_FEATURES)}
_C = {name: i for i, (name, _) in enumerate(CANDIDATE_FEATURES)}
_GROUP, _TURNS, _PROMPT = _R["intent_group_id"], _R["turns"], _R["prompt_tokens"]
_ESCALATION, _PRIORITY = _R["escalation"], _R["priority"]
_ERROR, _P50 = _C["error_rate"], _C["latency_p50_ms"]


def context(
    group_id: int,
    turns: float,
    prompt_tokens: float,
    escalation: float,
    priority: float,
    p_resolved: float,
    error_rate: float,
    latency_ms: float,
) -> list[float]:
    """The context vector of one candidate on one request, each term of order 1.

    >>> x = context(2, 3, 500, 0, 1, 0.8, 0.0, 1000)
    >>> len(x), x[0], x[3], x[1 + GROUP_SLOTS + 4]
    (24, 1.0, 1.0, 0.8)
    """
    x = [0.0] * DIM
    x[0] = 1.0
    x[1 + min(max(int(group_id), 0), GROUP_SLOTS - 1)] = 1.0
    base = 1 + GROUP_SLOTS
    x[base] = math.log1p(max(turns, 0.0)) / 2.0 - 1.0
    x[base + 1] = math.log1p(max(prompt_tokens, 0.0)) / 4.0 - 1.5
    x[base + 2] = escalation
    x[base + 3] = priority - 1.0
    x[base + 4] = p_resolved
    x[base + 5] = error_rate
    x[base + 6] = math.log(min(max(latency_ms, 1.0), 3_600_000.0) / 1000.0) / 3.0
    return x


def context_of(request: Sequence[float], row: Sequence[float], p_resolved: float) -> list[float]:
    """The context of a candidate from the request block and its candidate block of a
    feature vector (:mod:`features.schema`) and its offline P(resolved): what the policy
    computes when it decides and the learner again from the log."""
    return context(
        int(request[_GROUP]),
        request[_TURNS],
        request[_PROMPT],
        request[_ESCALATION],
        request[_PRIORITY],
        p_resolved,
        row[_ERROR],
        row[_P50],
    )


def contexts_of(
    request: Sequence[float], rows: Sequence[Sequence[float]], p_resolved: Sequence[float]
) -> np.ndarray:
    """The contexts of several candidates of one request, as a candidates × :data:`DIM`
    array: the rows :func:`context_of` gives one by one, to the bit, with the request's
    terms computed once (the decision's path).

    >>> request = [0.0] * len(REQUEST_FEATURES)
    >>> rows = [[0.0] * len(CANDIDATE_FEATURES)] * 2
    >>> x = contexts_of(request, rows, [0.7, 0.9])
    >>> x.shape, x[1].tolist() == context_of(request, rows[1], 0.9)
    ((2, 24), True)
    """
    x = np.empty((len(rows), DIM))
    x[:] = context(
        int(request[_GROUP]),
        request[_TURNS],
        request[_PROMPT],
        request[_ESCALATION],
        request[_PRIORITY],
        0.0,
        0.0,
        1000.0,
    )
    base = 1 + GROUP_SLOTS
    x[:, base + 4] = p_resolved
    x[:, base + 5] = [row[_ERROR] for row in rows]
    x[:, base + 6] = [
        math.log(min(max(row[_P50], 1.0), 3_600_000.0) / 1000.0) / 3.0 for row in rows
    ]
    return x


def logged_contexts(
    features: dict[str, Any], scores: Sequence[dict[str, Any]]
) -> list[list[float]]:
    """The contexts of the logged ``scores``' models, from the decision's logged
    ``features`` (a KeyError, ValueError or TypeError when they cannot say)."""
    request = [float(v) for v in features["request"]]
    rows = dict(zip(features["candidates"], features["candidate_rows"], strict=True))
    return [
        context_of(request, [float(v) for v in rows[s["model"]]], float(s["p_resolved"]))
        for s in scores
    ]
