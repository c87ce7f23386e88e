"""One model-based ``ask`` as a pure function of a :class:`~.state.SearchState`.

Candidates, the GP, climbs of LogEI over the grid, tree regions and the batch loop. The searcher
passes its state, its random generator and its feasibility test, and applies the result; nothing
here touches the searcher.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from .acqopt import climb, sweep
from .bo import fit_surrogate
from .lamcts import PartitionTree
from .state import SearchState

LevelFeasibility = Callable[[np.ndarray], np.ndarray]


@dataclass(frozen=True)
class Proposal:
    """The outcome of :func:`propose`.

    Attributes:
        levels: Up to ``n`` level rows, unique, feasible, none observed or pending.
        info: Diagnostics: the number of candidates, of tree leaves, the leaf of each pick (-1
            without a tree) and the GP kernel fitted (the chosen one with ``gp_kernel="auto"``).
        gp_hyper: The GP hyper-parameters of this fit (the next fit's start with ``gp_warm_start``).
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
    """Chooses ``n`` level rows: a multi-start climb of LogEI over the grid, then a greedy batch.

    The GP is fitted once; pending points are fantasies (:meth:`Posterior.believe`). One climb
    (:func:`acqopt.climb`) starts from the best feasible observations, the best observation of every
    tree leaf, and the best-scoring rows of a candidate set (free pool members, local moves around
    the best observations, random grid points). The batch is then picked greedily from the best
    unseen rows the climb and the candidate set scored: each pick is the best LogEI under the
    fantasies of the picks before it, inside the region of a leaf chosen by UCB when the tree is on.

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
    radius = grid.n_digits
    if cfg.trust_region:
        feasible, radius = _trust_region(feasible, obs, y, n, cfg.tr_patience, cfg.tr_min_radius)
    gp, kernel, hyper = fit_surrogate(
        x, y, kernel=cfg.gp_kernel, max_iter=cfg.gp_max_iter, fit_subsample=cfg.fit_subsample,
        init=state.gp_hyper if cfg.gp_warm_start else None, rng=rng, n_levels=grid.n_levels,
    )  # fmt: skip
    plain = gp.posterior(cfg.posterior_subsample, rng)
    base = plain.believe(grid.normalise(state.pending), cfg.liar)

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
        # The best observation of each of the best leaves seeds local moves and a climb too (capped:
        # a deep tree has tens of leaves, and each start costs a climb).
        leaf_rows = [tree.nodes[leaf].rows for leaf in tree.leaves]
        leaf_tops = [rows[np.argmax(y[rows])] for rows in leaf_rows]
        for top in sorted(leaf_tops, key=lambda r: -y[r])[: cfg.n_start_leaves]:
            centres.append(obs[top][None, :])
        if len(state.pending):
            for path in tree.paths(tree.route(grid.normalise(state.pending))):
                tree.visit(path)
    random_rows = grid.random(cfg.n_random_candidates, rng)
    cands = np.concatenate(
        [candidates(state, np.concatenate(centres), rng, feasible), random_rows[feasible(random_rows)]]
    )
    if cfg.trust_region:
        cands = cands[feasible(cands)]  # the free pool members too
    cx = grid.normalise(cands)
    leaves: list[int] = []
    info: dict[str, object] = {
        "n_candidates": len(cands),
        "n_leaves": len(tree.leaves) if tree else 1,
        "leaves": leaves,
        "n_scored": 0,
        "trust_radius": radius,
        "gp_kernel": kernel,
    }
    # One multi-start climb of LogEI (pending points as fantasies) over the grid ...
    scores = base.log_ei(cx)
    obs_ok = feasible(obs)
    best_obs = obs[order[obs_ok[order]][: cfg.n_start_best]]
    leaf_best = np.concatenate(centres[1:]) if len(centres) > 1 else np.zeros((0, grid.n_digits), dtype=np.int64)
    leaf_best = leaf_best[feasible(leaf_best)] if len(leaf_best) else leaf_best
    starts = np.concatenate([best_obs, leaf_best, cands[np.argsort(-scores, kind="stable")[: cfg.n_start_model]]])
    acquisition = lambda rows: base.log_ei(grid.normalise(rows))  # noqa: E731
    if cfg.climb == "sweep":
        result = sweep(grid, acquisition, starts, feasible, cfg.climb_steps, rng)
    else:
        result = climb(grid, acquisition, starts, feasible, cfg.climb_steps)
    # ... then the batch, greedily, from the best rows the climbs and the candidate set scored.
    pool = np.concatenate([result.visited, cands])
    pool_scores = np.concatenate([result.visited_scores, scores])
    keep = np.argsort(-pool_scores, kind="stable")
    keep = keep[np.array([k not in state.taken for k in grid.keys(pool[keep])], dtype=bool)]
    _, first = np.unique(np.ascontiguousarray(pool[keep], dtype=np.int8), axis=0, return_index=True)
    keep = keep[np.sort(first)][: cfg.batch_candidates]
    finalists, fx = pool[keep], grid.normalise(pool[keep])
    info["n_scored"] = len(cands) + len(result.visited) + len(finalists) * max(n - 1, 0)
    info["climb_steps"] = result.steps
    free = np.ones(len(finalists), dtype=bool)
    regions: dict[int, np.ndarray] = {}
    exhausted: set[int] = set()
    picks: list[int] = []
    post = base
    in_batch = [grid.normalise(state.pending)]
    normals = (
        _normal_draws(cfg.batch_samples, len(state.pending) + n, rng) if cfg.batch_acquisition == "qlogei" else None
    )
    while len(picks) < n and free.any():
        region, node, path = free, -1, []
        if tree is not None:
            path = tree.select(set(range(len(tree.nodes))) - exhausted)
            node = path[-1]
            region = free & tree.region(node, fx, regions)
            if not region.any():  # nothing left in this region: never select it again
                exhausted.add(node)
                if node == 0:
                    break
                continue
        rows = np.flatnonzero(region)
        if normals is None:
            best = rows[int(np.argmax(post.log_ei(fx[rows])))]
            post = post.believe(fx[best][None, :], cfg.liar)
        else:
            best = rows[int(np.argmax(plain.batch_log_ei(fx[rows], np.concatenate(in_batch), normals)))]
            in_batch.append(fx[best][None, :])
        picks.append(int(best))
        leaves.append(node)
        free[best] = False
        if tree is not None:
            tree.visit(path)
    levels = finalists[picks]
    return Proposal(levels, info, hyper)


def _normal_draws(n_samples: int, dims: int, rng: np.random.Generator) -> np.ndarray:
    """Scrambled-Sobol standard normal draws (n_samples, dims), the Monte Carlo base of qLogEI."""
    from scipy.special import ndtri
    from scipy.stats import qmc

    uniform = qmc.Sobol(max(dims, 1), scramble=True, rng=rng).random(n_samples)
    return ndtri(np.clip(uniform, 1e-9, 1 - 1e-9))


def _trust_region(
    feasible: LevelFeasibility, observed: np.ndarray, values: np.ndarray, n: int, patience: int, min_radius: int
) -> tuple[LevelFeasibility, int]:
    """Feasibility restricted to a Hamming ball around the best observation, and the ball's radius.

    The trust region of CASMOPOLITAN (Wan et al., 2021) for categorical spaces, derived from the
    history alone so it needs no state: the radius is every digit while the best observation is
    recent, and halves each time ``patience`` batches of ``n`` pass without a better one, down to
    ``min_radius`` digits.
    """
    best = int(np.argmax(values))
    stale = len(values) - 1 - best
    radius = max(min_radius, observed.shape[1] >> min(stale // (patience * n), 16))
    centre = observed[best]

    def inside(rows: np.ndarray) -> np.ndarray:
        rows = np.atleast_2d(rows)
        if len(rows) == 0:
            return np.zeros(0, dtype=bool)
        return feasible(rows) & ((rows != centre).sum(1) <= radius)

    return inside, radius
