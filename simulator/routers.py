"""The routers a replay compares, behind :class:`simulator.replay.Router`: the selector
on loopback (:class:`ServiceRouter`) and the baselines, which run in the gateway itself,
as teams run them today, without live latency or circuit breakers: ``always-heavy``,
``static-rules`` and the ``oracle``, which knows the world's true probabilities and
current latencies (not the dice) and picks the turn's best expected reward."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
from model_selector_gateway import (
    Options,
    SelectorClient,
    SelectorRejectedError,
    SelectorUnavailableError,
)

from core.errors import SelectorError
from simulator.replay import Call, Route, Turn
from simulator.world import Conversation, Load, World

__all__ = ["FixedRouter", "OracleRouter", "RandomRouter", "RulesRouter", "ServiceRouter"]


class _Silent:
    """Gateway-side routers: nobody to report to."""

    def call_result(self, route: Route, call: Call) -> None:
        return None

    def outcome(self, route: Route, good: bool, t: float) -> None:
        return None

    def conversation_outcome(self, conversation: Conversation, resolved: bool, t: float) -> None:
        return None


class FixedRouter(_Silent):
    """Always the same chain (``always-heavy``: the heavy model, then a fallback)."""

    def __init__(self, name: str, chain: Sequence[str]) -> None:
        self.name = name
        self.chain = list(chain)

    def route(self, turn: Turn) -> Route:
        return Route(list(self.chain))


class RandomRouter(_Silent):
    """A model drawn uniformly for each turn (the others, shuffled, as fallbacks): what
    choosing blindly earns, the floor a selector must clear."""

    def __init__(self, models: Sequence[str], seed: int, name: str = "uniform-random") -> None:
        self.name = name
        self.models = list(models)
        self.rng = np.random.default_rng((seed, 0x4A2D))

    def route(self, turn: Turn) -> Route:
        models = list(turn.deployed) or self.models
        return Route([models[i] for i in self.rng.permutation(len(models))])


class RulesRouter(_Silent):
    """The hand-written rule: turns ≤ ``max_turns`` → the small model, else the heavy one;
    on a failure, the other of the two."""

    def __init__(self, small: str, heavy: str, max_turns: int, name: str = "static-rules") -> None:
        self.name = name
        self.small, self.heavy, self.max_turns = small, heavy, max_turns

    def route(self, turn: Turn) -> Route:
        if turn.turns <= self.max_turns:
            return Route([self.small, self.heavy])
        return Route([self.heavy, self.small])


class OracleRouter(_Silent):
    """Knows the world: ranks models by the turn's true expected reward under the current
    load: P(answer good) × P(call succeeds) − λ·cost − w·median latency − late penalty ×
    P(late); under a budget, those within it first. It prices a turn's prompt as the
    provider bills it: read from the prompt cache on the model that answered the
    conversation's previous turn, while the cache lives."""

    def __init__(self, world: World, load: Load, name: str = "oracle") -> None:
        self.name = name
        self.world = world
        self.load = load
        self._asked: dict[int, int] = {}  # route (by id) → its conversation's index
        self._held: dict[int, tuple[str, int, float]] = {}  # as the replay's prompt cache

    def call_result(self, route: Route, call: Call) -> None:
        conversation = self._asked.get(id(route))
        if conversation is not None and call.error is None:
            del self._asked[id(route)]
            start = call.t - call.latency_ms / 1000.0
            self._held[conversation] = (call.model, call.prompt_tokens, start)

    def expected_reward(self, model: str, turn: Turn) -> float:
        w, sc, t = self.world, self.world.scenario, turn.t
        rho = w.load(model, self.load.per_min(model, t), t)
        timeout = w.p_latency_above(model, turn.prompt_tokens, rho, t, sc.gateway.timeout_ms)
        late = w.p_latency_above(model, turn.prompt_tokens, rho, t, sc.gateway.deadline_ms)
        success = (1.0 - w.p_error(model, rho)) * (1.0 - timeout)
        good = w.p_good(model, turn.conversation.group, turn.user_turn, t)
        cost = self.expected_cost(model, turn)
        seconds = w.latency_ms(model, turn.prompt_tokens, rho, 0.0, t) / 1000.0
        r = sc.reward
        return (
            success * good
            - r.cost_weight * cost
            - r.latency_per_s * seconds
            - r.late_penalty * late
        )

    def route(self, turn: Turn) -> Route:
        """The best expected reward first; under the gateway's budget, the models within
        it first (by expected reward), then the rest by cost, as the selector relaxes."""
        models = list(turn.deployed) or self.world.models
        ranked = sorted(models, key=lambda m: -self.expected_reward(m, turn))
        budget = self.world.scenario.gateway.budget_usd
        route = Route(ranked)
        if budget is not None:
            cost = {m: self.expected_cost(m, turn) for m in models}
            within = [m for m in ranked if cost[m] <= budget]
            over = sorted((m for m in ranked if cost[m] > budget), key=lambda m: cost[m])
            route = Route(within + over)
        self._asked[id(route)] = turn.conversation.index
        return route

    def expected_cost(self, model: str, turn: Turn) -> float:
        w = self.world
        mean = w.scenario.models[model].completion_tokens
        held = self._held.get(turn.conversation.index)
        cached = w.cached_tokens(model, held, turn.prompt_tokens, turn.t)
        return w.cost_usd(model, turn.prompt_tokens, mean, turn.t, cached)


