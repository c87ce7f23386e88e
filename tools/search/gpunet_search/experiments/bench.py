"""The synthetic benchmark of the searcher: runs, one (problem, method, seed) at a time.

Every run spends ``budget`` evaluations in rounds of ``batch``; the model-based methods (LA-MCTS+BO,
BO without the tree, Optuna TPE) start from the same ``n_init`` Sobol points, which are also the
head of the Sobol baseline. On the tier problem the searchers get the tier's pool members and the
tier as feasibility predicate; TPE's proposals that are infeasible or already evaluated are snapped
to the nearest unevaluated tier pool member (charged, and counted). Summaries and files:
:mod:`gpunet_search.experiments.report`.
"""

from __future__ import annotations

import importlib.util
import json
import time
import warnings
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import numpy as np

from gpunet_hub import _validate
from gpunet_hub._io import atomic_write_text, json_sha256
from gpunet_hub.errors import EnvironmentProblem, InputError

from ..search.grid import LevelGrid
from ..search.searcher import LamctsBoSearcher, SearcherConfig
from .baselines import OPTUNA_SAMPLERS, run_optuna, run_smac
from .synthetic import FUNCTIONS, GridFunction, TierProblem

METHODS = ("lamcts_bo", "bo", "gp", "smac", "tpe", "random", "sobol")
MODEL_BASED = ("lamcts_bo", "bo", "gp", "smac", "tpe")
SEARCHERS = ("lamcts_bo", "bo")  # this project's, never cached
PROBLEMS = (*FUNCTIONS, "tier")


@dataclass(frozen=True)
class BenchSettings:
    """Settings of one benchmark.

    Attributes:
        problems: Problem names (the four functions and/or ``tier``).
        methods: Method names.
        seeds: Seeds (each draws a problem instance and the methods' randomness).
        budget: Evaluations per run.
        batch: Proposals per round.
        n_init: Shared Sobol initial points of the model-based methods.
        tier_pool_bits: The tier problem's pool has ``2**tier_pool_bits`` Sobol networks.
        config: Overrides of :class:`SearcherConfig` for both searchers.
    """

    problems: tuple[str, ...] = PROBLEMS
    methods: tuple[str, ...] = METHODS
    seeds: tuple[int, ...] = tuple(range(10))
    budget: int = 128
    batch: int = 8
    n_init: int = 16
    tier_pool_bits: int = 16
    config: dict[str, Any] = field(default_factory=dict)

    def validate(self) -> None:
        """Raises :class:`InputError` on unknown names, fields or an inconsistent budget, and
        :class:`EnvironmentProblem` when a chosen baseline's library is not installed."""
        for name in self.problems:
            if name not in PROBLEMS:
                raise InputError(f"unknown problem {name!r}; choose from {', '.join(PROBLEMS)}")
        for name in self.methods:
            if name not in METHODS:
                raise InputError(f"unknown method {name!r}; choose from {', '.join(METHODS)}")
        _validate.integer(self.batch, "batch", minimum=1, maximum=4096)
        _validate.integer(self.n_init, "n_init", minimum=2)
        _validate.integer(self.budget, "budget", minimum=2, maximum=1_000_000)
        _validate.integer(self.tier_pool_bits, "tier_pool_bits", minimum=4, maximum=24)
        for seed in self.seeds:
            _validate.integer(seed, "seeds", minimum=0)
        if not isinstance(self.config, dict):
            raise InputError(f"config must be a dict of SearcherConfig fields, got {self.config!r}", params=("config",))
        known = [f.name for f in fields(SearcherConfig)]
        unknown = sorted(set(self.config) - set(known))
        if unknown:
            raise InputError(
                f"unknown SearcherConfig field(s) {', '.join(unknown)}; choose from {', '.join(known)}",
                params=("config",),
            )
        SearcherConfig(**self.config)  # types and ranges, before any run
        if self.budget < self.n_init:
            raise InputError(
                f"need batch >= 1 and budget >= n_init >= 2 (got {self.batch}, {self.budget}, {self.n_init})"
            )
        # The environment last: bad input is reported as such even where SMAC3 is missing.
        if "smac" in self.methods and importlib.util.find_spec("smac") is None:
            raise EnvironmentProblem(
                "the smac baseline needs SMAC3, the optional extra: pip install 'gpunet-hub[bench-search]'"
            )


