"""The packaged index of model cards: names, aliases, cards and the GPUs with latency rows.

Reads ``gpunet_hub/_data/index.json`` (generated from ``model_cards/`` by
:mod:`gpunet_hub.hub.cards_io`); torch-free.
"""

from __future__ import annotations

import json
from functools import lru_cache
from importlib import resources

from ..errors import InputError, UnknownModelError, did_you_mean
from .cards import ModelCard
from .gpus import known_gpus


@lru_cache(maxsize=1)
def cards() -> dict[str, ModelCard]:
    """Every packaged card by canonical name (read once)."""
    index = json.loads(resources.files("gpunet_hub").joinpath("_data/index.json").read_text())
    return {name: ModelCard.from_dict(entry) for name, entry in index["models"].items()}


def _aliases() -> dict[str, str]:
    table: dict[str, str] = {}
    for card in cards().values():
        for alias in (card.name, *card.aliases):
            table[alias.lower()] = card.name
    return table


def resolve_name(name: str) -> str:
    """Maps a name or alias (``GPUNet-0``, ``GV100/0.65ms``, ``gpunet_0``) to the canonical name.

    Raises:
        UnknownModelError: Listing the models and close matches.
        InputError: When ``name`` is not a string.
    """
    if not isinstance(name, str):
        raise InputError(
            f"name must be a model name such as 'gpunet_0', got {type(name).__name__} {name!r}", params=("name",)
        )
    canonical = _aliases().get(name.strip().lower())
    if canonical is None:
        names = sorted(cards())
        raise UnknownModelError(
            f"unknown model {name!r}; available: {', '.join(names)} (aliases such as 'GPUNet-0' and "
            f"'GV100/0.65ms' work too)." + did_you_mean(name, list(_aliases())),
            params=("name",),
        )
    return canonical


def model_card(name: str) -> ModelCard:
    """Returns the typed card of a model (by name or alias)."""
    return cards()[resolve_name(name)]


def list_gpus() -> list[str]:
    """Hub GPU keys that have measured latency rows (``local`` is always accepted too)."""
    seen = {row.gpu for card in cards().values() for row in card.latency}
    return [key for key in known_gpus() if key in seen]
