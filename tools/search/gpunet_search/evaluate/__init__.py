"""Stage 3a of the search pipeline: train a candidate network and return its accuracy.

``evaluate(network, config)`` trains a 41-integer encoding or an ArchSpec with the paper's recipe
(supplement Table 5, from timm's factories), at proxy scale on a CPU (:func:`proxy_config`, the
embedded ``digits`` data) or at full scale on a GPU (``EvalConfig()``), checkpointing every epoch
and stopping early when a policy (e.g. :class:`MedianStoppingRule`) says so.

The names are imported on first use: ``gpunet-hub search`` registers this package's commands on
every call, and most of them (``tiers``, ``lut stats``, ``--help``) never train, so they should not
pay for importing torch and timm.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

_EXPORTS = {
    "DataSplits": "data",
    "DigitsDataset": "data",
    "load_data": "data",
    "EvalConfig": "config",
    "proxy_config": "config",
    "EpochReport": "evaluator",
    "evaluate": "evaluator",
    "proxy_resolution": "network",
    "resolve_network": "network",
    "scale_width": "network",
    "EpochRecord": "result",
    "Result": "result",
    "MedianStoppingRule": "stopping",
    "StopPolicy": "stopping",
}
__all__ = sorted(_EXPORTS)

if TYPE_CHECKING:  # `X as X`: re-exported names for type checkers
    from .config import EvalConfig as EvalConfig
    from .config import proxy_config as proxy_config
    from .data import DataSplits as DataSplits
    from .data import DigitsDataset as DigitsDataset
    from .data import load_data as load_data
    from .evaluator import EpochReport as EpochReport
    from .evaluator import evaluate as evaluate
    from .network import proxy_resolution as proxy_resolution
    from .network import resolve_network as resolve_network
    from .network import scale_width as scale_width
    from .result import EpochRecord as EpochRecord
    from .result import Result as Result
    from .stopping import MedianStoppingRule as MedianStoppingRule
    from .stopping import StopPolicy as StopPolicy


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f".{module}", __name__), name)


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
