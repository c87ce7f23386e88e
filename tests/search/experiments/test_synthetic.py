"""Synthetic problems of the searcher's benchmark: planted optima and exact tier ranks."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("scipy")

from gpunet_hub.errors import InputError
from gpunet_search.experiments.synthetic import GridFunction, TierProblem
from gpunet_search.search.grid import LevelGrid


def test_grid_functions_have_their_optimum_at_the_planted_target() -> None:
    grid = LevelGrid("table1")
    others = grid.random(500, np.random.default_rng(4))
    for name in ("ackley", "levy", "rosenbrock", "rastrigin"):
        f = GridFunction(name, seed=5)
        assert f.optimum == pytest.approx(0.0, abs=1e-9)
        values = f(grid.to_vectors(others))
        assert (values > f.optimum).all()
        assert not np.array_equal(f.target, GridFunction(name, seed=6).target)


def test_tier_problem_ranks_are_exact() -> None:
    problem = TierProblem(seed=0, pool_bits=10)
    assert problem.feasible(problem.tier_vectors).all()
    acc = problem.tier_accuracy
    ranks = problem.rank(acc)
    assert ranks.min() == 1 and ranks[np.argmax(acc)] == 1
    # Rank = 1 + number of tier members strictly better.
    i = int(np.argsort(acc)[len(acc) // 2])
    assert ranks[i] == 1 + int((acc > acc[i]).sum())
    with pytest.raises(InputError):
        TierProblem(seed=0, pool_bits=8, tier=(0.6, 0.5))
