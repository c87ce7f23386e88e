"""What one trial runs: an evaluator turns a network into per-epoch results with checkpoints.

Two kinds behind one interface (:class:`Evaluator`):

* ``synthetic:NAME``: a synthetic problem of :mod:`gpunet_search.synthetic` (``ackley``, ``levy``,
  ``rosenbrock``, ``rastrigin``: minimised; ``tier``: the accuracy stand-in, maximised) played as a
  deterministic learning curve that reaches the problem's value at the last epoch, with an optional
  sleep per trial, so the machinery can be tested and timed without training.
* ``train``: the training evaluator, :mod:`gpunet_search.evaluate` (:mod:`.train_adapter`).

An evaluator calls ``emit(result)`` after an epoch only once ``work_dir`` holds the checkpoint of that
epoch, so the caller can copy ``work_dir`` as the epoch's checkpoint.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from gpunet_hub._io import atomic_write_text, json_sha256
from gpunet_hub.errors import CheckpointError, InputError, did_you_mean

from ._deps import FUNCTIONS, GridFunction, TierAccuracy

EPOCH, VALUE, BEST = "epoch", "value", "best_value"  # keys of every reported result
SYNTHETIC = (*FUNCTIONS, "tier")
KINDS = ("train", *(f"synthetic:{name}" for name in SYNTHETIC))


@dataclass(frozen=True)
class EpochResult:
    """One epoch of one trial.

    Attributes:
        epoch: 1-based epoch.
        value: This epoch's metric (top-1 % for ``train``).
        best: Best value so far.
        extra: Other numbers worth keeping (losses, top-5, EMA values, ...).
    """

    epoch: int
    value: float
    best: float
    extra: dict[str, float] = field(default_factory=dict)

    def metrics(self) -> dict[str, float]:
        """The dict a trial reports."""
        return {**self.extra, EPOCH: self.epoch, VALUE: self.value, BEST: self.best}


Emit = Callable[[EpochResult], None]


class Evaluator(Protocol):
    """Runs one network epoch by epoch, checkpointing in ``work_dir``."""

    def run(self, vector: Sequence[int], work_dir: Path, resume: bool, emit: Emit) -> None:
        """Evaluates ``vector``; with ``resume``, continues from the checkpoint in ``work_dir``."""
        ...


@dataclass(frozen=True)
class EvaluatorSpec:
    """What every trial of a search runs (JSON-able; it travels in the trial config).

    Attributes:
        kind: ``train`` or ``synthetic:NAME``.
        space: Search space of the vectors.
        epochs: Epochs per trial (``None`` for ``train``: the evaluator's default proxy).
        sleep_s: Synthetic only: seconds each trial sleeps, spread over its epochs.
        seed: Seed of the synthetic problem or of training.
        dataset: Train only: the dataset (``digits`` is embedded).
        data_dir: Train only: where ``hfds/``/``torch/`` datasets are stored.
        proxy: Train only: fields of the evaluator's ``proxy_config`` to override (e.g.
            ``{"train_subset": 0.5}``), checked when the search is prepared.
    """

    kind: str
    space: str = "table1"
    epochs: int | None = None
    sleep_s: float = 0.0
    seed: int = 0
    dataset: str = "digits"
    data_dir: str | None = None
    proxy: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise InputError(
                f"unknown evaluator {self.kind!r}; choose train or synthetic:NAME with NAME one of "
                f"{', '.join(SYNTHETIC)}.{did_you_mean(self.kind, KINDS)}"
            )
        if self.epochs is not None and self.epochs < 1:
            raise InputError(f"--epochs must be >= 1, got {self.epochs}")
        if self.sleep_s < 0:
            raise InputError(f"--sleep must be >= 0 seconds, got {self.sleep_s}")
        if self.synthetic and self.epochs is None:
            object.__setattr__(self, "epochs", 4)

    @property
    def synthetic(self) -> str | None:
        """The synthetic problem's name, or ``None`` for ``train``."""
        return self.kind.split(":", 1)[1] if self.kind.startswith("synthetic:") else None

    @property
    def mode(self) -> str:
        """``min`` for the classic test functions, ``max`` for accuracies."""
        return "min" if self.synthetic in FUNCTIONS else "max"

    @property
    def slug(self) -> str:
        """A file-name-safe label, e.g. ``train`` or ``synthetic-ackley``."""
        return self.kind.replace(":", "-")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> EvaluatorSpec:
        return cls(**data)

    def build(self) -> Evaluator:
        """The evaluator (``train`` imports torch, timm and the evaluation package)."""
        if self.synthetic is None:
            from .train_adapter import TrainEvaluator

            return TrainEvaluator(self)
        return SyntheticEvaluator(self)


class SyntheticEvaluator:
    """A synthetic problem played as a learning curve; the state file is its checkpoint."""

    STATE = "synthetic_state.json"

    def __init__(self, spec: EvaluatorSpec) -> None:
        self.spec = spec
        name = spec.synthetic
        if name == "tier":
            self._value = TierAccuracy(spec.seed, spec.space)  # not TierProblem: its Sobol pool needs torch
        else:
            self._value = GridFunction(str(name), spec.seed, spec.space)

    def final_value(self, vector: Sequence[int]) -> float:
        """The problem's value of the network (what the last epoch reports)."""
        return float(self._value(np.asarray([vector], dtype=np.int64))[0])

    def curve(self, vector: Sequence[int]) -> list[float]:
        """Per-epoch values: a deterministic rise that ends at :meth:`final_value`."""
        final, epochs = self.final_value(vector), int(self.spec.epochs or 1)
        speed = 0.5 + int(json_sha256([int(v) for v in vector], 4), 16) / 0xFFFF  # per network, 0.5..1.5
        sign = 1.0 if self.spec.mode == "max" else -1.0
        return [final - sign * speed * (1.0 - e / epochs) * (1.0 + 0.05 * abs(final)) for e in range(1, epochs + 1)]

    def run(self, vector: Sequence[int], work_dir: Path, resume: bool, emit: Emit) -> None:
        vector = [int(v) for v in vector]
        curve, epochs = self.curve(vector), int(self.spec.epochs or 1)
        better = max if self.spec.mode == "max" else min
        state_path = Path(work_dir) / self.STATE
        done = 0
        if resume:
            state = json.loads(state_path.read_text())
            if state.get("vector") != vector:
                raise CheckpointError(f"{state_path} belongs to network {state.get('vector')}, not {vector}")
            done = int(state["epoch"])
        for epoch in range(done + 1, epochs + 1):
            time.sleep(self.spec.sleep_s / epochs)
            atomic_write_text(state_path, json.dumps({"vector": vector, "epoch": epoch}))
            emit(EpochResult(epoch, curve[epoch - 1], better(curve[:epoch])))
