from __future__ import annotations

import pytest

from selector.latency import CLOSED, HALF_OPEN, OPEN, BreakerConfig, LatencyTracker


class Clock:
    def __init__(self) -> None:
        self.t = 1_000.0

    def __call__(self) -> float:
        return self.t


def tracker(**cfg: float) -> tuple[LatencyTracker, Clock]:
    clock = Clock()
    config = BreakerConfig(**{"min_samples": 5, "cooldown_s": 30.0, **cfg})  # type: ignore[arg-type]
    return LatencyTracker({"m": 1_000.0}, config, clock=clock), clock


def test_rolling_percentiles_and_error_rate() -> None:
    t, _ = tracker()
    for ms in range(1, 101):
        t.record("m", float(ms), error=ms % 10 == 0)
    h = t.health("m")
    assert h.p50_ms == pytest.approx(50.5)
    assert h.p95_ms == pytest.approx(95.05)
    assert h.error_rate == pytest.approx(0.1)
    assert h.samples == 100


def test_samples_leave_the_window() -> None:
    t, clock = tracker(window_s=60.0)
    t.record("m", 900.0, error=False)
    clock.t += 30
    t.record("m", 100.0, error=False)
    clock.t += 40  # the first sample is now 70 s old
    h = t.health("m")
    assert h.samples == 1
    assert h.p50_ms == 100.0


def test_no_samples_means_no_live_figures() -> None:
    t, _ = tracker()
    h = t.health("m")
    assert (h.p50_ms, h.samples, h.state) == (None, 0, CLOSED)


def test_circuit_opens_on_error_rate() -> None:
    t, _ = tracker()
    for _ in range(5):
        t.record("m", None, error=True)
    assert t.health("m").state == OPEN


def test_circuit_opens_when_p95_passes_the_slo() -> None:
    t, _ = tracker()
    for _ in range(4):
        t.record("m", 200.0, error=False)
    assert t.health("m").state == CLOSED  # below min_samples
    t.record("m", 5_000.0, error=False)
    assert t.health("m").state == OPEN


def test_open_circuit_lets_one_probe_through_after_cooldown() -> None:
    t, clock = tracker()
    for _ in range(5):
        t.record("m", 3_000.0, error=False)
    assert t.health("m").state == OPEN
    clock.t += 29
    assert t.health("m").state == OPEN
    clock.t += 2
    assert t.health("m").state == HALF_OPEN
    assert not t.health("m").probing
    t.on_selected("m")
    assert t.health("m").probing  # no second probe while this one is out
    t.record("m", 300.0, error=False)  # the probe succeeds
    h = t.health("m")
    assert h.state == CLOSED
    assert h.samples == 1  # the incident's slow samples were cleared
    assert (h.p50_ms, h.p95_ms) == (300.0, 300.0)


def test_a_failed_probe_reopens_the_circuit() -> None:
    t, clock = tracker()
    for _ in range(5):
        t.record("m", None, error=True)
    clock.t += 31
    t.on_selected("m")
    t.record("m", None, error=True)
    assert t.health("m").state == OPEN
    clock.t += 10
    assert t.health("m").state == OPEN


def test_an_unanswered_probe_times_out() -> None:
    t, clock = tracker(probe_timeout_s=20.0)
    for _ in range(5):
        t.record("m", None, error=True)
    clock.t += 31
    t.on_selected("m")
    assert t.health("m").probing
    clock.t += 21
    assert not t.health("m").probing


def test_unknown_models_are_ignored() -> None:
    t, _ = tracker()
    t.record("other", 5.0, error=False)
    t.on_selected("other")
    assert list(t.models()) == ["m"]


def test_sample_count_is_bounded() -> None:
    t, _ = tracker(max_samples=10)
    for ms in range(100):
        t.record("m", float(ms), error=False)
    assert t.health("m").samples == 10


def test_figures_match_a_fresh_computation_as_samples_come_and_go() -> None:
    """The incrementally kept window gives NumPy's percentiles of the samples in it,
    through evictions by count and by age, with some latencies missing."""
    import numpy as np

    rng = np.random.default_rng(7)
    t, clock = tracker(window_s=50.0, max_samples=40, min_samples=10_000)
    window: list[tuple[float, float | None, bool]] = []
    for i in range(2_000):
        clock.t += float(rng.exponential(0.6))
        ms = None if rng.random() < 0.1 else float(rng.choice([120.0, 250.0, rng.gamma(2, 300)]))
        err = bool(rng.random() < 0.2)
        t.record("m", ms, error=err)
        window = [s for s in [*window, (clock.t, ms, err)] if s[0] >= clock.t - 50.0][-40:]
        if i % 7:
            continue
        h = t.health("m")
        lat = [s[1] for s in window if s[1] is not None]
        assert h.samples == len(window)
        assert h.error_rate == pytest.approx(sum(s[2] for s in window) / len(window))
        if lat:
            p50, p95 = np.percentile(lat, (50, 95))
            assert (h.p50_ms, h.p95_ms) == (pytest.approx(p50), pytest.approx(p95))
        else:
            assert h.p50_ms is None