class ServiceRouter:
    """The selector over HTTP, exactly as a gateway calls it (through
    :class:`model_selector_gateway.SelectorClient`). ``set_clock`` is called with the simulated
    time before each request (the service's clock in the replay)."""

    def __init__(
        self,
        name: str,
        host: str,
        port: int,
        deadline_ms: float,
        set_clock: Callable[[float], None] = lambda _t: None,
        token: str | None = None,
        budget_usd: float | None = None,
    ) -> None:
        self.name = name
        self.deadline_ms = deadline_ms
        self.budget_usd = budget_usd
        self.set_clock = set_clock
        # no default model: a replay that cannot reach the service is a failed replay
        options = Options(timeout_s=30, feedback_timeout_s=30, breaker_failures=0)
        self.client = SelectorClient(f"http://{host}:{port}", token=token, options=options)
        self.decisions: list[dict[str, Any]] = []

    def _report(self, report: Callable[[], object]) -> None:
        try:
            report()
        except (SelectorRejectedError, SelectorUnavailableError) as exc:
            raise SelectorError(f"the service refused feedback: {exc}") from exc

    def route(self, turn: Turn) -> Route:
        self.set_clock(turn.t)
        c = turn.conversation
        try:
            d = self.client.route(
                c.id,
                [{"role": "user", "content": c.text}],
                # the gateway's deployed models now
                candidates=list(turn.deployed) or None,
                turns=turn.turns,
                prompt_tokens=turn.prompt_tokens,
                max_latency_ms=self.deadline_ms,
                max_cost_usd=self.budget_usd,
            )
        except (SelectorRejectedError, SelectorUnavailableError) as exc:
            raise SelectorError(f"the service did not route: {exc}") from exc
        self.decisions.append(
            {"decision_id": d.decision_id, "propensity": d.propensity, "intent": d.intent}
        )
        return Route(list(d.chain), d.decision_id)

    def call_result(self, route: Route, call: Call) -> None:
        self.set_clock(call.t)
        fields: dict[str, Any] = {"latency_ms": round(call.latency_ms)}
        if call.error:
            fields["error"] = call.error
        else:
            fields["prompt_tokens"] = call.prompt_tokens
            fields["completion_tokens"] = call.completion_tokens
            fields["cost_usd"] = call.cost_usd
            fields["cached_tokens"] = call.cached_tokens
        if call.model != route.chain[0]:
            fields["model"] = call.model  # a fallback served: the service flags an override
        decision = str(route.decision_id)
        self._report(lambda: self.client.report_call(decision, **fields))

    def outcome(self, route: Route, good: bool, t: float) -> None:
        self.set_clock(t)
        decision = str(route.decision_id)
        self._report(lambda: self.client.report_outcome(decision, resolved=good))

    def conversation_outcome(self, conversation: Conversation, resolved: bool, t: float) -> None:
        self.set_clock(t)
        self._report(lambda: self.client.report_conversation(conversation.id, resolved=resolved))

    def close(self) -> None:
        self.client.close()
