"""The finite ranges every number the service accepts must fall in.

One table, read by the API's wire schemas, the settings and the catalog, so that no
accepted value can overflow a utility or a reward (``λ × cost``, ``w × latency``, a sum
of call results) into ``inf`` or ``NaN``. Each bound is far beyond any real figure:
a value outside one is a mistake or an attack, refused with the field's name.
"""

from __future__ import annotations

__all__ = [
    "BUDGET_PERIOD_S_MAX",
    "BUDGET_USD_MAX",
    "COST_WEIGHT_MAX",
    "LATENCY_MS_MAX",
    "LATENCY_WEIGHT_MAX",
    "PRICE_PER_MTOK_MAX",
    "REWARD_ABS_MAX",
    "REWARD_PENALTY_MAX",
    "TOKENS_MAX",
    "TURNS_MAX",
    "USD_MAX",
    "WINDOW_S_MAX",
]

#: prompt or completion tokens, and a context window: beyond any model's window
TOKENS_MAX = 1_000_000_000
#: turns of one conversation
TURNS_MAX = 100_000
#: one call's latency, a deadline, a latency figure of the catalog: one hour, in ms
LATENCY_MS_MAX = 3_600_000.0
#: one call's cost, a request's budget: USD
USD_MAX = 10_000.0
BUDGET_USD_MAX = 1e9  # a period's spend budget
BUDGET_PERIOD_S_MAX = 366 * 86_400.0  # a year
#: λ, utility lost per USD (a larger λ would mean "cost only" anyway)
COST_WEIGHT_MAX = 1_000_000.0
#: utility lost per second of latency
LATENCY_WEIGHT_MAX = 1_000.0
#: a price per million tokens, USD
PRICE_PER_MTOK_MAX = 100_000.0
#: reward lost by a late or failed call
REWARD_PENALTY_MAX = 1_000.0
#: any window, cool-down or period in seconds: 30 days
WINDOW_S_MAX = 30 * 86_400.0
#: a turn's reward in absolute value: within the ranges above a decision's reward stays far
#: below it; a logged decision beyond it is not learned from (it would swamp every other)
REWARD_ABS_MAX = 1e12
