"""Replay a simulated day through a router, as a gateway would.

For every user turn, in order of simulated time, the gateway

1. asks its router which model should answer (for the selector: ``POST /v1/route``);
2. calls that model in the simulated world, and on an error or a timeout the next
   model of the chain (the decision's fallbacks), each call adding to that model's
   load;
3. reports each call's result as it returns (``POST /v1/feedback`` with
   ``latency_ms`` or ``error``; a fallback's result names the ``model`` that served);
4. reports the turn's outcome later (``resolved``), when the customer's next message
   shows the answer was good, or escalates to a human: a bad answer ends the
   conversation unresolved.

Routers are small classes behind one protocol (:mod:`simulator.routers`), so a new
policy (the online layer, a challenger) adds a row to the report by adding a router.
"""

from __future__ import annotations

import heapq
import itertools
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple, Protocol

import pandas as pd

from simulator.world import Conversation, Load, World

__all__ = ["Call", "ReplayResult", "Route", "Router", "Turn", "replay"]


@dataclass
class Route:
    """A router's answer: the models to try in order, and the decision to report on."""

    chain: list[str]
    decision_id: str | None = None


@dataclass(frozen=True)
class Turn:
    """What a router is asked about: one user turn."""

    conversation: Conversation
    user_turn: int  # 1-based
    prompt_tokens: int
    t: float
    deployed: tuple[str, ...] = ()  # the models the gateway can call now (empty: all)

    @property
    def turns(self) -> int:
        """Messages in the conversation so far, this one included (user + assistant)."""
        return 2 * self.user_turn - 1


@dataclass(frozen=True)
class Call:
    """One call's result, as the gateway reports it (tokens and cost when it answered)."""

    model: str
    latency_ms: float
    error: str | None
    t: float  # when it returned
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost_usd: float = 0.0
    cached_tokens: int = 0  # of prompt_tokens, read from the provider's prompt cache


class Router(Protocol):
    name: str

    def route(self, turn: Turn) -> Route: ...

    def call_result(self, route: Route, call: Call) -> None: ...

    def outcome(self, route: Route, good: bool, t: float) -> None: ...

    def conversation_outcome(self, conversation: Conversation, resolved: bool, t: float) -> None:
        """The conversation's outcome, once, where the scenario reports outcomes by
        conversation."""


@dataclass
class ReplayResult:
    policy: str
    turns: pd.DataFrame  # one row per user turn answered (or failed)
    conversations: pd.DataFrame  # one row per conversation
    decisions: list[dict[str, Any]] = field(default_factory=list)


class _Served(NamedTuple):
    """How a turn's calls went: the model that served (None: every call failed)."""

    model: str | None
    elapsed_ms: float
    cost: float
    completion: int
    attempts: int
    errors: int
    cached: int = 0  # prompt tokens read from the cache


def _turn_row(turn: Turn, route: Route, s: _Served, good: bool, late: bool) -> dict[str, Any]:
    c = turn.conversation
    return {
        "conversation": c.index,
        "group": c.group,
        "user_turn": turn.user_turn,
        "t": turn.t,
        "chosen": route.chain[0],
        "served": s.model,
        "attempts": s.attempts,
        "errors": s.errors,
        "latency_ms": s.elapsed_ms,
        "prompt_tokens": turn.prompt_tokens,
        "completion_tokens": s.completion,
        "cached_tokens": s.cached,
        "cost_usd": s.cost,
        "good": good,
        "late": late,
    }


def _call_chain(
    world: World,
    router: Router,
    route: Route,
    c: Conversation,
    k: int,
    prompt: int,
    t: float,
    load: Load,
    held: dict[int, tuple[str, int, float]],
) -> _Served:
    """Call the models of ``route``'s chain in turn until one answers, reporting each
    call's result; ``held``: where each conversation's last prompt was sent (the prompt
    cache), updated by the call that answers."""
    sc = world.scenario
    gw = sc.gateway
    elapsed_ms, cost, served, attempts, errors = 0.0, 0.0, None, 0, 0
    completion = cached = 0
    chain = [m for m in route.chain if world.available(m, t)]  # never an undeployed model
    for model in chain[: gw.max_attempts]:
        now = t + elapsed_ms / 1000.0
        col = world.column[model]
        rho = world.load(model, load.per_min(model, now), now)
        load.add(model, now)
        attempts += 1
        latency = world.latency_ms(model, prompt, rho, float(c.z_latency[k - 1, col]), now)
        error: str | None = None
        if c.u_error[k - 1, col] < world.p_error(model, rho):
            error, latency = "error", min(sc.models[model].base_ms, gw.timeout_ms)
        elif latency > gw.timeout_ms:
            error, latency = "timeout", gw.timeout_ms
        elapsed_ms += latency
        end = t + elapsed_ms / 1000.0
        if error is None:
            served = model
            completion = world.completion_tokens(model, float(c.z_length[k - 1, col]))
            cached = world.cached_tokens(model, held.get(c.index), prompt, now)
            held[c.index] = (model, prompt, now)
            cost = world.cost_usd(model, prompt, completion, end, cached)
            call = Call(model, latency, None, end, prompt, completion, cost, cached)
            router.call_result(route, call)
            break
        router.call_result(route, Call(model, latency, error, end))
        errors += 1
    return _Served(served, elapsed_ms, cost, completion, attempts, errors, cached)


