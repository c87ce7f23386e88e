"""Ask/tell searcher: LA-MCTS-boosted Bayesian optimisation over the whole feasible grid.

The searcher proposes 41-int vectors of a search space. A GP (:mod:`gpunet_search.search.bo`,
Matern-5/2 ARD) scores networks by LogEI, and its maximum is searched over the whole feasible grid by
a multi-start climb (:mod:`gpunet_search.search.acqopt`) that starts from the best observations and
from the best members of a finite pool (pre-sampled feasible networks, e.g. the Sobol networks of
one latency tier), local moves and random networks. With the tree on
(:mod:`gpunet_search.search.lamcts`) each proposal of a batch comes from the region of a leaf chosen
by UCB. Pending points are fantasised in the GP and visit the tree virtually, so a batch is diverse.
``use_tree=False`` is the plain-BO ablation.
"""

from __future__ import annotations

import logging
import numbers
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, fields, replace
from typing import Any

import numpy as np

from gpunet_hub import _validate
from gpunet_hub._io import json_sha256
from gpunet_hub.errors import InputError
from gpunet_hub.space import SearchSpace

from .acqopt import CLIMBS
from .bo import BATCH_ACQUISITIONS, KERNEL_CHOICES, LIARS
from .grid import LevelGrid
from .lamcts import KERNELS
from .state import SearchState, frozen_array

log = logging.getLogger(__name__)

STATE_VERSION = 3  # 2: the pool fingerprint is json_sha256 of its level rows; 3: Matern GP + grid climbs
Feasibility = Callable[[np.ndarray], np.ndarray]


