"""The LA-MCTS + BO ask/tell searcher (issue 5): grid, feasibility, uniqueness, diversity, state."""

from __future__ import annotations

import json

import numpy as np
import pytest

pytest.importorskip("botorch")
pytest.importorskip("sklearn")

from gpunet_hub.errors import InputError
from gpunet_hub.space import check_many
from gpunet_search.experiments.synthetic import GridFunction
from gpunet_search.search.bo import GPSurrogate, log_ei
from gpunet_search.search.grid import LevelGrid
from gpunet_search.search.searcher import STATE_VERSION, LamctsBoSearcher, SearcherConfig

SMALL = SearcherConfig(
    n_init=8, pool_size=512, max_pool_candidates=256, n_local_centres=4, n_local_per_centre=16,
    gp_max_iter=10, leaf_size=6,
)


def _feasible(vectors: np.ndarray) -> np.ndarray:
    """A stand-in for "LUT latency within the tier": resolution <= 320 and stage 7 at most 6 layers."""
    return (vectors[:, 0] <= 320) & (vectors[:, 40] <= 6)


def _searcher(**kwargs) -> LamctsBoSearcher:
    kwargs.setdefault("config", SMALL)
    return LamctsBoSearcher("table1", mode=kwargs.pop("mode", "min"), seed=kwargs.pop("seed", 0), **kwargs)


def _objective(vectors) -> np.ndarray:
    return GridFunction("ackley", seed=0)(np.asarray(vectors))


def test_proposals_respect_grid_feasibility_and_uniqueness() -> None:
    s = _searcher(feasible=_feasible, config=SearcherConfig(**{**SMALL.__dict__, "use_tree": True}))
    asked: list[list[int]] = []
    carried: list[list[int]] = []
    for round_ in range(5):
        batch = s.ask(8)
        assert len(batch) == 8
        asked += batch
        # Tell all but two; those stay pending into the next ask, which must not repeat them.
        tell, keep = (batch, []) if round_ == 4 else (batch[:-2], batch[-2:])
        tell = tell + carried
        s.tell(tell, _objective(tell))
        carried = keep
    array = np.array(asked)
    assert check_many(array, "table1").all()
    assert _feasible(array).all()
    assert len({tuple(v) for v in asked}) == len(asked)
    assert s.n_observations == 40 and not s.pending


def test_local_moves_are_feasible_and_new() -> None:
    # A tiny pool forces the searcher to live on local moves, which must stay feasible and unseen.
    pool = LevelGrid("table1").to_vectors(LevelGrid("table1").sobol(64, seed=1))
    pool = pool[_feasible(pool)][:20]
    s = _searcher(feasible=_feasible, pool=pool)
    seen: set[tuple[int, ...]] = set()
    for _ in range(5):
        batch = s.ask(8)
        assert len(batch) == 8
        assert _feasible(np.array(batch)).all()
        assert not seen.intersection(map(tuple, batch))
        seen.update(map(tuple, batch))
        s.tell(batch, _objective(batch))
    assert not {tuple(v) for v in pool}.issuperset(seen)  # local moves were proposed


def test_virtual_visits_move_the_ucb_walk_to_another_leaf() -> None:
    from gpunet_search.search.lamcts import PartitionTree

    rng = np.random.default_rng(0)
    x = rng.random((60, 4))
    y = -((x - 0.2) ** 2).sum(1)
    tree = PartitionTree(leaf_size=10, cp=0.5).fit(x, y, seed=0)
    assert len(tree.leaves) > 1
    first = tree.select()
    leaves = set()
    for _ in range(40):
        path = tree.select()
        leaves.add(path[-1])
        tree.visit(path)
    assert first[-1] in leaves and len(leaves) >= 2
    # Every observation routes to the leaf that holds it.
    for leaf in tree.leaves:
        assert (tree.route(x[tree.nodes[leaf].rows]) == leaf).all()
    with pytest.raises(InputError, match="leaf_size"):
        PartitionTree(leaf_size=1)


def test_batches_spread_over_leaves_and_pending_points_repel() -> None:
    s = _searcher(seed=3)  # default Cp with virtual loss
    init = s.ask(8) + s.ask(8)
    s.tell(init, _objective(init))
    s.ask(8)  # leaves 8 pending points
    batch = s.ask(8)
    assert len({tuple(v) for v in batch}) == 8
    assert s.last_info["n_leaves"] > 1
    assert len(set(s.last_info["leaves"])) >= 2, "virtual visits should spread a batch over leaves"
    # The mechanism of the GP side: a fantasy at a point collapses its LogEI.
    rng = np.random.default_rng(0)
    x = rng.random((30, 5))
    post = GPSurrogate(x, -((x - 0.5) ** 2).sum(1), max_iter=10).posterior()
    cands = rng.random((50, 5))
    before = post.log_ei(cands)
    top = int(np.argmax(before))
    after = post.believe(cands[top][None, :]).log_ei(cands)
    assert after[top] < before[top] - 1.0
    assert np.argmax(after) != top


def test_log_ei_is_finite_far_below_the_incumbent() -> None:
    values = log_ei(np.array([-40.0, -5.0, 0.0, 2.0]), np.ones(4), 0.0)
    assert np.isfinite(values).all() and np.all(np.diff(values) > 0)


