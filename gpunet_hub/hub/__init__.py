"""The hub, torch-free: model cards, names, GPUs, selection by measured latency, the local table.

* :mod:`.cards` - the typed card records; :mod:`.cards_io` - ``model_cards/<name>/`` files and the
  package index;
* :mod:`.catalog` - which cards a call sees: the packaged hub, a hub folder, ``hf-hub:org/repo``,
  ``GPUNET_HUB_PATH``; :mod:`.card_prose` - the Markdown body every card writer uses;
* :mod:`.index` - cards by name and alias; :mod:`.gpus` - GPU names;
* :mod:`.select` - selection by GPU and budget; :mod:`.local_table` - what ``bench --save`` measured.
"""

from __future__ import annotations

from .cards import LatencyRow, ModelCard, WeightsSource
from .catalog import Catalog, catalog
from .gpus import LOCAL, known_gpus, resolve_gpu
from .index import list_gpus, model_card, resolve_name
from .select import Candidate, candidates, list_models, select

__all__ = [
    "LOCAL",
    "Candidate",
    "Catalog",
    "LatencyRow",
    "ModelCard",
    "WeightsSource",
    "candidates",
    "catalog",
    "known_gpus",
    "list_gpus",
    "list_models",
    "model_card",
    "resolve_gpu",
    "resolve_name",
    "select",
]