@dataclass(frozen=True)
class SearcherConfig:
    """Parameters of :class:`LamctsBoSearcher`; the defaults are the benchmark's choice.

    ``cp``, ``leaf_size`` and ``virtual_loss`` were chosen on held-out instances (seeds 100-105 of
    the four synthetic functions, 128 evaluations; the reported benchmark uses seeds 0-19): median
    regret at 128 of Cp 0.05 / leaf 20 / virtual loss beat the no-tree BO on all four there, while
    Cp 0.25 was worse on all four than Cp 0.1, and without virtual loss a batch stays in one leaf.
    With the grid climbs and the worst-value liar the tree still ties its ablation seed by seed
    (``benchmarks/results/search_tree_budget.md``: three seeds at 128, 256 and 512 evaluations,
    lower medians at 512 on three of four functions but no p below 0.25), so ``use_tree`` stays
    on as the paper's method until a budget where it pays is shown.

    Attributes:
        use_tree: LA-MCTS on (False: plain BO, the ablation).
        leaf_size: A tree node with more observations is split.
        cp: UCB exploration constant (values scaled to [0, 1]).
        kernel: SVM kernel of the tree.
        max_depth: Deepest tree level.
        virtual_loss: Pending points count as visits of the worst value in the tree's UCB.
        n_init: Observations before the model is used; until then the pool is taken in order.
        pool_size: Size of the Sobol pool generated when none is given.
        max_pool_candidates: Pool members scored per ``ask`` (a random subset when more remain).
        n_local_centres: Best observations that local moves start from.
        n_local_per_centre: Local moves drawn per centre.
        local_max_digits: Most digits one local move shifts.
        liar: Fantasy value of pending points: ``min`` (a constant liar with the worst standardised
            observation, the default), ``mean`` (kriging believer) or ``max``. With the believer the
            climbs of one batch end in the same basin and the batch crowds there; the worst-value
            liar pushes the later picks of a batch away from the earlier ones: with ``mean`` the
            runs of seeds 0-9 were worse on Ackley and Levy for both searchers (9 or 10 losses of
            10, Wilcoxon p <= 0.014; the comparison file named at ``batch_acquisition``).
        batch_acquisition: How the picks of one batch are chosen after the first: ``liar`` (the
            default; the pending and earlier picks are fantasies with the ``liar`` value) or
            ``qlogei`` (the greedy step of qLogEI, as Optuna's ``GPSampler`` batches: each pick
            maximises the expected improvement it adds to the pending and earlier picks, by Monte
            Carlo over their joint posterior, :meth:`~.bo.Posterior.batch_log_ei`). The climbs see
            pending points as ``liar`` fantasies either way. On the benchmark's seeds 0-9 the two
            tie seed by seed (Wilcoxon p >= 0.49 for both searchers on every function;
            ``benchmarks/results/search_synthetic_ablations/search_settings_compare.md``).
        batch_samples: Quasi-random joint samples of the batch for ``qlogei`` (a power of two).
        gp_kernel: ``matern`` (Matern-5/2) or ``rbf``, ARD with BoTorch's dimension-scaled prior,
            ``matern+additive``: a scaled ``matern`` plus a first-order orthogonal additive kernel
            (one component per digit, :mod:`.kernels`), or ``auto`` (the default): both ``matern``
            and ``matern+additive`` fitted at every ``ask``, the one with the higher leave-one-out
            predictive density used (:func:`~.bo.fit_surrogate`). The additive kernel alone was
            better on the additive Rastrigin and worse on Rosenbrock, whose terms couple digit
            pairs, and on Ackley; the choice keeps its gain where the objective is close to additive
            (``tools/search/README.md`` has the figures).
        gp_max_iter: L-BFGS cap of each GP hyper-parameter fit. The cap regularises and bounds
            the ``ask`` time: 200 warm-started iterations were worse with the tree on Ackley (1
            win of 10, p = 0.004) and better on no function; with fresh fits, 20 did better than
            30 on Levy with the tree and as well elsewhere (``tools/search/README.md`` has the
            figures).
        gp_warm_start: Start each fit from the previous fit's hyper-parameters instead of
            BoTorch's initial values (the modes of its priors). Off by default: a warm start
            lets the capped fits add up to an uncapped one over a run, and with ``auto`` it kept
            the additive kernel at a poorer optimum than a fresh fit reaches, so the choice
            turned to ``matern`` at 56 observations on two Ackley seeds and the endgame stalled
            (``tools/search/README.md`` has the figures).
        fit_subsample: Most observations the GP hyper-parameters are fitted on; bounds the fit
            time as history grows.
        n_random_candidates: Random grid points added to the candidate set (climb starts).
        n_start_best: Best feasible observations a climb starts from.
        n_start_model: Best-LogEI candidates a climb starts from.
        n_start_leaves: Tree leaves (the best by their best observation) whose best observation
            seeds local moves and a climb.
        climb: How a climb moves: ``best`` (the default; each step takes the best of every
            one-digit move of the row, :func:`~.acqopt.climb`) or ``sweep`` (coordinate ascent:
            each digit in turn set to its best level, :func:`~.acqopt.sweep`, as Optuna's
            ``GPSampler`` climbs discrete parameters). With ``best`` climbs stop at the
            ``climb_steps`` cap, so they change at most that many digits; ``sweep`` reaches a local
            optimum of LogEI in 3-8 sweeps (``benchmarks/results/search_diagnosis*.md``) and makes ``ask(8)`` with 500 observations about 45 %
            cheaper (``search_synthetic_ablations/ask_timing/``), but on the benchmark's seeds
            0-9 it ties the default seed by seed (Wilcoxon p >= 0.16 for both searchers on every
            function; ``benchmarks/results/search_synthetic_ablations/search_settings_compare.md``),
            so the default stays.
        climb_steps: Most moves of one climb (each scores every one-digit move of the row), or most
            sweeps with ``climb="sweep"``.
        batch_candidates: Best rows the batch is picked from (greedily, with fantasies).
        posterior_subsample: Most observations the acquisition's posterior conditions on (the
            best half and a random half); bounds the cost of ``ask`` with a long history.
        trust_region: Candidates, climbs and picks stay within a Hamming ball around the best
            observation whose radius shrinks while the best is not improved (CASMOPOLITAN's trust
            region for categorical spaces, derived from the history). At 128 evaluations the best
            improves so often that the ball rarely shrinks: with patience 2 the runs equal the
            default's on 78 of 80 function runs, with patience 1 on 52, and no paired test separates
            them (``benchmarks/results/search_synthetic_ablations/search_settings_compare.md``).
        tr_patience: Batches without a better observation per halving of the radius.
        tr_min_radius: Smallest radius, in digits.
    """

    use_tree: bool = True
    leaf_size: int = 20
    cp: float = 0.05
    kernel: str = "rbf"
    max_depth: int = 5
    virtual_loss: bool = True
    n_init: int = 16
    pool_size: int = 8192
    max_pool_candidates: int = 4096
    n_local_centres: int = 8
    n_local_per_centre: int = 64
    local_max_digits: int = 3
    liar: str = "min"
    batch_acquisition: str = "liar"
    batch_samples: int = 128
    gp_kernel: str = "auto"
    gp_max_iter: int = 20
    gp_warm_start: bool = False
    fit_subsample: int = 128
    n_random_candidates: int = 1024
    n_start_best: int = 4
    n_start_model: int = 8
    n_start_leaves: int = 8
    climb: str = "best"
    climb_steps: int = 10
    batch_candidates: int = 2048
    posterior_subsample: int = 256
    trust_region: bool = False
    tr_patience: int = 2
    tr_min_radius: int = 3

    def __post_init__(self) -> None:
        """Refuses a field of the wrong type or out of range (so a loaded state cannot carry one)."""
        for flag in ("use_tree", "virtual_loss", "trust_region", "gp_warm_start"):
            if not isinstance(getattr(self, flag), bool):
                raise InputError(f"{flag} must be True or False, got {getattr(self, flag)!r}", params=(flag,))
        for name, minimum in (
            ("leaf_size", 2),
            ("max_depth", 1),
            ("n_init", 2),
            ("pool_size", 1),
            ("max_pool_candidates", 1),
            ("n_local_centres", 0),
            ("n_local_per_centre", 0),
            ("local_max_digits", 1),
            ("gp_max_iter", 1),
            ("fit_subsample", 2),
            ("n_random_candidates", 0),
            ("n_start_best", 0),
            ("n_start_model", 1),
            ("n_start_leaves", 0),
            ("climb_steps", 0),
            ("batch_candidates", 1),
            ("posterior_subsample", 2),
            ("batch_samples", 1),
            ("tr_patience", 1),
            ("tr_min_radius", 1),
        ):
            _validate.integer(getattr(self, name), name, minimum=minimum)
        _validate.number(self.cp, "cp", minimum=0)
        _validate.choice(self.kernel, "kernel", KERNELS)
        _validate.choice(self.liar, "liar", LIARS)
        _validate.choice(self.batch_acquisition, "batch_acquisition", BATCH_ACQUISITIONS)
        if self.batch_samples & (self.batch_samples - 1):  # scrambled Sobol points balance at 2^m only
            raise InputError(
                f"batch_samples must be a power of two (64, 128, 256, ...), got {self.batch_samples}",
                params=("batch_samples",),
            )
        _validate.choice(self.gp_kernel, "gp_kernel", KERNEL_CHOICES)
        _validate.choice(self.climb, "climb", CLIMBS)


