"""Writes model_cards/<name>/ for NVIDIA's released GPUNets, then regenerates the package index.

Usage (from the repository root):

    python tools/release/write_cards.py --configs tests/data/gpunet_configs

The facts come from release_models.yaml beside this script; the architectures from the release's
own JSON files. The encodings are derived with gpunet_hub.space.encode (stage-uniform models only).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import yaml

from gpunet_hub import arch as archspec
from gpunet_hub.hub.cards import LatencyRow, ModelCard, WeightsSource
from gpunet_hub.hub.cards_io import REPO_CARDS, write_card, write_index
from gpunet_hub.pretrained import PretrainedCfg
from gpunet_hub.errors import EncodingError
from gpunet_hub.space import encode

HERE = Path(__file__).parent

PROSE = """\
# {display}

{display} is one of NVIDIA's GPU-optimised image classifiers from *Searching the Deployable
Convolution Neural Networks for GPUs* (Wang et al., CVPR 2022), released in NVIDIA
DeepLearningExamples (PyTorch/Classification/GPUNet, Apache-2.0). gpunet-hub rebuilds it from the
architecture in `config.json` with timm's blocks; the rebuilt network has the released parameter
count ({params:,}) and module-for-module the released structure.

| | |
|---|---|
| ImageNet-1k top-1 | {top1} % (source: {source}) |
| Parameters | {params:,} |
| Input | {res} x {res}, crop_pct {crop_pct}, bicubic, ImageNet mean/std |
| Distillation teacher | {teacher} |
| Search tier (provenance, not a measurement) | {tier} on GV100 |
| 41-integer encoding | {encoding} |

## Measured latency

{latency_table}

{latency_method} These rows are what `gpunet_hub.load(gpu=..., max_latency_ms=...)` selects on;
the search tier is not. Re-measure on your own hardware with `gpunet-hub bench {name}`.

## Use

```python
import gpunet_hub
model = gpunet_hub.load("{name}")            # released weights (NGC download, cached)
model = gpunet_hub.load("{name}", weights=None)  # random init, no I/O
```

## Weights

The released checkpoint is `{filename}` inside the NGC archive {url}. gpunet-hub converts NVIDIA's
module names to its own and caches the result as safetensors.
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--configs", type=Path, required=True, help="folder with the release's GV100_*.json files")
    parser.add_argument("--out", type=Path, default=REPO_CARDS)
    args = parser.parse_args()
    facts = yaml.safe_load((HERE / "release_models.yaml").read_text())
    source = facts["source"]["name"]
    for model in facts["models"]:
        spec = archspec.load(args.configs / model["config"])
        try:
            encoding, space = tuple(encode(spec, "release")), "release"
        except EncodingError:
            encoding, space = None, None
        rows = tuple(
            LatencyRow(gpu, 1, "fp16", "tensorrt", "8", "median", float(model[column]), f"{source} (TensorRT FP16, batch 1, {label})")
            for gpu, column, label in (("GV100", "v100", "V100"), ("GA100", "a100", "A100"))
        )
        card = ModelCard(
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
        table = "| GPU | batch | precision | runtime | stat | ms |\n|---|---|---|---|---|---|\n" + "\n".join(
            f"| {r.gpu} | {r.batch} | {r.precision} | {r.runtime} {r.runtime_version} | {r.stat} | {r.ms:.2f} |" for r in rows
        )
        prose = PROSE.format(
            display=card.display_name, name=card.name, params=card.params, top1=card.top1, source=source,
            res=card.resolution, crop_pct=card.crop_pct, teacher=card.teacher or "none", tier=model["tier"],
            encoding=f"`{list(encoding)}` (space `release`)" if encoding else "none (not stage-uniform)",
            latency_table=table, latency_method=facts["latency_method"], filename=card.weights.filename,
            url=card.weights.url,
        )
        write_card(args.out / card.name, card, prose)
    write_index(args.out)


if __name__ == "__main__":
    main()
