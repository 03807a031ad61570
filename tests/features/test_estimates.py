"""Latency and error-rate estimates: the prior shrinks toward the calls seen, with the
evidence behind it; one call cannot replace the prior."""

from __future__ import annotations

import math

import numpy as np
import pytest

from features.estimates import EstimateConfig, LogLatency, p_above


def test_before_any_call_the_estimate_is_the_prior_with_its_uncertainty() -> None:
    e = LogLatency(800.0, EstimateConfig(prior_sd=0.6)).estimate()
    assert e.p50_ms == pytest.approx(800.0)
    assert e.p95_ms == pytest.approx(1600.0)
    assert e.sd == pytest.approx(0.6)
    assert e.evidence == 0.0
    assert e.error_rate == pytest.approx(0.01)


@pytest.mark.parametrize("factor", [1 / 3, 3.0])
def test_calls_move_the_estimate_to_the_truth_and_shrink_its_uncertainty(factor: float) -> None:
    rng = np.random.default_rng(1)
    est = LogLatency(1_000.0)
    truth = 1_000.0 * factor
    sds = []
    for latency in truth * np.exp(0.3 * rng.standard_normal(200)):
        est.add_call(float(latency), error=False)
        sds.append(est.estimate().sd)
    e = est.estimate()
    assert e.p50_ms == pytest.approx(truth, rel=0.1)
    assert e.p95_ms == pytest.approx(truth * math.exp(1.645 * 0.3), rel=0.15)
    assert sds[-1] < sds[9] < sds[0] < 0.6
    assert e.evidence > 50


def test_one_absurd_call_moves_the_median_by_a_bounded_factor() -> None:
    est = LogLatency(1_000.0, EstimateConfig(prior_weight=3.0))
    est.add_call(1e308, error=False)
    e = est.estimate()
    assert math.isfinite(e.p50_ms)
    assert e.p50_ms <= 1_000.0 * 10 ** (1 / 4) * 1.0001
    for _ in range(30):
        est.add_call(1_000.0, error=False)
    assert est.estimate().p50_ms == pytest.approx(1_000.0, rel=0.1)


def test_unusable_latencies_are_ignored_but_the_call_counts() -> None:
    est = LogLatency(500.0)
    for bad in (float("nan"), float("inf"), -5.0, 0.0):
        est.add_call(bad, error=True)
    assert est.estimate().p50_ms == pytest.approx(500.0)
    assert est.calls == pytest.approx(4, rel=0.02)  # discounted by 1 − 1/memory per call
    assert est.error_rate() == pytest.approx((20 * 0.01 + 4) / 24, rel=0.02)


def test_one_error_among_few_calls_is_not_read_as_a_third_of_calls_failing() -> None:
    est = LogLatency(500.0)
    for error in (False, True, False):
        est.add_call(400.0, error=error)
    assert est.error_rate() < 0.06
    for _ in range(400):
        est.add_call(400.0, error=True)
    assert est.error_rate() > 0.85  # the data outweighs the prior in the end


def test_probability_above_a_limit() -> None:
    assert p_above(2_000.0, 0.0, 3_000.0) == 0.0
    assert p_above(4_000.0, 0.0, 3_000.0) == 1.0
    assert p_above(3_000.0, 0.4, 3_000.0) == pytest.approx(0.5)
    low, high = p_above(2_000.0, 0.6, 3_000.0), p_above(4_000.0, 0.6, 3_000.0)
    assert 0.0 < low < 0.5 < high < 1.0
    assert p_above(1.0, 0.5, 0.0) == 1.0


@pytest.mark.parametrize(
    ("field", "value"), [("prior_weight", 0.0), ("prior_sd", -1.0), ("memory", 0.5)]
)
def test_bad_settings_are_refused(field: str, value: float) -> None:
    with pytest.raises(ValueError, match=field):
        EstimateConfig(**{field: value})


def test_a_bad_prior_is_refused() -> None:
    with pytest.raises(ValueError, match="prior latency"):
        LogLatency(0.0)


