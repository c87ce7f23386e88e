"""Timing loops and latency statistics shared by every backend.

* :class:`TimingPlan` says how long to warm up (by count *and* by time) and how many runs to time
  (at least ``min_runs`` *and* at least ``min_seconds``, capped by ``max_runs``/``max_seconds``).
  :meth:`TimingPlan.gpu` is the paper's protocol (500 ms warm-up, 1000 runs);
  :meth:`TimingPlan.cpu` is adaptive (at least 2 s of timed runs).
* :func:`run_timed` runs that plan around any callable and returns per-run times in ms.
* :class:`TimingResult` is what every backend returns: the raw per-run times, the effective settings
  and the backend's name and version. :func:`summarize` gives median, mean, p90, p99, std, CV.

Percentiles use trtexec's nearest-rank rule (``sorted[N-1-floor((1-p/100)*N)]``, no interpolation)
so a p99 computed here and one printed by trtexec mean the same thing; the median averages the two
middle values when N is even, as trtexec does.
"""

from __future__ import annotations

import math
import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from .. import _validate
from ..errors import InputError

#: Most runs (warm-up or timed) a plan may ask for.
MAX_RUNS = 10_000_000
#: Longest warm-up or timing duration a plan may ask for, in seconds (a day): every loop ends.
MAX_SECONDS = 86_400.0


@dataclass(frozen=True)
class TimingPlan:
    """How long to warm up and how much to time.

    Attributes:
        warmup_runs: Untimed runs first (at least this many).
        warmup_seconds: ...and keep warming up until this much time has passed.
        min_runs: Time at least this many runs.
        min_seconds: ...and keep timing until this much time has been spent timing.
        max_runs: Never time more runs than this (``None``: no cap).
        max_seconds: Stop once this much time has been spent timing, even below ``min_runs``.
    """

    warmup_runs: int = 20
    warmup_seconds: float = 0.0
    min_runs: int = 100
    min_seconds: float = 2.0
    max_runs: int | None = None
    max_seconds: float | None = 60.0

    def __post_init__(self) -> None:
        _validate.integer(self.warmup_runs, "warmup_runs", minimum=0, maximum=MAX_RUNS)
        _validate.integer(self.min_runs, "min_runs", minimum=1, maximum=MAX_RUNS)
        _validate.number(self.warmup_seconds, "warmup_seconds", minimum=0, maximum=MAX_SECONDS)
        _validate.number(self.min_seconds, "min_seconds", minimum=0, maximum=MAX_SECONDS)
        if self.max_runs is not None:
            _validate.integer(self.max_runs, "max_runs", minimum=1, maximum=MAX_RUNS)
        if self.max_seconds is not None:
            _validate.number(self.max_seconds, "max_seconds", minimum=0, exclusive_minimum=True, maximum=MAX_SECONDS)
        if self.max_runs is not None and self.max_runs < self.min_runs:
            raise InputError(f"max_runs ({self.max_runs}) is below min_runs ({self.min_runs})")

    @classmethod
    def gpu(cls) -> TimingPlan:
        """The paper's GPU protocol: 500 ms / 200 runs of warm-up, then 1000 timed runs."""
        return cls(warmup_runs=200, warmup_seconds=0.5, min_runs=1000, min_seconds=0.0, max_runs=None, max_seconds=None)

    @classmethod
    def fixed(cls, warmup: int, runs: int, max_seconds: float | None = None) -> TimingPlan:
        """Exactly ``warmup`` untimed and ``runs`` timed runs (fewer if ``max_seconds`` runs out).

        The per-layer LUT protocol times this way: a fixed number of runs per round.
        """
        return cls(
            warmup_runs=warmup,
            warmup_seconds=0.0,
            min_runs=runs,
            min_seconds=0.0,
            max_runs=runs,
            max_seconds=max_seconds,
        )

    @classmethod
    def cpu(cls) -> TimingPlan:
        """Adaptive CPU protocol: 20 runs / 0.5 s of warm-up, then at least 2 s and 50 runs."""
        return cls(warmup_runs=20, warmup_seconds=0.5, min_runs=50, min_seconds=2.0, max_runs=None, max_seconds=120.0)

    def with_overrides(self, **overrides: Any) -> TimingPlan:
        """A copy with the non-``None`` overrides applied."""
        return replace(self, **{k: v for k, v in overrides.items() if v is not None})

    def to_dict(self) -> dict[str, Any]:
        return {
            "warmup_runs": self.warmup_runs,
            "warmup_seconds": self.warmup_seconds,
            "min_runs": self.min_runs,
            "min_seconds": self.min_seconds,
            "max_runs": self.max_runs,
            "max_seconds": self.max_seconds,
        }


