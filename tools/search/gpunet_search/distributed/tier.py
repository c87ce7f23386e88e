"""The tier a distributed search runs in: its networks, their LUT estimates, and network ids.

A tier file (``gpunet-hub search tiers``) holds the Sobol networks whose calibrated LUT estimate lies
in one latency interval. The search proposes only members of that file, so every trial has a LUT
estimate and every proposal is inside the tier by construction.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from gpunet_hub._io import json_sha256
from gpunet_hub.errors import InputError

from ._deps import TIER_FORMAT, LevelGrid, load_samples


def arch_hash(vector: Sequence[int], space: str) -> str:
    """A network's id: 12 hex digits of the SHA-256 of its space and 41 digits (trial folder names)."""
    return json_sha256({"space": space, "vector": [int(v) for v in vector]}, 12)


class TierMembership:
    """Picklable feasibility predicate: ``f(vectors (N, 41)) -> bool (N,)``, True for members of the tier."""

    def __init__(self, space: str, vectors: np.ndarray) -> None:
        self.space = space
        grid = LevelGrid(space)
        self._keys = frozenset(grid.keys(grid.to_levels(vectors)))

    def __call__(self, vectors: np.ndarray) -> np.ndarray:
        grid = LevelGrid(self.space)
        array = np.atleast_2d(np.asarray(vectors, dtype=np.int64))
        if len(array) == 0:
            return np.zeros(0, dtype=bool)
        return np.array([key in self._keys for key in grid.keys(grid.to_levels(array))], dtype=bool)


@dataclass(frozen=True)
class TierPool:
    """The networks of one tier file.

    Attributes:
        path: The file (absolute).
        name: The tier's name, e.g. ``0.65ms``.
        lo_ms: Lower bound of the tier.
        hi_ms: Upper bound of the tier.
        space: Search space name of the encodings.
        vectors: ``(N, 41)`` encodings, in the file's (Sobol) order.
        estimate_ms: ``(N,)`` LUT estimates of the networks.
        estimate_label: What the estimate is (calibrated or raw LUT sum).
        sha256: Hash of the file (guards a resumed search against a changed tier).
    """

    path: Path
    name: str
    lo_ms: float
    hi_ms: float
    space: str
    vectors: np.ndarray
    estimate_ms: np.ndarray
    estimate_label: str
    sha256: str

    def __len__(self) -> int:
        return len(self.vectors)

    def estimates(self) -> dict[str, float]:
        """LUT estimate (ms) by :func:`arch_hash`."""
        return {arch_hash(v, self.space): float(ms) for v, ms in zip(self.vectors, self.estimate_ms, strict=True)}

    def membership(self) -> TierMembership:
        """The feasibility predicate of the searcher: "is a network of this tier"."""
        return TierMembership(self.space, self.vectors)


def load_tier(path: str | Path) -> TierPool:
    """Reads a tier file written by ``gpunet-hub search tiers``.

    Raises:
        InputError: A missing or unreadable file, a sample file that is not a tier, an empty tier.
    """
    path = Path(path).expanduser().resolve()
    samples = load_samples(path)
    if samples.meta.get("file_format") != TIER_FORMAT:
        raise InputError(
            f"{path} is a sample file, not a tier file; make tiers with `gpunet-hub search tiers --samples {path.name} ...`"
        )
    with np.load(path, allow_pickle=False) as data:
        estimates = np.asarray(data["estimate_ms"], dtype=np.float64)
        header = json.loads(str(data["meta"]))
    if len(samples) == 0:
        raise InputError(f"tier file {path} holds no networks; choose a tier with members (see tiers.json beside it)")
    tier = header.get("tier") or {}
    return TierPool(
        path=path,
        name=str(tier.get("name") or path.stem.removeprefix("tier_")),
        lo_ms=float(tier.get("lo_ms", float("nan"))),
        hi_ms=float(tier.get("hi_ms", float("nan"))),
        space=samples.space,
        vectors=np.asarray(samples.encodings, dtype=np.int64),
        estimate_ms=estimates,
        estimate_label=str(header.get("estimate", "LUT estimate")),
        sha256=str(samples.sha256),
    )
