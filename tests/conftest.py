"""Shared fixtures: the release's architecture files and facts, and an isolated user cache."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

# The release's architecture files ship with the card writer that reads them.
RELEASE_CONFIGS = Path(__file__).parents[1] / "tools" / "release" / "configs"
# The facts of NVIDIA's release, in the one file the model cards are written from.
RELEASE_FACTS = Path(__file__).parents[1] / "tools" / "release" / "release_models.yaml"
_RELEASED = {m["name"]: m for m in yaml.safe_load(RELEASE_FACTS.read_text())["models"]}
# hub name -> release JSON file
RELEASE_FILES = {name: m["config"] for name, m in _RELEASED.items()}
# hub name -> parameter count on NVIDIA's own builder (1000 classes)
RELEASED_PARAMS = {name: int(m["params"]) for name, m in _RELEASED.items()}
# The encodings of the stage-uniform released networks, written from the release's own tables
# (the paper's Table 2 layout), independently of gpunet_hub.space.encode, which they check.
RELEASED_ENCODINGS = {
    "gpunet_0": [320, 32, 3, 0, 2, 32, 3, 5, 0, 0, 2, 64, 3, 5, 0, 0, 3, 256, 3, 5, 0, 1, 3, 0, 0, 0, 0, 0, 0, 704, 3, 5, 1, 0, 2, 0, 0, 0, 0, 0, 0],
    "gpunet_1": [288, 24, 3, 0, 1, 64, 3, 4, 0, 1, 2, 96, 3, 4, 0, 1, 2, 160, 3, 2, 1, 1, 1, 288, 3, 5, 0, 0, 4, 448, 3, 4, 1, 0, 4, 0, 0, 0, 0, 0, 0],
    "gpunet_2": [384, 32, 3, 0, 3, 32, 5, 6, 1, 1, 1, 112, 3, 3, 0, 1, 3, 144, 3, 6, 0, 1, 6, 160, 5, 3, 0, 0, 4, 224, 3, 3, 1, 1, 8, 832, 5, 2, 0, 0, 7],
}

# A small standard-family network with every layer type, SE, both activations and a stride-2 fused block.
TINY_STANDARD = [
    {"layer_type": "data", "img_resolution": 64, "distill": False},
    {"layer_type": "head", "num_in_channels": 3, "num_out_channels": 8},
    {"layer_type": "conv", "num_in_channels": 8, "num_out_channels": 8, "stride": 1, "kernel_size": 3, "act": "relu", "stage": 1},
    {"layer_type": "fused_irb", "num_in_channels": 8, "num_out_channels": 16, "stride": 2, "expansion": 2, "kernel_size": 3, "act": "swish", "use_se": True, "stage": 2},
    {"layer_type": "fused_irb", "num_in_channels": 16, "num_out_channels": 16, "stride": 1, "expansion": 2, "kernel_size": 3, "act": "swish", "use_se": False, "stage": 2},
    {"layer_type": "irb", "num_in_channels": 16, "num_out_channels": 24, "stride": 2, "expansion": 3, "kernel_size": 5, "act": "relu", "use_se": True, "stage": 4},
    {"layer_type": "irb", "num_in_channels": 24, "num_out_channels": 24, "stride": 1, "expansion": 2.5, "kernel_size": 3, "act": "swish", "use_se": False, "stage": 4},
    {"layer_type": "tail", "num_in_channels": 24, "num_out_channels": 32, "num_classes": 10},
]
# A small distill-family network with widths timm would round (11 * 3 = 33) and a large head.
TINY_DISTILL = [
    {"layer_type": "data", "img_resolution": 64, "distill": True},
    {"layer_type": "head_large", "num_in_channels": 3, "num_out_channels": 11, "stage": 0},
    {"layer_type": "irb", "num_in_channels": 11, "num_out_channels": 11, "stride": 1, "expansion": 1, "kernel_size": 3, "groups": 1, "stage": 0},
    {"layer_type": "irb", "num_in_channels": 11, "num_out_channels": 16, "stride": 2, "expansion": 3, "kernel_size": 5, "groups": 1, "stage": 1},
    {"layer_type": "irb", "num_in_channels": 16, "num_out_channels": 16, "stride": 1, "expansion": 4, "kernel_size": 7, "groups": 1, "stage": 1},
    {"layer_type": "tail", "num_in_channels": 16, "num_out_channels": 24, "num_classes": 10},
]


def release_config(name: str) -> list[dict]:
    return json.loads((RELEASE_CONFIGS / RELEASE_FILES[name]).read_text())


@pytest.fixture(autouse=True)
def isolated_cache(tmp_path_factory, monkeypatch):
    """Every test gets its own user cache and never reaches a real network host."""
    cache = tmp_path_factory.mktemp("cache")
    monkeypatch.setenv("GPUNET_HUB_CACHE", str(cache))
    monkeypatch.setenv("HF_HUB_CACHE", str(cache / "hf"))
    monkeypatch.delenv("GPUNET_HUB_OFFLINE", raising=False)
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    return cache
