"""Synthetic problems on the 41-digit grid, for proving a searcher without training networks.

* :class:`GridFunction`: Ackley, Levy, Rosenbrock or Rastrigin over the 41 digits with a planted
  optimum: a random target level per digit and a random digit-to-coordinate permutation per seed,
  so the optimum is a grid point, not the centre of the box, and coupled coordinates (Rosenbrock)
  pair unrelated digits. Minimised; the optimum value is 0, so a value is its own simple regret.
* :class:`TierProblem`: shaped like a real search. A pool of ``2^16`` Sobol networks, a
  deterministic per-layer cost model as the latency stand-in, the tier = the networks between two
  latency percentiles, and an accuracy stand-in with interactions (:class:`TierAccuracy`, which
  builds alone without the pool). Maximised; the rank of any network among the tier's pool members
  is exact.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from gpunet_hub.errors import InputError
from gpunet_hub.space import BLOCK_STAGES, SearchSpace

from ..search.grid import LevelGrid


def ackley(z: np.ndarray) -> np.ndarray:
    """Ackley, minimum 0 at z = 0."""
    d = z.shape[1]
    return -20 * np.exp(-0.2 * np.sqrt((z * z).sum(1) / d)) - np.exp(np.cos(2 * np.pi * z).sum(1) / d) + 20 + np.e


def levy(z: np.ndarray) -> np.ndarray:
    """Levy, minimum 0 at z = 1."""
    w = 1 + (z - 1) / 4
    body = ((w[:, :-1] - 1) ** 2 * (1 + 10 * np.sin(np.pi * w[:, :-1] + 1) ** 2)).sum(1)
    return np.sin(np.pi * w[:, 0]) ** 2 + body + (w[:, -1] - 1) ** 2 * (1 + np.sin(2 * np.pi * w[:, -1]) ** 2)


def rosenbrock(z: np.ndarray) -> np.ndarray:
    """Rosenbrock, minimum 0 at z = 1."""
    return (100 * (z[:, 1:] - z[:, :-1] ** 2) ** 2 + (1 - z[:, :-1]) ** 2).sum(1)


def rastrigin(z: np.ndarray) -> np.ndarray:
    """Rastrigin, minimum 0 at z = 0."""
    return 10 * z.shape[1] + (z * z - 10 * np.cos(2 * np.pi * z)).sum(1)


# name -> (function, half-width of the box around the optimum, location of the optimum)
FUNCTIONS: dict[str, tuple[Callable[[np.ndarray], np.ndarray], float, float]] = {
    "ackley": (ackley, 5.0, 0.0),
    "levy": (levy, 10.0, 1.0),
    "rosenbrock": (rosenbrock, 2.048, 1.0),
    "rastrigin": (rastrigin, 5.12, 0.0),
}


class GridFunction:
    """A classic test function on the level grid with a planted optimum.

    Digit ``i`` at level ``l`` maps to ``opt + half_width * (l - t_i) / (n_i - 1)``; coordinate ``j``
    of the function reads digit ``perm[j]``. The target ``t`` is a random canonical grid point.

    Args:
        name: ``ackley``, ``levy``, ``rosenbrock`` or ``rastrigin``.
        seed: Draws the target and the permutation.
        space: The search space (Table 1 by default).
    """

    def __init__(self, name: str, seed: int, space: str | SearchSpace = "table1") -> None:
        if name not in FUNCTIONS:
            raise InputError(f"unknown function {name!r}; choose one of {', '.join(FUNCTIONS)}")
        self.name = name
        self.grid = LevelGrid(space)
        rng = np.random.default_rng([seed, 7919])
        self.target = self.grid.random(1, rng)[0]
        self.perm = rng.permutation(self.grid.n_digits)
        self._fn, self._half, self._opt = FUNCTIONS[name]
        self.optimum = float(self.levels_value(self.target[None, :])[0])

    def levels_value(self, levels: np.ndarray) -> np.ndarray:
        """Function values of level rows (N, 41)."""
        span = np.maximum(self.grid.n_levels - 1, 1)
        x = self._opt + self._half * (np.atleast_2d(levels) - self.target) / span
        return self._fn(x[:, self.perm])

    def __call__(self, vectors: np.ndarray) -> np.ndarray:
        """Function values of 41-int vectors (N, 41); minimise."""
        return self.levels_value(self.grid.to_levels(vectors))

    def regret(self, values: np.ndarray) -> np.ndarray:
        """Simple regret of values (``value - optimum``)."""
        return np.asarray(values, dtype=np.float64) - self.optimum


class TierAccuracy:
    """The accuracy stand-in of :class:`TierProblem` alone: no pool, so it is cheap to build.

    Args:
        seed: The problem's seed (the same seed gives the same model as ``TierProblem(seed)``).
        space: The search space (Table 1 by default).
    """

    def __init__(self, seed: int, space: str | SearchSpace = "table1") -> None:
        self.grid = LevelGrid(space)
        rng = np.random.default_rng([seed, 104729])
        self.pool_seed = int(rng.integers(2**31))  # the problem's Sobol pool; drawn first, before the weights
        self._weights = _accuracy_weights(rng, self.grid.n_digits)

    def __call__(self, vectors: np.ndarray) -> np.ndarray:
        """Accuracy stand-in (maximise): per-stage capacity with diminishing returns, resolution,
        SE and activation effects, and random pairwise interactions between digits."""
        v = np.atleast_2d(np.asarray(vectors, dtype=np.float64))
        z = self.grid.normalise(self.grid.to_levels(v.astype(np.int64))) - 0.5
        w = self._weights
        acc = 70.0 + 2.0 * np.log(v[:, 0] / 224.0)
        for s, stage in enumerate(BLOCK_STAGES):
            f, k, e, se, act, n = v[:, SearchSpace.stage_slice(stage)].T
            capacity = np.log1p(n * f * np.sqrt(np.maximum(e, 1)) / 256.0)
            acc += w["stage"][s] * capacity + w["se"][s] * se + w["act"][s] * act + w["kernel"][s] * (k == 5)
        acc += (w["pair_coef"] * z[:, w["pair_i"]] * z[:, w["pair_j"]]).sum(1)
        acc += (w["quad"] * (z - w["centre"]) ** 2).sum(1)
        return acc


class TierProblem:
    """Maximise an accuracy stand-in among networks of one latency tier.

    Args:
        seed: Draws the Sobol pool and the accuracy model's weights.
        space: The search space (Table 1 by default).
        pool_bits: The pool holds ``2**pool_bits`` Sobol networks (before de-duplication).
        tier: Latency percentiles bounding the tier.
    """

    def __init__(
        self,
        seed: int,
        space: str | SearchSpace = "table1",
        pool_bits: int = 16,
        tier: tuple[float, float] = (0.45, 0.55),
    ) -> None:
        if not 0 <= tier[0] < tier[1] <= 1:
            raise InputError(f"tier percentiles must satisfy 0 <= lo < hi <= 1, got {tier}")
        self.accuracy_model = TierAccuracy(seed, space)
        self.grid = self.accuracy_model.grid
        self.seed = seed
        pool = self.grid.sobol(2**pool_bits, seed=self.accuracy_model.pool_seed)
        _, first = np.unique(np.ascontiguousarray(pool, dtype=np.int8), axis=0, return_index=True)
        self.pool_levels = pool[np.sort(first)]
        self.pool_vectors = self.grid.to_vectors(self.pool_levels)
        latency = self.latency(self.pool_vectors)
        self.lo, self.hi = (float(q) for q in np.quantile(latency, tier))
        in_tier = (latency >= self.lo) & (latency <= self.hi)
        self.tier_vectors = self.pool_vectors[in_tier]  # in Sobol order
        self.tier_accuracy = self.accuracy(self.tier_vectors)
        self._sorted = np.sort(self.tier_accuracy)
        self.best = float(self._sorted[-1])

    def latency(self, vectors: np.ndarray) -> np.ndarray:
        """Deterministic latency stand-in (ms-like units): a sum of per-layer costs."""
        return _latency(np.atleast_2d(np.asarray(vectors, dtype=np.float64)))

    def feasible(self, vectors: np.ndarray) -> np.ndarray:
        """True where a network's latency lies in the tier."""
        lat = self.latency(vectors)
        return (lat >= self.lo) & (lat <= self.hi)

    def accuracy(self, vectors: np.ndarray) -> np.ndarray:
        """The accuracy stand-in of 41-int vectors (maximise); see :class:`TierAccuracy`."""
        return self.accuracy_model(vectors)

    def rank(self, accuracy: np.ndarray) -> np.ndarray:
        """1 + the number of tier pool members strictly more accurate (1 = as good as the best)."""
        return 1 + len(self._sorted) - np.searchsorted(self._sorted, np.asarray(accuracy), side="right")


