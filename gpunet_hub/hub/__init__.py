"""The hub, torch-free: model cards, names, GPUs, selection by measured latency, the local table.

* :mod:`.cards` - the typed card records; :mod:`.cards_io` - ``model_cards/<name>/`` files and the
  package index;
* :mod:`.index` - the packaged cards by name and alias; :mod:`.gpus` - GPU names;
* :mod:`.select` - selection by GPU and budget; :mod:`.local_table` - what ``bench --save`` measured.
"""

from __future__ import annotations

from .cards import LatencyRow, ModelCard, WeightsSource
from .gpus import LOCAL, known_gpus, resolve_gpu
from .index import list_gpus, model_card, resolve_name
from .select import Candidate, candidates, list_models, select

__all__ = [
    "LOCAL",
    "Candidate",
    "LatencyRow",
    "ModelCard",
    "WeightsSource",
    "candidates",
    "known_gpus",
    "list_gpus",
    "list_models",
    "model_card",
    "resolve_gpu",
    "resolve_name",
    "select",
]
