"""The paper's Table 3 baselines that timm has, for side-by-side latency.

Accuracies come from ``gpunet_hub/_data/baselines.json`` (the GPUNet paper, Table 3, source named in
the file). The networks are built by timm with random weights (nothing is downloaded): only their
latency is measured, at each model's own default resolution (timm's ``pretrained_cfg["input_size"]``).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from typing import Any

from ..errors import InputError, did_you_mean


@dataclass(frozen=True)
class Baseline:
    """A baseline from the paper's Table 3.

    Attributes:
        name: timm model name.
        paper_name: Its name in the paper.
        top1: ImageNet top-1 (%) from the paper.
        paper_gv100_ms: The paper's TensorRT FP16 GV100 latency (ms).
        distilled: Whether the paper lists it in the "with distillation" group.
    """

    name: str
    paper_name: str
    top1: float
    paper_gv100_ms: float
    distilled: bool


@lru_cache(maxsize=1)
def _data() -> dict[str, Any]:
    return json.loads(resources.files("gpunet_hub").joinpath("_data/baselines.json").read_text())


def source() -> str:
    """Where the baseline accuracies come from."""
    return str(_data()["source"])


def baselines() -> dict[str, Baseline]:
    """All baselines timm has, by timm name."""
    return {
        name: Baseline(name, e["paper_name"], float(e["top1"]), float(e["paper_gv100_ms"]), bool(e["distilled"]))
        for name, e in _data()["baselines"].items()
    }


def get_baseline(name: str) -> Baseline:
    """One baseline by timm name (or paper name, case-insensitive).

    Raises:
        InputError: Listing the available ones (and saying when the paper's model is not in timm).
    """
    table = baselines()
    key = name.strip().lower()
    for baseline in table.values():
        if key in (baseline.name, baseline.paper_name.lower()):
            return baseline
    missing = {k.lower(): v for k, v in _data()["not_in_timm"].items()}
    if key in missing:
        raise InputError(f"baseline {name!r} cannot be measured: {missing[key]}. Available: {', '.join(table)}")
    raise InputError(f"unknown baseline {name!r}; available: {', '.join(table)}." + did_you_mean(name, list(table)))


def create_baseline(name: str) -> Any:
    """Builds a baseline with timm (random weights, eval mode); ``pretrained_cfg`` gives its resolution."""
    import timm
    import torch

    baseline = get_baseline(name)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        model = timm.create_model(baseline.name, pretrained=False)
    return model.eval()


def input_size(name: str) -> tuple[int, int, int]:
    """timm's default input size of a baseline (without building it)."""
    import timm

    baseline = get_baseline(name)
    cfg = timm.models.get_pretrained_cfg(baseline.name)
    if cfg is None:
        raise InputError(f"timm {timm.__version__} has no pretrained config for {baseline.name!r}; update timm")
    c, h, w = cfg.input_size
    return (int(c), int(h), int(w))