def _accuracy_weights(rng: np.random.Generator, d: int) -> dict[str, np.ndarray]:
    n_pairs = 40
    pair_i = rng.integers(0, d, n_pairs)
    pair_j = (pair_i + rng.integers(1, d, n_pairs)) % d
    return {
        "stage": rng.uniform(0.3, 1.5, 6),
        "se": rng.normal(0.15, 0.1, 6),
        "act": rng.normal(0.1, 0.1, 6),
        "kernel": rng.normal(0.05, 0.1, 6),
        "pair_i": pair_i,
        "pair_j": pair_j,
        "pair_coef": rng.normal(0.0, 0.6, n_pairs),
        "quad": -np.abs(rng.normal(0.0, 0.3, d)),
        "centre": rng.uniform(-0.3, 0.3, d),
    }


def _latency(v: np.ndarray) -> np.ndarray:
    """Per-layer cost: FLOP term + memory-traffic term + fixed launch overhead (SE and swish extra)."""
    res = v[:, 0]
    stem = v[:, 1]
    hw = (res / 2) ** 2
    total = 0.01 + 2e-10 * hw * 27 * stem  # head
    act1 = 1.0 + 0.15 * v[:, 3]
    total = total + v[:, 4] * (0.008 + act1 * (2e-10 * hw * v[:, 2] ** 2 * stem * stem + 4e-9 * hw * stem))
    c_in = stem
    side = res / 2
    for stage in BLOCK_STAGES:
        f, k, e, se, act, n = v[:, SearchSpace.stage_slice(stage)].T
        if stage in (2, 3, 4, 6):
            side = side / 2
        hw = side**2
        mid_first, mid = c_in * e, f * e
        actf = 1.0 + 0.2 * act
        if stage in (2, 3):  # fused: k x k expand, 1 x 1 project
            flops_first = hw * (k * k * c_in * mid_first + mid_first * f)
            flops_rest = hw * (k * k * f * mid + mid * f)
        else:  # expand, depthwise, project
            flops_first = hw * (c_in * mid_first + k * k * mid_first + mid_first * f)
            flops_rest = hw * (f * mid + k * k * mid + mid * f)
        memory = hw * (f + mid) * actf
        per_layer = 0.008 + 0.006 * se + 4e-9 * memory * (1 + 0.3 * se)
        stage_cost = np.where(n > 0, per_layer * n + 2e-10 * (flops_first + np.maximum(n - 1, 0) * flops_rest), 0.0)
        total = total + stage_cost
        c_in = np.where(n > 0, f, c_in)
    return total
