"""The simulated world: a day of conversations, and the truth about every model.

**Traffic** (:func:`World.traffic`): conversation start times drawn from the day's
arrival profile (diurnal cosine × spikes); each conversation takes its number of user
turns and the length of its user messages from a random dialogue of the Schema-Guided
Dialogue corpus, and its opening message and intent from BANKING77. Every random
number a conversation can need (one per turn × model for the outcome, the latency
noise, the error draw and the completion length) is drawn up front from a generator
seeded by (scenario seed, conversation index): every policy replayed on the same day
meets the same customers and the same dice, so their differences are theirs alone.
A turn's outcome draw is shared by all models: an answer is good when the turn's
draw falls below the model's probability, so a hard turn is hard for every model and
a better model is never unlucky where a worse one is lucky.

**Truth** (for the gateway simulation and evaluation code, never for the service):

- per-turn probability of a good answer: the scenario's table by model tier × intent
  group, plus the model's offsets, minus its tier's decline per turn, plus any quality
  event in force (:meth:`World.p_good`);
- latency: ``(base + prefill per token × prompt) × lognormal noise × (1 + load^sharpness)``
  where load is the model's calls in the last ``load_window_s`` over its capacity plus
  the provider's background load, which follows the day's profile: queueing falls
  off a cliff past capacity (:meth:`World.latency_ms`);
- errors: the model's error rate plus ``overload_error_rate × (load − 1)`` past capacity;
- the prompt cache: a call on the model that answered the conversation's previous turn
  reads that turn's prompt from the cache, billed at the catalog's cached price, while
  the cache lives and when the prompt was long enough to be cached
  (:meth:`World.cached_tokens`).
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass, field

import numpy as np

from core.errors import ConfigError
from selector.catalog import Catalog
from simulator.corpus import Corpus
from simulator.scenario import Event, Scenario

__all__ = ["Conversation", "Load", "World"]

CHARS_PER_TOKEN = 4.0
_GRID = 4_096  # points of the arrival profile's inverse CDF


@dataclass
class Conversation:
    """One customer's conversation and the dice it will meet."""

    index: int
    id: str
    start_s: float
    user_turns: int
    user_tokens: int  # tokens of each user message
    text: str  # the opening message
    intent: str
    group: str
    think_s: np.ndarray  # (turns,) gap before each next message
    u_good: np.ndarray  # (turns,) uniform: a model's answer is good when below its p_good
    z_latency: np.ndarray  # (turns, models) standard normal latency noise
    u_error: np.ndarray  # (turns, models) uniform: the call fails when below P(error)
    z_length: np.ndarray  # (turns, models) standard normal completion-length noise


@dataclass
class Load:
    """Calls started on each model in the last ``window_s`` seconds of simulated time."""

    window_s: float
    calls: dict[str, deque[float]] = field(default_factory=dict)

    def add(self, model: str, t: float) -> None:
        self.calls.setdefault(model, deque()).append(t)

    def per_min(self, model: str, t: float) -> float:
        q = self.calls.get(model)
        if not q:
            return 0.0
        while q and q[0] < t - self.window_s:
            q.popleft()
        return len(q) * 60.0 / self.window_s


