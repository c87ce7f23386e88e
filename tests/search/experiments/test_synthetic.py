"""Synthetic problems of the searcher's benchmark: planted optima and exact tier ranks."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

pytest.importorskip("scipy")

from gpunet_hub.errors import InputError
from gpunet_search.experiments.synthetic import GridFunction, TierAccuracy, TierProblem
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


def test_tier_accuracy_alone_is_the_problems_model_and_needs_no_torch() -> None:
    problem = TierProblem(seed=3, pool_bits=8)
    alone = TierAccuracy(seed=3)
    np.testing.assert_array_equal(alone(problem.tier_vectors), problem.tier_accuracy)
    assert not np.array_equal(TierAccuracy(seed=4)(problem.tier_vectors), problem.tier_accuracy)
    code = (
        "import sys; from gpunet_search.experiments.synthetic import TierAccuracy; "
        "import numpy as np; TierAccuracy(0)(np.array([%s])); print('torch' in sys.modules)"
        % list(map(int, problem.tier_vectors[0]))
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"  # a synthetic trial process stays light
