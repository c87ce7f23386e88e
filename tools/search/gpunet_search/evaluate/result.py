"""What an evaluation returns: per-epoch records and the final :class:`Result`, with JSON round-trip."""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gpunet_hub.errors import InputError

RESULT_FORMAT = "gpunet-eval-result/1"
RESULT_NAME = "result.json"  # the file a run folder holds its Result in


@dataclass(frozen=True)
class EpochRecord:
    """One epoch of training and validation.

    Attributes:
        epoch: 1-based epoch number.
        train_loss: Mean training loss over the epoch's steps.
        top1: Validation top-1 (%) of the raw weights.
        top5: Validation top-5 (%) of the raw weights.
        top1_ema: Validation top-1 (%) of the EMA weights (``None`` without EMA).
        top5_ema: Validation top-5 (%) of the EMA weights (``None`` without EMA).
        lr: Learning rate at the end of the epoch.
        seconds: Wall time of the epoch (training + validation).
    """

    epoch: int
    train_loss: float
    top1: float
    top5: float
    top1_ema: float | None
    top5_ema: float | None
    lr: float
    seconds: float

    @property
    def score(self) -> float:
        """The value a search ranks by: EMA top-1 when there is an EMA, else raw top-1."""
        return self.top1_ema if self.top1_ema is not None else self.top1


@dataclass(frozen=True)
class Result:
    """The outcome of one evaluation.

    Attributes:
        top1: Best validation top-1 (%) of the raw weights over the epochs run.
        top5: Best validation top-5 (%) of the raw weights.
        top1_ema: Best validation top-1 (%) of the EMA weights (``None`` without EMA).
        top5_ema: Best validation top-5 (%) of the EMA weights.
        best_epoch: Epoch whose :attr:`EpochRecord.score` is highest (first one on ties).
        score: That epoch's score: what a searcher maximises.
        curve: One record per epoch run.
        epochs_run: Epochs actually trained (fewer than configured when stopped early).
        stopped_early: True when a callback or stopping policy ended the run.
        seconds: Training + validation wall time over all epochs (a resumed run adds its parts).
        params: Parameters of the network trained (after the width multiplier).
        resolution: Input resolution trained at.
        num_classes: Classes of the dataset.
        dataset: Dataset identity (name, sizes, split seed).
        arch: The trained network's ArchSpec (release JSON list, after the width multiplier).
        config: Every :class:`EvalConfig` field plus the derived ``lr``.
        proxy: True when the run is proxy scale (reduced width, resolution or data).
        device: ``cpu`` or ``cuda:N`` and whether AMP was used.
        versions: torch and timm versions.
    """

    top1: float
    top5: float
    top1_ema: float | None
    top5_ema: float | None
    best_epoch: int
    score: float
    curve: tuple[EpochRecord, ...]
    epochs_run: int
    stopped_early: bool
    seconds: float
    params: int
    resolution: int
    num_classes: int
    dataset: dict[str, Any]
    arch: list[dict[str, Any]]
    config: dict[str, Any]
    proxy: bool
    device: dict[str, Any] = field(default_factory=dict)
    versions: dict[str, str] = field(default_factory=dict)

    @classmethod
    def from_curve(cls, curve: list[EpochRecord], **context: Any) -> Result:
        """Summarises a non-empty curve: best values per metric and the best epoch by score."""
        if not curve:
            raise InputError("a Result needs at least one trained epoch")
        best = max(curve, key=lambda r: (r.score, -r.epoch))
        ema = [r for r in curve if r.top1_ema is not None]
        return cls(
            top1=max(r.top1 for r in curve),
            top5=max(r.top5 for r in curve),
            top1_ema=max(float(r.top1_ema) for r in ema if r.top1_ema is not None) if ema else None,
            top5_ema=max(float(r.top5_ema) for r in ema if r.top5_ema is not None) if ema else None,
            best_epoch=best.epoch,
            score=best.score,
            curve=tuple(curve),
            epochs_run=len(curve),
            **context,
        )

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict with a format tag."""
        data = dataclasses.asdict(self)
        data["curve"] = [dataclasses.asdict(r) for r in self.curve]
        return {"format": RESULT_FORMAT, **data}

    def to_json(self, indent: int | None = 2) -> str:
        return json.dumps(self.to_dict(), indent=indent)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Result:
        """Inverse of :meth:`to_dict`.

        Raises:
            InputError: When the dict is not a result of this format.
        """
        if not isinstance(data, dict) or data.get("format") != RESULT_FORMAT:
            found = data.get("format") if isinstance(data, dict) else type(data).__name__
            raise InputError(f"not an evaluation result: expected format {RESULT_FORMAT!r}, found {found!r}")
        names = {f.name for f in dataclasses.fields(cls)}
        missing = sorted(names - set(data) - {"device", "versions"})
        if missing:
            raise InputError(f"evaluation result is missing {', '.join(missing)}")
        values = {k: data[k] for k in names if k in data}
        values["curve"] = tuple(EpochRecord(**r) for r in data["curve"])
        return cls(**values)

    def save(self, path: str | Path) -> Path:
        """Writes the JSON atomically."""
        from gpunet_hub._io import atomic_write_text

        return atomic_write_text(Path(path), self.to_json() + "\n")

    @classmethod
    def load(cls, path: str | Path) -> Result:
        """Reads a result file written by :meth:`save`."""
        path = Path(path)
        try:
            data = json.loads(path.read_text())
        except FileNotFoundError:
            raise InputError(f"no result file at {path}") from None
        except json.JSONDecodeError as exc:
            raise InputError(f"{path} is not valid JSON: {exc}") from None
        return cls.from_dict(data)


__all__ = ["RESULT_FORMAT", "EpochRecord", "Result"]
