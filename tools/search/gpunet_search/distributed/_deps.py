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
    "short_hash": "gpunet_search.fingerprint",
    "file_sha256": "gpunet_search.fingerprint",
    "LevelGrid": "gpunet_search.grid",
    "TIER_FORMAT": "gpunet_search.sampling",
    "SampleSet": "gpunet_search.sampling",
    "load_samples": "gpunet_search.sampling",
    "LamctsBoSearcher": "gpunet_search.searcher",
    "SearcherConfig": "gpunet_search.searcher",
    "vector_id": "gpunet_search.searcher",
    "FUNCTIONS": "gpunet_search.synthetic",
    "GridFunction": "gpunet_search.synthetic",
    "TierProblem": "gpunet_search.synthetic",
    # At the merge with issue 10: "gpunet_search.evaluate" (same API), and median_rule.py goes.
    "MedianStoppingRule": "gpunet_search.distributed.median_rule",
}
EVALUATE_MODULE = "gpunet_search.evaluate"  # issue 10: proxy_config(), evaluate()


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
            raise EnvironmentProblem(f"the training evaluator ({EVALUATE_MODULE}) is not installed; use --evaluator synthetic:NAME") from None
        raise


__all__ = ["EVALUATE_MODULE", "WHERE", "evaluate_module", *WHERE]