class _Problem:
    """Common face of a function and the tier problem: minimised ``loss`` and a regret."""

    def __init__(self, name: str, seed: int, pool_bits: int) -> None:
        self.name = name
        self.grid = LevelGrid("table1")
        self.tier = TierProblem(seed, pool_bits=pool_bits) if name == "tier" else None
        self.fn = GridFunction(name, seed) if self.tier is None else None
        self.pool = None if self.tier is None else self.tier.tier_vectors  # the searchers' pool (None: Sobol)
        self.pool_levels = None if self.pool is None else self.grid.to_levels(self.pool)

    @property
    def function(self) -> GridFunction:
        """The test function (every problem but the tier one)."""
        if self.fn is None:
            raise InputError(f"problem {self.name!r} is not a test function")
        return self.fn

    def loss(self, vectors: np.ndarray) -> np.ndarray:
        if self.tier is not None:
            return -self.tier.accuracy(vectors)
        return self.function(vectors)

    def regret(self, loss: np.ndarray) -> np.ndarray:
        if self.tier is not None:
            return np.maximum(self.tier.best + np.asarray(loss), 0.0)
        return self.function.regret(loss)

    def feasible(self, vectors: np.ndarray) -> np.ndarray:
        if self.tier is not None:
            return self.tier.feasible(vectors)
        return np.ones(len(vectors), dtype=bool)

    def sobol(self, n: int, seed: int) -> np.ndarray:
        if self.tier is not None:
            return self.tier.tier_vectors[:n]
        return self.grid.to_vectors(self.grid.sobol(n, seed))


def run_one(problem_name: str, method: str, seed: int, settings: BenchSettings) -> dict[str, Any]:
    """Runs one method on one problem instance.

    Returns:
        A JSON-able record: the loss of each evaluation in order, the best-so-far regret trace,
        duplicates, infeasible proposals, snapped proposals (TPE on the tier), seconds per proposal,
        and for the tier problem the best-so-far rank trace.
    """
    import torch

    torch.set_num_threads(1)
    warnings.simplefilter("ignore")
    problem = _Problem(problem_name, seed, settings.tier_pool_bits)
    init = problem.sobol(settings.budget, seed)[: settings.n_init]
    record: dict[str, Any] = {"problem": problem_name, "method": method, "seed": seed, "snapped": 0}
    start = time.perf_counter()
    if method in ("lamcts_bo", "bo"):
        vectors, ask_seconds = _run_searcher(problem, method, seed, init, settings)
    elif method in OPTUNA_SAMPLERS:
        vectors, ask_seconds, record["snapped"] = run_optuna(problem, seed, init, settings, method)
    elif method == "smac":
        vectors, ask_seconds, record["snapped"] = run_smac(problem, seed, init, settings)
    elif method == "sobol":
        vectors, ask_seconds = problem.sobol(settings.budget, seed), 0.0
    else:
        vectors, ask_seconds = _run_random(problem, seed, settings), 0.0
    losses = problem.loss(vectors)
    regret = problem.regret(np.minimum.accumulate(losses))
    keys = problem.grid.keys(problem.grid.to_levels(vectors))
    n_proposed = len(vectors) - (settings.n_init if method in MODEL_BASED else 0)
    record.update(
        losses=losses.tolist(),
        regret=regret.tolist(),
        duplicates=len(keys) - len(set(keys)),
        infeasible=int((~problem.feasible(vectors)).sum()),
        seconds_per_proposal=ask_seconds / max(n_proposed, 1),
        wall_seconds=time.perf_counter() - start,
    )
    if problem.tier is not None:
        record["rank"] = problem.tier.rank(-np.minimum.accumulate(losses)).tolist()
    return record


def _run_searcher(
    problem: _Problem, method: str, seed: int, init: np.ndarray, settings: BenchSettings
) -> tuple[np.ndarray, float]:
    config = SearcherConfig(**{**settings.config, "use_tree": method == "lamcts_bo", "n_init": settings.n_init})
    searcher = LamctsBoSearcher(
        "table1",
        mode="min",
        feasible=problem.tier.feasible if problem.tier is not None else None,
        pool=problem.pool,
        seed=seed,
        config=config,
    )
    searcher.tell(init, problem.loss(init))
    seconds = 0.0
    while searcher.n_observations < settings.budget:
        t0 = time.perf_counter()
        batch = searcher.ask(min(settings.batch, settings.budget - searcher.n_observations))
        seconds += time.perf_counter() - t0
        if not batch:
            break
        searcher.tell(batch, problem.loss(np.array(batch)))
    return searcher.observations()[0], seconds


