"""The local latency table: what ``gpunet-hub bench --save`` measured on this machine.

A JSON file in the user cache (``$GPUNET_HUB_CACHE`` or ``~/.cache/gpunet-hub``) named
``local_latency.json``. Writes take an exclusive file lock, re-read the file, merge and replace it
atomically, so several bench runs (even concurrent ones) merge without losing rows. A new
measurement replaces an older one with the same (model, device, batch, precision, backend).

``local_latency_rows(batch_size, precision)`` gives :func:`gpunet_hub.hub.select` (``gpu="local"``)
one :class:`~gpunet_hub.card.LatencyRow` per model: the latest measurement at that batch (and
precision, if given); the row's ``gpu`` field is the device label it was measured on.
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ._io import atomic_write_text, cache_dir
from .card import LatencyRow
from .errors import InputError

if TYPE_CHECKING:
    from .bench.record import BenchRecord

TABLE_NAME = "local_latency.json"
SCHEMA = 1
_KEY = ("model", "device", "batch", "precision", "backend")


def table_path() -> Path:
    """The table's file (its folder is created if needed)."""
    return cache_dir() / TABLE_NAME


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    """An exclusive advisory lock on ``<table>.lock`` (no-op where ``fcntl`` is missing)."""
    lock_path = path.with_name(path.name + ".lock")
    with open(lock_path, "a+") as handle:
        try:
            import fcntl
        except ImportError:  # pragma: no cover - Windows
            yield
            return
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)


def _read(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise InputError(f"the local latency table {path} is corrupt ({exc}); delete it and re-run `gpunet-hub bench --save`") from exc
    rows = data.get("rows", []) if isinstance(data, dict) else []
    return [r for r in rows if isinstance(r, dict)]


def entries() -> list[dict[str, Any]]:
    """All saved measurements (oldest first)."""
    return _read(table_path())


def entry_from_record(record: BenchRecord) -> dict[str, Any]:
    """The table entry of a bench record."""
    s = record.stats
    return {
        "model": record.model,
        "kind": record.kind,
        "device": record.device.label,
        "device_kind": record.device.kind,
        "hub_gpu": record.device.hub_gpu,
        "batch": record.batch,
        "precision": record.precision,
        "typing": record.typing,
        "backend": record.backend,
        "backend_version": record.backend_version,
        "threads": record.settings.get("threads"),
        "input_shape": list(record.input_shape),
        "stat": "median",
        "ms": s.median,
        "mean_ms": s.mean,
        "p90_ms": s.p90,
        "p99_ms": s.p99,
        "cv": s.cv,
        "n": s.n,
        "date": record.date,
    }


def save_records(records: Sequence[BenchRecord]) -> Path:
    """Merges records into the table (locked read-merge-atomic-replace) and returns its path."""
    path = table_path()
    new = [entry_from_record(r) for r in records]
    with _locked(path):
        rows = _read(path)
        keys = {tuple(e[k] for k in _KEY) for e in new}
        rows = [r for r in rows if tuple(r.get(k) for k in _KEY) not in keys] + new
        atomic_write_text(path, json.dumps({"schema": SCHEMA, "rows": rows}, indent=1) + "\n")
    return path


def clear() -> None:
    """Deletes the table."""
    path = table_path()
    with _locked(path):
        if path.exists():
            os.unlink(path)


def local_latency_rows(batch_size: int = 1, precision: str | None = None) -> dict[str, LatencyRow]:
    """The latest local row per model at this batch (and precision), as hub latency rows."""
    best: dict[str, dict[str, Any]] = {}
    for entry in entries():
        if entry.get("batch") != batch_size or (precision is not None and entry.get("precision") != precision):
            continue
        name = entry.get("model")
        if not isinstance(name, str):
            continue
        if name not in best or str(entry.get("date", "")) >= str(best[name].get("date", "")):
            best[name] = entry
    return {
        name: LatencyRow(
            gpu=e["device"],
            batch=int(e["batch"]),
            precision=e["precision"],
            runtime=e["backend"],
            runtime_version=str(e.get("backend_version", "")),
            stat=e.get("stat", "median"),
            ms=float(e["ms"]),
            source=f"gpunet-hub bench on this machine, {e.get('date', '')}",
        )
        for name, e in best.items()
    }
