"""The client of the distributed search: one Tune trial evaluates one network.

``evaluate_trial`` is a function trainable. It restores the trial's last checkpoint (after a worker
died, a node was lost or the driver restarted), runs the evaluator from there, and reports every
epoch with a checkpoint of its working folder. It lives in the installed package so that Ray's
workers can import it.
"""

from __future__ import annotations

import logging
import tempfile
from pathlib import Path
from typing import Any

from ray import tune

from .evaluators import EpochResult, EvaluatorSpec

log = logging.getLogger(__name__)


def _restore(work_dir: Path) -> bool:
    """Copies the trial's latest checkpoint into ``work_dir``; True when there was one."""
    checkpoint = tune.get_checkpoint()
    if checkpoint is None:
        return False
    try:
        checkpoint.to_directory(str(work_dir))
    except FileNotFoundError as exc:  # ray#27790: a snapshot naming a pruned checkpoint
        log.error("the trial's checkpoint %s is gone (%s); this trial starts again from epoch 1", checkpoint.path, exc)
        return False
    return True


def evaluate_trial(config: dict[str, Any]) -> None:
    """Function trainable: evaluates ``config["vector"]`` with ``config["evaluator"]``.

    Reports, per epoch: ``epoch``, ``value``, ``best_value``, the evaluator's extra numbers,
    ``arch_hash``, ``lut_ms``, ``resumed_from`` (the epoch this process started after) and
    ``node_id`` (the Ray node it ran on: hosts alone do not tell the nodes of one machine apart).
    """
    import ray

    spec = EvaluatorSpec.from_dict(config["evaluator"])
    evaluator = spec.build()
    context = {
        "arch_hash": config["arch_hash"],
        "lut_ms": config.get("lut_ms"),
        "node_id": ray.get_runtime_context().get_node_id(),
    }
    with tempfile.TemporaryDirectory(prefix="gpunet-trial-") as tmp:
        work = Path(tmp)
        resume = _restore(work)
        first: list[int] = []

        def emit(result: EpochResult) -> None:
            if not first:
                first.append(result.epoch)
            metrics = {**result.metrics(), **context, "resumed_from": first[0] - 1}
            tune.report(metrics, checkpoint=tune.Checkpoint.from_directory(str(work)))

        evaluator.run(config["vector"], work, resume, emit)
