"""The ``train`` evaluator: ``gpunet_search.evaluate.evaluate()`` behind the :class:`~.evaluators.Evaluator` interface.

The only module that knows that API. It expects from ``gpunet_search.evaluate``: ``proxy_config(**changes)``
(the default CPU proxy, an ``EvalConfig`` with ``epochs``, ``seed``, ``threads`` and ``with_epochs(n)``), and
``evaluate(network, config, *, space, dataset, data_dir, out_dir, resume, callback)`` that checkpoints
into ``out_dir`` after every epoch and calls ``callback(report)`` with ``report.record`` (``epoch``,
``score``, ``train_loss``, ``top1``, ``top5``, ``top1_ema``, ``top5_ema``, ``lr``) and
``report.best_score``. The callback runs *before* that epoch's checkpoint is written, so an epoch is
passed on when the next one reports (or when the run returns): every emitted epoch has its
checkpoint in ``out_dir``.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from gpunet_hub.errors import InputError

from ._deps import evaluate_module
from .evaluators import Emit, EpochResult, EvaluatorSpec

EXTRA_FIELDS = ("train_loss", "top1", "top5", "top1_ema", "top5_ema", "lr")


def train_config(spec: EvaluatorSpec) -> Any:
    """The evaluator's default proxy with the spec's overrides and seed, stretched to its epochs (validated).

    Raises:
        EnvironmentProblem: No training evaluator in this installation.
        InputError: Bad settings or a dataset path that does not exist.
    """
    module = evaluate_module()
    changes: dict[str, Any] = {**spec.proxy, "seed": spec.seed}
    threads = int(os.environ.get("OMP_NUM_THREADS") or 0)  # Ray sets it to the trial's CPUs
    if threads > 0:
        changes["threads"] = threads
    prefixed = spec.dataset == "digits" or spec.dataset.startswith(("hfds/", "torch/"))
    if not prefixed and not Path(spec.dataset).expanduser().exists():
        raise InputError(
            f"--dataset {spec.dataset!r} is neither 'digits', hfds/NAME, torch/NAME nor an existing ImageFolder path"
        )
    config = module.proxy_config(**changes)
    return config.with_epochs(spec.epochs) if spec.epochs is not None else config


class TrainEvaluator:
    """Trains one network with the candidate evaluator, emitting each epoch once its checkpoint exists."""

    def __init__(self, spec: EvaluatorSpec) -> None:
        self.spec = spec
        self.config = train_config(spec)

    @property
    def epochs(self) -> int:
        """Epochs per trial."""
        return int(self.config.epochs)

    def run(self, vector: Sequence[int], work_dir: Path, resume: bool, emit: Emit) -> None:
        held: list[EpochResult] = []

        def callback(report: Any) -> bool:
            if held:
                emit(held.pop())
            record = report.record
            extra = {k: float(getattr(record, k)) for k in EXTRA_FIELDS if getattr(record, k, None) is not None}
            held.append(EpochResult(int(record.epoch), float(record.score), float(report.best_score), extra))
            return False  # stopping is the Tune scheduler's call

        evaluate_module().evaluate(
            [int(v) for v in vector],
            self.config,
            space=self.spec.space,
            dataset=self.spec.dataset,
            data_dir=self.spec.data_dir,
            out_dir=work_dir,
            resume=resume,
            callback=callback,
        )
        if held:
            emit(held.pop())
