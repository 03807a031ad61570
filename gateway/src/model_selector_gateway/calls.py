"""What the LiteLLM plug-in remembers of each call in flight: per call (LiteLLM's
``litellm_trace_id``, the same across a call's retries and fallbacks, new for every call
whatever the caller does with ``metadata``), the selector's decision for each model group
the call reached, the models already tried, and which catalog model each offered
deployment is. Calls are forgotten ``ttl_s`` after they started, or oldest first past
``max_calls``.

>>> from model_selector_gateway.results import Decision
>>> calls = Calls(ttl_s=60, clock=lambda: 0.0)
>>> call = calls.open("trace-1")
>>> call.decide("support", Decision("big", ("small",), "d-1"))
>>> groups = {"big": ["dep-1", "dep-2"], "small": ["dep-7"]}
>>> call.next_model("support", groups)
'big'
>>> call.offer("support", {"dep-1": "big", "dep-2": "big"})
>>> call.next_model("support", groups, previous="dep-1")  # another deployment of it
'big'
>>> call.next_model("support", groups, previous="dep-2")  # none left: the fallback
'small'
>>> call.offer("support", {"dep-7": "small"})
>>> _, decision, model = calls.served("trace-1", "dep-7")
>>> decision.decision_id, model
('d-1', 'small')
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field

from model_selector_gateway.results import Decision

__all__ = ["Call", "Calls"]


@dataclass
class Call:
    """One call's decisions, by model group, and what it tried."""

    started: float
    decisions: dict[str, Decision] = field(default_factory=dict)
    # per model group: the models offered, in order (the last one is the current one)
    tried: dict[str, list[str]] = field(default_factory=dict)
    failed: set[str] = field(default_factory=set)  # deployment ids whose attempt failed
    # deployment id → (model group, catalog model) of the deployments offered to LiteLLM
    offered: dict[str, tuple[str, str]] = field(default_factory=dict)
    attempts: int = 0  # the attempts the selector routed
    reported: int = 0  # the results of those attempts reported (or given up)

    def decide(self, group: str, decision: Decision) -> None:
        self.decisions[group] = decision

    def next_model(
        self, group: str, available: dict[str, list[str]], previous: str | None = None
    ) -> str | None:
        """The model whose deployments this attempt offers. ``available`` maps each of the
        group's catalog models to the ids of its deployments LiteLLM still offers;
        ``previous`` is the deployment the last attempt went to, if LiteLLM says so.

        The first attempt offers the decision's model. A retry stays on that model while
        it has a deployment that has not failed in this call (LiteLLM then balances
        among those, as a plain Router would), and moves to the decision's next model
        otherwise, or when the last attempt reached no deployment of it (over its rate
        limits); past the last fallback, it starts again from the decision's model."""
        decision = self.decisions.get(group)
        if decision is None:
            return None
        chain = [m for m in decision.chain if m in available]
        if not chain:
            return None
        tried = self.tried.setdefault(group, [])
        current = tried[-1] if tried else None
        new_failure = (
            previous is not None and previous in self.offered and previous not in self.failed
        )
        if previous is not None:
            self.failed.add(previous)
        if tried and not new_failure:  # the last attempt reached no deployment: no result
            self.attempts = max(self.attempts - 1, 0)
        left = [m for m in chain if any(d not in self.failed for d in available[m])]
        if current in left and new_failure:
            model = current
        else:
            after = chain.index(current) + 1 if current in chain else 0
            model = next((m for m in chain[after:] if m in left), None) or (
                left[0] if left else chain[0]
            )
        tried.append(model)
        return model

    def offer(self, group: str, deployments: dict[str, str]) -> None:
        """The deployments (id → catalog model) handed to LiteLLM for ``group``: one
        more attempt whose result is to be reported."""
        self.attempts += 1
        for deployment_id, model in deployments.items():
            self.offered[deployment_id] = (group, model)


class Calls:
    """The calls in flight, thread-safe (LiteLLM reports sync results from threads)."""

    def __init__(
        self,
        ttl_s: float = 900.0,
        max_calls: int = 100_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.ttl_s = ttl_s
        self.max_calls = max_calls
        self.clock = clock
        self._calls: OrderedDict[str, Call] = OrderedDict()
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._calls)

    def _forget_old(self, now: float) -> None:
        while self._calls:
            oldest = next(iter(self._calls.values()))
            if len(self._calls) <= self.max_calls and now - oldest.started < self.ttl_s:
                return
            self._calls.popitem(last=False)

    def open(self, trace_id: str) -> Call:
        """The call ``trace_id``, begun now if it is new."""
        with self._lock:
            now = self.clock()
            found = self._calls.get(trace_id)
            if found is None:
                found = self._calls[trace_id] = Call(now)
                self._forget_old(now)
            return found

    def unreported(self) -> int:
        """Attempts routed whose result has not been reported yet."""
        with self._lock:
            return sum(max(c.attempts - c.reported, 0) for c in self._calls.values())

    def get(self, trace_id: object) -> Call | None:
        with self._lock:
            return self._calls.get(trace_id) if isinstance(trace_id, str) else None

    def served(self, trace_id: object, deployment_id: object) -> tuple[Call, Decision, str] | None:
        """The call, the decision its attempt on ``deployment_id`` answers to, and the
        catalog model that deployment is; ``None`` when the selector did not route it."""
        call = self.get(trace_id)
        if call is None or not isinstance(deployment_id, str):
            return None
        found = call.offered.get(deployment_id)
        if found is None:
            return None
        group, model = found
        decision = call.decisions.get(group)
        return None if decision is None else (call, decision, model)
