"""Writes model_cards/<name>/ for NVIDIA's released GPUNets, then regenerates the package index.

Usage (from a clone, no arguments needed):

    python tools/release/write_cards.py

This is the release case of the one card writer (gpunet_hub.hub.cards_io.write_hub, with entries
from gpunet_hub.hub.card_prose.hub_entry); the regenerate-hub workflow is the other. The facts come
from release_models.yaml beside this script, the architectures from the release's own JSON files in
configs/ beside it. The encodings are derived with gpunet_hub.space.encode (stage-uniform models
only). A test regenerates the cards and the index and compares them with the committed files.
"""

from __future__ import annotations

import argparse
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml

from gpunet_hub import arch as archspec
from gpunet_hub.errors import EncodingError
from gpunet_hub.hub.card_prose import hub_entry
from gpunet_hub.hub.cards import LatencyRow, ModelCard, WeightsSource
from gpunet_hub.hub.cards_io import PACKAGE_INDEX, REPO_CARDS, HubEntry, write_hub
from gpunet_hub.pretrained import PretrainedCfg
from gpunet_hub.space import encode

HERE = Path(__file__).parent
FACTS = HERE / "release_models.yaml"
CONFIGS = HERE / "configs"
# Hub GPU key, column of release_models.yaml, the GPU's name in the release's README.
GPU_COLUMNS = (("GV100", "v100", "V100"), ("GA100", "a100", "A100"))

INTRO = """\
{display} is one of NVIDIA's GPU-optimised image classifiers from *Searching the Deployable
Convolution Neural Networks for GPUs* (Wang et al., CVPR 2022), released in NVIDIA
DeepLearningExamples (PyTorch/Classification/GPUNet, Apache-2.0). gpunet-hub rebuilds it from the
architecture in `config.json` with timm's blocks; the rebuilt network has the released parameter
count ({params:,}) and module-for-module the released structure."""


def release_card(model: Mapping[str, Any], facts: Mapping[str, Any], configs: Path) -> ModelCard:
    """The card of one released model (a ``models`` entry of release_models.yaml)."""
    source = facts["source"]["name"]
    spec = archspec.load(configs / model["config"])
    try:
        encoding, space = tuple(encode(spec, "release")), "release"
    except EncodingError:
        encoding, space = None, None
    rows = tuple(
        LatencyRow(
            gpu,
            1,
            "fp16",
            "tensorrt",
            "8",
            "median",
            float(model[column]),
            f"{source} (TensorRT FP16, batch 1, {label})",
        )
        for gpu, column, label in GPU_COLUMNS
    )
    return ModelCard(
        name=model["name"],
        display_name=model["display"],
        aliases=(model["display"], f"GV100/{model['tier']}"),
        top1=float(model["top1"]),
        top1_source=source,
        params=int(model["params"]),
        pretrained_cfg=PretrainedCfg.for_arch(spec, crop_pct=float(model["crop_pct"]), architecture=model["name"]),
        teacher=model["teacher"],
        tier={"gpu": "GV100", "latency": model["tier"]},
        latency=rows,
        weights=WeightsSource(
            url=facts["ngc_url"].format(id=model["id"]),
            filename=f"{model['tier']}.pth.tar",
            format=model["format"],
            page=f"https://catalog.ngc.nvidia.com/orgs/nvidia/teams/dle/models/gpunet_{model['id']}_pyt_ckpt",
        ),
        arch=spec,
        encoding=encoding,
        space=space,
        top1_source_url=facts["source"]["url"],
    )


def release_entries(facts_path: Path = FACTS, configs: Path = CONFIGS) -> list[HubEntry]:
    """The hub entries of NVIDIA's release: cards and prose, no weights files (they live on NGC)."""
    facts = yaml.safe_load(facts_path.read_text())
    entries = []
    for model in facts["models"]:
        card = release_card(model, facts, configs)
        intro = INTRO.format(display=card.display_name, params=card.params)
        entries.append(hub_entry(card, intro=intro, latency_method=facts["latency_method"]))
    return entries


def main(argv: Sequence[str] | None = None) -> Path:
    """Writes the release's cards and index; returns the index path."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--configs", type=Path, default=CONFIGS, help="folder with the release's GV100_*.json files")
    parser.add_argument("--out", type=Path, default=REPO_CARDS, help="where the card folders go (default model_cards/)")
    parser.add_argument("--index", type=Path, default=PACKAGE_INDEX, help="the index to write (default the package's)")
    args = parser.parse_args(argv)
    return write_hub(args.out, release_entries(configs=args.configs), index=args.index)


if __name__ == "__main__":
    main()
