"""The paper's training recipe, assembled from timm's factories.

Nothing here re-implements what timm ships: the optimiser (``create_optimizer_v2``), the schedule
(``create_scheduler_v2``, updated per step so warm-up and decay may be fractional epochs), the EMA
(``ModelEmaV3``), the augmentation (``create_transform``), label smoothing and mixed precision
(``NativeScaler``, CUDA only). This module owns the loop that ties them together: one training
step, one epoch, one validation pass.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from contextlib import nullcontext
from dataclasses import dataclass
from typing import Any, cast

import torch
from timm.data import create_transform
from timm.loss import LabelSmoothingCrossEntropy
from timm.optim import create_optimizer_v2
from timm.scheduler import create_scheduler_v2
from timm.utils import ModelEmaV3, NativeScaler, accuracy
from torch import nn
from torch.utils.data import DataLoader, Dataset, RandomSampler

from gpunet_hub.errors import InputError
from gpunet_hub.pretrained import IMAGENET_MEAN, IMAGENET_STD

from .config import EvalConfig
from .data import SizedDataset


def build_transforms(config: EvalConfig, resolution: int) -> tuple[Callable, Callable]:
    """timm's training and evaluation transforms for the recipe at ``resolution`` pixels."""
    common: dict[str, Any] = {"interpolation": config.interpolation, "mean": IMAGENET_MEAN, "std": IMAGENET_STD}
    train = create_transform(
        resolution,
        is_training=True,
        auto_augment=config.auto_augment,
        re_prob=config.reprob,
        re_mode=config.remode,
        hflip=config.hflip,
        scale=(config.scale_min, 1.0),
        **common,
    )
    val = create_transform(resolution, is_training=False, crop_pct=config.crop_pct, **common)
    return train, val