def vector_id(vector: Sequence[int]) -> str:
    """The id of a network: its digits joined by dashes (used for pending entries in the state)."""
    return "-".join(str(int(v)) for v in vector)


class LamctsBoSearcher:
    """LA-MCTS + BO ask/tell searcher over a 41-digit search space.

    Args:
        space: Space name or object.
        mode: ``max`` or ``min``.
        feasible: Optional vectorised predicate ``f(vectors (N, 41) int) -> bool (N,)``; every
            proposal satisfies it (e.g. "LUT latency within the tier").
        pool: Optional (N, 41) array of candidate vectors (invalid or infeasible rows are dropped,
            duplicates too). Default: the space's first ``config.pool_size`` Sobol networks for
            ``seed`` (:meth:`SearchSpace.sobol`), the networks of a sample file drawn with that seed.
        seed: Seeds every random choice; the same seed and the same tells give the same proposals.
        config: Algorithm parameters.

    Raises:
        InputError: On a bad mode, config or pool, or when no feasible pool member exists.
    """

    def __init__(
        self,
        space: str | SearchSpace = "table1",
        *,
        mode: str = "max",
        feasible: Feasibility | None = None,
        pool: np.ndarray | None = None,
        seed: int = 0,
        config: SearcherConfig | None = None,
    ) -> None:
        self.mode = _validate.choice(mode, "mode", ("max", "min"))
        self.seed = _validate.integer(seed, "seed", minimum=0)
        if config is not None and not isinstance(config, SearcherConfig):
            raise InputError(f"config must be a SearcherConfig, got {type(config).__name__}", params=("config",))
        if feasible is not None and not callable(feasible):
            raise InputError(f"feasible must be a function of (N, 41) vectors, got {feasible!r}", params=("feasible",))
        self.grid = LevelGrid(space)
        self.config = config or SearcherConfig()
        self._feasible = feasible
        self._pool_source = "given" if pool is not None else "sobol"
        if pool is None:
            pool_levels = self.grid.sobol(self.config.pool_size, self.seed)
        else:
            pool_levels = self.grid.to_levels(self.grid.vectors(pool, "pool"))
        pool_levels = self._dedupe(pool_levels[self._is_feasible(pool_levels)])
        if len(pool_levels) == 0:
            raise InputError("no pool member is feasible; widen the pool or the feasibility predicate")
        self._pool = pool_levels
        self._pool_index = {k: i for i, k in enumerate(self.grid.keys(pool_levels))}
        self._pool_fingerprint = json_sha256(pool_levels.tolist(), 16)
        self._reset()

    def _reset(self) -> None:
        self._rng = np.random.default_rng(self.seed)
        self._obs_levels: list[np.ndarray] = []
        self._obs_values: list[float] = []
        self._observed: set[bytes] = set()
        self._pending: dict[bytes, np.ndarray] = {}
        self._pool_free = np.ones(len(self._pool), dtype=bool)
        self._hyper: dict[str, list[float]] | None = None
        self.last_info: dict[str, object] = {}  # diagnostics of the last ask (not part of the state)

    # -- helpers -----------------------------------------------------------------------------------
    def _is_feasible(self, levels: np.ndarray) -> np.ndarray:
        if self._feasible is None or len(levels) == 0:
            return np.ones(len(levels), dtype=bool)
        ok = np.asarray(self._feasible(self.grid.to_vectors(levels)), dtype=bool).reshape(-1)
        if ok.shape != (len(levels),):
            raise InputError(f"the feasibility predicate must return one bool per row; got shape {ok.shape}")
        return ok

    def _dedupe(self, levels: np.ndarray) -> np.ndarray:
        _, first = np.unique(np.ascontiguousarray(levels, dtype=np.int8), axis=0, return_index=True)
        return levels[np.sort(first)]

    def _mark(self, key: bytes, free: bool) -> None:
        index = self._pool_index.get(key)
        if index is not None:
            self._pool_free[index] = free

    def _signed(self, values: Sequence[float]) -> np.ndarray:
        y = np.asarray(values, dtype=np.float64)
        return y if self.mode == "max" else -y

    # -- public API --------------------------------------------------------------------------------
    @property
    def n_observations(self) -> int:
        """Number of told observations."""
        return len(self._obs_values)

    @property
    def pool(self) -> np.ndarray:
        """The candidate pool as ``(N, 41)`` vectors (feasible, distinct, in pool order)."""
        return self.grid.to_vectors(self._pool)

    def search_state(self) -> SearchState:
        """A frozen copy of what the searcher knows: observations, pending rows, free pool, last GP fit."""
        n_digits = self.grid.n_digits
        return SearchState(
            grid=self.grid,
            config=self.config,
            observed=frozen_array(np.array(self._obs_levels).reshape(-1, n_digits)),
            values=frozen_array(self._signed(self._obs_values)),
            pending=frozen_array(np.array(list(self._pending.values()), dtype=np.int64).reshape(-1, n_digits)),
            free_pool=frozen_array(self._pool[self._pool_free]),
            taken=frozenset(self._observed.union(self._pending)),
            gp_hyper=self._hyper,
        )

    @property
    def pending(self) -> list[list[int]]:
        """Vectors asked but not yet told (or cancelled)."""
        return (
            [v.tolist() for v in self.grid.to_vectors(np.array(list(self._pending.values())))] if self._pending else []
        )

    def best(self) -> tuple[list[int], float]:
        """The best observation so far as ``(vector, value)``.

        Raises:
            InputError: Before the first observation.
        """
        if not self._obs_values:
            raise InputError("no observation yet")
        i = int(np.argmax(self._signed(self._obs_values)))
        return self.grid.to_vectors(self._obs_levels[i])[0].tolist(), self._obs_values[i]

    def observations(self) -> tuple[np.ndarray, np.ndarray]:
        """All observations as ``(vectors (N, 41), values (N,))`` in the order told."""
        if not self._obs_values:
            return np.zeros((0, self.grid.n_digits), dtype=np.int64), np.zeros(0)
        return self.grid.to_vectors(np.array(self._obs_levels)), np.array(self._obs_values)

    def tell(self, vectors: Sequence[Sequence[int]] | np.ndarray, values: Sequence[float] | np.ndarray) -> None:
        """Records evaluated networks. They need not have been asked (e.g. shared initial points).

        Raises:
            InputError: On an invalid vector, a non-finite value, mismatched lengths, or a network
                already told.
        """
        keys, levels, vals = self._checked_tell(vectors, values, self._observed)
        self._record(keys, levels, vals)

    def _checked_tell(
        self, vectors: object, values: object, observed: set[bytes]
    ) -> tuple[list[bytes], np.ndarray, list[float]]:
        """The keys, level rows and values of a tell, checked without changing the searcher."""
        levels = self.grid.to_levels(self.grid.vectors(vectors, "vectors"))
        if isinstance(values, (str, bytes)) or not hasattr(values, "__len__"):
            raise InputError(f"values must be a sequence of numbers, got {type(values).__name__}", params=("values",))
        raw = np.asarray(values, dtype=object).reshape(-1)
        bad = [v for v in raw if isinstance(v, bool) or not isinstance(v, numbers.Real)]
        if bad:
            raise InputError(f"values must be numbers, got {bad[0]!r}", params=("values",))
        vals = [float(v) for v in raw]
        if len(levels) != len(vals):
            raise InputError(f"got {len(levels)} vectors but {len(vals)} values", params=("vectors", "values"))
        if not all(np.isfinite(vals)):
            raise InputError("values must be finite; cancel() a failed evaluation instead", params=("values",))
        keys = self.grid.keys(levels)
        for key in keys:
            if key in observed:
                raise InputError(
                    f"network {vector_id(self.grid.to_vectors(np.frombuffer(key, np.int8))[0])} was already told",
                    params=("vectors",),
                )
        if len(set(keys)) != len(keys):
            raise InputError("the same network appears twice in one tell", params=("vectors",))
        return keys, levels, vals

    def _record(self, keys: list[bytes], levels: np.ndarray, vals: list[float]) -> None:
        for key, row, value in zip(keys, levels, vals, strict=True):
            self._pending.pop(key, None)
            self._observed.add(key)
            self._mark(key, False)
            self._obs_levels.append(row)
            self._obs_values.append(value)

    def cancel(self, vectors: Sequence[Sequence[int]] | np.ndarray) -> None:
        """Forgets pending networks (failed or abandoned trials); unknown vectors are ignored."""
        for row in self.grid.to_levels(self.grid.vectors(vectors, "vectors")):
            key = self.grid.keys(row)[0]
            if self._pending.pop(key, None) is not None:
                self._mark(key, True)

    def ask(self, n: int = 1) -> list[list[int]]:
        """Proposes up to ``n`` new networks (fewer only when no unseen feasible candidate is left).

        Returns:
            41-int vectors, each feasible, valid, and neither evaluated nor pending; they become
            pending.
        """
        n = _validate.integer(n, "n", minimum=1, maximum=len(self._pool) + 1_000_000)
        if self.n_observations < max(self.config.n_init, 2):
            picks = self._pool[np.flatnonzero(self._pool_free)[:n]]
            self.last_info = {"initial_design": True, "n_candidates": int(self._pool_free.sum())}
        else:
            from threadpoolctl import threadpool_limits

            from ._proposal import propose

            # The GP's matrices are a few hundred rows: BLAS threads only add overhead, and on a
            # machine whose cores are busy with training trials they make ``ask`` much slower.
            with threadpool_limits(limits=1, user_api="blas"):
                proposal = propose(self.search_state(), n, self._rng, self._is_feasible)
            picks, self.last_info, self._hyper = proposal.levels, proposal.info, proposal.gp_hyper
        for row in picks:
            key = self.grid.keys(row)[0]
            self._pending[key] = row
            self._mark(key, False)
        if len(picks) < n:
            log.warning("only %d of %d proposals: the candidate set is exhausted", len(picks), n)
        return [v.tolist() for v in self.grid.to_vectors(picks)] if len(picks) else []

    # -- state -------------------------------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        """The full state (history, pending set, last GP fit, RNG), JSON-able, with a version."""
        vectors, values = self.observations()
        return {
            "version": STATE_VERSION,
            "kind": "gpunet_search.LamctsBoSearcher",
            "space": self.grid.space.name,
            "space_fingerprint": self.grid.space.fingerprint(),
            "mode": self.mode,
            "seed": self.seed,
            "config": asdict(self.config),
            "pool": {"source": self._pool_source, "size": len(self._pool), "fingerprint": self._pool_fingerprint},
            "observations": {"vectors": vectors.tolist(), "values": values.tolist()},
            "pending": [{"id": vector_id(v), "vector": v} for v in self.pending],
            "rng": self._rng.bit_generator.state,
            "gp_hyper": self._hyper,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restores a state saved by :meth:`state_dict` (constructed with the same space and pool).

        Pending entries that are malformed, invalid in the space or already observed are skipped
        with a warning (a driver may have lost or finished them meanwhile).

        Raises:
            InputError: On an unknown version or a different space, mode or pool.
        """
        restored = self._parse_state(state)  # everything is checked before anything changes
        config, seed, (keys, levels, vals), pending, rng, hyper = restored
        self.config, self.seed = config, seed
        self._reset()
        self._record(keys, levels, vals)
        for key, row in pending.items():
            self._pending[key] = row
            self._mark(key, False)
        self._rng = rng
        self._hyper = hyper

    def _parse_state(self, state: object) -> tuple[Any, ...]:
        """The parts of a saved state, each checked, without changing the searcher."""
        if not isinstance(state, dict):
            raise InputError(f"state must be a dict from state_dict(), got {type(state).__name__}", params=("state",))
        if state.get("version") != STATE_VERSION:
            raise InputError(
                f"unsupported searcher state version {state.get('version')!r}; expected {STATE_VERSION} (a state of "
                "another gpunet_search version: resume it with that version, or start afresh)",
                params=("state",),
            )
        mine, theirs = self.grid.space.fingerprint(), state.get("space_fingerprint")
        if theirs != mine:
            name = state.get("space")
            same = (
                " (the same name: the space's definition changed since the state was saved)"
                if name == (self.grid.space.name)
                else ""
            )
            raise InputError(
                f"the state is for space {name!r} with fingerprint {theirs!r}; this searcher uses space "
                f"{self.grid.space.name!r} with fingerprint {mine!r}{same}",
                params=("state",),
            )
        pool = state.get("pool")
        if not isinstance(pool, dict) or pool.get("fingerprint") != self._pool_fingerprint:
            raise InputError(
                "the state was saved with a different candidate pool; pass the same pool and feasibility predicate",
                params=("state",),
            )
        if state.get("mode") != self.mode:
            raise InputError(
                f"the state is for mode {state.get('mode')!r}, this searcher uses {self.mode!r}", params=("state",)
            )
        fields_given = state.get("config", {})
        if not isinstance(fields_given, dict):
            raise InputError("the state's config must be a dict", params=("state",))
        known = {f.name for f in fields(SearcherConfig)}
        unknown = sorted(set(fields_given) - known)
        if unknown:
            raise InputError(f"the state's config has unknown fields {unknown}", params=("state",))
        try:
            config = replace(SearcherConfig(), **fields_given)
        except InputError as exc:
            raise InputError(f"the state's config is refused: {exc}", params=("state",)) from None
        seed = _validate.integer(state.get("seed", self.seed), "seed", minimum=0)
        obs = state.get("observations", {})
        if not isinstance(obs, dict):
            raise InputError("the state's observations must be a dict of vectors and values", params=("state",))
        vectors, values = obs.get("vectors") or [], obs.get("values") or []
        told = self._checked_tell(vectors, values, set())
        pending: dict[bytes, np.ndarray] = {}
        entries = state.get("pending", [])
        for entry in entries if isinstance(entries, list) else []:
            try:
                row = self.grid.to_levels(self.grid.vectors([entry["vector"]], "pending"))[0]
            except (KeyError, TypeError, InputError) as exc:
                log.warning("skipping pending entry %r: %s", entry.get("id") if isinstance(entry, dict) else entry, exc)
                continue
            key = self.grid.keys(row)[0]
            if key not in set(told[0]):
                pending[key] = row
        rng = np.random.default_rng(seed)
        try:
            rng.bit_generator.state = state["rng"]
        except (KeyError, TypeError, ValueError) as exc:
            raise InputError(f"the state's random generator state is invalid: {exc}", params=("state",)) from None
        hyper = state.get("gp_hyper")
        if hyper is not None and not isinstance(hyper, dict):
            raise InputError("the state's gp_hyper must be a dict or null", params=("state",))
        return config, seed, told, pending, rng, hyper
