"""Selection: the most accurate model within a latency budget, from measured rows only.

Hub GPUs use the cards' rows; ``gpu="local"`` uses one group of comparable rows from the local
latency table (:mod:`gpunet_hub.hub.local_table`), never rows of two groups together.
"""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass

from .._validate import integer, number
from ..errors import InputError, NoModelWithinBudgetError, UnknownGPUError, did_you_mean
from .cards import LatencyRow
from .catalog import Catalog, HubArg, catalog
from .gpus import LOCAL


@dataclass(frozen=True)
class Candidate:
    """A model with the latency row selection used for it.

    Attributes:
        name: Canonical model name.
        top1: Its top-1 accuracy.
        row: The latency row (on a hub GPU, or measured locally).
        local_group: For local rows, the name of their :class:`~gpunet_hub.hub.local_table.LocalGroup`.
    """

    name: str
    top1: float
    row: LatencyRow
    local_group: str | None = None


def candidates(
    gpu: str,
    *,
    batch_size: int = 1,
    precision: str | None = None,
    local_group: str | None = None,
    hub: HubArg = None,
) -> list[Candidate]:
    """All models with a latency row on ``gpu``, fastest row per model.

    Args:
        gpu: A GPU name or alias, a device label of the hub's rows, or ``local`` for this
            machine's measurements.
        batch_size: Batch size of the rows to use.
        precision: Precision of the rows; defaults to ``fp16`` where the device has fp16 rows, else
            to the one precision it was measured at, and to whatever was measured for ``local``.
        local_group: With ``gpu="local"``: the group of rows to use (default: the newest group at
            this batch and precision); see :func:`gpunet_hub.hub.local_table.groups`.
        hub: The hub to read (see :func:`gpunet_hub.hub.catalog.catalog`); default the packaged
            hub plus ``GPUNET_HUB_PATH``.

    Raises:
        UnknownGPUError: When the GPU is unknown or has no rows.
        InputError: For ``local_group`` with a hub GPU, an unknown group, or a malformed argument.
    """
    cat = catalog(hub)
    key = cat.resolve_device(gpu)
    batch_size = integer(batch_size, "batch_size", minimum=1)
    if precision is not None and not isinstance(precision, str):
        raise InputError(f"precision must be a name such as 'fp16', got {precision!r}", params=("precision",))
    if local_group is not None and not isinstance(local_group, str):
        raise InputError(f"local_group must be a group name, got {local_group!r}", params=("local_group",))
    known = cat.cards
    if key == LOCAL:
        from .local_table import find_group, local_latency_rows

        group = find_group(local_group, batch_size=batch_size, precision=precision)
        if group is None:
            return []
        local = local_latency_rows(batch_size=batch_size, precision=precision, group=group.name)
        return [Candidate(name, known[name].top1, row, group.name) for name, row in local.items() if name in known]
    if local_group is not None:
        raise InputError(
            f"local_group selects among local rows; it needs gpu='local', not gpu={gpu!r}",
            params=("local_group", "gpu"),
        )
    if key not in cat.devices:
        where = "the hub" if hub is None else cat.label
        raise UnknownGPUError(
            f"{where} has no latency rows for {gpu!r}; devices with rows: {', '.join(cat.devices)}", params=("gpu",)
        )
    precision = _check_precision(cat, key, precision)
    found = []
    for card in known.values():
        rows = card.latency_rows(key, batch_size=batch_size, precision=precision)
        if rows:
            found.append(Candidate(card.name, card.top1, min(rows, key=lambda r: r.ms)))
    return found


def _check_precision(cat: Catalog, key: str, precision: str | None) -> str:
    """The precision to select at on device ``key``: ``precision``, refused when the hub has no rows
    at it (naming the ones it has), or by default ``fp16``, else the one precision measured there."""
    measured = sorted({row.precision for card in cat.cards.values() for row in card.latency if row.gpu == key})
    if precision is None:
        if "fp16" in measured or len(measured) != 1:
            return "fp16"
        return measured[0]
    if precision not in measured:
        raise InputError(
            f"precision {precision!r} has no latency rows on {key}; measured precisions: {', '.join(measured)}."
            + did_you_mean(precision, measured),
            params=("precision",),
        )
    return precision


def _where(gpu: str, pool: list[Candidate]) -> str:
    if gpu.strip().lower() != LOCAL:
        return gpu
    group = pool[0].local_group if pool else None
    return f"this machine (local group {group!r}, {pool[0].row.gpu})" if group else "this machine"


