"""gpunet-hub: GPU-optimised image classifiers (GPUNet, GPUNet-D) by GPU type and measured latency.

Importing this package does not import torch; building a model does.

Examples:
    >>> import gpunet_hub
    >>> gpunet_hub.select(gpu="GV100", max_latency_ms=1.0)
    'gpunet_p1'
    >>> model = gpunet_hub.load(gpu="GV100", max_latency_ms=1.0, weights=None)
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ._factory import build, create_model, load
from .arch import ArchSpec, LayerSpec
from .errors import (
    ArchSpecError,
    CheckpointError,
    EncodingError,
    EnvironmentProblem,
    GPUNetHubError,
    InputError,
    MissingDependencyError,
    NoModelWithinBudgetError,
    UnknownGPUError,
    UnknownModelError,
    WeightsUnavailableError,
)
from .hub.cards import LatencyRow, ModelCard
from .hub.index import list_gpus, model_card
from .hub.select import list_models, select
from .space import decode, encode

if TYPE_CHECKING:
    from pathlib import Path

__version__ = "0.1.0"


def export_onnx(model_or_name: Any, path: str | Path, **kwargs: Any) -> Path:
    """Exports a model (or hub name) to ONNX; see :func:`gpunet_hub.export.export_onnx`."""
    from .export import export_onnx as _export_onnx

    return _export_onnx(model_or_name, path, **kwargs)


__all__ = [
    "ArchSpec",
    "ArchSpecError",
    "CheckpointError",
    "EncodingError",
    "EnvironmentProblem",
    "GPUNetHubError",
    "InputError",
    "LatencyRow",
    "LayerSpec",
    "MissingDependencyError",
    "ModelCard",
    "NoModelWithinBudgetError",
    "UnknownGPUError",
    "UnknownModelError",
    "WeightsUnavailableError",
    "__version__",
    "build",
    "create_model",
    "decode",
    "encode",
    "export_onnx",
    "list_gpus",
    "list_models",
    "load",
    "model_card",
    "select",
]
