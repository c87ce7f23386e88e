"""Training and validation data: the embedded ``digits`` set, or anything timm's ``create_dataset`` opens.

``digits`` is scikit-learn's ``load_digits``: 1,797 real 8x8 handwritten digits (10 classes) that
ship inside the scikit-learn wheel, so a proxy run needs no download. It is split once, stratified,
with a fixed seed (the same validation images for every run), upscaled to the run's resolution
and made 3-channel, so timm's PIL transforms (RandAugment, random erasing) apply unchanged.

Other datasets: an ImageFolder path with ``train/`` and ``val/`` (or ``validation/``) class
folders, or ``hfds/NAME`` / ``torch/NAME`` already on disk under ``data_dir`` (nothing is downloaded).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, cast

import numpy as np
from torch.utils.data import Dataset, Subset

from gpunet_hub.errors import EnvironmentProblem, InputError

DIGITS = "digits"
DIGITS_SPLIT_SEED = 0
DIGITS_VAL_FRACTION = 0.5
TRAIN_DIRS = ("train",)
VAL_DIRS = ("val", "validation")
MIN_CLASSES = 2


class SizedDataset(Protocol):
    """A map-style dataset with a length (torch's ``Dataset`` does not declare ``__len__``)."""

    def __len__(self) -> int: ...

    def __getitem__(self, index: int) -> Any: ...


class DigitsDataset(Dataset):
    """scikit-learn's digits as 3-channel PIL images at a chosen size.

    Args:
        images: ``(N, 8, 8)`` intensities in ``0..16`` (``load_digits().images``).
        labels: ``(N,)`` class indices.
        size: Output height and width; the 8x8 images are upscaled once with bicubic resampling.
        transform: Applied to each PIL image (e.g. a timm transform); settable later.
    """

    def __init__(self, images: np.ndarray, labels: np.ndarray, size: int, transform: Callable | None = None) -> None:
        from PIL import Image

        pixels = np.clip(np.rint(images * (255.0 / 16.0)), 0, 255).astype(np.uint8)
        self.images = [
            Image.fromarray(p, mode="L").resize((size, size), Image.Resampling.BICUBIC).convert("RGB") for p in pixels
        ]
        self.targets = [int(t) for t in labels]
        self.classes = sorted(set(self.targets))
        self.transform = transform

    def __len__(self) -> int:
        return len(self.targets)

    def __getitem__(self, index: int) -> tuple[Any, int]:
        image = self.images[index]
        return (self.transform(image) if self.transform is not None else image), self.targets[index]


@dataclass
class DataSplits:
    """A training and a validation set with their transforms set.

    Attributes:
        train: Training set (transform: timm's training pipeline).
        val: Validation set (transform: resize + centre crop + normalise).
        num_classes: Number of classes.
        info: Identity of the data (name, sizes, split seed, subset), recorded in each result.
    """

    train: SizedDataset
    val: SizedDataset
    num_classes: int
    info: dict[str, Any] = field(default_factory=dict)


def digits_splits(size: int) -> tuple[DigitsDataset, DigitsDataset]:
    """The fixed stratified split of ``load_digits`` at ``size`` pixels (no transforms)."""
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    digits = load_digits()
    train_idx, val_idx = train_test_split(
        np.arange(len(digits.target)),
        test_size=DIGITS_VAL_FRACTION,
        stratify=digits.target,
        random_state=DIGITS_SPLIT_SEED,
    )
    make = lambda idx: DigitsDataset(digits.images[idx], digits.target[idx], size)  # noqa: E731
    return make(train_idx), make(val_idx)


def _targets(dataset: SizedDataset) -> list[int] | None:
    if hasattr(dataset, "targets"):
        return [int(t) for t in dataset.targets]
    samples = getattr(getattr(dataset, "reader", None), "samples", None)
    if samples is not None:
        return [int(t) for _, t in samples]
    return None


def _num_classes(dataset: SizedDataset, name: str) -> int:
    reader = getattr(dataset, "reader", None)
    for owner, attr in ((reader, "class_to_idx"), (dataset, "classes"), (dataset, "class_to_idx")):
        value = getattr(owner, attr, None) if owner is not None else None
        if value:
            return len(value)
    targets = _targets(dataset)
    if targets is None:
        raise InputError(f"dataset {name!r}: cannot tell how many classes it has (no classes, class_to_idx or targets)")
    return len(set(targets))


def _find_split_dir(root: Path, names: tuple[str, ...]) -> Path | None:
    return next((root / n for n in names if (root / n).is_dir()), None)


def _open_timm(dataset: str, data_dir: str | Path | None) -> tuple[SizedDataset, SizedDataset, str]:
    from timm.data import create_dataset

    path = Path(dataset).expanduser()
    if dataset.startswith(("hfds/", "torch/", "hfids/", "tfds/", "wds/")):
        if data_dir is None:
            raise InputError(
                f"dataset {dataset!r} needs --data-dir, the folder it is already stored in (nothing is downloaded)"
            )
        root = Path(data_dir).expanduser()
        if not root.is_dir():
            raise InputError(f"dataset {dataset!r}: data dir {root} does not exist")
        name, roots = dataset, (str(root), str(root))
    else:
        if not path.exists():
            raise InputError(
                f"dataset {dataset!r} is neither 'digits', an ImageFolder path, nor hfds/NAME or torch/NAME: "
                f"{path} does not exist"
            )
        if not path.is_dir():
            raise InputError(
                f"dataset path {path} is a file; an ImageFolder dataset is a folder with train/ and val/ class folders"
            )
        train_dir, val_dir = _find_split_dir(path, TRAIN_DIRS), _find_split_dir(path, VAL_DIRS)
        if train_dir is None or val_dir is None:
            found = sorted(p.name for p in path.iterdir() if p.is_dir())[:8]
            raise InputError(
                f"dataset folder {path} has no {'train/' if train_dir is None else 'val/'} folder (found: "
                f"{', '.join(found) or 'no folders'}); expected {path}/train/<class>/<image> and {path}/val/<class>/<image>"
            )
        name, roots = "", (str(train_dir), str(val_dir))
    opened = []
    for split, split_root in zip(("train", "validation"), roots, strict=True):
        try:
            opened.append(
                create_dataset(name, root=split_root, split=split, is_training=split == "train", download=False)
            )
        except (FileNotFoundError, RuntimeError, ValueError, AssertionError) as exc:
            kind = (
                InputError if isinstance(exc, (FileNotFoundError, AssertionError, ValueError)) else EnvironmentProblem
            )
            raise kind(f"dataset {dataset!r} ({split} split under {split_root}) could not be opened: {exc}") from exc
    return opened[0], opened[1], dataset


def _subset(dataset: SizedDataset, fraction: float) -> SizedDataset:
    if fraction >= 1.0:
        return dataset
    from sklearn.model_selection import train_test_split

    targets = _targets(dataset)
    indices = np.arange(len(dataset))
    keep, _ = train_test_split(indices, train_size=fraction, stratify=targets, random_state=DIGITS_SPLIT_SEED)
    return Subset(cast(Dataset, dataset), sorted(int(i) for i in keep))


def _check_sizes(train: SizedDataset, val: SizedDataset, num_classes: int, batch_size: int, name: str) -> None:
    if num_classes < MIN_CLASSES:
        raise InputError(f"dataset {name!r} has {num_classes} class(es); classification needs at least {MIN_CLASSES}")
    if len(train) < batch_size:
        raise InputError(
            f"dataset {name!r}: {len(train)} training images, fewer than one batch of {batch_size}; "
            "use a smaller batch size or a larger train subset"
        )
    if len(val) == 0:
        raise InputError(f"dataset {name!r}: the validation split is empty")


def load_data(
    dataset: str,
    *,
    resolution: int,
    train_transform: Callable,
    val_transform: Callable,
    train_subset: float = 1.0,
    batch_size: int = 1,
    data_dir: str | Path | None = None,
) -> DataSplits:
    """Opens a dataset's training and validation splits with transforms set.

    Args:
        dataset: ``digits``, an ImageFolder path, or ``hfds/NAME`` / ``torch/NAME`` (with ``data_dir``).
        resolution: Size the digits are upscaled to (other datasets are resized by the transforms).
        train_transform: Transform of training images.
        val_transform: Transform of validation images.
        train_subset: Fraction of the training split kept (stratified, fixed seed).
        batch_size: Training batch; the training split must hold at least one.
        data_dir: Where ``hfds/`` / ``torch/`` datasets are stored.

    Raises:
        InputError: Missing path, wrong layout, too few images or classes.
        EnvironmentProblem: The dataset's reader failed for another reason (e.g. missing library).
    """
    train: Any
    val: Any
    if dataset == DIGITS:
        train, val = digits_splits(resolution)
        name, num_classes = DIGITS, len(train.classes)
    else:
        train, val, name = _open_timm(dataset, data_dir)
        num_classes = _num_classes(train, name)
        val_classes = _num_classes(val, name)
        if val_classes > num_classes:
            raise InputError(f"dataset {name!r}: validation has {val_classes} classes, training only {num_classes}")
    train.transform = train_transform
    val.transform = val_transform
    train = _subset(train, train_subset)
    _check_sizes(train, val, num_classes, batch_size, name)
    info = {
        "name": name,
        "train_images": len(train),
        "val_images": len(val),
        "num_classes": num_classes,
        "train_subset": train_subset,
    }
    if dataset == DIGITS:
        info |= {
            "split_seed": DIGITS_SPLIT_SEED,
            "val_fraction": DIGITS_VAL_FRACTION,
            "source": "sklearn.datasets.load_digits",
        }
    return DataSplits(train, val, num_classes, info)


__all__ = ["DIGITS", "DataSplits", "DigitsDataset", "digits_splits", "load_data"]
