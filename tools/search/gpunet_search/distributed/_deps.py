"""The rest of gpunet_search as the distributed search sees it: the one place to repoint when modules move.

Names resolve on first use (PEP 562), so a trial process that only needs the synthetic problems does
not import the searcher's torch/BoTorch stack.
"""

from __future__ import annotations

import importlib
from types import ModuleType
from typing import Any

# name -> module that defines it today
WHERE = {
    "LevelGrid": "gpunet_search.search.grid",
    "TIER_FORMAT": "gpunet_search.latency.sampling",
    "SampleSet": "gpunet_search.latency.sampling",
    "load_samples": "gpunet_search.latency.sampling",
    "LamctsBoSearcher": "gpunet_search.search.searcher",
    "SearcherConfig": "gpunet_search.search.searcher",
    "vector_id": "gpunet_search.search.searcher",
    "FUNCTIONS": "gpunet_search.experiments.synthetic",
    "GridFunction": "gpunet_search.experiments.synthetic",
    "TierAccuracy": "gpunet_search.experiments.synthetic",
    "MedianStoppingRule": "gpunet_search.evaluate.stopping",
}
EVALUATE_MODULE = "gpunet_search.evaluate"  # proxy_config(), evaluate()


def __getattr__(name: str) -> Any:
    if name not in WHERE:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(WHERE[name]), name)


def evaluate_module() -> ModuleType:
    """The training evaluator's package, imported on first use (it pulls in torch and timm).

    Raises:
        EnvironmentProblem: When this installation has no training evaluator.
    """
    from gpunet_hub.errors import EnvironmentProblem

    try:
        return importlib.import_module(EVALUATE_MODULE)
    except ModuleNotFoundError as exc:
        if exc.name and EVALUATE_MODULE.startswith(exc.name):
            raise EnvironmentProblem(
                f"the training evaluator ({EVALUATE_MODULE}) is not installed; use --evaluator synthetic:NAME"
            ) from None
        raise


__all__ = ["EVALUATE_MODULE", "WHERE", "evaluate_module", *WHERE]
