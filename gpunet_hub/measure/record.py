"""The benchmark record: one measured model on one device and backend, plus JSON and CSV output."""

from __future__ import annotations

import csv
import io
import json
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .._io import utc_now
from .device import Device
from .stats import Summary, TimingResult

#: Significant figures of latencies written to the local latency table.
SAVED_DIGITS = 4

CSV_FIELDS = (
    "model",
    "kind",
    "input_shape",
    "batch",
    "precision",
    "typing",
    "backend",
    "backend_version",
    "device",
    "hub_gpu",
    "threads",
    "cuda_graph",
    "data_transfers",
    "n",
    "median_ms",
    "mean_ms",
    "p90_ms",
    "p99_ms",
    "min_ms",
    "std_ms",
    "cv",
    "throughput_ips",
    "date",
)


@dataclass(frozen=True)
class BenchRecord:
    """One latency measurement, labelled with everything needed to read it honestly.

    Attributes:
        model: Model name (hub name, or ``timm:<name>`` for baselines).
        kind: ``hub`` or ``baseline``.
        input_shape: Full input shape, batch first.
        batch: Batch size.
        precision: ``fp32`` or ``fp16``.
        backend: Backend label (``onnxruntime-cpu``, ``tensorrt``, ``trtexec``, ``torch-cpu``...).
        backend_version: Its version.
        device: The device it ran on.
        stats: Statistics of the per-run times (ms).
        settings: Effective settings (typing, CUDA graph, data transfers, threads, ...).
        date: When it was measured (UTC, ISO 8601).
        warmup_runs: Untimed runs first.
        notes: Warnings (e.g. trtexec's instability warning).
        times_ms: Raw per-run times (kept in JSON, not in CSV).
    """

    model: str
    kind: str
    input_shape: tuple[int, ...]
    batch: int
    precision: str
    backend: str
    backend_version: str
    device: Device
    stats: Summary
    settings: dict[str, Any] = field(default_factory=dict)
    date: str = field(default_factory=utc_now)
    warmup_runs: int = 0
    notes: tuple[str, ...] = ()
    times_ms: tuple[float, ...] = ()

    @classmethod
    def from_timing(
        cls, model: str, timing: TimingResult, *, kind: str, input_shape: Sequence[int], precision: str, device: Device
    ) -> BenchRecord:
        """Builds a record from a backend's :class:`TimingResult`."""
        return cls(
            model=model,
            kind=kind,
            input_shape=tuple(int(v) for v in input_shape),
            batch=int(input_shape[0]),
            precision=precision,
            backend=timing.backend,
            backend_version=timing.backend_version,
            device=device,
            stats=timing.summary,
            settings=dict(timing.settings),
            warmup_runs=timing.warmup_runs,
            notes=tuple(timing.notes),
            times_ms=tuple(timing.times_ms),
        )

    @property
    def typing(self) -> str:
        """``weak`` / ``strong`` for TensorRT, ``n/a`` for other runtimes."""
        return str(self.settings.get("typing", "n/a"))

    @property
    def throughput(self) -> float:
        """Images per second at the median latency."""
        return self.batch * 1000.0 / self.stats.median if self.stats.median > 0 else float("nan")

    def to_dict(self, *, include_times: bool = True) -> dict[str, Any]:
        """A JSON-able dict (with raw per-run times unless ``include_times`` is False)."""
        data: dict[str, Any] = {
            "model": self.model,
            "kind": self.kind,
            "input_shape": list(self.input_shape),
            "batch": self.batch,
            "precision": self.precision,
            "typing": self.typing,
            "backend": self.backend,
            "backend_version": self.backend_version,
            "device": self.device.to_dict(),
            "stats_ms": self.stats.to_dict(),
            "throughput_ips": self.throughput,
            "settings": self.settings,
            "date": self.date,
            "warmup_runs": self.warmup_runs,
            "notes": list(self.notes),
        }
        if include_times:
            data["times_ms"] = list(self.times_ms)
        return data

    def table_entry(self) -> dict[str, Any]:
        """This record as a row of the local latency table (:mod:`gpunet_hub.hub.local_table`)."""
        s = self.stats
        return {
            "model": self.model,
            "kind": self.kind,
            "device": self.device.label,
            "device_kind": self.device.kind,
            "device_fingerprint": self.device.fingerprint,
            "hub_gpu": self.device.hub_gpu,
            "batch": self.batch,
            "precision": self.precision,
            "typing": self.typing,
            "backend": self.backend,
            "backend_version": self.backend_version,
            "threads": self.settings.get("threads"),
            "input_shape": list(self.input_shape),
            "stat": "median",
            "ms": saved_ms(s.median),
            "mean_ms": saved_ms(s.mean),
            "p90_ms": saved_ms(s.p90),
            "p99_ms": saved_ms(s.p99),
            "cv": round(s.cv, 4) if math.isfinite(s.cv) else None,
            "n": s.n,
            "date": self.date,
        }

    def csv_row(self) -> dict[str, Any]:
        """One flat CSV row (see :data:`CSV_FIELDS`)."""
        s = self.stats
        return {
            "model": self.model,
            "kind": self.kind,
            "input_shape": "x".join(str(v) for v in self.input_shape),
            "batch": self.batch,
            "precision": self.precision,
            "typing": self.typing,
            "backend": self.backend,
            "backend_version": self.backend_version,
            "device": self.device.label,
            "hub_gpu": self.device.hub_gpu or "",
            "threads": self.settings.get("threads", ""),
            "cuda_graph": self.settings.get("cuda_graph", ""),
            "data_transfers": self.settings.get("data_transfers", ""),
            "n": s.n,
            "median_ms": round(s.median, 6),
            "mean_ms": round(s.mean, 6),
            "p90_ms": round(s.p90, 6),
            "p99_ms": round(s.p99, 6),
            "min_ms": round(s.min, 6),
            "std_ms": round(s.std, 6),
            "cv": round(s.cv, 6),
            "throughput_ips": round(self.throughput, 3),
            "date": self.date,
        }


def saved_ms(value: float, digits: int = SAVED_DIGITS) -> float | None:
    """A latency rounded to ``digits`` significant figures for the local table (``None`` if not finite).

    Timing noise is well above 0.1 %, so four figures (``0.8123``, ``12.35`` ms) keep all the signal
    without pretending to more.
    """
    if not math.isfinite(value):
        return None
    return float(f"{value:.{digits}g}")


def to_json(records: Sequence[BenchRecord], *, include_times: bool = False, extra: dict[str, Any] | None = None) -> str:
    """Serialises records (and optional extra top-level data, e.g. verdicts) to JSON."""
    payload: dict[str, Any] = {"records": [r.to_dict(include_times=include_times) for r in records]}
    if extra:
        payload.update(extra)
    return json.dumps(payload, indent=2, default=str) + "\n"


def to_csv(records: Sequence[BenchRecord]) -> str:
    """Serialises records to CSV (one row each, header first)."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(CSV_FIELDS))
    writer.writeheader()
    for record in records:
        writer.writerow(record.csv_row())
    return buffer.getvalue()


def save_records(records: Sequence[BenchRecord]) -> Path:
    """Merges records into the local latency table (:mod:`gpunet_hub.hub.local_table`); returns its path."""
    from ..hub.local_table import save_entries

    return save_entries([r.table_entry() for r in records])