def _budget(value: object) -> float:
    """A latency budget: a positive, finite number of milliseconds (``bool`` and strings refused)."""
    if value is None:
        raise InputError(
            "max_latency_ms must be a positive number of milliseconds, got None", params=("max_latency_ms",)
        )
    return number(value, "max_latency_ms", minimum=0.0, exclusive_minimum=True)


def select(
    gpu: str,
    max_latency_ms: float,
    *,
    batch_size: int = 1,
    precision: str | None = None,
    local_group: str | None = None,
    hub: HubArg = None,
) -> str:
    """Picks the most accurate model whose measured latency on ``gpu`` is within the budget.

    Selection uses measured rows, never tier names. Ties on top-1 go to the faster model, then the
    name. No row is extrapolated across GPUs, and local rows are ranked only within one group.

    Args:
        gpu: GPU name or alias (``GV100``, ``V100``, ``NVIDIA A100-SXM4-80GB``) or ``local``.
        max_latency_ms: The budget in milliseconds (inclusive).
        batch_size: Batch size of the rows to compare.
        precision: Row precision (``fp16`` by default for hub GPUs).
        local_group: With ``gpu="local"``: the group of rows to rank (default: the newest).
        hub: A hub folder or ``"hf-hub:org/repo"`` to select from instead of the packaged hub
            (plus ``GPUNET_HUB_PATH``); a hub measured on a CPU is selected by that CPU's label.

    Returns:
        The canonical model name.

    Raises:
        NoModelWithinBudgetError: Listing the fastest models and the smallest budget that works.
        UnknownGPUError: When the GPU is unknown or has no rows.
    """
    max_latency_ms = _budget(max_latency_ms)
    pool = candidates(gpu, batch_size=batch_size, precision=precision, local_group=local_group, hub=hub)
    if not pool:
        if gpu.strip().lower() == LOCAL:
            where = "this machine (run `gpunet-hub bench --all --save` first)"
        else:
            where = repr(gpu)
        raise NoModelWithinBudgetError(f"no latency rows at batch {batch_size} for {where}", params=("batch_size",))
    fitting = [c for c in pool if c.row.ms <= max_latency_ms]
    if not fitting:
        fastest = sorted(pool, key=lambda c: (c.row.ms, c.name))[:3]
        listed = ", ".join(f"{c.name} {c.row.ms:g} ms" for c in fastest)
        raise NoModelWithinBudgetError(
            f"no model runs within {max_latency_ms:g} ms on {_where(gpu, pool)} (batch {batch_size}). Fastest: {listed}. "
            f"The smallest budget that selects a model is {fastest[0].row.ms:g} ms.",
            params=("max_latency_ms",),
        )
    best = min(fitting, key=lambda c: (-c.top1, c.row.ms, c.name))
    return best.name


def list_models(
    filter: str = "",  # noqa: A002 - timm's name for it
    *,
    gpu: str | None = None,
    max_latency_ms: float | None = None,
    local_group: str | None = None,
    hub: HubArg = None,
) -> list[str]:
    """Lists model names, timm style.

    Args:
        filter: A wildcard pattern (``gpunet_d*``); empty for all.
        gpu: Keep models with a latency row on this GPU (or ``local``).
        max_latency_ms: With ``gpu``: keep models within this budget.
        local_group: With ``gpu="local"``: the group of rows to use (default: the newest).
        hub: A hub folder or ``"hf-hub:org/repo"`` to list instead of the packaged hub (plus
            ``GPUNET_HUB_PATH``).

    Returns:
        Sorted canonical names.
    """
    if not isinstance(filter, str):
        raise InputError(f"filter must be a wildcard pattern such as 'gpunet_d*', got {filter!r}", params=("filter",))
    if max_latency_ms is not None and gpu is None:
        raise InputError(
            "max_latency_ms needs a gpu to measure against, e.g. gpu='GV100'", params=("max_latency_ms", "gpu")
        )
    limit = float("inf") if max_latency_ms is None else _budget(max_latency_ms)
    names = sorted(catalog(hub).cards)
    if filter:
        names = [n for n in names if fnmatch.fnmatch(n, filter.lower())]
    if gpu is not None:
        pool = {c.name: c for c in candidates(gpu, local_group=local_group, hub=hub)}
        names = [n for n in names if n in pool and pool[n].row.ms <= limit]
    return names
