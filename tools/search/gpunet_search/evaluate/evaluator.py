"""``evaluate``: train one candidate network with the recipe and return its :class:`Result`.

The same code runs the CPU proxy and the full-scale GPU recipe; only the :class:`EvalConfig` differs,
and every result records which. With ``out_dir`` the run checkpoints after every epoch and a run
resumed from it ends bit-identical to an uninterrupted one (CPU, ``deterministic=True``).
"""

from __future__ import annotations

import hashlib
import random
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, cast

import numpy as np
import torch

from gpunet_hub.builder import build_model
from gpunet_hub.errors import InputError
from gpunet_hub.space import SearchSpace

from .checkpoint import CHECKPOINT_NAME, load_checkpoint, restore_rng_state, rng_state, save_checkpoint
from .config import EvalConfig, proxy_config
from .data import DataSplits, load_data
from .network import Network, proxy_resolution, resolve_network, scale_width
from .result import RESULT_NAME, EpochRecord, Result
from .stopping import StopPolicy
from .train import build_trainer, build_transforms, train_epoch, train_loader, val_loader, validate


@dataclass(frozen=True)
class EpochReport:
    """What the per-epoch callback receives.

    Attributes:
        record: The epoch just finished.
        epochs: Epochs configured.
        best_score: Best score so far (EMA top-1 when there is an EMA).
        best_epoch: Its epoch.
        elapsed: Seconds of training + validation so far (over resumes).
    """

    record: EpochRecord
    epochs: int
    best_score: float
    best_epoch: int
    elapsed: float


Callback = Callable[[EpochReport], "bool | None"]


@contextmanager
def _torch_settings(config: EvalConfig) -> Iterator[None]:
    """Threads and deterministic algorithms for the run; the caller's settings come back afterwards."""
    threads, deterministic = torch.get_num_threads(), torch.are_deterministic_algorithms_enabled()
    try:
        if config.threads:
            torch.set_num_threads(config.threads)
        torch.use_deterministic_algorithms(config.deterministic)
        yield
    finally:
        torch.set_num_threads(threads)
        torch.use_deterministic_algorithms(deterministic)


def _seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def _versions() -> dict[str, str]:
    import timm

    return {"torch": torch.__version__, "timm": timm.__version__}


