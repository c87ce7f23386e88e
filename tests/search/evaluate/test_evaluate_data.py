"""Datasets: the embedded digits split, and typed errors for folders timm cannot use."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from gpunet_hub.errors import InputError
from gpunet_search.evaluate import load_data
from gpunet_search.evaluate.data import digits_splits
from gpunet_search.evaluate.train import build_transforms
from eval_tiny import tiny_config


def test_digits_split_is_fixed_stratified_and_3_channel():
    train, val = digits_splits(24)
    assert len(train) + len(val) == 1797
    assert abs(len(train) - len(val)) <= 1
    assert set(train.targets) == set(val.targets) == set(range(10))
    counts = np.bincount(train.targets) / np.bincount(val.targets)
    assert np.all(np.abs(counts - 1) < 0.05)
    image, label = train[0]
    assert image.size == (24, 24) and image.mode == "RGB" and 0 <= label < 10
    again, _ = digits_splits(24)
    assert again.targets == train.targets and np.array_equal(np.asarray(again.images[5]), np.asarray(train.images[5]))


def test_digits_with_timm_transforms_and_subset():
    config = tiny_config()
    train_tf, val_tf = build_transforms(config, 16)
    data = load_data("digits", resolution=16, train_transform=train_tf, val_transform=val_tf, train_subset=0.2, batch_size=32)
    x, y = data.train[0]
    assert tuple(x.shape) == (3, 16, 16) and data.num_classes == 10
    assert data.info["train_images"] == len(data.train) == int(0.2 * 898) and data.info["val_images"] == 899
    assert tuple(data.val[0][0].shape) == (3, 16, 16)


def _image_folder(root, classes, per_class):
    for split in ("train", "val"):
        for c in range(classes):
            folder = root / split / f"class{c}"
            folder.mkdir(parents=True)
            for i in range(per_class):
                Image.fromarray(np.full((8, 8, 3), 40 * c + i, dtype=np.uint8)).save(folder / f"{i}.png")


def test_image_folder_opens_and_bad_folders_raise(tmp_path):
    config = tiny_config()
    tfs = build_transforms(config, 16)
    kwargs = dict(resolution=16, train_transform=tfs[0], val_transform=tfs[1], batch_size=4)
    good = tmp_path / "good"
    _image_folder(good, classes=3, per_class=4)
    data = load_data(str(good), **kwargs)
    assert (data.num_classes, len(data.train), len(data.val)) == (3, 12, 12)
    assert tuple(data.train[0][0].shape) == (3, 16, 16)
    with pytest.raises(InputError, match="does not exist"):
        load_data(str(tmp_path / "missing"), **kwargs)
    flat = tmp_path / "flat"
    (flat / "cats").mkdir(parents=True)
    with pytest.raises(InputError, match="no train/ folder"):
        load_data(str(flat), **kwargs)
    one = tmp_path / "one"
    _image_folder(one, classes=1, per_class=4)
    with pytest.raises(InputError, match="at least 2"):
        load_data(str(one), **kwargs)
    few = tmp_path / "few"
    _image_folder(few, classes=2, per_class=1)
    with pytest.raises(InputError, match="fewer than one batch"):
        load_data(str(few), **kwargs)
    with pytest.raises(InputError, match="data-dir"):
        load_data("torch/cifar10", **kwargs)
