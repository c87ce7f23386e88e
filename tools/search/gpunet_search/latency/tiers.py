"""Latency tiers: binning networks by calibrated estimate or measured latency (paper, section 3.2).

Tiers are given either as edges (``0.5,0.65,0.85`` gives ``[0.5, 0.65)`` and ``[0.65, 0.85)``) or
as centres with a width (``0.5,0.65,0.85`` with ``10%`` gives ``0.5 +/- 0.05`` and so on; a width
without ``%`` is in ms). Centre tiers may overlap; a network then belongs to each.

Each tier is written as an ``.npz`` in the sample-file layout (``encodings`` + JSON ``meta``, format
``gpunet-search-tier/1``) plus ``estimate_ms``, ``sum_ms``, ``rows`` (indices into the sample
file) and, when the members were drawn from whole-network measurements, ``measured_ms``, so a tier
file can be fed back to ``search lut build`` or to the searcher; ``meta`` carries the fingerprints
of every input (space, sample file, LUT id and revision, device, calibration) and how the members
were drawn (``membership``).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from itertools import pairwise
from pathlib import Path
from typing import Any

import numpy as np

from gpunet_hub._io import atomic_path, atomic_write_text
from gpunet_hub.errors import InputError

from .sampling import TIER_FORMAT, SampleSet


@dataclass(frozen=True)
class Tier:
    """A latency interval ``[lo, hi)`` in ms.

    Attributes:
        lo: Lower bound (inclusive).
        hi: Upper bound (exclusive).
        name: Label, e.g. ``0.65ms`` for a centre tier or ``0.5-0.65ms`` for an edge tier.
    """

    lo: float
    hi: float
    name: str

    @property
    def filename(self) -> str:
        return f"tier_{self.name}.npz"


def _numbers(text: str, what: str) -> list[float]:
    try:
        values = [float(v) for v in text.replace(" ", "").split(",") if v]
    except ValueError:
        raise InputError(f"{what} must be comma-separated numbers in ms, got {text!r}") from None
    if not values or any(v < 0 or not np.isfinite(v) for v in values):
        raise InputError(f"{what} must be non-negative numbers in ms, got {text!r}")
    return values


def parse_tiers(*, centres: str | None = None, width: str = "10%", edges: str | None = None) -> list[Tier]:
    """Tiers from ``centres`` (+ ``width``) or from ``edges``, each a comma-separated string of ms.

    Raises:
        InputError: Both or neither given, unsorted edges, a bad width.
    """
    for name, text in (("centres", centres), ("width", width), ("edges", edges)):
        if text is not None and not isinstance(text, str):
            raise InputError(f"{name} must be a comma-separated string of ms, got {text!r}", params=(name,))
    if (centres is None) == (edges is None):
        raise InputError(
            'give tiers either as centres (centres="0.5,0.65", width="10%") or as edges (edges="0.5,0.65,0.85")'
        )
    if edges is not None:
        bounds = _numbers(edges, "edges")
        if len(bounds) < 2 or any(b <= a for a, b in pairwise(bounds)):
            raise InputError(f"edges needs at least two strictly increasing values, got {edges!r}")
        return [Tier(a, b, f"{a:g}-{b:g}ms") for a, b in pairwise(bounds)]
    points = _numbers(centres or "", "centres")
    relative = width.strip().endswith("%")
    try:
        amount = float(width.strip().rstrip("%"))
    except ValueError:
        raise InputError(f"width must be like 10% or 0.05 (ms), got {width!r}", params=("width",)) from None
    if not np.isfinite(amount) or amount <= 0 or (relative and amount >= 100):
        raise InputError(
            f"width must be a positive finite number of ms, or a percentage below 100%, got {width!r}",
            params=("width",),
        )
    tiers = []
    for c in points:
        half = c * amount / 100 if relative else amount
        tiers.append(Tier(c - half, c + half, f"{c:g}ms"))
    return tiers


def assign(latency: np.ndarray, tiers: list[Tier], guard: float = 0.0) -> list[np.ndarray]:
    """Row indices of the latencies that fall in each tier (NaN falls in none).

    Args:
        latency: Estimated or measured latency (ms) per row.
        tiers: The tiers.
        guard: A row stays in a tier only if it would still be inside with its latency off by this
            fraction either way (``0``: the plain interval).
    """
    latency = np.asarray(latency, dtype=np.float64)
    return [np.flatnonzero((latency * (1 - guard) >= t.lo) & (latency * (1 + guard) < t.hi)) for t in tiers]


def member_row(encodings: np.ndarray, vector: list[int] | np.ndarray) -> int | None:
    """The row of a tier file's ``encodings`` that holds ``vector`` (``None`` if it is not a member)."""
    match = np.flatnonzero((np.asarray(encodings) == np.asarray(vector)).all(axis=1))
    return int(match[0]) if match.size else None


def write_tiers(
    out_dir: str | Path,
    tiers: list[Tier],
    samples: SampleSet,
    estimates: np.ndarray,
    sums: np.ndarray,
    meta: dict[str, Any],
    *,
    measured: np.ndarray | None = None,
    guard: float = 0.0,
) -> list[dict[str, Any]]:
    """Writes one file per tier and a ``tiers.json`` summary (all atomically).

    Args:
        out_dir: Folder for the files.
        tiers: The tiers.
        samples: The networks (their rows are the estimates' rows).
        estimates: Calibrated estimates (ms), one per row.
        sums: Raw LUT sums (ms), one per row.
        meta: Fingerprints of the inputs (stored in every file).
        measured: Whole-network measurements (ms) per row, NaN where not measured. When given, a
            tier's members are the measured networks inside it (see ``guard``), not the estimated
            ones, and the files also hold ``measured_ms``.
        guard: With ``measured``: the relative margin a member keeps from both bounds (:func:`assign`).

    Returns:
        One summary dict per tier: name, bounds, count, file.
    """
    out_dir = Path(out_dir)
    members = assign(estimates, tiers) if measured is None else assign(measured, tiers, guard)
    membership = {"by": "estimate"} if measured is None else {"by": "measured", "guard": guard}
    summary = []
    for tier, rows in zip(tiers, members, strict=True):
        header = {
            "format": TIER_FORMAT,
            "space": samples.space,
            "space_fingerprint": samples.space_fingerprint,
            "tier": {"name": tier.name, "lo_ms": tier.lo, "hi_ms": tier.hi},
            "membership": membership,
            **meta,
        }
        arrays = {"measured_ms": measured[rows]} if measured is not None else {}
        path = out_dir / tier.filename
        with atomic_path(path) as tmp, open(tmp, "wb") as handle:
            np.savez(
                handle,
                encodings=samples.encodings[rows],
                estimate_ms=estimates[rows],
                sum_ms=sums[rows],
                rows=rows.astype(np.int64),
                meta=np.array(json.dumps(header)),
                **arrays,
            )
        summary.append({"name": tier.name, "lo_ms": tier.lo, "hi_ms": tier.hi, "count": len(rows), "file": str(path)})
    finite = np.isfinite(estimates)
    report = {
        "format": "gpunet-search-tiers/1",
        "tiers": summary,
        "networks": len(estimates),
        "membership": membership,
        "estimate_ms": {
            "min": float(np.min(estimates[finite])) if finite.any() else None,
            "median": float(np.median(estimates[finite])) if finite.any() else None,
            "max": float(np.max(estimates[finite])) if finite.any() else None,
        },
        **meta,
    }
    atomic_write_text(out_dir / "tiers.json", json.dumps(report, indent=2) + "\n")
    return summary
