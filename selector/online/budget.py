"""A spend budget per period: the cost weight λ paced online from the spend measured.

A team sets ``SELECTOR_BUDGET_USD`` per ``SELECTOR_BUDGET_PERIOD_S`` (periods are aligned
to the epoch: a period of 86,400 s is a UTC day) and, optionally, a budget per tenant
(the route request's ``tenant``). The selector does not refuse a request when money runs
short; it moves the cost weight it decides with, so that spend follows the budget
through spikes, quiet hours and price changes. Each budget is a :class:`Ledger`:

- **Spend.** Each decision commits its chosen model's expected cost when it is made;
  a call result that reports ``cost_usd`` replaces that guess by what was billed
  (:meth:`BudgetPacer.correct`, for decisions of the current period still remembered).
- **Pacing.** Each budget keeps its latest decisions (``samples``, 256): every eligible
  candidate's value before cost (its utility, or the online estimate, plus λ × cost)
  and its cost. Every ``solve_every`` (16) decisions it solves, by bisection on log λ,
  for the λ under which those decisions, each choosing its largest value − λ · cost,
  would spend per decision what is left of the budget (``aim``: 99.5 % of it) per
  decision expected before the period ends; the decisions expected are the traffic
  rate times the time left (the rate of the last ``period / 24``, across periods; once
  the period is that old, half of it is the period's average so far). A new period is
  solved for at its first decision. This is the best fixed λ in hindsight, computed on the recent
  past and the budget left: a spike raises the rate and λ with it, a quiet hour lowers
  both, a price change moves the costs it is solved on. λ stays within [10⁻³, 10⁶];
  until a budget has seen 16 decisions, the policy's own λ serves.
- **Spent out.** Once the period's spend reaches the budget, λ is the largest
  (10⁶ per USD): the cheapest adequate model serves until the period ends (requests are
  still answered; the overshoot is what the cheapest models cost until then).

A request's own ``max_cost_usd`` still holds, and a request that sets ``cost_weight``
itself is not paced. With a tenant budget and the service's, the tighter (the larger
λ) decides; a decision's answer says when the paced λ ranks another model first than
the base λ would have (:func:`moved_by_budget`). At most ``max_tenants`` (10,000)
tenants get a ledger of their own; later ones count against the service's budget only
(said once in the log). Spend is kept in the process: replicas
each pace their own spend against the whole budget (so together they can spend up to
that many times it); a budget shared through the database is not built yet.
"""

from __future__ import annotations

import logging
import math
import threading
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np

__all__ = ["BudgetConfig", "BudgetPacer", "Ledger", "moved_by_budget"]

log = logging.getLogger(__name__)

_REMEMBERED = 100_000  # decisions whose expected cost a reported cost may still replace


@dataclass(frozen=True)
class BudgetConfig:
    """The budgets (USD per ``period_s``) and how hard the pacing reacts."""

    usd: float | None = None  # the whole service's budget per period (None: none)
    period_s: float = 86_400.0
    tenants: Mapping[str, float] = field(default_factory=dict)  # a budget per tenant
    tenant_usd: float | None = None  # the budget of each tenant not named in ``tenants``
    windows: float = 24.0  # the recent traffic rate is measured over period / windows
    samples: int = 256  # the latest decisions λ is solved on
    solve_every: int = 16  # decisions between two solves
    aim: float = 0.995  # the share of the budget paced for (a margin for the forecast)
    min_weight: float = 1e-3
    max_weight: float = 1e6
    bisections: int = 24
    max_tenants: int = 10_000  # ledgers kept for tenants (each a few kB)

    def __post_init__(self) -> None:
        if not (math.isfinite(self.period_s) and self.period_s > 0.0):
            raise ValueError(f"budget period_s must be > 0 seconds, got {self.period_s}")
        named = {"usd": self.usd, "tenant_usd": self.tenant_usd, **dict(self.tenants)}
        for name, usd in named.items():
            if usd is not None and not (math.isfinite(usd) and usd > 0.0):
                raise ValueError(f"budget {name} must be > 0 USD per period, got {usd}")

    @property
    def active(self) -> bool:
        return self.usd is not None or bool(self.tenants) or self.tenant_usd is not None


