"""Optimising an acquisition function over the whole discrete grid: multi-start local search.

No library optimises an acquisition over this space: 41 digits of 2 to 16 levels each, stages that
hide their digits when empty, and a feasibility predicate (a latency tier) that is only known
pointwise. BoTorch's and Optuna's optimisers relax to a box and round; this is a best-improvement
hill climb on the grid itself. From each start, every network one digit away (that digit set to
*any* of its levels, :meth:`LevelGrid.single_digit_moves`) is scored in one vectorised batch and the
best feasible one is taken while it improves, so a climb can cross a digit's whole range in one
step and stays feasible throughout.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from .grid import LevelGrid

Score = Callable[[np.ndarray], np.ndarray]
LevelMask = Callable[[np.ndarray], np.ndarray]


@dataclass(frozen=True)
class ClimbResult:
    """What a multi-start climb saw.

    Attributes:
        ends: The local optimum reached from each start (S, 41), in start order.
        end_scores: Their scores (S,).
        visited: Every distinct feasible row scored on the way, starts included (V, 41).
        visited_scores: Their scores (V,).
        steps: Steps taken by the longest climb.
    """

    ends: np.ndarray
    end_scores: np.ndarray
    visited: np.ndarray
    visited_scores: np.ndarray
    steps: int


def climb(grid: LevelGrid, score: Score, starts: np.ndarray, feasible: LevelMask, max_steps: int = 10) -> ClimbResult:
    """Best-improvement hill climbing from every start at once.

    Args:
        grid: The level grid.
        score: Level rows (M, 41) -> scores (M,), larger is better (e.g. LogEI).
        starts: Level rows (S, 41) to start from; they should be feasible.
        feasible: Level rows -> boolean mask; infeasible moves are never scored or taken.
        max_steps: Most moves per climb (each move scores ~160 neighbours per active climb).

    Returns:
        The climbs' optima and every row they scored.
    """
    current = np.atleast_2d(np.asarray(starts, dtype=np.int64)).copy()
    current_score = np.asarray(score(current), dtype=np.float64)
    seen_rows, seen_scores = [current.copy()], [current_score.copy()]
    active = np.arange(len(current))
    steps = 0
    while len(active) and steps < max_steps:
        moves, owner = grid.single_digit_moves(current[active])
        ok = feasible(moves)
        moves, owner = moves[ok], owner[ok]
        if len(moves) == 0:
            break
        scores = np.asarray(score(moves), dtype=np.float64)
        seen_rows.append(moves)
        seen_scores.append(scores)
        steps += 1
        # Best move per climb: sort by (owner, -score), take the first of each owner.
        order = np.lexsort((-scores, owner))
        first = order[np.r_[True, owner[order][1:] != owner[order][:-1]]]
        climbers = active[owner[first]]
        better = scores[first] > current_score[climbers] + 1e-12
        current[climbers[better]] = moves[first[better]]
        current_score[climbers[better]] = scores[first[better]]
        active = climbers[better]
    visited = np.concatenate(seen_rows)
    visited_scores = np.concatenate(seen_scores)
    rows = np.ascontiguousarray(visited, dtype=np.int8)
    _, unique = np.unique(rows.view(np.dtype((np.void, rows.shape[1]))).ravel(), return_index=True)
    return ClimbResult(current, current_score, visited[unique], visited_scores[unique], steps)
