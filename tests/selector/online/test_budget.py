"""The budget pacer on synthetic days: spend follows the budget through a traffic spike
and a price cut, a new period starts from zero, and reported costs replace expected ones."""

from __future__ import annotations

import numpy as np
import pytest

from selector.online.budget import BudgetConfig, BudgetPacer, moved_by_budget

DAY = 86_400.0


def _day(
    seed: int, spike: bool, cut: bool, traffic: float = 1.0
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Arrival times over a day with a diurnal swing, each request's value of four models
    (before cost) and their costs (a price cut ×10 on the dearest at noon)."""
    rng = np.random.default_rng(seed)
    t = np.sort(rng.uniform(0.0, 1.0, int(9_000 * traffic)))
    t = t[rng.uniform(0.0, 1.0, t.size) < (1 + 0.6 * np.cos(2 * np.pi * (t - 0.6))) / 1.6]
    if spike:
        t = np.sort(np.concatenate([t, rng.uniform(0.7, 0.75, 600)]))
    prices = np.array([1e-4, 1e-3, 4e-3, 1.5e-2])
    values = np.array([0.6, 0.7, 0.8, 0.86]) + rng.normal(0.0, 0.1, (t.size, 4))
    costs = prices * np.exp(rng.normal(0.0, 0.4, (t.size, 1)))
    if cut:
        costs[t > 0.5, 3] /= 10.0
    return t * DAY, values, costs


def _run(
    day: tuple[np.ndarray, np.ndarray, np.ndarray],
    weight: float,
    pacer: BudgetPacer | None,
    offset: float = 0.0,
) -> tuple[float, float]:
    t, values, costs = day
    spent = value = 0.0
    for i in range(t.size):
        now = offset + t[i]
        lam = weight if pacer is None else pacer.weight(weight, None, now)
        assert lam is not None
        j = int(np.argmax(values[i] - lam * costs[i]))
        spent += costs[i, j]
        value += values[i, j]
        if pacer is not None:
            pacer.commit(f"{offset}-{i}", None, float(costs[i, j]), values[i], costs[i], now)
    return spent, value


def _best_fixed(day: tuple[np.ndarray, np.ndarray, np.ndarray], budget: float) -> float:
    """The resolution of the best fixed λ in hindsight that keeps to ``budget``."""
    runs = [_run(day, w, None) for w in np.geomspace(1.0, 1e4, 13)]
    return max(value for spent, value in runs if spent <= budget)


@pytest.mark.parametrize(
    ("seed", "spike", "cut"),
    [(0, False, False), (1, True, False), (2, False, True), (3, True, True)],
)
def test_spend_follows_the_budget_and_earns_what_the_best_fixed_weight_would(
    seed: int, spike: bool, cut: bool
) -> None:
    """Two days in a row, one budget a day (the second day quieter, without the first's
    events): each day's spend, and its resolution against that day's best fixed λ."""
    days = [_day(seed, spike, cut), _day(seed + 10, False, False, traffic=0.7)]
    demand = _run(days[0], 1.0, None)[0]  # what the first day costs when cost hardly matters
    budget = 0.4 * demand
    pacer = BudgetPacer(BudgetConfig(usd=budget, period_s=DAY), clock=lambda: 0.0)
    for n, day in enumerate(days):  # from a base weight that would spend far too much
        spent, value = _run(day, 20.0, pacer, offset=n * DAY)
        assert spent <= 1.01 * budget, (n, spent / budget)
        assert spent >= 0.95 * budget, (n, spent / budget)
        assert value >= 0.95 * _best_fixed(day, budget), n


def test_once_spent_out_the_largest_weight_serves_until_the_period_ends() -> None:
    config = BudgetConfig(usd=1.0, period_s=100.0)
    pacer = BudgetPacer(config, clock=lambda: 0.0)
    pacer.commit("a", None, 1.5, now=10.0)
    assert pacer.weight(2.0, None, 20.0) == config.max_weight
    assert pacer.weight(2.0, None, 100.0) == 2.0  # a new period: spend starts from zero
    assert pacer.status(now=100.0)["service"]["spent_usd"] == 0.0


def test_a_reported_cost_replaces_the_expected_one_then_adds() -> None:
    pacer = BudgetPacer(BudgetConfig(tenants={"acme": 10.0}), clock=lambda: 5.0)
    assert pacer.weight(2.0, None) is None  # no budget for requests without a tenant
    assert not pacer.applies("globex")
    pacer.commit("d1", "acme", 0.25)
    pacer.correct("d1", 0.5)  # billed: the expected 0.25 is replaced
    pacer.correct("d1", 0.125)  # a retry's call adds
    pacer.correct("d1", float("nan"))
    pacer.correct("unknown", 3.0)
    assert pacer.status()["tenants"]["acme"]["spent_usd"] == pytest.approx(0.625)


def test_a_tenant_budget_and_the_service_one_the_tighter_decides() -> None:
    pacer = BudgetPacer(BudgetConfig(usd=100.0, tenant_usd=0.5, period_s=10.0), clock=lambda: 1.0)
    pacer.commit("d1", "small", 0.6)
    assert pacer.weight(3.0, "small") == BudgetConfig().max_weight
    assert pacer.weight(3.0, "other") == 3.0
    assert pacer.weight(3.0, None) == 3.0


def test_tenants_past_the_cap_count_against_the_service_budget_only() -> None:
    config = BudgetConfig(usd=100.0, tenant_usd=0.5, period_s=10.0, max_tenants=2)
    pacer = BudgetPacer(config, clock=lambda: 1.0)
    for name in ("a", "b", "c"):
        pacer.commit(name, name, 0.6)  # each spends its own budget out, if it has one
    assert pacer.weight(3.0, "a") == config.max_weight
    assert pacer.weight(3.0, "c") == 3.0  # no ledger of its own: the service's only
    assert set(pacer.status()["tenants"]) == {"a", "b"}


def test_the_base_weight_s_choice_is_named_when_the_budget_moved_it() -> None:
    class S:
        def __init__(self, model: str, cost: float, utility: float) -> None:
            self.model, self.expected_cost_usd, self.utility = model, cost, utility
            self.eligible, self.estimate = True, None

    # decided with λ = 100: big's utility 0.9 − 100·0.01, small's 0.7 − 100·0.001
    scores = [S("big", 0.01, 0.9 - 1.0), S("small", 0.001, 0.7 - 0.1)]
    assert moved_by_budget(scores, paced=100.0, base=2.0) == "big"
    assert moved_by_budget(scores, paced=100.0, base=50.0) is None


@pytest.mark.parametrize(
    "bad",
    [{"usd": 0.0}, {"usd": float("nan")}, {"period_s": 0.0}, {"tenants": {"a": -1.0}}],
)
def test_a_bad_budget_is_refused(bad: dict[str, object]) -> None:
    with pytest.raises(ValueError, match="budget"):
        BudgetConfig(**bad)  # type: ignore[arg-type]