class Ledger:
    """One budget's period: what was spent, the traffic rate, the recent decisions'
    choices, and the λ that spends what is left."""

    __slots__ = (
        "budget", "config", "count_sum", "decisions", "first", "last", "others_decisions",
        "others_spent", "period", "samples", "since_solve", "spent", "weight",
    )  # fmt: skip

    def __init__(self, budget: float, config: BudgetConfig) -> None:
        self.budget = budget
        self.config = config
        self.period = -1
        self.spent = 0.0
        self.decisions = 0
        # the other replicas' spend and decisions this period (a shared PostgreSQL log)
        self.others_spent = 0.0
        self.others_decisions = 0
        self.count_sum = 0.0  # decisions, discounted by e^(−age / τ)
        self.first = math.nan  # when the ledger first moved (s): the rate's window
        self.last = math.nan  # when the ledger last moved (s)
        # the latest decisions, a row each (a ring): each candidate's value before cost
        # (−∞ past a row's candidates) and its cost
        self.samples = _Samples(config.samples)
        self.since_solve = 0
        self.weight: float | None = None  # the paced λ (None: too few decisions yet)

    def _roll(self, now: float) -> None:
        """Move to ``now``: a new period starts its spend at zero; the rate decays."""
        period = int(now // self.config.period_s)
        if period != self.period:
            self.period, self.spent, self.decisions = period, 0.0, 0
            self.others_spent, self.others_decisions = 0.0, 0
            self.since_solve = self.config.solve_every  # solve for the new period at once
        if math.isnan(self.first):
            self.first = now
        if math.isnan(self.last) or now > self.last:
            dt = 0.0 if math.isnan(self.last) else now - self.last
            self.count_sum *= math.exp(-dt / self._tau)
            self.last = now

    @property
    def total_spent(self) -> float:
        """This period's spend, the other replicas' included."""
        return self.spent + self.others_spent

    def others(self, period: int, spent: float, decisions: int) -> None:
        """The other replicas' spend and decisions in ``period`` (ignored once past)."""
        if period == self.period:
            self.others_spent, self.others_decisions = spent, decisions

    @property
    def _tau(self) -> float:
        return self.config.period_s / self.config.windows

    def decisions_left(self, now: float) -> float:
        """The decisions expected before the period ends: the traffic rate times the
        time left. The rate is the recent one (decisions discounted over ``period /
        windows``, across periods); once the period is that old, half of it is the
        period's average so far."""
        elapsed = max(0.0, now - self.period * self.config.period_s)
        left = max(0.0, self.config.period_s - elapsed)
        tau = self._tau
        seen = now - self.first
        window = tau * (1.0 - math.exp(-seen / tau)) if seen > 0.0 else 0.0
        if window <= 0.0:
            return math.inf
        rate = self.count_sum / window
        if elapsed >= tau:
            rate = 0.5 * rate + 0.5 * (self.decisions / elapsed)
        if self.decisions and self.others_decisions:  # every replica's decisions
            rate *= (self.decisions + self.others_decisions) / self.decisions
        return rate * left

    def current(self, now: float, base: float) -> float:
        """The λ for a decision at ``now``: the largest once the budget is spent."""
        self._roll(now)
        if self.total_spent >= self.budget:
            return self.config.max_weight
        return base if self.weight is None else self.weight

    def commit(
        self, cost: float, now: float, values: np.ndarray | None, costs: np.ndarray | None
    ) -> None:
        """Count a decision's cost; keep its candidates' values and costs; every
        ``solve_every`` decisions, solve for λ again."""
        self._roll(now)
        self.add(cost)
        self.decisions += 1
        self.count_sum += 1.0
        if values is not None and costs is not None and values.size:
            self.samples.add(values, costs)
        self.since_solve += 1
        if self.since_solve >= self.config.solve_every and len(self.samples) >= 8:
            self.since_solve = 0
            self.weight = self.solve(now)

    def solve(self, now: float) -> float:
        """The λ under which the recent decisions, chosen by value − λ · cost, would
        spend per decision what is left of the budget per decision expected."""
        left = self.decisions_left(now)
        remaining = self.budget * self.config.aim - self.total_spent
        if remaining <= 0.0:
            return self.config.max_weight
        target = remaining / max(left, 1.0)
        lo, hi = math.log(self.config.min_weight), math.log(self.config.max_weight)
        spend = self.samples.spend
        if spend(math.exp(lo)) <= target:
            return math.exp(lo)
        if spend(math.exp(hi)) > target:
            return math.exp(hi)
        for _ in range(self.config.bisections):
            mid = 0.5 * (lo + hi)
            if spend(math.exp(mid)) > target:
                lo = mid
            else:
                hi = mid
        return math.exp(hi)

    def add(self, cost: float) -> None:
        """Count ``cost`` USD spent in the current period (a correction may be < 0)."""
        self.spent = max(0.0, self.spent + cost)

    def status(self, now: float, base: float | None = None) -> dict[str, Any]:
        self._roll(now)
        start = self.period * self.config.period_s
        return {
            "budget_usd": self.budget,
            "period_start": start,
            "period_end": start + self.config.period_s,
            "spent_usd": self.total_spent,
            "remaining_usd": max(0.0, self.budget - self.total_spent),
            "decisions": self.decisions + self.others_decisions,
            "spent_here_usd": self.spent,
            "cost_weight": self.current(now, base) if base is not None else self.weight,
        }


class _Samples:
    """The latest decisions' candidates, one row each in a ring of ``size`` rows."""

    __slots__ = ("costs", "n", "next", "values")

    def __init__(self, size: int) -> None:
        self.values = np.full((size, 1), -np.inf)
        self.costs = np.zeros((size, 1))
        self.n = self.next = 0

    def __len__(self) -> int:
        return self.n

    def add(self, values: np.ndarray, costs: np.ndarray) -> None:
        k = values.size
        if k > self.values.shape[1]:  # a decision with more candidates: widen the rows
            pad = k - self.values.shape[1]
            self.values = np.pad(self.values, ((0, 0), (0, pad)), constant_values=-np.inf)
            self.costs = np.pad(self.costs, ((0, 0), (0, pad)))
        row = self.next
        self.values[row] = -np.inf
        self.values[row, :k] = values
        self.costs[row, :k] = costs
        self.next = (row + 1) % self.values.shape[0]
        self.n = min(self.n + 1, self.values.shape[0])

    def spend(self, weight: float) -> float:
        """The mean cost the kept decisions would have had, each choosing the largest
        value − ``weight`` · cost."""
        v, c = self.values[: self.n], self.costs[: self.n]
        chosen = np.argmax(v - weight * c, axis=1)
        return float(np.take_along_axis(c, chosen[:, None], axis=1).mean())


class _Scored(Protocol):
    model: str
    expected_cost_usd: float
    utility: float
    eligible: bool
    estimate: float | None


def moved_by_budget(scores: Sequence[_Scored], paced: float, base: float) -> str | None:
    """The model the base λ would have ranked first among the eligible, when the paced
    λ ranks another first (None otherwise). Utilities are linear in λ, so no second
    decision is needed; a randomising policy's draw is not a move of the budget's."""
    now = then = None
    now_u = then_u = -math.inf
    shift = paced - base
    for s in scores:
        if not s.eligible:
            continue
        u = s.estimate if s.estimate is not None else s.utility
        if u > now_u:
            now, now_u = s.model, u
        u += shift * s.expected_cost_usd
        if u > then_u:
            then, then_u = s.model, u
    return then if then != now else None


class BudgetPacer:
    """The service's budgets: λ for a decision, its cost committed, and corrections."""

    def __init__(self, config: BudgetConfig, clock: Callable[[], float]) -> None:
        self.config = config
        self.clock = clock
        self._service = Ledger(config.usd, config) if config.usd is not None else None
        self._tenants: dict[str, Ledger] = {}
        self._expected: OrderedDict[str, tuple[tuple[Ledger, ...], int, float]] = OrderedDict()
        self._lock = threading.Lock()
        self._full = False  # max_tenants reached (said once)

    def _ledgers(self, tenant: str | None) -> tuple[Ledger, ...]:
        out: tuple[Ledger, ...] = () if self._service is None else (self._service,)
        if tenant is None:
            return out
        ledger = self._tenants.get(tenant)
        if ledger is None:
            usd = self.config.tenants.get(tenant, self.config.tenant_usd)
            if usd is None:
                return out
            with self._lock:
                if len(self._tenants) >= self.config.max_tenants:
                    if not self._full:
                        self._full = True
                        log.warning(
                            "%d tenants have a budget ledger already: tenant %r and the "
                            "next new ones count against the service's budget only",
                            len(self._tenants),
                            tenant,
                        )
                    return out
                ledger = self._tenants.setdefault(tenant, Ledger(usd, self.config))
        return (*out, ledger)

    def applies(self, tenant: str | None) -> bool:
        """True when a budget covers ``tenant``'s decisions (None: requests without one)."""
        return bool(self._ledgers(tenant))

    def weight(self, base: float, tenant: str | None, now: float | None = None) -> float | None:
        """The cost weight for ``tenant``'s next decision, from the policy's ``base``
        (None: no budget applies)."""
        ledgers = self._ledgers(tenant)
        if not ledgers:
            return None
        now = self.clock() if now is None else now
        with self._lock:
            return max(ledger.current(now, base) for ledger in ledgers)

    def commit(
        self,
        decision_id: str,
        tenant: str | None,
        cost: float,
        values: np.ndarray | None = None,
        costs: np.ndarray | None = None,
        now: float | None = None,
    ) -> None:
        """Count the chosen model's expected ``cost`` against every budget it falls
        under, with the eligible candidates' ``values`` (utility before cost) and
        ``costs`` that λ is solved on."""
        ledgers = self._ledgers(tenant)
        if not ledgers or not math.isfinite(cost):
            return
        now = self.clock() if now is None else now
        with self._lock:
            for ledger in ledgers:
                ledger.commit(cost, now, values, costs)
            self._expected[decision_id] = (ledgers, ledgers[0].period, cost)
            if len(self._expected) > _REMEMBERED:
                self._expected.popitem(last=False)

    def correct(self, decision_id: str, reported: float) -> None:
        """Count a call's ``reported`` cost for a decision: the first replaces its
        expected cost, the next ones (retries, fallbacks) add to it. A decision of a past
        period, or forgotten, is left as it was."""
        if not math.isfinite(reported) or reported < 0.0:
            return
        with self._lock:
            found = self._expected.get(decision_id)
            if found is None:
                return
            ledgers, period, expected = found
            self._expected[decision_id] = (ledgers, period, 0.0)
            for ledger in ledgers:
                if ledger.period == period:
                    ledger.add(reported - expected)

    def own(self, now: float | None = None) -> list[tuple[str, int, float, int]]:
        """This replica's spend and decisions per budget in its current period: (ledger,
        period, USD, decisions), ledger '' for the service's budget, else the tenant."""
        now = self.clock() if now is None else now
        with self._lock:
            ledgers = [("", self._service)] if self._service is not None else []
            ledgers += list(self._tenants.items())
            out = []
            for key, ledger in ledgers:
                assert ledger is not None
                ledger._roll(now)
                out.append((key, ledger.period, ledger.spent, ledger.decisions))
            return out

    def others(self, found: dict[tuple[str, int], tuple[float, int]]) -> None:
        """The other replicas' spend and decisions per (ledger, period): paced together,
        the replicas spend one budget."""
        with self._lock:
            for (key, period), (spent, decisions) in found.items():
                ledger = self._service if key == "" else self._tenants.get(key)
                if ledger is not None:
                    ledger.others(period, spent, decisions)

    def status(self, now: float | None = None, base: float | None = None) -> dict[str, Any]:
        """Each budget's period, spend, remaining budget and the cost weight it paces
        (from the policy's ``base`` one)."""
        now = self.clock() if now is None else now
        with self._lock:
            service = self._service
            return {
                "period_s": self.config.period_s,
                "service": None if service is None else service.status(now, base),
                "tenants": {
                    t: ledger.status(now, base) for t, ledger in sorted(self._tenants.items())
                },
            }
