"""The level grid of the searcher: conversions, the empty-stage convention, Sobol, local moves."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("scipy")

from gpunet_hub.errors import InputError
from gpunet_hub.space import check_many, get_space
from gpunet_search.search.grid import LevelGrid


@pytest.fixture(scope="module")
def grid() -> LevelGrid:
    return LevelGrid("table1")


def test_levels_round_trip_and_empty_stage_convention(grid: LevelGrid) -> None:
    levels = grid.random(2000, np.random.default_rng(0))
    vectors = grid.to_vectors(levels)
    assert check_many(vectors, "table1").all()
    assert np.array_equal(grid.to_levels(vectors), levels)
    # Stage 7 (digits 35..40) may be empty: then its five other digits are 0 in the vector.
    empty = vectors[:, 40] == 0
    assert empty.any() and (vectors[empty, 35:40] == 0).all()
    assert (vectors[~empty, 35] >= get_space("table1").digits[35].values[0]).all()


def test_to_levels_rejects_invalid_vectors(grid: LevelGrid) -> None:
    bad = grid.to_vectors(grid.random(1, np.random.default_rng(1)))
    bad[0, 0] = 225  # not a resolution of Table 1
    with pytest.raises(InputError, match="row 0"):
        grid.to_levels(bad)


def test_sobol_points_are_stable_and_valid(grid: LevelGrid) -> None:
    a, b = grid.sobol(64, seed=3), grid.sobol(128, seed=3)
    assert np.array_equal(a, b[:64])
    assert check_many(grid.to_vectors(b), "table1").all()


def test_neighbours_shift_one_to_three_digits_by_one_level(grid: LevelGrid) -> None:
    rng = np.random.default_rng(2)
    centres = grid.random(20, rng)
    moves = grid.neighbours(centres, 50, rng, max_digits=3)
    assert moves.shape == (1000, 41)
    assert check_many(grid.to_vectors(moves), "table1").all()
    base = np.repeat(centres, 50, axis=0)
    # Moves that do not empty or refill a stage change 1..3 digits, each by exactly one level.
    same_emptiness = np.all((grid.to_vectors(moves)[:, [28, 40]] == 0) == (grid.to_vectors(base)[:, [28, 40]] == 0), axis=1)
    diff = np.abs(moves - base)[same_emptiness]
    changed = (diff > 0).sum(1)
    assert changed.min() >= 1 and changed.max() <= 3
    assert diff.max() == 1
