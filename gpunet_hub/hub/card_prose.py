"""The Markdown body of a model card (README.md after its front matter), for every source of cards.

NVIDIA's release (``tools/release/write_cards.py``) and the regenerate-hub workflow write their
cards through :func:`render_prose`; each gives its own introduction and, where it has one, the
text of how its latency rows were measured. The rest is derived from the card: the facts table (the
top-1 says on which dataset; a non-ImageNet card says it is not an ImageNet model), the measured
latency rows with their environment, the provenance of a searched entry, how to load it and where
its weights are.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Sequence
from pathlib import Path

from ..pretrained import IMAGENET_MEAN, IMAGENET_STD
from .cards import LatencyRow, ModelCard
from .cards_io import DATASET_NAMES, HubEntry, folder_weights
from .catalog import is_relative_url

IMAGENET = "imagenet-1k"


def dataset_name(dataset: str) -> str:
    """The display name of a dataset id (``imagenet-1k`` -> ``ImageNet-1k``)."""
    return DATASET_NAMES.get(dataset, dataset)


def latency_table(rows: Sequence[LatencyRow]) -> str:
    """The measured rows as a Markdown table (device, batch, precision, runtime and version, statistic, ms)."""
    head = "| device | batch | precision | runtime | stat | ms |\n|---|---|---|---|---|---|\n"
    return head + "\n".join(
        f"| {r.gpu} | {r.batch} | {r.precision} | {r.runtime} {r.runtime_version} | {r.stat} | {r.ms:.2f} |"
        for r in rows
    )


def _facts(card: ModelCard) -> str:
    cfg = card.pretrained_cfg
    norm = (
        "ImageNet mean/std"
        if (tuple(cfg.mean), tuple(cfg.std)) == (tuple(IMAGENET_MEAN), tuple(IMAGENET_STD))
        else f"mean {list(cfg.mean)}, std {list(cfg.std)}"
    )
    tier = ", ".join(f"{key} {value}" for key, value in card.tier.items() if key not in ("gpu", "latency"))
    tier_text = f"{card.tier.get('latency', '?')} on {card.tier.get('gpu', '?')}" + (f" ({tier})" if tier else "")
    encoding = f"`{list(card.encoding)}` (space `{card.space}`)" if card.encoding else "none (not stage-uniform)"
    rows = [
        (f"{dataset_name(card.dataset)} top-1 (validation)", f"{card.top1} % (source: {card.top1_source})"),
        ("Dataset", f"`{card.dataset}`, {card.arch.num_classes} classes"),
        ("Parameters", f"{card.params:,}"),
        ("Input", f"{card.resolution} x {card.resolution}, crop_pct {card.crop_pct}, {cfg.interpolation}, {norm}"),
        ("Distillation teacher", card.teacher or "none"),
        ("Search tier (provenance, not a measurement)", tier_text),
        ("41-integer encoding", encoding),
    ]
    return "| | |\n|---|---|\n" + "\n".join(f"| {key} | {value} |" for key, value in rows)


def _weights(card: ModelCard) -> str:
    w = card.weights
    if w is None:
        return "No trained weights are published with this card: `weights=None` builds it randomly initialised."
    if is_relative_url(w.url):
        size = f", {w.size:,} bytes" if w.size is not None else ""
        digest = f", SHA-256 `{w.sha256}`" if w.sha256 else ""
        return (
            f"`{w.url}` in this folder ({w.format}{size}{digest}), trained on {dataset_name(card.dataset)}. "
            "`load()` checks its size and hash before reading it."
        )
    return (
        f"The released checkpoint is `{w.filename}` inside the archive {w.url}. gpunet-hub converts its "
        "module names to its own and caches the result as safetensors."
    )


def render_prose(card: ModelCard, *, intro: str, latency_method: str = "", hub: str | None = None) -> str:
    """The Markdown body of ``card``'s README.md.

    Args:
        card: The card.
        intro: What the model is and where it comes from (one or more paragraphs).
        latency_method: How the latency rows were measured, when not said by the rows themselves.
        hub: How a user names the hub holding this card (``"hf-hub:org/repo"``, a folder), shown in
            the usage snippet; ``None`` for the packaged hub.

    Returns:
        The Markdown text, ending with a newline.
    """
    hub_arg = f', hub="{hub}"' if hub else ""
    hub_flag = f" --hub {hub}" if hub else ""
    sections = [f"# {card.display_name}", intro.strip()]
    if card.dataset != IMAGENET:
        sections.append(
            f"**Trained and evaluated on {dataset_name(card.dataset)}, not on ImageNet**: its "
            "top-1 is not comparable with ImageNet figures, and its weights are not an ImageNet classifier."
        )
    sections.append(_facts(card))
    method = (latency_method.strip() + " ") if latency_method.strip() else ""
    sections += [
        "## Measured latency",
        latency_table(card.latency),
        (
            f"{method}These rows are what `gpunet_hub.load(gpu=..., max_latency_ms=...{hub_arg})` selects on; the "
            f"search tier is not. Re-measure on your own hardware with `gpunet-hub bench {card.name}{hub_flag}`."
        ),
    ]
    if card.provenance is not None:
        sections += [
            "## Provenance",
            "How this entry was made (also in the front matter, `gpunet.provenance`):",
            "```json\n" + json.dumps(card.provenance, indent=2, sort_keys=True) + "\n```",
        ]
    snippet = "```python\nimport gpunet_hub\n"
    if card.weights is not None:
        where = (
            "from this folder, size and hash checked"
            if is_relative_url(card.weights.url)
            else "downloaded once, cached"
        )
        snippet += f'model = gpunet_hub.load("{card.name}"{hub_arg})  # trained weights ({where})\n'
    snippet += f'model = gpunet_hub.load("{card.name}"{hub_arg}, weights=None)  # random init, no I/O\n```'
    sections += [
        "## Use",
        snippet,
        "## Weights",
        _weights(card),
    ]
    return "\n\n".join(sections) + "\n"


def hub_entry(
    card: ModelCard, *, intro: str, weights: Path | None = None, latency_method: str = "", hub: str | None = None
) -> HubEntry:
    """A :class:`~gpunet_hub.hub.cards_io.HubEntry` for :func:`~gpunet_hub.hub.cards_io.write_hub`.

    With ``weights`` (a ``.safetensors`` file), the card's weights source becomes that file as it
    will be in its card folder (name, size, hash) before the prose is rendered, so the README says
    what :func:`write_hub` writes.

    Args:
        card: The card.
        intro: See :func:`render_prose`.
        weights: The trained weights to publish with the card, if any.
        latency_method: See :func:`render_prose`.
        hub: See :func:`render_prose`.
    """
    if weights is not None:
        weights = Path(weights)
        if weights.is_file():  # write_hub refuses a missing file, naming it
            card = dataclasses.replace(card, weights=folder_weights(weights))
    return HubEntry(card, render_prose(card, intro=intro, latency_method=latency_method, hub=hub), weights)
