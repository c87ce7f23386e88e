"""Reading and writing ``model_cards/<name>/`` (README.md with Hugging Face front matter + config.json).

A card folder holds:

* ``README.md``: a Hugging Face model card. The YAML front matter carries the standard fields
  (``license``, ``library_name``, ``tags``, ``datasets``, ``model-index`` with the top-1 result) and a
  ``gpunet`` block with the hub's own fields (aliases, params, tier, measured latency rows, weights).
* ``config.json``: the architecture (release layer-list schema), its 41-integer encoding when it has
  one, and the preprocessing.

The package ships a generated index of all cards (``gpunet_hub/_data/index.json``) so an installed
wheel needs neither the folders nor huggingface_hub; :func:`write_index` regenerates it
(``python -m gpunet_hub.hub.cards_io``) and a test keeps it in sync. The ``preprocessing`` block of
config.json and of the index is :meth:`gpunet_hub.pretrained.PretrainedCfg.to_preprocessing`.
"""

from __future__ import annotations

import dataclasses
import json
import shutil
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .._io import atomic_path, atomic_write_text, file_sha256
from ..errors import InputError
from .cards import ModelCard, WeightsSource

INDEX_VERSION = 2
PACKAGE_INDEX = Path(__file__).resolve().parent.parent / "_data" / "index.json"
REPO_CARDS = Path(__file__).resolve().parents[2] / "model_cards"
HUB_INDEX_NAME = "index.json"
"""A hub folder's index of its cards (same schema as the package index)."""
WEIGHTS_NAME = "model.safetensors"
"""A hub entry's weights file, inside its card folder (its ``WeightsSource.url`` is this relative name)."""
DATASET_NAMES = {"imagenet-1k": "ImageNet-1k", "digits": "scikit-learn digits (8x8 handwritten digits)"}
"""Display names of dataset ids in model cards; other ids are shown as they are."""


@dataclass(frozen=True)
class HubEntry:
    """One model to write into a hub folder.

    Attributes:
        card: The card (its ``weights`` is replaced by the written file's when ``weights`` is set).
        prose: The Markdown body of README.md, after the front matter.
        weights: A ``.safetensors`` state dict to copy into the card folder as :data:`WEIGHTS_NAME`.
    """

    card: ModelCard
    prose: str
    weights: Path | None = None


def folder_weights(path: Path) -> WeightsSource:
    """The weights source of a card whose weights are ``path`` copied into its folder as :data:`WEIGHTS_NAME`."""
    return WeightsSource(WEIGHTS_NAME, WEIGHTS_NAME, "safetensors", sha256=file_sha256(path), size=path.stat().st_size)


def render_readme(card: ModelCard, prose: str) -> str:
    """Renders a card's README.md: front matter built with huggingface_hub, then ``prose``."""
    from huggingface_hub import ModelCardData
    from huggingface_hub.repocard_data import EvalResult

    data = ModelCardData(
        license="apache-2.0",
        library_name="gpunet-hub",
        pipeline_tag="image-classification",
        tags=["image-classification", "gpunet", "nas", *sorted({row.runtime for row in card.latency}), "latency"],
        datasets=[card.dataset],
        model_name=card.display_name,
        eval_results=[
            EvalResult(
                task_type="image-classification",
                task_name="Image Classification",
                dataset_type=card.dataset,
                dataset_name=DATASET_NAMES.get(card.dataset, card.dataset),
                dataset_split="validation",
                metric_type="accuracy",
                metric_name="Top-1",
                metric_value=card.top1,
                # huggingface_hub takes a source name only with a URL; without one it goes in `gpunet`
                source_name=card.top1_source if card.top1_source_url else None,
                source_url=card.top1_source_url,
            )
        ],
        gpunet={
            "name": card.name,
            "display_name": card.display_name,
            "aliases": list(card.aliases),
            "params": card.params,
            "teacher": card.teacher,
            "tier": dict(card.tier),
            "latency": [row.to_dict() for row in card.latency],
            "weights": None if card.weights is None else {k: v for k, v in vars(card.weights).items() if v is not None},
            **({"top1_source": card.top1_source} if not card.top1_source_url else {}),
            **({"provenance": card.provenance} if card.provenance is not None else {}),
        },
    )
    return f"---\n{data.to_yaml()}\n---\n\n{prose.strip()}\n"


def config_dict(card: ModelCard) -> dict[str, Any]:
    """The ``config.json`` of a card."""
    return {
        "architecture": card.arch.to_list(),
        "encoding": list(card.encoding) if card.encoding else None,
        "space": card.space,
        "num_classes": card.arch.num_classes,
        "preprocessing": card.pretrained_cfg.to_preprocessing(),
    }


