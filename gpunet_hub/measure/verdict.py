"""The verdict: does a local measurement confirm the hub's latency row?

Like is compared with like only: the measurement must come from a device the hub has rows for (a
GPU by its hub key; a CPU only by its exact device label, which names the processor and the thread
count, as in a regenerated hub measured on it; a CPU figure is never compared with a GPU row), from a
backend of the row's runtime (the packaged rows are TensorRT GPU compute times, so ``tensorrt`` or
``trtexec``), at the row's batch and precision; the row's own statistic (median or mean) is used.
Otherwise the verdict says plainly why there is no comparison and the local figure stands alone.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from functools import partial
from typing import Any

from ..hub.cards import LatencyRow, ModelCard
from .record import BenchRecord
from .registry import runtime_of


@dataclass(frozen=True)
class Verdict:
    """The comparison of one record with the hub.

    Attributes:
        model: Model name.
        status: ``consistent``, ``slower``, ``faster`` (compared), or ``unverifiable`` (a CPU the
            hub has no rows for),
            ``no-row`` (no hub row for this GPU/batch/precision), ``not-comparable`` (other runtime).
        message: One plain sentence.
        measured_ms: The local figure, in the statistic compared (median unless the row says mean).
        hub_ms: The hub row's figure, when a row was used.
        ratio: measured / hub, when compared.
        tolerance: Relative tolerance of ``consistent``.
        hub_row: The row used, if any.
    """

    model: str
    status: str
    message: str
    measured_ms: float
    hub_ms: float | None = None
    ratio: float | None = None
    tolerance: float = 0.10
    hub_row: LatencyRow | None = None

    @property
    def compared(self) -> bool:
        return self.ratio is not None

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["hub_row"] = self.hub_row.to_dict() if self.hub_row else None
        return data


def _stat(record: BenchRecord, stat: str) -> float:
    return record.stats.mean if stat == "mean" else record.stats.median


def _rows_text(card: ModelCard) -> str:
    return ", ".join(f"{r.gpu} {r.ms:g} ms" for r in card.latency) or "none"


def verdict_for(record: BenchRecord, card: ModelCard, *, tolerance: float = 0.10) -> Verdict:
    """Compares a record with the card's latency rows (see the module docstring)."""
    device = record.device
    verdict = partial(Verdict, record.model, tolerance=tolerance)
    median = record.stats.median
    key = device.hub_gpu if device.kind == "gpu" else device.label
    if device.kind != "gpu" and not any(r.gpu == key for r in card.latency):
        gpus = sorted({r.gpu for r in card.latency})
        return verdict(
            status="unverifiable",
            message=(
                f"the hub's rows ({_rows_text(card)}) are for other devices, which this "
                f"device ({device.label}) cannot verify; local figure only"
                if gpus
                else "the hub has no latency rows for this model; local figure only"
            ),
            measured_ms=median,
        )
    on_gpu = [r for r in card.latency if key and r.gpu == key]
    if not on_gpu:
        return verdict(
            status="no-row",
            message=f"the hub has no row for {device.name} (it has {_rows_text(card)}); local figure only",
            measured_ms=median,
        )
    rows = [r for r in on_gpu if r.batch == record.batch and r.precision == record.precision]
    if not rows:
        have = ", ".join(f"batch {r.batch} {r.precision}" for r in on_gpu)
        return verdict(
            status="no-row",
            message=f"the hub's {key} rows are for {have}, not batch {record.batch} {record.precision}; local figure only",
            measured_ms=median,
        )
    row = rows[0]
    measured = _stat(record, row.stat)
    if runtime_of(record.backend) != runtime_of(
        row.runtime
    ):  # rows name a runtime (tensorrt) or a backend (onnxruntime-cpu)
        return verdict(
            status="not-comparable",
            message=(
                f"the hub's {key} row ({row.ms:g} ms) is a {row.runtime} {row.runtime_version} {row.stat}; "
                f"{record.backend} is a different runtime, so no verdict (run with a TensorRT backend)"
            ),
            measured_ms=measured,
            hub_ms=row.ms,
            hub_row=row,
        )
    ratio = measured / row.ms
    if abs(ratio - 1.0) <= tolerance:
        status = "consistent"
    else:
        status = "slower" if ratio > 1 else "faster"
    caveats = []
    major = record.backend_version.split(".")[0]
    if row.runtime == "tensorrt" and row.runtime_version and major != row.runtime_version.split(".")[0]:
        typing = record.typing
        caveats.append(
            f"TensorRT {record.backend_version} ({typing}-typed) vs the row's TensorRT {row.runtime_version} (weak-typed)"
        )
    if record.settings.get("cuda_graph") is False:
        caveats.append("measured without a CUDA graph")
    message = (
        f"{status}: {measured:.3g} ms measured vs {row.ms:g} ms on the hub ({ratio:.2f}x, tolerance {tolerance:.0%})"
    )
    if caveats:
        message += "; note: " + "; ".join(caveats)
    return verdict(status=status, message=message, measured_ms=measured, hub_ms=row.ms, ratio=ratio, hub_row=row)
