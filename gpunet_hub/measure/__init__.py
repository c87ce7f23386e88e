"""Latency measurement: one backend registry, statistics, the device record, records, verdicts.

Used by ``gpunet-hub bench`` (whole networks) and by the search pipeline's latency LUT (single
layers), through the same protocol (:mod:`.registry`):

* :mod:`.registry` - :class:`~.registry.Backend` / :class:`~.registry.Session`, the registry
  (``tensorrt``, ``trtexec``, ``onnxruntime-*``, ``torch-*``), ``auto`` choice;
* :mod:`.stats` - timing plans, the timing loop, :class:`~.stats.TimingResult`, statistics;
* :mod:`.device` - the :class:`~.device.Device` record and its fingerprint;
* :mod:`.record` - the result record, JSON/CSV, saving to the local latency table;
* :mod:`.verdict` - comparison with the hub's rows;
* :func:`run` - the whole of ``bench`` as a library call, returning a :class:`BenchReport`.

The backends' own modules (``_ort``, ``_tensorrt``, ``_trtexec``, ``_torch``) and the bench
pipeline (``_run``, ``_baselines``, ``_plot``) are private; importing this package stays light
(no torch, no onnxruntime).

Examples:
    >>> from gpunet_hub import measure
    >>> report = measure.run(models=("gpunet_p0",), backend="onnxruntime-cpu", min_runs=20)
    >>> report.records[0].stats.median  # ms
"""

from __future__ import annotations

from ._run import BenchReport, BenchRequest, execute, prepare, run
from .device import Device
from .registry import Backend, Session, SessionConfig, backends, choose_backend, get_backend
from .stats import TimingPlan, TimingResult, summarize

__all__ = [
    "Backend",
    "BenchReport",
    "BenchRequest",
    "Device",
    "Session",
    "SessionConfig",
    "TimingPlan",
    "TimingResult",
    "backends",
    "choose_backend",
    "execute",
    "get_backend",
    "prepare",
    "run",
    "summarize",
]
