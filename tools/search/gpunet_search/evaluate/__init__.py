"""Stage 3a of the search pipeline: train a candidate network and return its accuracy.

``evaluate(network, config)`` trains a 41-integer encoding or an ArchSpec with the paper's recipe
(supplement Table 5, from timm's factories), at proxy scale on a CPU (:func:`proxy_config`, the
embedded ``digits`` data) or at full scale on a GPU (``EvalConfig()``), checkpointing every epoch
and stopping early when a policy (e.g. :class:`MedianStoppingRule`) says so.
"""

from .config import EvalConfig, proxy_config
from .data import DataSplits, DigitsDataset, load_data
from .evaluator import EpochReport, evaluate
from .network import proxy_resolution, resolve_network, scale_width
from .result import EpochRecord, Result
from .stopping import MedianStoppingRule, StopPolicy

__all__ = [
    "DataSplits",
    "DigitsDataset",
    "EpochRecord",
    "EpochReport",
    "EvalConfig",
    "MedianStoppingRule",
    "Result",
    "StopPolicy",
    "evaluate",
    "load_data",
    "proxy_config",
    "proxy_resolution",
    "resolve_network",
    "scale_width",
]