def _settle(state: dict[str, Any], served: _Served, k: int, late: bool) -> None:
    """Add a turn's cost and wait to its conversation's running totals."""
    state["cost"] += served.cost
    state["late"] += int(late)
    state["wait_s"] += served.elapsed_ms / 1000.0
    state["turns"] = k


def _conversation_rows(
    conversations: Sequence[Conversation], state: dict[int, dict[str, Any]], r: Any
) -> list[dict[str, Any]]:
    """One row per conversation, with its reward under the scenario's weights ``r``."""
    conv_rows = []
    for c in conversations:
        s = state[c.index]
        conv_rows.append(
            {
                "conversation": c.index,
                "start_s": c.start_s,
                "group": c.group,
                "user_turns": c.user_turns,
                "turns_reached": s["turns"],
                "resolved": s["resolved"],
                "cost_usd": s["cost"],
                "wait_s": s["wait_s"],
                "late_turns": s["late"],
                "reward": float(s["resolved"])
                - r.cost_weight * s["cost"]
                - r.latency_per_s * s["wait_s"]
                - r.late_penalty * s["late"],
            }
        )
    return conv_rows


def _fresh_state() -> dict[str, Any]:
    """A conversation's running totals before its first turn."""
    return {"cost": 0.0, "late": 0, "turns": 0, "resolved": False, "wait_s": 0.0}


def _report(router: Router, kind: str, payload: Any, t: float) -> None:
    """Tell ``router`` an outcome: a turn's (``outcome``) or a conversation's."""
    if kind == "outcome":
        router.outcome(payload[0], payload[1], t)
    else:
        router.conversation_outcome(payload[0], payload[1], t)


def _deployed(world: World, t: float) -> tuple[str, ...]:
    """The models deployed at ``t`` when some are not (empty: all are)."""
    deployed = world.deployed(t)
    return () if len(deployed) == len(world.models) else tuple(deployed)


def replay(
    world: World,
    conversations: Sequence[Conversation],
    router: Router,
    load: Load | None = None,
    progress: Callable[[int], None] = lambda _n: None,
) -> ReplayResult:
    """Run ``conversations`` through ``router`` in simulated time; ``progress`` is called
    with the number of the conversations' user turns settled (answered, or never to come
    after an escalation) since its last call."""
    sc, gw = world.scenario, world.scenario.gateway
    load = load if load is not None else Load(sc.load_window_s)
    seq = itertools.count()
    queue: list[tuple[float, int, str, Any]] = [
        (c.start_s, next(seq), "turn", (c, 1)) for c in conversations
    ]
    heapq.heapify(queue)
    by_turn = sc.conversation.outcome_level == "turn"
    context = {c.index: sc.conversation.system_prompt_tokens for c in conversations}
    held: dict[int, tuple[str, int, float]] = {}  # the prompt cache (_call_chain)
    turn_rows: list[dict[str, Any]] = []
    conv_state = {c.index: _fresh_state() for c in conversations}
    while queue:
        t, _, kind, payload = heapq.heappop(queue)
        if kind != "turn":
            _report(router, kind, payload, t)
            continue
        c, k = payload
        prompt = context[c.index] + c.user_tokens
        turn = Turn(c, k, prompt, t, _deployed(world, t))
        route = router.route(turn)
        served = _call_chain(world, router, route, c, k, prompt, t, load, held)
        good = served.model is not None and bool(
            c.u_good[k - 1] < world.p_good(served.model, c.group, k, t)
        )
        late = served.elapsed_ms > gw.deadline_ms
        state = conv_state[c.index]
        _settle(state, served, k, late)
        end = t + served.elapsed_ms / 1000.0
        last = k >= c.user_turns
        wait = float(c.think_s[k - 1]) if good and not last else sc.conversation.outcome_delay_s
        if route.decision_id is not None and by_turn:
            heapq.heappush(queue, (end + wait, next(seq), "outcome", (route, good)))
        if good and not last:
            context[c.index] = prompt + served.completion
            heapq.heappush(queue, (end + wait, next(seq), "turn", (c, k + 1)))
        else:
            state["resolved"] = good
            if not by_turn:
                heapq.heappush(queue, (end + wait, next(seq), "conversation", (c, good)))
        turn_rows.append(_turn_row(turn, route, served, good, late))
        # an escalated conversation's remaining turns will not come: count them as done
        progress(1 if good else 1 + c.user_turns - k)
    conv_rows = _conversation_rows(conversations, conv_state, sc.reward)
    return ReplayResult(
        router.name,
        pd.DataFrame(turn_rows),
        pd.DataFrame(conv_rows),
        list(getattr(router, "decisions", [])),
    )
