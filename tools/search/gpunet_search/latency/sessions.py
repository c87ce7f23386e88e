"""Measuring sessions: align networks measured in earlier runs to the level of the current one.

A machine's latencies drift between measuring runs by a few percent as a whole (clocks, thermal state,
what else the host runs), while a retest inside one run agrees to about 1-2 %. A predictor pooled over
several runs without care learns their average level and misses the current one by that drift. So
before a fit, each earlier run's measured latencies are divided by that run's level relative to the
current run's networks (one factor per run, found by a pooled ``ridge`` fit, iterated), and the
predictor is fitted on the aligned targets: the earlier runs give it the shape of the latency surface,
the current run its level.

A run is the worker that last measured a network (the LUT's ``worker``: host, process and a token per
measuring call), so the networks of one ``calibrate`` form one run.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from gpunet_hub.errors import InputError

from .features import NetworkFeatures
from .predictor import make_predictor
from .predictor_store import StoredNetworks

# The median ratio of 8 networks measured to ~2 % each is good to ~1 %, under the drift it corrects.
MIN_SESSION_NETWORKS = 8
_ITERATIONS = 3  # refits; further ones move the levels by far less than the drift they correct
_ALIGNER = "ridge"


@dataclass(frozen=True)
class SessionAlignment:
    """Per-row divisors that bring earlier runs to the current run's level.

    Attributes:
        divisors: ``(N,)``; 1.0 for the current run and for runs too small to align.
        levels: Each aligned earlier run's level relative to the current run (its divisor).
        unaligned: Rows of earlier runs left as measured (their run had too few networks).
    """

    divisors: np.ndarray
    levels: dict[str, float]
    unaligned: int

    def summary(self) -> dict[str, object]:
        """What a report records of the alignment."""
        return {
            "reference": "the current run's networks",
            "levels": {k: round(v, 4) for k, v in self.levels.items()},
            "unaligned_rows": self.unaligned,
            "min_networks": MIN_SESSION_NETWORKS,
        }


def align_sessions(
    features: NetworkFeatures, measured: np.ndarray, sessions: Sequence[str], current: np.ndarray
) -> SessionAlignment:
    """The factor of each earlier run's level over the current run's, as per-row divisors.

    Args:
        features: Features of every training network (current and earlier runs).
        measured: Their measured latencies (ms).
        sessions: The run of each row (ignored where ``current`` is set).
        current: Boolean mask of the current run's rows (the reference level).

    Returns:
        The divisors (``measured / divisors`` is at the current level) and each run's level. Without at least
        :data:`MIN_SESSION_NETWORKS` current rows, or without an earlier run that large, every divisor is 1.

    Raises:
        InputError: Arrays of different lengths.
    """
    measured = np.asarray(measured, dtype=np.float64)
    current = np.asarray(current, dtype=bool)
    labels = np.asarray([str(s) for s in sessions], dtype=object)
    if not len(measured) == len(current) == len(labels) == len(features):
        raise InputError(
            f"need one measured latency, run and current flag per network ({len(features)}), got "
            f"{len(measured)}, {len(labels)} and {len(current)}"
        )
    earlier = [s for s in dict.fromkeys(labels[~current]) if np.sum((labels == s) & ~current) >= MIN_SESSION_NETWORKS]
    rows = {s: (labels == s) & ~current for s in earlier}
    divisors = np.ones(len(measured))
    small = int(np.sum(~current)) - sum(int(r.sum()) for r in rows.values())
    if current.sum() < MIN_SESSION_NETWORKS or not earlier:
        return SessionAlignment(divisors, {}, int(np.sum(~current)))
    for _ in range(_ITERATIONS):
        model = make_predictor(_ALIGNER).fit(features, measured / divisors)
        ratio = measured / np.maximum(model.predict(features), 1e-9)
        reference = float(np.median(ratio[current]))
        for s in earlier:
            divisors[rows[s]] = float(np.median(ratio[rows[s]])) / reference
    return SessionAlignment(divisors, {s: float(divisors[rows[s]][0]) for s in earlier}, small)


def align_stored(current: NetworkFeatures, measured: np.ndarray, stored: StoredNetworks) -> SessionAlignment:
    """:func:`align_sessions` of the current run's networks followed by stored ones from earlier runs.

    Args:
        current: Features of the current run's training networks.
        measured: Their measured latencies (ms).
        stored: The stored networks (with features).

    Returns:
        The alignment of the ``len(current) + len(stored.items)`` rows, current rows first.
    """
    if stored.features is None:
        raise InputError("no stored networks to align")
    features = NetworkFeatures(np.vstack([current.values, stored.features.values]), current.columns)
    pooled = np.concatenate([np.asarray(measured, dtype=np.float64), stored.measured])
    runs = ["current"] * len(current) + list(stored.sessions)
    return align_sessions(features, pooled, runs, np.arange(len(pooled)) < len(current))
