"""Optimising an acquisition function over the whole discrete grid: multi-start local search.

No library optimises an acquisition over this space: 41 digits of 2 to 16 levels each, stages that
hide their digits when empty, and a feasibility predicate (a latency tier) that is only known
pointwise. BoTorch relaxes to a box and rounds; Optuna's mixed-space optimiser searches each
discrete parameter exhaustively but knows neither hidden digits nor a pointwise constraint. Two
climbs work on the grid itself, from many starts at once, and stay feasible throughout:

* :func:`climb`, best improvement: every network one digit away (that digit set to *any* of its
  levels, :meth:`LevelGrid.single_digit_moves`) is scored in one vectorised batch and the best
  feasible one is taken while it improves, so a step can cross a digit's whole range.
* :func:`sweep`, coordinate ascent: each digit in turn is set to its best feasible level, so one
  sweep can change every digit for about the scores of one best-improvement step.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from .grid import LevelGrid

CLIMBS = ("best", "sweep")
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
        moved = _move(grid, score, feasible, current, current_score, active, None, (seen_rows, seen_scores))
        if moved is None:
            break
        steps += 1
        active = moved
    return _result(current, current_score, seen_rows, seen_scores, steps)


def sweep(
    grid: LevelGrid,
    score: Score,
    starts: np.ndarray,
    feasible: LevelMask,
    max_sweeps: int = 10,
    rng: np.random.Generator | None = None,
) -> ClimbResult:
    """Coordinate ascent from every start at once: each digit in turn set to its best level.

    One sweep visits every digit (in one random order when ``rng`` is given); for each,
    every other level of that digit is scored for all active climbs in one batch and the best
    feasible one is taken if it improves. A climb ends when a whole cycle of digits passes without
    a change (a local optimum under single-digit moves, as the best-improvement climb ends) or after
    ``max_sweeps`` sweeps. A sweep can change every digit, where a best-improvement step changes
    one, for about the same number of scored rows (Optuna's mixed-space optimiser climbs its
    discrete parameters the same way).

    Args:
        grid: The level grid.
        score: Level rows (M, 41) -> scores (M,), larger is better (e.g. LogEI).
        starts: Level rows (S, 41) to start from; they should be feasible.
        feasible: Level rows -> boolean mask; infeasible moves are never scored or taken.
        max_sweeps: Most sweeps over the digits per climb.
        rng: Shuffles the digit order (default: the space's order).

    Returns:
        The climbs' optima and every row they scored; ``steps`` counts sweeps.
    """
    current = np.atleast_2d(np.asarray(starts, dtype=np.int64)).copy()
    current_score = np.asarray(score(current), dtype=np.float64)
    seen_rows, seen_scores = [current.copy()], [current_score.copy()]
    last_change = np.full(len(current), -1)  # digit of each climb's last move (-1: none yet)
    active = np.ones(len(current), dtype=bool)
    sweeps = 0
    order = np.flatnonzero(grid.n_levels > 1)
    order = rng.permutation(order) if rng is not None else order
    while active.any() and sweeps < max_sweeps:
        sweeps += 1
        for k, digit in enumerate(order):
            active &= last_change != digit  # a whole cycle without a change since this digit moved
            climbers = np.flatnonzero(active)
            if len(climbers) == 0:
                break
            moved = _move(
                grid, score, feasible, current, current_score, climbers, order[k : k + 1], (seen_rows, seen_scores)
            )
            if moved is not None:
                last_change[moved] = digit
        active &= last_change != -1  # a first sweep without any change: already a local optimum
    return _result(current, current_score, seen_rows, seen_scores, sweeps)


def _move(
    grid: LevelGrid,
    score: Score,
    feasible: LevelMask,
    current: np.ndarray,
    current_score: np.ndarray,
    climbers: np.ndarray,
    digits: np.ndarray | None,
    seen: tuple[list[np.ndarray], list[np.ndarray]],
) -> np.ndarray | None:
    """One move of the ``climbers``: each takes its best feasible single-digit move (of ``digits``) if it improves.

    Updates ``current`` and ``current_score`` in place and appends what was scored to ``seen``.

    Returns:
        The climbers that moved, or None when none had a feasible move.
    """
    moves, owner = grid.single_digit_moves(current[climbers], digits)
    ok = feasible(moves)
    moves, owner = moves[ok], owner[ok]
    if len(moves) == 0:
        return None
    scores = np.asarray(score(moves), dtype=np.float64)
    seen[0].append(moves)
    seen[1].append(scores)
    ranked = np.lexsort((-scores, owner))  # best move of each climber: the first of its run
    first = ranked[np.r_[True, owner[ranked][1:] != owner[ranked][:-1]]]
    who = climbers[owner[first]]
    better = scores[first] > current_score[who] + 1e-12
    current[who[better]] = moves[first[better]]
    current_score[who[better]] = scores[first[better]]
    return who[better]


def _result(
    ends: np.ndarray, end_scores: np.ndarray, seen_rows: list[np.ndarray], seen_scores: list[np.ndarray], steps: int
) -> ClimbResult:
    """The :class:`ClimbResult` of climbs, with every scored row once."""
    visited = np.concatenate(seen_rows)
    visited_scores = np.concatenate(seen_scores)
    rows = np.ascontiguousarray(visited, dtype=np.int8)
    _, unique = np.unique(rows.view(np.dtype((np.void, rows.shape[1]))).ravel(), return_index=True)
    return ClimbResult(ends, end_scores, visited[unique], visited_scores[unique], steps)