@pytest.mark.parametrize("mode", ["min", "max"])
def test_minimisation_and_maximisation(mode: str) -> None:
    grid = LevelGrid("table1")

    def objective(vectors) -> np.ndarray:  # smooth: the sum of normalised levels
        return grid.normalise(grid.to_levels(np.asarray(vectors))).sum(1)

    s = _searcher(mode=mode, seed=1)
    init = s.ask(8)
    s.tell(init, objective(init))
    init_best = (max if mode == "max" else min)(objective(init))
    for _ in range(4):
        batch = s.ask(8)
        s.tell(batch, objective(batch))
    best_vector, best_value = s.best()
    assert best_value == pytest.approx(objective([best_vector])[0])
    assert (best_value > init_best + 1.0) if mode == "max" else (best_value < init_best - 1.0)


def _state_after_two_rounds(seed: int) -> tuple[LamctsBoSearcher, list[list[int]]]:
    s = _searcher(seed=seed, feasible=_feasible)
    for _ in range(2):
        batch = s.ask(8)
        s.tell(batch, _objective(batch))
    pending = s.ask(8)
    return s, pending


def test_save_load_continue_matches_an_uninterrupted_run() -> None:
    a, pending = _state_after_two_rounds(seed=7)
    state = json.loads(json.dumps(a.state_dict()))  # JSON-able
    assert state["version"] == STATE_VERSION and len(state["pending"]) == 8
    # Uninterrupted run.
    a.tell(pending[:5], _objective(pending[:5]))
    next_a = a.ask(8)
    # Crashed and restored run: a fresh searcher, the saved state, the same tells.
    b = _searcher(seed=7, feasible=_feasible)
    b.load_state_dict(state)
    assert sorted(b.pending) == sorted(pending)
    b.tell(pending[:5], _objective(pending[:5]))
    assert b.ask(8) == next_a
    # A different seed does not give the same proposals (the comparison above can fail).
    c, pending_c = _state_after_two_rounds(seed=8)
    assert pending_c != pending


def test_restore_tolerates_unknown_pending_ids() -> None:
    a, pending = _state_after_two_rounds(seed=2)
    state = json.loads(json.dumps(a.state_dict()))
    state["pending"] += [{"id": "not-a-network", "vector": [1, 2, 3]}, {"id": "no-vector"}, "garbage"]
    b = _searcher(seed=2, feasible=_feasible)
    b.load_state_dict(state)
    assert sorted(b.pending) == sorted(pending)
    # A result the searcher never asked for, and a cancel of something unknown, are accepted.
    stranger = LevelGrid("table1").to_vectors(LevelGrid("table1").sobol(600, seed=99)[-1:]).tolist()
    b.tell(stranger, _objective(stranger))
    b.cancel(stranger)
    b.cancel(pending[:1])
    assert len(b.pending) == 7
    assert len(b.ask(8)) == 8


def test_state_rejects_other_versions_spaces_and_pools() -> None:
    a, _ = _state_after_two_rounds(seed=0)
    state = a.state_dict()
    with pytest.raises(InputError, match="version"):
        _searcher(feasible=_feasible).load_state_dict({**state, "version": 99})
    with pytest.raises(InputError, match="space"):
        LamctsBoSearcher("release", config=SMALL, feasible=_feasible).load_state_dict(state)
    with pytest.raises(InputError, match="pool"):
        _searcher(seed=1, feasible=_feasible).load_state_dict(state)
    with pytest.raises(InputError, match="mode"):
        _searcher(mode="max", feasible=_feasible).load_state_dict(state)


def test_bad_input_raises_typed_errors() -> None:
    s = _searcher()
    batch = s.ask(2)
    with pytest.raises(InputError):
        s.tell(batch, [1.0])
    with pytest.raises(InputError):
        s.tell(batch, [1.0, float("nan")])
    bad = [list(batch[0])]
    bad[0][0] = 225
    with pytest.raises(InputError):
        s.tell(bad, [1.0])
    s.tell(batch, [1.0, 2.0])
    with pytest.raises(InputError, match="already"):
        s.tell(batch[:1], [0.5])
    with pytest.raises(InputError):
        LamctsBoSearcher("table1", mode="maximise")
    with pytest.raises(InputError, match="feasible"):
        LamctsBoSearcher("table1", feasible=lambda v: np.zeros(len(v), dtype=bool), config=SMALL)
    with pytest.raises(InputError, match="liar"):
        LamctsBoSearcher("table1", config=SearcherConfig(liar="optimist"))
    with pytest.raises(InputError, match="kernel"):
        LamctsBoSearcher("table1", config=SearcherConfig(kernel="sigmoidal"))


@pytest.mark.parametrize("seed", [0, 7])
def test_default_pool_holds_the_stage1_sample_networks_of_the_same_seed(seed: int) -> None:
    from gpunet_search.latency.sampling import sample

    pool = LamctsBoSearcher("table1", seed=seed, config=SMALL).pool
    samples = sample(SMALL.pool_size, "table1", seed=seed).encodings
    assert len(pool) > 0.9 * SMALL.pool_size
    assert np.array_equal(pool, samples)
    assert not np.array_equal(pool, LamctsBoSearcher("table1", seed=seed + 1, config=SMALL).pool)


def test_search_state_is_a_frozen_copy() -> None:
    s = _searcher(seed=4)
    batch = s.ask(4)
    s.tell(batch[:3], _objective(batch[:3]))
    state = s.search_state()
    assert state.observed.shape == (3, 41) and state.pending.shape == (1, 41)
    assert len(state.free_pool) == len(s.pool) - 4 and len(state.taken) == 4
    assert np.array_equal(state.values, -_objective(batch[:3]))  # minimised: larger is better
    with pytest.raises(ValueError):
        state.observed[0, 0] = 1
    s.tell(batch[3:], _objective(batch[3:]))
    assert state.pending.shape == (1, 41) and s.search_state().pending.shape == (0, 41)
