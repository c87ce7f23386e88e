"""One model-based ``ask``: candidates, GP scores, tree regions, and the batch loop.

Internal to :class:`gpunet_search.searcher.LamctsBoSearcher`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from .bo import GPSurrogate
from .lamcts import PartitionTree

if TYPE_CHECKING:
    from .searcher import LamctsBoSearcher


def candidates(searcher: LamctsBoSearcher, centres: np.ndarray) -> np.ndarray:
    """Unseen feasible candidates: free pool members (a random subset) plus local moves.

    Args:
        searcher: The searcher (its pool, used set, feasibility, config and RNG).
        centres: Level rows that local moves start from.

    Returns:
        Level rows, unique, none evaluated or pending.
    """
    cfg, grid, rng = searcher.config, searcher.grid, searcher._rng
    free = np.flatnonzero(searcher._pool_free)
    if len(free) > cfg.max_pool_candidates:
        free = np.sort(rng.choice(free, cfg.max_pool_candidates, replace=False))
    moves = grid.neighbours(centres, cfg.n_local_per_centre, rng, cfg.local_max_digits)
    if len(moves):
        _, first = np.unique(np.ascontiguousarray(moves, dtype=np.int8), axis=0, return_index=True)
        moves = moves[np.sort(first)]
        taken = searcher._observed.union(searcher._pending, grid.keys(searcher._pool[free]))
        moves = moves[np.array([k not in taken for k in grid.keys(moves)], dtype=bool)]
        moves = moves[searcher._is_feasible(moves)]
    return np.concatenate([searcher._pool[free], moves]) if len(moves) else searcher._pool[free]


def propose(searcher: LamctsBoSearcher, n: int) -> tuple[np.ndarray, dict[str, object]]:
    """Chooses ``n`` level rows by LogEI, each inside a UCB-selected leaf when the tree is on.

    Returns:
        Up to ``n`` level rows, and diagnostics: the number of candidates, of tree leaves, and the
        leaf of each pick (-1 without a tree).
    """
    cfg, grid, rng = searcher.config, searcher.grid, searcher._rng
    obs = np.array(searcher._obs_levels)
    x = grid.normalise(obs)
    y = searcher._signed(searcher._obs_values)
    gp = GPSurrogate(x, y, max_iter=cfg.gp_max_iter, fit_subsample=cfg.fit_subsample, init=searcher._hyper, rng=rng)
    searcher._hyper = gp.hyper_state()
    pending = np.array(list(searcher._pending.values())) if searcher._pending else np.zeros((0, grid.n_digits), np.int64)

    order = np.argsort(-y, kind="stable")
    centres = [obs[order[: cfg.n_local_centres]]]
    tree = None
    if cfg.use_tree:
        tree = PartitionTree(leaf_size=cfg.leaf_size, cp=cfg.cp, kernel=cfg.kernel, max_depth=cfg.max_depth, virtual_loss=cfg.virtual_loss)
        tree.fit(x, y, seed=int(rng.integers(2**31)))
        for leaf in tree.leaves:  # the best observation of every leaf seeds local moves too
            rows = tree.nodes[leaf].rows
            centres.append(obs[rows[np.argmax(y[rows])]][None, :])
    cands = candidates(searcher, np.concatenate(centres))
    info: dict[str, object] = {"n_candidates": len(cands), "n_leaves": len(tree.leaves) if tree else 1, "leaves": []}
    if len(cands) == 0:
        return cands, info
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
    leaves: list[int] = []
    while len(picks) < n and free.any():
        region, node = free, -1
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
    info["leaves"] = leaves
    return cands[picks], info
