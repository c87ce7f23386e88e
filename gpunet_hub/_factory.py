"""Model creation, timm style: :func:`build` (an architecture), :func:`create_model` (a hub name) and
:func:`load` (a name, or the best model for a GPU and budget, ready to run).

These import torch; everything they look up comes from the torch-free :mod:`gpunet_hub.hub`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from .errors import InputError
from .hub.index import model_card
from .hub.select import select

if TYPE_CHECKING:
    from torch import nn

    from .arch import ArchSpec
    from .builder import GPUNet


def build(
    encoding_or_archspec: Sequence[int] | ArchSpec | Sequence[Mapping[str, Any]] | str | Path,
    *,
    space: str = "release",
    num_classes: int | None = None,
    **kwargs: Any,
) -> GPUNet:
    """Builds a network from a 41-integer encoding, an ArchSpec, a release-format list or a JSON path.

    Args:
        encoding_or_archspec: The architecture.
        space: Search space used to decode an encoding.
        num_classes: Classifier width override.
        **kwargs: Passed to :func:`gpunet_hub.builder.build_model` (``drop_rate``, ``drop_path_rate``).

    Returns:
        The randomly initialised network.
    """
    from .arch import coerce
    from .builder import build_model
    from .space import decode

    value = encoding_or_archspec
    if (
        isinstance(value, Sequence)
        and not isinstance(value, (str, bytes))
        and value
        and not isinstance(value[0], Mapping)
    ):
        spec = decode([int(v) for v in cast("Sequence[int]", value)], space)
    else:
        spec = coerce(value)  # type: ignore[arg-type]
    return build_model(spec, num_classes=num_classes, **kwargs)


def create_model(
    name: str, *, weights: str | Path | None = None, num_classes: int | None = None, **kwargs: Any
) -> GPUNet:
    """Creates a hub model by name, timm style (train mode, like ``timm.create_model``).

    Args:
        name: Model name or alias.
        weights: ``None`` (random init), ``"default"``, ``"hf-hub:org/repo"`` or a local path.
        num_classes: Classifier width; a pretrained classifier of another width is re-initialised.
        **kwargs: ``drop_rate`` and ``drop_path_rate``.
    """
    from .builder import build_model

    card = model_card(name)
    model = build_model(card.arch, pretrained_cfg=card.pretrained_cfg, **kwargs)
    if weights is not None:
        from .weights.sources import load_weights

        load_weights(model, card, weights)
    if num_classes is not None and num_classes != model.num_classes:
        model.reset_classifier(num_classes)
    return model


def load(
    name: str | None = None,
    *,
    gpu: str | None = None,
    max_latency_ms: float | None = None,
    weights: str | Path | None = "default",
    num_classes: int | None = None,
    device: Any = None,
    batch_size: int = 1,
    local_group: str | None = None,
) -> nn.Module:
    """Returns a ready-to-run model (eval mode): by name, or the best one for a GPU and budget.

    Args:
        name: Model name or alias; omit it to select by ``gpu`` and ``max_latency_ms``.
        gpu: GPU to select for (``GV100``, ``A100``, a device name, or ``local``).
        max_latency_ms: Latency budget in milliseconds (inclusive).
        weights: ``"default"`` (the card's source, downloaded and cached), ``None`` (random init,
            no I/O), ``"hf-hub:org/repo"``, or a local file or folder.
        num_classes: Classifier width; a pretrained classifier of another width is re-initialised.
        device: Where to put the model.
        batch_size: Batch size whose latency rows are used for selection.
        local_group: With ``gpu="local"``: the group of local rows to select from (default: the
            newest); see :func:`gpunet_hub.hub.local_table.groups`.

    Examples:
        >>> model = gpunet_hub.load(gpu="GV100", max_latency_ms=1.0, weights=None)  # GPUNet-P1
    """
    if name is None:
        if gpu is None or max_latency_ms is None:
            raise InputError(
                "load() needs a model name, or both gpu= and max_latency_ms= to select one",
                params=("name", "gpu", "max_latency_ms"),
            )
        name = select(gpu, max_latency_ms, batch_size=batch_size, local_group=local_group)
    elif gpu is not None or max_latency_ms is not None:
        raise InputError(
            "pass either a model name or gpu= and max_latency_ms=, not both", params=("name", "gpu", "max_latency_ms")
        )
    model = create_model(name, weights=weights, num_classes=num_classes)
    if device is not None:
        model = model.to(device)
    return model.eval()
