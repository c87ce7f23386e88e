"""The hub's cards by name and alias, and the devices with latency rows, for a ``hub=`` argument.

By default the packaged index (``gpunet_hub/_data/index.json``, generated from ``model_cards/`` by
:mod:`gpunet_hub.hub.cards_io`) plus the folders of ``GPUNET_HUB_PATH``; ``hub=`` names a hub folder
or ``hf-hub:org/repo`` instead (:mod:`gpunet_hub.hub.catalog`). Torch-free.
"""

from __future__ import annotations

from .cards import ModelCard
from .catalog import HubArg, catalog


def cards(hub: HubArg = None) -> dict[str, ModelCard]:
    """Every card of the hub by canonical name."""
    return dict(catalog(hub).cards)


def resolve_name(name: str, *, hub: HubArg = None) -> str:
    """Maps a name or alias (``GPUNet-0``, ``GV100/0.65ms``, ``gpunet_0``) to the canonical name.

    Raises:
        UnknownModelError: Listing the models and close matches.
        InputError: When ``name`` is not a string, or ``hub`` does not read.
    """
    return catalog(hub).resolve_name(name)


def model_card(name: str, *, hub: HubArg = None) -> ModelCard:
    """Returns the typed card of a model (by name or alias), from the packaged hub or ``hub``."""
    return catalog(hub).model_card(name)


def list_gpus(*, hub: HubArg = None) -> list[str]:
    """Devices the hub has measured latency rows for (``local`` is always accepted too).

    For the packaged hub these are GPU keys (``GV100``, ``GA100``); a regenerated hub measured on a
    CPU lists that CPU's label as ``gpunet-hub bench`` writes it.
    """
    return list(catalog(hub).devices)
