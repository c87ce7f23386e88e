"""A tiny hub folder written by the one card writer, as the regenerate workflow writes one."""

from __future__ import annotations

import pytest
import torch
from conftest import TINY_DISTILL, TINY_STANDARD
from safetensors.torch import save_file

from gpunet_hub.arch import from_list
from gpunet_hub.builder import build_model
from gpunet_hub.hub.card_prose import hub_entry
from gpunet_hub.hub.cards import LatencyRow, ModelCard
from gpunet_hub.hub.cards_io import write_hub
from gpunet_hub.pretrained import PretrainedCfg

# The device label `gpunet-hub bench` gives a CPU, which the workflow writes into its rows.
CPU_LABEL = "CPU: Example Xeon 9000 (1 thread)"
# name -> (architecture, top-1 on digits, median ms on CPU_LABEL)
TINY_ENTRIES = {"tiny_fast": (TINY_DISTILL, 91.5, 0.8), "tiny_slow": (TINY_STANDARD, 95.25, 1.6)}


def tiny_card(name: str, config: list[dict], top1: float, ms: float) -> ModelCard:
    spec = from_list(config)
    params = sum(p.numel() for p in build_model(spec).parameters())
    row = LatencyRow(CPU_LABEL, 1, "fp32", "onnxruntime-cpu", "1.20.1", "median", ms, "bench on the search machine")
    return ModelCard(
        name=name,
        display_name=name.replace("_", "-").title(),
        aliases=(name.replace("_", "-").title(),),
        top1=top1,
        top1_source="proxy training on digits",
        params=params,
        pretrained_cfg=PretrainedCfg.for_arch(spec, architecture=name),
        teacher=None,
        tier={"gpu": CPU_LABEL, "latency": f"{ms:g}ms"},
        latency=(row,),
        weights=None,
        arch=spec,
        dataset="digits",
        provenance={"search_run": "tiny-run", "lut": "0" * 16, "tier": [0.5, 1.0], "recipe": {"epochs": 1}},
    )


def write_tiny_hub(folder, weights_dir):
    """Writes the tiny hub into ``folder``; returns {name: state_dict written}."""
    weights_dir.mkdir(parents=True, exist_ok=True)
    entries, states = [], {}
    for seed, (name, (config, top1, ms)) in enumerate(TINY_ENTRIES.items()):
        card = tiny_card(name, config, top1, ms)
        torch.manual_seed(seed)
        model = build_model(card.arch)
        states[name] = {k: v.clone() for k, v in model.state_dict().items()}
        path = weights_dir / f"{name}.safetensors"
        save_file({k: v.contiguous() for k, v in states[name].items()}, str(path))
        entries.append(hub_entry(card, intro=f"{card.display_name} is a test entry.", weights=path, hub=str(folder)))
    write_hub(folder, entries)
    return states


@pytest.fixture(scope="session")
def tiny_hub_states(tmp_path_factory):
    root = tmp_path_factory.mktemp("tiny-hub")
    states = write_tiny_hub(root / "hub", root / "weights")
    return root / "hub", states


@pytest.fixture
def tiny_hub(tiny_hub_states):
    """The tiny hub folder (read-only: copy it before damaging it)."""
    return tiny_hub_states[0]
