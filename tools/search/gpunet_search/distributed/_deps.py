"""The rest of gpunet_search as the distributed search sees it: the one place to repoint when modules move."""

from __future__ import annotations

from types import ModuleType

from ..fingerprint import file_sha256, short_hash
from ..grid import LevelGrid
from ..sampling import TIER_FORMAT, SampleSet, load_samples
from ..searcher import LamctsBoSearcher, SearcherConfig, vector_id
from ..synthetic import FUNCTIONS, GridFunction, TierProblem
from .median_rule import MedianStoppingRule  # at the merge: from ..evaluate import MedianStoppingRule

EVALUATE_MODULE = "gpunet_search.evaluate"  # issue 10: evaluate(), EvalConfig, Result, the median rule


def evaluate_module() -> ModuleType:
    """The training evaluator's package, imported on first use (it pulls in torch and timm).

    Raises:
        EnvironmentProblem: When this installation has no training evaluator.
    """
    import importlib

    from gpunet_hub.errors import EnvironmentProblem

    try:
        return importlib.import_module(EVALUATE_MODULE)
    except ModuleNotFoundError as exc:
        if exc.name and EVALUATE_MODULE.startswith(exc.name):
            raise EnvironmentProblem(f"the training evaluator ({EVALUATE_MODULE}) is not installed; use --evaluator synthetic:NAME") from None
        raise


__all__ = [
    "EVALUATE_MODULE", "FUNCTIONS", "GridFunction", "LamctsBoSearcher", "LevelGrid", "MedianStoppingRule", "SampleSet", "SearcherConfig",
    "TIER_FORMAT", "TierProblem", "evaluate_module", "file_sha256", "load_samples", "short_hash", "vector_id",
]
