"""The learned latency predictor's inputs: one row of numbers per network, computed vectorised.

For N networks (a :class:`~.estimate.KeyIndex`) and the LUT's per-key latencies, the columns are:
the LUT sum and its share per stage (head, stages 1-7, tail), the parameters, output activations
and multiply-adds of the whole network, the multiply-adds per stage, the layer count, how many layers
have squeeze-excite, swish or a kernel wider than 3 (and the SE layers' activations), each layer's
weight bytes capped at a few sizes and summed (:data:`WEIGHT_KNOTS_MB`), and the 41 digits of the
encoding. The counts let a linear model learn a cost per layer of each make: a layer timed alone runs
faster than inside a network, by an amount that depends on its operators (an SE block's pooling and
scaling, a swish, a wide depthwise kernel), not only on its size. The capped weights let it learn the
other part of that gap: a layer timed alone in a loop keeps the weights that fit its caches hot, while
inside a network the other layers evict them, so each layer pays to stream its weights again, at a
rate per byte that depends on how its size compares with the cache levels (a piecewise-linear cost of
each layer's bytes, which the network's total weight count cannot express). A million networks take a
few seconds (``(N, 15)`` gathers, no network built).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from gpunet_hub.errors import InputError
from gpunet_hub.space import ACT_NAMES, BLOCK_STAGES, NUM_DIGITS

from .estimate import KINDS_PER_NET, KeyIndex, estimate_sums

FEATURE_SET = "gpunet-latency-features/3"  # bump when the columns change: stored predictors name it
GROUPS = ("head", "stage1", *(f"stage{s}" for s in BLOCK_STAGES), "tail")
# Knots of the per-layer weight-bytes cost, spaced to bracket CPU L2 (0.5-2 MB), L3 slices and GPU L2
# (4-40 MB) caches: a column sums min(layer bytes, knot) over a network's layers.
WEIGHT_KNOTS_MB = (0.25, 1.0, 4.0, 16.0)
WEIGHT_COLUMNS = tuple(f"weights_mb_upto_{knot:g}" for knot in WEIGHT_KNOTS_MB)
_BYTES_PER_WEIGHT = {"fp32": 4, "fp16": 2}
# Kind j of a KeyIndex row (head, stage-1 conv, (first, rest) per block stage, tail) -> its group.
_KIND_GROUP = np.array([0, 1, *(2 + i // 2 for i in range(2 * len(BLOCK_STAGES))), len(GROUPS) - 1])
COLUMNS = (
    "lut_sum_ms",
    *(f"lut_{g}_ms" for g in GROUPS),
    "params_m",
    "activations_m",
    "gmacs",
    *(f"gmacs_{g}" for g in GROUPS),
    "layers",
    "layers_se",
    "layers_swish",
    "layers_wide_kernel",
    "activations_se_m",
    *WEIGHT_COLUMNS,
    *(f"digit{i}" for i in range(NUM_DIGITS)),
)


@dataclass(frozen=True)
class NetworkFeatures:
    """Feature rows of N networks.

    Attributes:
        values: ``(N, len(COLUMNS))`` float64.
        columns: The column names (:data:`COLUMNS`).
    """

    values: np.ndarray
    columns: tuple[str, ...] = COLUMNS

    def __len__(self) -> int:
        return int(self.values.shape[0])

    def column(self, name: str) -> np.ndarray:
        """One column by name."""
        return self.values[:, self.columns.index(name)]

    def take(self, rows: np.ndarray) -> NetworkFeatures:
        """The features of some rows."""
        return NetworkFeatures(self.values[np.asarray(rows)], self.columns)


def _per_group(index: KeyIndex, per_key: np.ndarray) -> np.ndarray:
    """``(N, groups)``: the per-key quantity summed over each network's layers, by stage group."""
    extended = np.append(np.asarray(per_key, dtype=np.float64), 0.0)  # index -1 (absent kind) reads 0
    per_kind = extended[index.index] * index.counts  # (N, 15)
    onehot = np.zeros((KINDS_PER_NET, len(GROUPS)))
    onehot[np.arange(KINDS_PER_NET), _KIND_GROUP] = 1.0
    return per_kind @ onehot


def network_features(index: KeyIndex, latency: np.ndarray, encodings: np.ndarray) -> NetworkFeatures:
    """The feature rows of the networks of ``index``.

    Args:
        index: Key index of the networks (``index_encodings(encodings, ...)``).
        latency: ``(K,)`` LUT latency (ms) of each key of ``index`` (NaN where unknown).
        encodings: ``(N, 41)`` the networks' digits, in the rows of ``index``.

    Returns:
        The features; rows using an unknown key have NaN LUT columns.

    Raises:
        InputError: When the shapes disagree.
    """
    encodings = np.asarray(encodings)
    if encodings.shape != (len(index), NUM_DIGITS):
        raise InputError(f"need ({len(index)}, {NUM_DIGITS}) encodings for the key index, got {encodings.shape}")
    lut_groups = _per_group(index, latency)
    macs, acts = index.key_macs_activations
    gmacs_groups = _per_group(index, macs) / 1e9
    se = index.key_field("se").astype(np.float64)
    swish = (index.key_field("act") == ACT_NAMES.index("swish")).astype(np.float64)
    wide = (index.key_field("k") > 3).astype(np.float64)
    weight_mb = index.key_params * (_BYTES_PER_WEIGHT[index.precision] / 1e6)
    values = np.column_stack(
        [
            estimate_sums(index, latency),
            lut_groups,
            index.params_m,
            estimate_sums(index, acts) / 1e6,
            gmacs_groups.sum(axis=1),
            gmacs_groups,
            index.num_layers,
            estimate_sums(index, se),
            estimate_sums(index, swish),
            estimate_sums(index, wide),
            estimate_sums(index, se * acts) / 1e6,
            *(estimate_sums(index, np.minimum(weight_mb, knot)) for knot in WEIGHT_KNOTS_MB),
            encodings.astype(np.float64),
        ]
    )
    return NetworkFeatures(values)
