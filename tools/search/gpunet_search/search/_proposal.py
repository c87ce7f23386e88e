"""One model-based ``ask`` as a pure function of a :class:`~.state.SearchState`.

Candidates, GP scores, tree regions and the batch loop. The searcher passes its state, its random
generator and its feasibility test, and applies the result; nothing here touches the searcher.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from .bo import GPSurrogate
from .lamcts import PartitionTree
from .state import SearchState

LevelFeasibility = Callable[[np.ndarray], np.ndarray]


@dataclass(frozen=True)
class Proposal:
    """The outcome of :func:`propose`.

    Attributes:
        levels: Up to ``n`` level rows, unique, feasible, none observed or pending.
        info: Diagnostics: the number of candidates, of tree leaves, and the leaf of each pick (-1
            without a tree).
        gp_hyper: The GP hyper-parameters of this fit (the next fit's warm start).
    """

    levels: np.ndarray
    info: dict[str, object]
    gp_hyper: dict[str, list[float]]


def candidates(
    state: SearchState, centres: np.ndarray, rng: np.random.Generator, feasible: LevelFeasibility
) -> np.ndarray:
    """Unseen feasible candidates: free pool members (a random subset) plus local moves.

    Args:
        state: The search state (free pool, taken keys, config).
        centres: Level rows that local moves start from.
        rng: Draws the pool subset and the moves.
        feasible: Level rows -> boolean mask.

    Returns:
        Level rows, unique, none evaluated or pending.
    """
    cfg, grid = state.config, state.grid
    free = np.arange(len(state.free_pool))
    if len(free) > cfg.max_pool_candidates:
        free = np.sort(rng.choice(free, cfg.max_pool_candidates, replace=False))
    pool = state.free_pool[free]
    moves = grid.neighbours(centres, cfg.n_local_per_centre, rng, cfg.local_max_digits)
    if len(moves):
        _, first = np.unique(np.ascontiguousarray(moves, dtype=np.int8), axis=0, return_index=True)
        moves = moves[np.sort(first)]
        taken = state.taken.union(grid.keys(pool))
        moves = moves[np.array([k not in taken for k in grid.keys(moves)], dtype=bool)]
        moves = moves[feasible(moves)]
    return np.concatenate([pool, moves]) if len(moves) else pool


def propose(state: SearchState, n: int, rng: np.random.Generator, feasible: LevelFeasibility) -> Proposal:
    """Chooses ``n`` level rows by LogEI, each inside a UCB-selected leaf when the tree is on.

    Args:
        state: The search state (at least two observations).
        n: Rows wanted.
        rng: Seeds the GP fit, the tree and the candidates (advanced in place).
        feasible: Level rows -> boolean mask.

    Returns:
        The picks, diagnostics and the fitted GP hyper-parameters.
    """
    cfg, grid = state.config, state.grid
    obs = state.observed
    x = grid.normalise(obs)
    y = state.values
    gp = GPSurrogate(x, y, max_iter=cfg.gp_max_iter, fit_subsample=cfg.fit_subsample, init=state.gp_hyper, rng=rng)
    hyper = gp.hyper_state()
    pending = state.pending

    order = np.argsort(-y, kind="stable")
    centres = [obs[order[: cfg.n_local_centres]]]
    tree = None
    if cfg.use_tree:
        tree = PartitionTree(
            leaf_size=cfg.leaf_size,
            cp=cfg.cp,
            kernel=cfg.kernel,
            max_depth=cfg.max_depth,
            virtual_loss=cfg.virtual_loss,
        )
        tree.fit(x, y, seed=int(rng.integers(2**31)))
        for leaf in tree.leaves:  # the best observation of every leaf seeds local moves too
            rows = tree.nodes[leaf].rows
            centres.append(obs[rows[np.argmax(y[rows])]][None, :])
    cands = candidates(state, np.concatenate(centres), rng, feasible)
    leaves: list[int] = []
    info: dict[str, object] = {
        "n_candidates": len(cands),
        "n_leaves": len(tree.leaves) if tree else 1,
        "leaves": leaves,
    }
    if len(cands) == 0:
        return Proposal(cands, info, hyper)
    cx = grid.normalise(cands)
    scorer = gp.scorer(cx)
    if len(pending):
        scorer.condition(grid.normalise(pending), cfg.liar)
    if tree is not None and len(pending):
        for path in tree.paths(tree.route(grid.normalise(pending))):
            tree.visit(path)

    free = np.ones(len(cands), dtype=bool)
    regions: dict[int, np.ndarray] = {}  # node -> candidates in its region, computed along chosen paths
    exhausted: set[int] = set()
    picks: list[int] = []
    while len(picks) < n and free.any():
        region, node, path = free, -1, []
        if tree is not None:
            allowed = set(range(len(tree.nodes))) - exhausted
            path = tree.select(allowed)
            node = path[-1]
            region = free & tree.region(node, cx, regions)
            if not region.any():  # nothing left in this region: never select it again
                exhausted.add(node)
                if node == 0:
                    break
                continue
        rows = np.flatnonzero(region)
        best = rows[int(np.argmax(scorer.log_ei(rows)))]
        picks.append(int(best))
        leaves.append(node)
        free[best] = False
        scorer.condition(cx[best][None, :], cfg.liar)
        if tree is not None:
            tree.visit(path)
    return Proposal(cands[picks], info, hyper)
