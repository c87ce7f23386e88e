"""The local latency table: what ``gpunet-hub bench --save`` measured on this machine.

A JSON file in the user cache (``$GPUNET_HUB_CACHE`` or ``~/.cache/gpunet-hub``) named
``local_latency.json``. Writes take an exclusive file lock, re-read the file, merge and replace it
atomically, so several bench runs (even concurrent ones) merge without losing rows. A new
measurement replaces an older one with the same (model, device, batch, precision, backend). Rows
come from :meth:`gpunet_hub.measure.record.BenchRecord.table_entry`.

Rows are only comparable within a :class:`LocalGroup` (one device fingerprint, backend, precision
and batch). ``local_latency_rows(batch_size, precision, group)`` gives
:func:`gpunet_hub.hub.select.select` (``gpu="local"``) one :class:`~gpunet_hub.hub.cards.LatencyRow`
per model from one group: the named one, else the newest; the row's ``gpu`` field is the device
label it was measured on.
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .._io import atomic_write_text, cache_dir, json_sha256
from ..errors import InputError, did_you_mean
from .cards import LatencyRow

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
        raise InputError(
            f"the local latency table {path} is corrupt ({exc}); delete it and re-run `gpunet-hub bench --save`"
        ) from exc
    rows = data.get("rows", []) if isinstance(data, dict) else []
    return [r for r in rows if isinstance(r, dict)]


def entries() -> list[dict[str, Any]]:
    """All saved measurements (oldest first)."""
    return _read(table_path())


def save_entries(new: Sequence[Mapping[str, Any]]) -> Path:
    """Merges rows into the table (locked read-merge-atomic-replace) and returns its path.

    A row replaces an older one with the same (model, device, batch, precision, backend).
    """
    added = []
    for index, entry in enumerate(new):
        missing = [k for k in _KEY if not isinstance(entry, Mapping) or k not in entry]
        if missing:
            raise InputError(
                f"row {index} of the rows to save is not a measurement (missing {', '.join(missing)}); "
                "save what gpunet_hub.measure.run() returns",
                params=("new",),
            )
        try:
            json.dumps(dict(entry))
        except (TypeError, ValueError) as exc:
            raise InputError(
                f"row {index} of the rows to save is not JSON-serialisable: {exc}", params=("new",)
            ) from None
        added.append(dict(entry))
    path = table_path()
    with _locked(path):
        rows = _read(path)
        keys = {tuple(e[k] for k in _KEY) for e in added}
        rows = [r for r in rows if tuple(r.get(k) for k in _KEY) not in keys] + added
        atomic_write_text(path, json.dumps({"schema": SCHEMA, "rows": rows}, indent=1) + "\n")
    return path


def clear() -> None:
    """Deletes the table."""
    path = table_path()
    with _locked(path):
        if path.exists():
            os.unlink(path)


@dataclass(frozen=True)
class LocalGroup:
    """Local rows that are comparable: one device fingerprint, backend, precision and batch.

    Attributes:
        name: ``<backend>/<precision>/batch<N>@<fingerprint[:8]>``, what ``local_group=`` takes.
        device: The device label (``CPU: ... (1 thread)``).
        device_fingerprint: :attr:`gpunet_hub.measure.device.Device.fingerprint` of the rows.
        backend: Timing backend.
        precision: Precision.
        batch: Batch size.
        models: Models measured in this group, sorted.
        newest: Date of the group's newest row (UTC, ISO 8601).
    """

    name: str
    device: str
    device_fingerprint: str
    backend: str
    precision: str
    batch: int
    models: tuple[str, ...]
    newest: str

    def describe(self) -> str:
        """One line: ``onnxruntime-cpu fp32 batch 1 on CPU: ... (group '...')``."""
        return f"{self.backend} {self.precision} batch {self.batch} on {self.device} (local group {self.name!r})"


def _fingerprint(entry: Mapping[str, Any]) -> str:
    # Rows saved before the device record had a fingerprint are grouped by their device label.
    return str(entry.get("device_fingerprint") or json_sha256(entry.get("device"), 16))


def _group_key(entry: Mapping[str, Any]) -> tuple[str, str, str, int]:
    return (_fingerprint(entry), str(entry.get("backend")), str(entry.get("precision")), int(entry.get("batch", 0)))


def groups(*, batch_size: int | None = None, precision: str | None = None) -> list[LocalGroup]:
    """The table's groups of comparable rows, newest first, optionally only one batch/precision."""
    members: dict[tuple[str, str, str, int], list[dict[str, Any]]] = {}
    for entry in entries():
        if not isinstance(entry.get("model"), str):
            continue
        if batch_size is not None and entry.get("batch") != batch_size:
            continue
        if precision is not None and entry.get("precision") != precision:
            continue
        members.setdefault(_group_key(entry), []).append(entry)
    found = [
        LocalGroup(
            name=f"{backend}/{prec}/batch{batch}@{fp[:8]}",
            device=str(rows[-1].get("device")),
            device_fingerprint=fp,
            backend=backend,
            precision=prec,
            batch=batch,
            models=tuple(sorted({str(r["model"]) for r in rows})),
            newest=max(str(r.get("date", "")) for r in rows),
        )
        for (fp, backend, prec, batch), rows in members.items()
    ]
    return sorted(found, key=lambda g: (g.newest, g.name), reverse=True)


def find_group(name: str | None = None, *, batch_size: int = 1, precision: str | None = None) -> LocalGroup | None:
    """The group to select from: ``name``, else the newest one at this batch (and precision).

    Returns:
        The group, or ``None`` when the table has no rows at this batch and precision.

    Raises:
        InputError: When ``name`` is given and no group has it (listing the groups there are).
    """
    found = groups(batch_size=batch_size, precision=precision)
    if name is None:
        return found[0] if found else None
    for group in found:
        if group.name == name:
            return group
    listed = "; ".join(g.name for g in found) or "none (run `gpunet-hub bench --all --save` first)"
    raise InputError(
        f"no local group {name!r} at batch {batch_size}; local groups: {listed}."
        + did_you_mean(name, [g.name for g in found]),
        params=("local_group",),
    )


def local_latency_rows(
    batch_size: int = 1, precision: str | None = None, group: str | None = None
) -> dict[str, LatencyRow]:
    """The latest row per model of one group (``group``, else the newest), as hub latency rows.

    Rows of two groups are never mixed: a model measured only in another group has no row here.
    """
    chosen = find_group(group, batch_size=batch_size, precision=precision)
    if chosen is None:
        return {}
    best: dict[str, dict[str, Any]] = {}
    for entry in entries():
        if _group_key(entry) != (chosen.device_fingerprint, chosen.backend, chosen.precision, chosen.batch):
            continue
        name = str(entry["model"])
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
            source=f"gpunet-hub bench on this machine, {e.get('date', '')}, local group {chosen.name}",
        )
        for name, e in best.items()
    }