@dataclass
class Trainer:
    """Model, optimiser, schedule, EMA and loss of one run, plus its step counter.

    Attributes:
        model: The network being trained.
        ema: Its EMA (``None`` without one).
        optimizer: timm optimiser.
        scheduler: timm scheduler, updated per step.
        loss_fn: Training loss (label-smoothed cross-entropy).
        scaler: AMP loss scaler on CUDA, else ``None``.
        device: Where the model lives.
        num_updates: Optimiser steps taken so far.
        channels_last: Whether inputs are converted to NHWC like the model.
    """

    model: nn.Module
    ema: ModelEmaV3 | None
    optimizer: torch.optim.Optimizer
    scheduler: Any
    loss_fn: nn.Module
    scaler: NativeScaler | None
    device: torch.device
    num_updates: int = 0
    channels_last: bool = False

    @property
    def autocast(self) -> Any:
        """The AMP context of a forward pass (a no-op on CPU)."""
        if self.scaler is None:
            return nullcontext()
        return torch.autocast(device_type=self.device.type, dtype=torch.float16)

    def step(self, images: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        """One training step: forward, loss, backward, optimiser, EMA and schedule updates.

        Returns:
            The (detached) loss.
        """
        if self.channels_last:
            images = images.contiguous(memory_format=torch.channels_last)
        with self.autocast:
            loss = self.loss_fn(self.model(images), targets)
        self.optimizer.zero_grad(set_to_none=True)
        if self.scaler is not None:
            self.scaler(loss, self.optimizer, parameters=self.model.parameters())
        else:
            loss.backward()
            self.optimizer.step()
        self.num_updates += 1
        if self.ema is not None:
            self.ema.update(self.model, step=self.num_updates)
        self.scheduler.step_update(num_updates=self.num_updates)
        return loss.detach()

    def lr(self) -> float:
        return float(self.optimizer.param_groups[0]["lr"])

    def state_dict(self) -> dict[str, Any]:
        """Everything needed to continue training exactly (model, optimiser, schedule, EMA, scaler)."""
        return {
            "model": self.model.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict(),
            "ema": self.ema.module.state_dict() if self.ema is not None else None,
            "scaler": self.scaler.state_dict() if self.scaler is not None else None,
            "num_updates": self.num_updates,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restores :meth:`state_dict`'s output."""
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.scheduler.load_state_dict(state["scheduler"])
        if self.ema is not None:
            self.ema.module.load_state_dict(state["ema"])
        if self.scaler is not None and state.get("scaler") is not None:
            self.scaler.load_state_dict(state["scaler"])
        self.num_updates = int(state["num_updates"])


def build_trainer(model: nn.Module, config: EvalConfig, *, steps_per_epoch: int, device: torch.device) -> Trainer:
    """Creates optimiser, schedule, EMA, loss and (on CUDA) the AMP scaler for ``model``.

    Args:
        model: The network (moved to ``device`` here).
        config: The recipe.
        steps_per_epoch: Optimiser steps per epoch (the schedule counts in steps).
        device: Where to train.
    """
    model.to(device)
    if config.channels_last:
        model.to(memory_format=torch.channels_last)
    optimizer = create_optimizer_v2(
        model,
        opt=config.opt,
        lr=config.lr,
        weight_decay=config.weight_decay,
        momentum=config.momentum,
        eps=config.opt_eps,
    )
    scheduler, _ = create_scheduler_v2(
        optimizer,
        sched=config.sched,
        num_epochs=config.epochs,
        decay_epochs=config.decay_epochs,
        decay_rate=config.decay_rate,
        warmup_lr=config.warmup_lr,
        warmup_epochs=config.warmup_epochs,  # type: ignore[arg-type]  # fractional: the schedule steps per update
        step_on_epochs=False,
        updates_per_epoch=steps_per_epoch,
    )
    ema = ModelEmaV3(model, decay=config.ema_decay, use_warmup=config.ema_warmup) if config.ema else None
    loss_fn = LabelSmoothingCrossEntropy(config.smoothing) if config.smoothing > 0 else nn.CrossEntropyLoss()
    scaler = NativeScaler() if config.amp and device.type == "cuda" else None
    return Trainer(
        model, ema, optimizer, scheduler, loss_fn.to(device), scaler, device, channels_last=config.channels_last
    )


def train_loader(dataset: SizedDataset, batch_size: int, generator: torch.Generator) -> DataLoader:
    """Shuffled, full batches only, in this process (the order is a function of ``generator``)."""
    sampler = RandomSampler(dataset, generator=generator)
    return DataLoader(cast(Dataset, dataset), batch_size=batch_size, sampler=sampler, drop_last=True, num_workers=0)


def val_loader(dataset: SizedDataset, batch_size: int) -> DataLoader:
    return DataLoader(cast(Dataset, dataset), batch_size=batch_size, shuffle=False, num_workers=0)


def train_epoch(trainer: Trainer, loader: DataLoader, max_steps: int | None = None) -> float:
    """Trains one pass over ``loader``; returns the mean loss.

    Raises:
        InputError: When the loss becomes NaN or infinite (the recipe diverged on this network).
    """
    trainer.model.train()
    total, steps = torch.zeros((), device=trainer.device), 0
    for images, targets in loader:
        total += trainer.step(images.to(trainer.device), targets.to(trainer.device))
        steps += 1
        if max_steps is not None and steps >= max_steps:
            break
    mean = float(total) / max(steps, 1)
    if not math.isfinite(mean):
        raise InputError(
            f"training diverged: mean loss {mean} after {trainer.num_updates} steps; lower the learning rate"
        )
    return mean


@torch.inference_mode()
def validate(model: nn.Module, loader: DataLoader, num_classes: int, device: torch.device) -> tuple[float, float]:
    """Top-1 and top-5 (top-k with k = min(5, classes)) in percent over ``loader``."""
    model.eval()
    k = min(5, num_classes)
    hits1 = hits5 = 0.0
    seen = 0
    for images, targets in loader:
        images, targets = images.to(device), targets.to(device)
        top1, top5 = accuracy(model(images), targets, topk=(1, k))
        hits1 += float(top1) * len(targets)
        hits5 += float(top5) * len(targets)
        seen += len(targets)
    return hits1 / seen, hits5 / seen


__all__ = ["Trainer", "build_trainer", "build_transforms", "train_epoch", "train_loader", "val_loader", "validate"]
