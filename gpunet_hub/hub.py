"""The hub: model cards by name, selection by GPU and measured latency, and model creation.

Only :func:`load`, :func:`create_model` and :func:`build` import torch; listing, cards and
selection read the package's JSON index.
"""

from __future__ import annotations

import fnmatch
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .card import LatencyRow, ModelCard
from .errors import InputError, NoModelWithinBudgetError, UnknownGPUError, UnknownModelError, did_you_mean
from .gpus import LOCAL, known_gpus, resolve_gpu

if TYPE_CHECKING:
    from torch import nn

    from .arch import ArchSpec
    from .builder import GPUNet


@lru_cache(maxsize=1)
def _cards() -> dict[str, ModelCard]:
    index = json.loads(resources.files("gpunet_hub").joinpath("_data/index.json").read_text())
    return {name: ModelCard.from_dict(entry) for name, entry in index["models"].items()}


def _aliases() -> dict[str, str]:
    table = {}
    for card in _cards().values():
        for alias in (card.name, *card.aliases):
            table[alias.lower()] = card.name
    return table


def resolve_name(name: str) -> str:
    """Maps a name or alias (``GPUNet-0``, ``GV100/0.65ms``, ``gpunet_0``) to the canonical name.

    Raises:
        UnknownModelError: Listing the models and close matches.
    """
    canonical = _aliases().get(name.strip().lower())
    if canonical is None:
        names = sorted(_cards())
        raise UnknownModelError(
            f"unknown model {name!r}; available: {', '.join(names)} (aliases such as 'GPUNet-0' and "
            f"'GV100/0.65ms' work too)." + did_you_mean(name, list(_aliases()))
        )
    return canonical


def model_card(name: str) -> ModelCard:
    """Returns the typed card of a model (by name or alias)."""
    return _cards()[resolve_name(name)]


def list_gpus() -> list[str]:
    """Hub GPU keys that have measured latency rows (``local`` is always accepted too)."""
    seen = {row.gpu for card in _cards().values() for row in card.latency}
    return [key for key in known_gpus() if key in seen]


@dataclass(frozen=True)
class Candidate:
    """A model with the latency row selection used for it.

    Attributes:
        name: Canonical model name.
        top1: Its top-1 accuracy.
        row: The latency row (on a hub GPU, or measured locally).
    """

    name: str
    top1: float
    row: LatencyRow


def candidates(gpu: str, *, batch_size: int = 1, precision: str | None = None) -> list[Candidate]:
    """All models with a latency row on ``gpu``, fastest row per model.

    Args:
        gpu: A GPU name or alias, or ``local`` for this machine's measurements.
        batch_size: Batch size of the rows to use.
        precision: Precision of the rows; defaults to ``fp16`` for hub GPUs and to whatever was
            measured for ``local``.

    Raises:
        UnknownGPUError: When the GPU is unknown or has no rows.
    """
    key = resolve_gpu(gpu)
    cards = _cards()
    if key == LOCAL:
        from .local_table import local_latency_rows

        rows = local_latency_rows(batch_size=batch_size, precision=precision)
        return [Candidate(name, cards[name].top1, row) for name, row in rows.items() if name in cards]
    if key not in list_gpus():
        raise UnknownGPUError(f"the hub has no latency rows for {gpu!r}; GPUs with rows: {', '.join(list_gpus())}")
    found = []
    for card in cards.values():
        rows = card.latency_rows(key, batch_size=batch_size, precision=precision or "fp16")
        if rows:
            found.append(Candidate(card.name, card.top1, min(rows, key=lambda r: r.ms)))
    return found


def select(gpu: str, max_latency_ms: float, *, batch_size: int = 1, precision: str | None = None) -> str:
    """Picks the most accurate model whose measured latency on ``gpu`` is within the budget.

    Selection uses measured rows, never tier names. Ties on top-1 go to the faster model, then the
    name. No row is extrapolated across GPUs.

    Args:
        gpu: GPU name or alias (``GV100``, ``V100``, ``NVIDIA A100-SXM4-80GB``) or ``local``.
        max_latency_ms: The budget in milliseconds (inclusive).
        batch_size: Batch size of the rows to compare.
        precision: Row precision (``fp16`` by default for hub GPUs).

    Returns:
        The canonical model name.

    Raises:
        NoModelWithinBudgetError: Listing the fastest models and the smallest budget that works.
        UnknownGPUError: When the GPU is unknown or has no rows.
    """
    if max_latency_ms is None or not max_latency_ms > 0:
        raise InputError(f"max_latency_ms must be a positive number of milliseconds, got {max_latency_ms!r}")
    pool = candidates(gpu, batch_size=batch_size, precision=precision)
    if not pool:
        where = "this machine (run `gpunet-hub bench --all --save` first)" if resolve_gpu(gpu) == LOCAL else repr(gpu)
        raise NoModelWithinBudgetError(f"no latency rows at batch {batch_size} for {where}")
    fitting = [c for c in pool if c.row.ms <= max_latency_ms]
    if not fitting:
        fastest = sorted(pool, key=lambda c: (c.row.ms, c.name))[:3]
        listed = ", ".join(f"{c.name} {c.row.ms:g} ms" for c in fastest)
        raise NoModelWithinBudgetError(
            f"no model runs within {max_latency_ms:g} ms on {gpu} (batch {batch_size}). Fastest: {listed}. "
            f"The smallest budget that selects a model is {fastest[0].row.ms:g} ms."
        )
    best = min(fitting, key=lambda c: (-c.top1, c.row.ms, c.name))
    return best.name


def list_models(filter: str = "", *, gpu: str | None = None, max_latency_ms: float | None = None) -> list[str]:  # noqa: A002
    """Lists model names, timm style.

    Args:
        filter: A wildcard pattern (``gpunet_d*``); empty for all.
        gpu: Keep models with a latency row on this GPU (or ``local``).
        max_latency_ms: With ``gpu``: keep models within this budget.

    Returns:
        Sorted canonical names.
    """
    names = sorted(_cards())
    if filter:
        names = [n for n in names if fnmatch.fnmatch(n, filter.lower())]
    if max_latency_ms is not None and gpu is None:
        raise InputError("max_latency_ms needs a gpu to measure against, e.g. gpu='GV100'")
    if gpu is not None:
        pool = {c.name: c for c in candidates(gpu)}
        limit = float("inf") if max_latency_ms is None else max_latency_ms
        names = [n for n in names if n in pool and pool[n].row.ms <= limit]
    return names


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
    if isinstance(value, Sequence) and not isinstance(value, (str, bytes)) and value and not isinstance(value[0], Mapping):
        spec = decode(list(value), space)
    else:
        spec = coerce(value)  # type: ignore[arg-type]
    return build_model(spec, num_classes=num_classes, **kwargs)


def create_model(name: str, *, weights: str | Path | None = None, num_classes: int | None = None, **kwargs: Any) -> GPUNet:
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
        from .weights import load_weights

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

    Examples:
        >>> model = gpunet_hub.load(gpu="GV100", max_latency_ms=1.0, weights=None)  # GPUNet-P1
    """
    if name is None:
        if gpu is None or max_latency_ms is None:
            raise InputError("load() needs a model name, or both gpu= and max_latency_ms= to select one")
        name = select(gpu, max_latency_ms, batch_size=batch_size)
    elif gpu is not None or max_latency_ms is not None:
        raise InputError("pass either a model name or gpu= and max_latency_ms=, not both")
    model = create_model(name, weights=weights, num_classes=num_classes)
    if device is not None:
        model = model.to(device)
    return model.eval()