def _run_random(problem: _Problem, seed: int, settings: BenchSettings) -> np.ndarray:
    rng = np.random.default_rng([seed, 31337])
    if problem.tier is not None:
        pool = problem.tier.tier_vectors
        return pool[rng.choice(len(pool), settings.budget, replace=False)]
    return problem.grid.to_vectors(problem.grid.random(settings.budget, rng))


def time_ask(
    n_obs: int = 500,
    batch: int = 8,
    repeats: int = 5,
    use_tree: bool = True,
    seed: int = 0,
    config: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Wall time of one ``ask(batch)`` with ``n_obs`` observations (Ackley values, random networks).

    Each repeat asks a batch and cancels it, so every ask sees the same history. ``config`` holds
    :class:`SearcherConfig` overrides (``use_tree`` wins over one there).

    Returns:
        ``{"n_obs", "batch", "use_tree", "seconds": [...], "median", "max"}``.
    """
    import torch

    torch.set_num_threads(1)
    warnings.simplefilter("ignore")
    problem = GridFunction("ackley", seed)
    grid = problem.grid
    settings = SearcherConfig(**{**(config or {}), "use_tree": use_tree})
    searcher = LamctsBoSearcher("table1", mode="min", seed=seed, config=settings)
    levels = grid.random(n_obs * 2, np.random.default_rng(seed))
    _, first = np.unique(np.ascontiguousarray(levels, dtype=np.int8), axis=0, return_index=True)
    vectors = grid.to_vectors(levels[np.sort(first)][:n_obs])
    searcher.tell(vectors, problem(vectors))
    seconds = []
    for _ in range(repeats + 1):  # the first ask also pays imports and warm-up; not counted
        t0 = time.perf_counter()
        proposals = searcher.ask(batch)
        seconds.append(time.perf_counter() - t0)
        searcher.cancel(proposals)
    seconds = seconds[1:]
    return {
        "n_obs": n_obs,
        "batch": batch,
        "use_tree": use_tree,
        "seconds": seconds,
        "median": float(np.median(seconds)),
        "max": float(np.max(seconds)),
    }


def run_all(
    settings: BenchSettings, workers: int = 2, progress: Any = None, cache: Path | None = None
) -> list[dict[str, Any]]:
    """Runs every (problem, method, seed) of ``settings``, in up to ``workers`` processes.

    Args:
        settings: What to run.
        workers: Processes (1 runs in this process).
        progress: Optional callable ``progress(record)`` called as each run finishes.
        cache: Optional folder of finished runs of the *baselines* (every method but this project's
            searchers, whose code is what is being measured): a run found there under the same
            settings and library versions is reused, a new one is saved there. The baselines cost
            most of the benchmark's time (GPSampler and SMAC take seconds per proposal).

    Returns:
        The run records, in a deterministic order (problem, method, seed).
    """
    settings.validate()
    tasks = [(p, m, s, settings) for p in settings.problems for m in settings.methods for s in settings.seeds]
    records: list[dict[str, Any]] = []
    todo = []
    for task in tasks:
        cached = _cache_path(cache, *task) if cache is not None else None
        if cached is not None and cached.exists():
            records.append(json.loads(cached.read_text()))
            if progress:
                progress(records[-1])
        else:
            todo.append(task)

    def done(record: dict[str, Any]) -> None:
        records.append(record)
        path = _cache_path(cache, record["problem"], record["method"], record["seed"], settings) if cache else None
        if path is not None:
            atomic_write_text(path, json.dumps(record))
        if progress:
            progress(record)

    if workers <= 1:
        for task in todo:
            done(run_one(*task))
    elif todo:
        import multiprocessing as mp

        with mp.get_context("spawn").Pool(workers, maxtasksperchild=20) as pool:
            for record in pool.imap_unordered(_run_task, todo):
                done(record)
    order = {(p, m, s): i for i, (p, m, s, _) in enumerate(tasks)}
    return sorted(records, key=lambda r: order[(r["problem"], r["method"], r["seed"])])


def _cache_path(cache: Path | None, problem: str, method: str, seed: int, settings: BenchSettings) -> Path | None:
    """Where a baseline run is cached (None for this project's searchers, never cached)."""
    if cache is None or method in SEARCHERS:
        return None
    from .baselines import baseline_info

    key = json_sha256(
        [
            problem,
            method,
            seed,
            settings.budget,
            settings.batch,
            settings.n_init,
            settings.tier_pool_bits,
            baseline_info(method),
        ],
        12,
    )
    cache.mkdir(parents=True, exist_ok=True)
    return cache / f"{problem}-{method}-{seed}-{key}.json"


def _run_task(task: tuple[str, str, int, BenchSettings]) -> dict[str, Any]:
    return run_one(*task)
