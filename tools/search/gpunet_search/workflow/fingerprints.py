"""Stage fingerprints and the output folder's state file.

A stage's fingerprint hashes what it reads: the plan fields it uses and its upstream stages'
fingerprints. The state file (``state.json`` in the output folder, written atomically) records, per
stage, the fingerprint it was finished with, its outputs and its time; a stage is *done* when the
recorded fingerprint equals the current one, *stale* when it differs, *todo* when absent. It also keeps
measured rates per device fingerprint (seconds per layer key, per epoch, ...) for ``--dry-run``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gpunet_hub._io import atomic_write_text, json_sha256, utc_now
from gpunet_hub.errors import InputError

STATE_NAME = "state.json"
STATE_FORMAT = "gpunet-regenerate-state/1"
DONE, STALE, TODO = "done", "stale", "todo"


def fingerprint(*parts: Any) -> str:
    """16 hex digits of the SHA-256 of JSON-able ``parts`` (key order does not matter)."""
    return json_sha256(list(parts), 16)


@dataclass
class StageRecord:
    """What a finished stage left.

    Attributes:
        fingerprint: The inputs it ran with.
        output: Its outputs (paths relative to the output folder, figures).
        seconds: Wall time of the run that finished it (resumed runs add up).
        finished: UTC time it finished.
    """

    fingerprint: str
    output: dict[str, Any] = field(default_factory=dict)
    seconds: float = 0.0
    finished: str = ""


class State:
    """The state file of one output folder; every change is written at once (atomically)."""

    def __init__(self, folder: Path) -> None:
        self.path = Path(folder) / STATE_NAME
        self.stages: dict[str, StageRecord] = {}
        self.rates: dict[str, dict[str, float]] = {}
        self.partial_seconds: dict[str, float] = {}
        if self.path.exists():
            self._read()

    def _read(self) -> None:
        try:
            data = json.loads(self.path.read_text())
            if data.get("format") != STATE_FORMAT:
                raise ValueError(f"format {data.get('format')!r}, expected {STATE_FORMAT!r}")
            self.stages = {name: StageRecord(**record) for name, record in data["stages"].items()}
            self.rates = {k: dict(v) for k, v in data.get("rates", {}).items()}
            self.partial_seconds = {k: float(v) for k, v in data.get("partial_seconds", {}).items()}
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise InputError(
                f"{self.path} is not a regenerate state file ({' '.join(str(exc).split())[:160]}); "
                "choose another --out folder, or delete it to start over"
            ) from None

    def save(self) -> None:
        data = {
            "format": STATE_FORMAT,
            "stages": {name: vars(record) for name, record in self.stages.items()},
            "rates": self.rates,
            "partial_seconds": self.partial_seconds,
        }
        atomic_write_text(self.path, json.dumps(data, indent=2, sort_keys=True) + "\n")

    def status(self, stage: str, current: str) -> str:
        """``done``, ``stale`` or ``todo`` for a stage whose inputs now hash to ``current``."""
        record = self.stages.get(stage)
        if record is None:
            return TODO
        return DONE if record.fingerprint == current else STALE

    def finish(self, stage: str, current: str, output: dict[str, Any], seconds: float) -> StageRecord:
        """Records a finished stage (with the time of earlier interrupted attempts added)."""
        total = seconds + self.partial_seconds.pop(f"{stage}:{current}", 0.0)
        record = StageRecord(current, output, round(total, 3), utc_now())
        self.stages[stage] = record
        self.save()
        return record

    def interrupted(self, stage: str, current: str, seconds: float) -> None:
        """Keeps the time an interrupted attempt spent, so the resumed stage reports its whole time."""
        key = f"{stage}:{current}"
        self.partial_seconds[key] = self.partial_seconds.get(key, 0.0) + seconds
        self.save()

    def record_rate(self, device: str, name: str, seconds_per_unit: float) -> None:
        """Stores a measured rate (seconds per unit of work) for a device fingerprint."""
        if seconds_per_unit > 0:
            self.rates.setdefault(device, {})[name] = float(seconds_per_unit)
            self.save()


__all__ = ["DONE", "STALE", "STATE_NAME", "TODO", "StageRecord", "State", "fingerprint"]