def run_timed(
    step: Callable[[], Any],
    plan: TimingPlan,
    *,
    timer: Callable[[Callable[[], Any]], float] | None = None,
    clock: Callable[[], int] = time.perf_counter_ns,
) -> tuple[list[float], int]:
    """Warms up, then times ``step`` per the plan.

    Args:
        step: One inference (must block until the result is ready, unless ``timer`` handles it).
        plan: Warm-up and run counts/durations.
        timer: Times one call and returns milliseconds (e.g. CUDA events); default: host clock.
        clock: Nanosecond clock used for host timing and for the plan's durations.

    Returns:
        ``(times_ms, warmup_runs_done)``.
    """

    def host_timer(fn: Callable[[], Any]) -> float:
        start = clock()
        fn()
        return (clock() - start) / 1e6

    measure = timer or host_timer
    warm = 0
    start = clock()
    while warm < plan.warmup_runs or (clock() - start) / 1e9 < plan.warmup_seconds:
        step()
        warm += 1
    times: list[float] = []
    start = clock()
    while True:
        times.append(measure(step))
        spent = (clock() - start) / 1e9
        if plan.max_runs is not None and len(times) >= plan.max_runs:
            break
        if plan.max_seconds is not None and spent >= plan.max_seconds:
            break
        if len(times) >= plan.min_runs and spent >= plan.min_seconds:
            break
    return times, warm


def percentile(sorted_values: Sequence[float], p: float) -> float:
    """trtexec's nearest-rank percentile of an ascending sequence (``p`` in [0, 100])."""
    n = len(sorted_values)
    if n == 0:
        return math.nan
    # round() keeps decimal percentiles exact ((1 - 0.9) * 100 is 9.999... in binary floating point)
    index = n - 1 - math.floor(round((1 - p / 100.0) * n, 9))
    return float(sorted_values[max(0, min(n - 1, index))])


@dataclass(frozen=True)
class Summary:
    """Statistics of per-run times in milliseconds.

    Attributes:
        n: Number of timed runs.
        median, mean, p90, p99, min, max, std: Milliseconds (``std`` is the population std).
        cv: Coefficient of variation, std / mean (a fraction, 0.025 = 2.5 %).
    """

    n: int
    median: float
    mean: float
    p90: float
    p99: float
    min: float
    max: float
    std: float
    cv: float

    def to_dict(self) -> dict[str, float | int]:
        return {k: getattr(self, k) for k in ("n", "median", "mean", "p90", "p99", "min", "max", "std", "cv")}


def summarize(times_ms: Sequence[float]) -> Summary:
    """Median, mean, nearest-rank p90/p99, min, max, std and CV of per-run times.

    Raises:
        InputError: For an empty sequence.
    """
    if not times_ms:
        raise InputError("no timed runs to summarise")
    ordered = sorted(float(t) for t in times_ms)
    mean = statistics.fmean(ordered)
    std = statistics.pstdev(ordered) if len(ordered) > 1 else 0.0
    return Summary(
        n=len(ordered),
        median=float(statistics.median(ordered)),
        mean=mean,
        p90=percentile(ordered, 90),
        p99=percentile(ordered, 99),
        min=ordered[0],
        max=ordered[-1],
        std=std,
        cv=std / mean if mean > 0 else math.nan,
    )


@dataclass(frozen=True)
class TimingResult:
    """What a backend measured: raw per-run times plus the settings that were in effect.

    Attributes:
        times_ms: Per-run times in milliseconds, warm-up excluded.
        backend: Backend name (``onnxruntime-cpu``, ``tensorrt``, ``trtexec``, ``torch-cpu``...).
        backend_version: Version of the runtime that ran the model.
        warmup_runs: Untimed runs done first.
        settings: Effective settings: ``precision``, ``typing``, ``cuda_graph``, ``data_transfers``,
            ``threads``, ``graph_optimization``, ``provider``...
        notes: Warnings worth showing (e.g. trtexec's instability warning).
    """

    times_ms: tuple[float, ...]
    backend: str
    backend_version: str
    warmup_runs: int = 0
    settings: dict[str, Any] = field(default_factory=dict)
    notes: tuple[str, ...] = ()

    @property
    def summary(self) -> Summary:
        """Statistics of :attr:`times_ms`."""
        return summarize(self.times_ms)

    @property
    def median_ms(self) -> float:
        return self.summary.median
