"""Read a distributed search back from its storage: one row per trial, as a table, JSON or CSV."""

from __future__ import annotations

import csv
import io
import json
from dataclasses import asdict, dataclass
from typing import Any

from gpunet_hub.errors import InputError

from .evaluators import BEST, EPOCH, VALUE
from .runner import MANIFEST, _read_manifest

FORMATS = ("table", "json", "csv")
STATUS = {"TERMINATED": "done", "ERROR": "error", "RUNNING": "interrupted", "PENDING": "pending", "PAUSED": "paused"}


@dataclass(frozen=True)
class TrialRow:
    """One trial of a search.

    Attributes:
        trial_id: Tune's trial id.
        arch_hash: The network's id (also its folder name).
        vector: The 41-int encoding.
        lut_ms: LUT latency estimate (ms) from the tier file.
        status: ``done``, ``stopped`` (early), ``error``, ``interrupted`` (driver died), ``pending``.
        epochs: Epochs reported.
        final: The last epoch's value.
        best: The best value over the epochs.
        seconds: Wall time of the trial over all its attempts.
        node: Host that reported the last result.
        failures: Times the trial's worker failed and it resumed from a checkpoint.
    """

    trial_id: str
    arch_hash: str
    vector: list[int]
    lut_ms: float | None
    status: str
    epochs: int
    final: float | None
    best: float | None
    seconds: float | None
    node: str | None
    failures: int


def load_rows(path: str) -> tuple[list[TrialRow], dict[str, Any]]:
    """The trials of the experiment at ``path`` (storage/name) and its manifest.

    Raises:
        InputError: No experiment there.
    """
    from ray.tune import ExperimentAnalysis

    manifest = _read_manifest(path)
    if manifest is None:
        raise InputError(f"no distributed search at {path} (no {MANIFEST}); check --storage and --name")
    try:
        analysis = ExperimentAnalysis(path)
    except (FileNotFoundError, ValueError) as exc:
        raise InputError(f"{path} holds no Tune experiment state yet ({exc}); was the search started?") from None
    rows = []
    for trial in analysis.trials:
        last = trial.last_result or {}
        epochs = int(last.get(EPOCH, 0) or 0)
        status = STATUS.get(trial.status, trial.status.lower())
        if status == "done" and epochs < int(trial.config.get("epochs", epochs)):
            status = "stopped"
        rows.append(
            TrialRow(
                trial_id=trial.trial_id,
                arch_hash=str(trial.config.get("arch_hash")),
                vector=[int(v) for v in trial.config.get("vector", [])],
                lut_ms=trial.config.get("lut_ms"),
                status=status,
                epochs=epochs,
                final=_number(last.get(VALUE)),
                best=_number(last.get(BEST)),
                seconds=_number(last.get("time_total_s")),
                node=last.get("hostname") or last.get("node_ip"),
                failures=int(getattr(trial.run_metadata, "num_failures", 0)),
            )
        )
    return rows, manifest


def _number(value: Any) -> float | None:
    return None if value is None else float(value)


def render(rows: list[TrialRow], fmt: str) -> str:
    """Rows as ``json`` or ``csv`` text (the ``table`` format is drawn by the CLI).

    Raises:
        InputError: An unknown format.
    """
    if fmt == "json":
        return json.dumps([asdict(r) for r in rows], indent=2) + "\n"
    if fmt == "csv":
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, fieldnames=list(TrialRow.__dataclass_fields__))
        writer.writeheader()
        for row in rows:
            writer.writerow(asdict(row) | {"vector": " ".join(map(str, row.vector))})
        return buffer.getvalue()
    raise InputError(f"unknown --format {fmt!r}; choose one of {', '.join(FORMATS)}")