def evaluate(
    network: Network,
    config: EvalConfig | None = None,
    *,
    space: str | SearchSpace = "table1",
    dataset: str | DataSplits = "digits",
    data_dir: str | Path | None = None,
    out_dir: str | Path | None = None,
    resume: bool = False,
    callback: Callback | None = None,
    stopper: StopPolicy | None = None,
    run_id: str | None = None,
    device: str | torch.device | None = None,
) -> Result:
    """Trains ``network`` with ``config``'s recipe and returns its accuracies and curve.

    Args:
        network: A 41-integer encoding (under ``space``), an ArchSpec, a release layer list or a
            path to a release JSON file.
        config: The recipe and proxy knobs; default :func:`proxy_config` (CPU proxy).
        space: Search space of an encoding.
        dataset: ``digits`` (embedded), an ImageFolder path, ``hfds/...`` / ``torch/...`` on disk,
            or ready :class:`DataSplits` (their transforms are replaced by the recipe's).
        data_dir: Where ``hfds/`` / ``torch/`` datasets are stored.
        out_dir: Folder for ``checkpoint.pt`` (after every epoch) and ``result.json``; ``None``
            keeps everything in memory.
        resume: Continue from ``out_dir``'s checkpoint (a fresh start when there is none yet).
        callback: Called after every epoch with an :class:`EpochReport`; returning True stops.
        stopper: Early-stopping policy asked after every epoch with ``run_id`` and the score.
        run_id: Name of this run for ``stopper``; defaults to the settings' fingerprint.
        device: ``cpu``, ``cuda``, ...; default CUDA when available.

    Returns:
        The :class:`Result` (also written to ``out_dir/result.json``).

    Raises:
        InputError: Bad network, settings or data; ``out_dir`` holds a checkpoint and ``resume``
            is False; training diverged.
        CheckpointError: The checkpoint to resume is corrupt or from another run.
    """
    config = (config or proxy_config()).validate()
    spec = resolve_network(network, space)
    resolution = proxy_resolution(spec.resolution, config.res_scale, config.min_resolution)
    ckpt_path = Path(out_dir) / CHECKPOINT_NAME if out_dir is not None else None
    if ckpt_path is not None and ckpt_path.exists() and not resume:
        raise InputError(
            f"{ckpt_path} exists: pass resume=True (CLI: --resume) to continue it, or use another output folder"
        )
    train_tf, val_tf = build_transforms(config, resolution)
    if isinstance(dataset, DataSplits):
        data = dataset
        cast(Any, data.train).transform, cast(Any, data.val).transform = train_tf, val_tf
    else:
        data = load_data(
            dataset,
            resolution=resolution,
            train_transform=train_tf,
            val_transform=val_tf,
            train_subset=config.train_subset,
            batch_size=config.batch_size,
            data_dir=data_dir,
        )
    trained = scale_width(spec.with_num_classes(data.num_classes), config.width_mult)
    identity = {
        "config": {k: v for k, v in config.to_dict().items() if k != "threads"},
        "arch": trained.to_list(),
        "resolution": resolution,
        "dataset": data.info,
    }
    payload = load_checkpoint(ckpt_path, identity) if ckpt_path is not None and resume and ckpt_path.exists() else None
    run_id = run_id or f"{config.fingerprint()}-{hashlib.sha256(trained.to_json().encode()).hexdigest()[:8]}"
    dev = torch.device(device) if device is not None else torch.device("cuda" if torch.cuda.is_available() else "cpu")

    with _torch_settings(config):
        _seed_everything(config.seed)
        model = build_model(trained, drop_rate=config.drop, drop_path_rate=config.drop_path)
        steps = len(data.train) // config.batch_size
        trainer = build_trainer(model, config, steps_per_epoch=steps, device=dev)
        generator = torch.Generator().manual_seed(config.seed)
        loader, vloader = (
            train_loader(data.train, config.batch_size, generator),
            val_loader(data.val, config.eval_batch_size),
        )
        curve: list[EpochRecord] = []
        seconds, stopped = 0.0, False
        if payload is not None:
            trainer.load_state_dict(payload["trainer"])
            restore_rng_state(payload["rng"], generator)
            curve = [EpochRecord(**r) for r in payload["curve"]]
            seconds, stopped = float(payload["seconds"]), bool(payload["stopped"])
        for epoch in range(len(curve) + 1, config.epochs + 1):
            if stopped:
                break
            start = time.perf_counter()
            loss = train_epoch(trainer, loader)
            top1, top5 = validate(trainer.model, vloader, data.num_classes, dev)
            ema1 = ema5 = None
            if trainer.ema is not None:
                ema1, ema5 = validate(trainer.ema.module, vloader, data.num_classes, dev)
            record = EpochRecord(epoch, loss, top1, top5, ema1, ema5, trainer.lr(), time.perf_counter() - start)
            curve.append(record)
            seconds += record.seconds
            best = max(curve, key=lambda r: (r.score, -r.epoch))
            report = EpochReport(record, config.epochs, best.score, best.epoch, seconds)
            stopped = bool(callback(report)) if callback is not None else False
            if stopper is not None and stopper.should_stop(run_id, epoch, record.score):
                stopped = True
            if ckpt_path is not None:
                save_checkpoint(
                    ckpt_path,
                    {
                        "identity": identity,
                        "trainer": trainer.state_dict(),
                        "rng": rng_state(generator),
                        "curve": [asdict(r) for r in curve],
                        "seconds": seconds,
                        "stopped": stopped,
                    },
                )
    result = Result.from_curve(
        curve,
        stopped_early=stopped,
        seconds=seconds,
        params=sum(p.numel() for p in model.parameters()),
        resolution=resolution,
        num_classes=data.num_classes,
        dataset=data.info,
        arch=trained.to_list(),
        config=config.to_dict(),
        proxy=config.proxy,
        device={
            "type": dev.type,
            "name": str(dev),
            "amp_used": trainer.scaler is not None,
            "threads": config.threads or torch.get_num_threads(),
        },
        versions=_versions(),
    )
    if out_dir is not None:
        result.save(Path(out_dir) / RESULT_NAME)
    return result


__all__ = ["RESULT_NAME", "Callback", "EpochReport", "evaluate"]