def write_card(folder: Path, card: ModelCard, prose: str) -> Path:
    """Writes ``README.md`` and ``config.json`` into ``folder`` (each atomically)."""
    folder.mkdir(parents=True, exist_ok=True)
    atomic_write_text(folder / "README.md", render_readme(card, prose))
    atomic_write_text(folder / "config.json", json.dumps(config_dict(card), indent=2) + "\n")
    return folder


def read_card(folder: Path) -> ModelCard:
    """Parses one card folder into a :class:`ModelCard`.

    Raises:
        InputError: When a file or field is missing, naming the folder and the field.
    """
    import yaml
    from huggingface_hub import ModelCard as HFModelCard

    readme, config_path = folder / "README.md", folder / "config.json"
    for path in (readme, config_path):
        if not path.is_file():
            raise InputError(f"model card {folder}: missing {path.name}")
    try:
        meta = HFModelCard.load(readme).data.to_dict()
        config = json.loads(config_path.read_text())
    except (OSError, UnicodeDecodeError, ValueError, yaml.YAMLError) as exc:  # JSON errors are ValueErrors
        raise InputError(f"model card {folder}: cannot read it: {' '.join(str(exc).split())}") from None
    try:
        hub = meta["gpunet"]
        result = meta["model-index"][0]["results"][0]
        metric = result["metrics"][0]
        return ModelCard.from_dict(
            {
                **hub,
                "top1": metric["value"],
                "top1_source": result.get("source", {}).get("name") or hub.get("top1_source", ""),
                "top1_source_url": result.get("source", {}).get("url"),
                "dataset": result["dataset"]["type"],
                "preprocessing": config["preprocessing"],
                "arch": config["architecture"],
                "encoding": config.get("encoding"),
                "space": config.get("space"),
            }
        )
    except InputError as exc:  # a malformed architecture: already typed, say which card
        raise type(exc)(f"model card {folder}: {exc}", params=exc.params) from None
    except (KeyError, IndexError, TypeError, ValueError) as exc:
        raise InputError(f"model card {folder}: missing or malformed field {exc}") from None


def build_index(cards_dir: Path = REPO_CARDS) -> dict[str, Any]:
    """Reads every card folder under ``cards_dir`` into the index dict."""
    folders = sorted(p for p in cards_dir.iterdir() if (p / "README.md").is_file())
    if not folders:
        raise InputError(f"no model cards under {cards_dir}")
    cards = [read_card(folder) for folder in folders]
    return {"version": INDEX_VERSION, "models": {card.name: card.to_dict() for card in cards}}


def write_index(cards_dir: Path = REPO_CARDS, path: Path = PACKAGE_INDEX) -> Path:
    """Regenerates the package index from the card folders (atomically)."""
    return atomic_write_text(path, json.dumps(build_index(cards_dir), indent=1, sort_keys=True) + "\n")


def write_hub(hub_dir: Path, entries: Sequence[HubEntry], *, index: Path | None = None) -> Path:
    """Writes card folders (with their weights) into a hub folder, then its :data:`HUB_INDEX_NAME`.

    Folders of other models already in ``hub_dir`` stay and are indexed too, so entries can be added
    one run at a time. Every file is written to a temporary name and renamed. The one writer of
    cards: NVIDIA's release (``tools/release/write_cards.py``) and the regenerate-hub workflow both
    write through it, with prose from :func:`gpunet_hub.hub.card_prose.render_prose`.

    Args:
        hub_dir: The hub folder (created if missing); a valid Hugging Face model repository layout.
        entries: The models to write; their names must be distinct.
        index: Where to write the index (default ``hub_dir / HUB_INDEX_NAME``; the release writes
            the package index instead).

    Returns:
        The path of the hub's index.

    Raises:
        InputError: For duplicate names or a weights file that is missing or not ``.safetensors``,
            before anything is written.
    """
    names = [entry.card.name for entry in entries]
    duplicates = sorted({name for name in names if names.count(name) > 1})
    if duplicates:
        raise InputError(f"write_hub: duplicate model names {duplicates}; each entry needs its own name")
    for entry in entries:
        if entry.weights is not None and (
            not Path(entry.weights).is_file() or Path(entry.weights).suffix != ".safetensors"
        ):
            raise InputError(
                f"write_hub: weights of {entry.card.name} must be an existing .safetensors file, got {entry.weights}"
            )
    hub_dir.mkdir(parents=True, exist_ok=True)
    for entry in entries:
        folder, card = hub_dir / entry.card.name, entry.card
        if entry.weights is not None:
            folder.mkdir(parents=True, exist_ok=True)
            with atomic_path(folder / WEIGHTS_NAME) as tmp:
                shutil.copyfile(entry.weights, tmp)
            card = dataclasses.replace(card, weights=folder_weights(folder / WEIGHTS_NAME))
        write_card(folder, card, entry.prose)
    return write_index(hub_dir, hub_dir / HUB_INDEX_NAME if index is None else index)


if __name__ == "__main__":  # python -m gpunet_hub.hub.cards_io: regenerate the package index
    write_index()
