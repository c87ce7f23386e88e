"""Timing plans, the timing loop and the statistics (trtexec's percentile and median rules)."""

from __future__ import annotations

import math
import statistics

import pytest

from gpunet_hub.measure.stats import TimingPlan, TimingResult, percentile, run_timed, summarize
from gpunet_hub.errors import InputError


def test_percentile_is_trtexec_nearest_rank():
    values = [float(v) for v in range(1, 101)]  # 1..100
    # trtexec: timings[N - 1 - floor((1 - p/100) * N)]
    assert percentile(values, 99) == 99.0
    assert percentile(values, 90) == 90.0
    assert percentile(values, 100) == 100.0
    assert percentile(values, 0) == 1.0
    assert percentile([5.0], 99) == 5.0
    assert math.isnan(percentile([], 50))


def test_summary_even_median_and_cv():
    s = summarize([4.0, 1.0, 3.0, 2.0])
    assert s.median == 2.5  # mean of the two middle values, as trtexec
    assert s.mean == 2.5 and s.min == 1.0 and s.max == 4.0 and s.n == 4
    assert s.std == pytest.approx(statistics.pstdev([1, 2, 3, 4]))
    assert s.cv == pytest.approx(s.std / 2.5)
    with pytest.raises(InputError):
        summarize([])


class FakeClock:
    """A nanosecond clock that advances by ``step_ns`` per call to the timed step."""

    def __init__(self, step_ns: int) -> None:
        self.now = 0
        self.step_ns = step_ns
        self.calls = 0

    def __call__(self) -> int:
        return self.now

    def step(self) -> None:
        self.calls += 1
        self.now += self.step_ns


def test_run_timed_honours_counts_and_durations():
    clock = FakeClock(step_ns=10_000_000)  # 10 ms per run
    plan = TimingPlan(warmup_runs=3, warmup_seconds=0.1, min_runs=5, min_seconds=0.5, max_seconds=None)
    times, warm = run_timed(clock.step, plan, clock=clock)
    assert warm == 10  # 3 runs are not 100 ms: warm-up continues by time
    assert len(times) == 50  # 5 runs are not 0.5 s: timing continues by time
    assert all(t == pytest.approx(10.0) for t in times)


def test_run_timed_caps():
    clock = FakeClock(step_ns=1_000_000)
    times, _ = run_timed(clock.step, TimingPlan(warmup_runs=0, min_runs=10, min_seconds=100.0, max_runs=20, max_seconds=None), clock=clock)
    assert len(times) == 20
    clock = FakeClock(step_ns=1_000_000)
    times, _ = run_timed(clock.step, TimingPlan(warmup_runs=0, min_runs=1000, min_seconds=0.0, max_seconds=0.05), clock=clock)
    assert len(times) == 50


def test_custom_timer_is_used_for_timed_runs_only():
    calls = []
    times, warm = run_timed(lambda: calls.append("step"), TimingPlan(warmup_runs=2, min_runs=3, min_seconds=0), timer=lambda fn: 7.5)
    assert warm == 2 and calls == ["step", "step"] and times == [7.5, 7.5, 7.5]


def test_plans():
    gpu = TimingPlan.gpu()
    assert gpu.min_runs == 1000 and gpu.warmup_seconds == 0.5  # the paper's >= 1000 runs after warm-up
    assert TimingPlan.cpu().min_seconds >= 2.0  # adaptive on CPU
    assert TimingPlan.cpu().with_overrides(min_runs=7, min_seconds=None).min_runs == 7
    with pytest.raises(InputError):
        TimingPlan(min_runs=0)
    with pytest.raises(InputError):
        TimingPlan(min_runs=10, max_runs=5)


def test_timing_result_summary():
    result = TimingResult(times_ms=(1.0, 2.0, 3.0), backend="x", backend_version="1")
    assert result.summary.median == 2.0 and result.median_ms == 2.0