class World:
    """A scenario made concrete over the catalog's models and the shared data."""

    def __init__(self, scenario: Scenario, catalog: Catalog, corpus: Corpus) -> None:
        unknown = [m for m in scenario.models if m not in catalog]
        if unknown:
            raise ConfigError(
                f"scenario {scenario.name}: models {unknown} are not in the catalog "
                f"({', '.join(catalog.names)})"
            )
        self.scenario = scenario
        self.catalog = catalog
        self.corpus = corpus
        self.models = list(scenario.models)
        self.column = {m: i for i, m in enumerate(self.models)}
        self._tier = {m: catalog[m].tier for m in self.models}
        hours = np.linspace(0.0, scenario.day.hours, _GRID + 1)
        self._hours = hours
        self._profile = np.array([self._rate(h) for h in hours])
        self._mean_rate = float(np.trapezoid(self._profile, hours) / scenario.day.hours)

    # -- the day's arrival profile ---------------------------------------------------
    def _rate(self, hour: float) -> float:
        day = self.scenario.day
        r = 1.0 + day.diurnal_amplitude * math.cos(2 * math.pi * (hour - day.peak_hour) / 24.0)
        for s in day.spikes:
            if s.start_hour <= hour < s.end_hour:
                r *= s.multiplier
        return r

    def traffic_level(self, t: float) -> float:
        """Arrival rate at ``t`` seconds over the day's mean rate."""
        return self._rate(t / 3600.0) / self._mean_rate

    def traffic(
        self, seed: int | None = None, conversations: int | None = None
    ) -> list[Conversation]:
        """The day's conversations, in order of arrival."""
        sc = self.scenario
        seed = sc.seed if seed is None else seed
        n = conversations or sc.day.conversations
        rng = np.random.default_rng([seed, 0])
        cdf = np.concatenate([[0.0], np.cumsum((self._profile[1:] + self._profile[:-1]) / 2)])
        cdf /= cdf[-1]
        starts = np.sort(np.interp(rng.random(n), cdf, self._hours)) * 3600.0
        shapes = rng.integers(0, len(self.corpus.user_turns), n)
        utter = rng.integers(0, len(self.corpus.texts), n)
        k = len(self.models)
        opening = self._openings(seed, utter)
        out: list[Conversation] = []
        for i in range(n):
            turns = int(min(self.corpus.user_turns[shapes[i]], sc.conversation.max_user_turns))
            r = np.random.default_rng([seed, 1, i])
            text, intent, group = opening[i]
            out.append(
                Conversation(
                    index=i,
                    id=f"{sc.name}-{seed}-{i:06d}",
                    start_s=float(starts[i]),
                    user_turns=turns,
                    user_tokens=max(1, round(self.corpus.user_chars[shapes[i]] / CHARS_PER_TOKEN)),
                    text=text,
                    intent=intent,
                    group=group,
                    think_s=r.exponential(sc.conversation.think_time_s, turns),
                    u_good=r.random(turns),
                    z_latency=r.standard_normal((turns, k)),
                    u_error=r.random((turns, k)),
                    z_length=r.standard_normal((turns, k)),
                )
            )
        return out

    def _openings(self, seed: int, utter: np.ndarray) -> list[tuple[str, str, str]]:
        """Each conversation's opening message, intent and quality group: BANKING77's
        utterance ``utter[i]``, or, for the day's share of unseen intents (drawn from a
        generator of their own, so a day without them is unchanged), an SGD dialogue's."""
        c = self.corpus
        out = [(c.texts[u], c.intents[u], c.groups[u]) for u in utter]
        unseen = self.scenario.day.unseen_intents
        if unseen is None or unseen.share == 0:
            return out
        if not c.unseen_texts:
            raise ConfigError(
                f"scenario {self.scenario.name}: day.unseen_intents needs the opening "
                "messages of SGD's dialogues (first_user_utterance of "
                "dialogues/sgd_dialogues.csv.gz), and the corpus has none"
            )
        rng = np.random.default_rng([seed, 2])
        swap = rng.random(len(out)) < unseen.share
        pick = rng.integers(0, len(c.unseen_texts), len(out))
        for i in np.flatnonzero(swap):
            domain = c.unseen_domains[pick[i]]
            out[i] = (
                c.unseen_texts[pick[i]],
                f"sgd:{domain}",
                unseen.groups.get(domain, "other"),
            )
        return out

    # -- truth -------------------------------------------------------------------------
    def p_good(self, model: str, group: str, user_turn: int, t: float = 0.0) -> float:
        """True probability that ``model``'s answer at ``user_turn`` (1-based) is good."""
        sc, m = self.scenario, self.scenario.models[model]
        tier = self._tier[model]
        table = sc.quality.tiers[tier]
        p = table.get(group, table["other"]) + m.quality_offset + m.group_offsets.get(group, 0.0)
        p -= sc.quality.decline_per_turn[tier] * (user_turn - 1)
        for e in self._in_force("quality", model, t):
            if e.group is None or e.group == group:
                p += e.delta
        return min(max(p, 0.01), 0.999)

    def load(self, model: str, own_per_min: float, t: float) -> float:
        """Load of ``model`` at ``t`` as a share of its capacity."""
        m = self.scenario.models[model]
        return own_per_min / m.capacity_per_min + m.background_load * self.traffic_level(t)

    def latency_ms(
        self, model: str, prompt_tokens: float, load: float, z: float, t: float
    ) -> float:
        m = self.scenario.models[model]
        base = m.base_ms + m.ms_per_1k_prompt_tokens * prompt_tokens / 1000.0
        for e in self._in_force("latency", model, t):
            base *= e.multiplier
        return float(base * math.exp(m.jitter * z) * (1.0 + load**self.scenario.sharpness))

    def p_latency_above(
        self, model: str, prompt_tokens: float, load: float, t: float, limit_ms: float
    ) -> float:
        """P(latency > ``limit_ms``) under the log-normal noise."""
        m = self.scenario.models[model]
        median = self.latency_ms(model, prompt_tokens, load, 0.0, t)
        if m.jitter == 0:
            return float(median > limit_ms)
        z = math.log(limit_ms / median) / m.jitter
        return 0.5 * math.erfc(z / math.sqrt(2))

    def p_error(self, model: str, load: float) -> float:
        m = self.scenario.models[model]
        return min(1.0, m.error_rate + m.overload_error_rate * max(0.0, load - 1.0))

    def completion_tokens(self, model: str, z: float) -> int:
        sigma = 0.4
        mean = self.scenario.models[model].completion_tokens
        return max(1, round(mean * math.exp(sigma * z - sigma * sigma / 2)))

    def _in_force(self, kind: str, model: str, t: float) -> list[Event]:
        hour = t / 3600.0
        return [
            e
            for e in self.scenario.events
            if e.kind == kind and e.model == model and e.start_hour <= hour < e.end_hour
        ]

    def cached_tokens(
        self, model: str, held: tuple[str, int, float] | None, prompt_tokens: int, t: float
    ) -> int:
        """The prompt tokens a call on ``model`` at ``t`` reads from its provider's cache,
        when the conversation's previous call answered on ``held = (model, prompt tokens,
        time)``."""
        spec = self.catalog[model]
        if held is None or held[0] != model or spec.cached_input_usd_per_mtok is None:
            return 0
        truth = self.scenario.models[model]
        lifetime = truth.cache_lifetime_s or spec.cache_lifetime_s
        minimum = (
            spec.cache_min_tokens if truth.cache_min_tokens is None else truth.cache_min_tokens
        )
        if t - held[2] > lifetime or held[1] < minimum:
            return 0
        return min(held[1], prompt_tokens)

    def cost_usd(
        self,
        model: str,
        prompt_tokens: float,
        completion_tokens: float,
        t: float = 0.0,
        cached_tokens: float = 0.0,
    ) -> float:
        """What the provider bills, ``cached_tokens`` of the prompt read from its cache:
        the catalog's list price times any price change in force at ``t`` (the catalog
        is not told)."""
        cost = self.catalog[model].cost_usd(prompt_tokens, completion_tokens, cached_tokens)
        for e in self._in_force("price", model, t):
            cost *= e.multiplier
        return cost

    def available(self, model: str, t: float) -> bool:
        """Whether the gateway has ``model`` deployed at ``t`` (``added`` and ``removed``
        events)."""
        hour = t / 3600.0
        for e in self.scenario.events:
            if e.model != model:
                continue
            if e.kind == "added" and hour < e.start_hour:
                return False
            if e.kind == "removed" and hour >= e.start_hour:
                return False
        return True

    def deployed(self, t: float) -> list[str]:
        """The models the gateway can call at ``t``, in the scenario's order."""
        return [m for m in self.models if self.available(m, t)]