def test_evidence_fades_with_time_but_the_level_stays_until_the_next_calls() -> None:
    est = LogLatency(1_000.0, EstimateConfig(half_life_s=600.0))
    for i in range(50):
        est.add_call(3_000.0, error=i % 2 == 0, at=float(i))
    now = est.estimate(49.0)
    assert now.p50_ms == pytest.approx(3_000.0, rel=0.1)
    later = est.estimate(49.0 + 600.0)
    assert later.evidence == pytest.approx(now.evidence / 2)
    assert later.sd > now.sd
    gone = est.estimate(49.0 + 600.0 * 30)
    assert gone.sd == pytest.approx(0.6, rel=0.01)  # judged on a guess again
    # ... but not taken back to the catalog's guess unseen: the trouble stays
    assert (gone.p50_ms, gone.p95_ms, gone.error_rate) == (now.p50_ms, now.p95_ms, now.error_rate)
    for i in range(3):  # so little evidence is left that three calls bring it back
        est.add_call(1_000.0, error=False, at=49.0 + 600.0 * 30 + i)
    back = est.estimate()
    assert back.p50_ms < 1_300.0
    assert back.error_rate < 0.1


def _median_after(est: LogLatency, rng: np.random.Generator, level_ms: float, calls: int) -> float:
    for _ in range(calls):
        est.add_call(float(level_ms * np.exp(rng.normal(0.0, 0.42))), False)
    return est.estimate().p50_ms


@pytest.mark.parametrize("seed", range(5))
def test_a_change_of_level_is_seen_in_a_few_calls_both_ways(seed: int) -> None:
    """A provider that slows down ×3 to ×10 (drawn) is seen within ten calls, and so is
    its recovery; with a 200-call memory alone the median had moved less than half way."""
    rng = np.random.default_rng(seed)
    factor = float(rng.uniform(3.0, 10.0))
    est = LogLatency(1_000.0)
    assert _median_after(est, rng, 1_000.0, 300) == pytest.approx(1_000.0, rel=0.15)
    # the log median has moved at least two thirds of the way, then back
    slow = _median_after(est, rng, 1_000.0 * factor, 10)
    assert math.log(slow / 1_000.0) > 2 / 3 * math.log(factor)
    back = _median_after(est, rng, 1_000.0, 10)
    assert abs(math.log(back / 1_000.0)) < 1 / 3 * math.log(factor)
    slow_memory = LogLatency(1_000.0, EstimateConfig(shift_ratio=1e9, shift_error=1.0))
    _median_after(slow_memory, rng, 1_000.0, 300)
    moved = _median_after(slow_memory, rng, 1_000.0 * factor, 10)
    assert math.log(moved / 1_000.0) < 0.2 * math.log(factor)


@pytest.mark.parametrize("sigma", [0.42, 0.8])
def test_steady_noise_does_not_move_the_estimate_as_a_change_would(sigma: float) -> None:
    """Over 5,000 calls of one steady model, even one twice as spread as the prior's
    guess, the median stays near the truth."""
    rng = np.random.default_rng(7)
    est = LogLatency(800.0)
    worst = 0.0
    for i in range(5_000):
        est.add_call(float(800.0 * np.exp(rng.normal(0.0, sigma))), False)
        if i >= 100:
            worst = max(worst, abs(math.log(est.estimate().p50_ms / 800.0)))
    assert worst < math.log(1.6)


def test_a_burst_of_errors_is_seen_in_a_few_calls() -> None:
    est = LogLatency(800.0)
    for _ in range(300):
        est.add_call(800.0, False)
    for _ in range(8):
        est.add_call(800.0, True)
    assert est.estimate().error_rate > 0.2  # with a 200-call memory alone: under 0.04
    for _ in range(10):
        est.add_call(800.0, False)
    assert est.estimate().error_rate < 0.2


def test_the_last_change_for_the_worse_is_said_until_one_for_the_better() -> None:
    est = LogLatency(500.0)
    for _ in range(30):
        est.add_call(500.0, error=False)
    assert not est.estimate().worse  # steady: no change seen
    for _ in range(6):
        est.add_call(4_000.0, error=False)  # slower ×8
    assert est.estimate().worse
    for _ in range(6):
        est.add_call(500.0, error=False)  # back
    assert not est.estimate().worse
    for _ in range(8):
        est.add_call(None, error=True)  # failing
    assert est.estimate().worse
    for _ in range(15):
        est.add_call(500.0, error=False)
    assert not est.estimate().worse
    assert not LogLatency(500.0).estimate().worse  # never called: a guess, not trouble
