"""The optimisers a maintainer could pick instead of the searcher, run at the benchmark's budget.

Optuna's ``TPESampler`` (multivariate, constant liar) and ``GPSampler`` (its defaults: Matern-5/2
ARD GP, LogEI, qLogEI over running trials, mixed-space acquisition optimiser), and SMAC3's
hyper-parameter-optimisation facade (random forest, EI, local + random search; HEBO was the other
candidate but requires ``numpy<1.25`` and does not install against this project's pins). Each works
on the digits' level indices (``0 .. n_levels - 1``, ordinal), asks a batch of ``settings.batch``
proposals before any of them is told, and starts from the same initial points as the searcher.

On the tier problem a proposal that is infeasible or already evaluated is *snapped* to the nearest
unevaluated tier pool member (charged, and counted), so every method evaluates exactly the budget
of feasible networks.
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from .bench import BenchSettings, _Problem

OPTUNA_SAMPLERS = ("tpe", "gp")


class _Snapper:
    """Replaces infeasible or repeated tier proposals by the nearest unevaluated tier pool member."""

    def __init__(self, problem: _Problem, evaluated: np.ndarray) -> None:
        self.problem = problem
        self.grid = problem.grid
        self.seen = set(self.grid.keys(evaluated))
        self.pool = problem.pool_levels
        self.snapped = 0
        if self.pool is not None:
            self.free = np.ones(len(self.pool), dtype=np.bool_)
            self.index = {k: i for i, k in enumerate(self.grid.keys(self.pool))}
            for key in self.seen:
                if key in self.index:
                    self.free[self.index[key]] = False
            self.pool_x = self.grid.normalise(self.pool)

    def __call__(self, rows: np.ndarray) -> np.ndarray:
        """The rows to evaluate (canonical level rows); snaps on the tier problem only."""
        rows = self.grid.canonical(rows)
        if self.pool is None:
            return rows
        ok = self.problem.feasible(self.grid.to_vectors(rows))
        for j, row in enumerate(rows):
            key = self.grid.keys(row)[0]
            if key in self.seen or not ok[j]:
                free = np.flatnonzero(self.free)
                nearest = free[np.argmin(((self.pool_x[free] - self.grid.normalise(row)) ** 2).sum(1))]
                rows[j] = self.pool[nearest]
                key = self.grid.keys(rows[j])[0]
                self.snapped += 1
            self.seen.add(key)
            if key in self.index:
                self.free[self.index[key]] = False
        return rows


def _batches(
    problem: _Problem,
    init_levels: np.ndarray,
    settings: BenchSettings,
    ask: Callable[[int], tuple[list[Any], np.ndarray]],
    tell: Callable[[list[Any], np.ndarray, np.ndarray, np.ndarray], None],
) -> tuple[np.ndarray, float, int]:
    """The ask/tell loop: batches of ``settings.batch`` until the budget, snapping on the tier.

    Args:
        problem: The problem.
        init_levels: The initial points (already told).
        settings: Budget and batch.
        ask: ``ask(size) -> (handles, proposed level rows)``.
        tell: ``tell(handles, proposed rows, evaluated rows, losses)``.

    Returns:
        The evaluated vectors in order (the initial points first), seconds spent asking, snaps.
    """
    grid = problem.grid
    evaluated = list(init_levels)
    snap = _Snapper(problem, init_levels)
    seconds = 0.0
    while len(evaluated) < settings.budget:
        t0 = time.perf_counter()
        handles, raw = ask(min(settings.batch, settings.budget - len(evaluated)))
        rows = snap(raw)
        seconds += time.perf_counter() - t0
        tell(handles, raw, rows, problem.loss(grid.to_vectors(rows)))
        evaluated.extend(rows)
    return grid.to_vectors(np.array(evaluated)), seconds, snap.snapped


def run_optuna(
    problem: _Problem, seed: int, init: np.ndarray, settings: BenchSettings, sampler: str
) -> tuple[np.ndarray, float, int]:
    """Optuna ``tpe`` or ``gp`` in ask/tell batches.

    Returns:
        The evaluated vectors in order (the initial points first), seconds spent asking, snaps.
    """
    import optuna
    from optuna.distributions import BaseDistribution, IntDistribution

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    grid = problem.grid
    dists: dict[str, BaseDistribution] = {
        f"d{i:02d}": IntDistribution(0, int(n) - 1) for i, n in enumerate(grid.n_levels)
    }
    if sampler == "tpe":
        chosen: optuna.samplers.BaseSampler = optuna.samplers.TPESampler(
            multivariate=True, constant_liar=True, n_startup_trials=settings.n_init, seed=seed
        )
    else:
        chosen = optuna.samplers.GPSampler(n_startup_trials=settings.n_init, seed=seed)
    study = optuna.create_study(direction="minimize", sampler=chosen)
    init_levels = grid.to_levels(init)
    for row, loss in zip(init_levels, problem.loss(init), strict=True):
        params = {name: int(v) for name, v in zip(dists, row, strict=True)}
        study.add_trial(optuna.trial.create_trial(params=params, distributions=dists, value=float(loss)))

    def ask(size: int) -> tuple[list[Any], np.ndarray]:
        trials = [study.ask(dists) for _ in range(size)]
        return trials, np.array([[t.params[name] for name in dists] for t in trials])

    def tell(trials: list[Any], raw: np.ndarray, rows: np.ndarray, losses: np.ndarray) -> None:
        for trial, raw_row, row, loss in zip(trials, raw, rows, losses, strict=True):
            if np.array_equal(grid.canonical(raw_row)[0], row):
                study.tell(trial, float(loss))
            else:  # snapped: the sampler learns the network evaluated, not its proposal
                study.tell(trial, state=optuna.trial.TrialState.FAIL)
                params = {name: int(v) for name, v in zip(dists, row, strict=True)}
                study.add_trial(optuna.trial.create_trial(params=params, distributions=dists, value=float(loss)))

    return _batches(problem, init_levels, settings, ask, tell)


def run_smac(problem: _Problem, seed: int, init: np.ndarray, settings: BenchSettings) -> tuple[np.ndarray, float, int]:
    """SMAC3's HPO facade (random forest + EI) in ask/tell batches, deterministic objective.

    The initial design is the shared initial points. The acquisition optimiser is SMAC's own local
    and sorted random search with ``challengers=2000`` (its default, 10000, costs ~15 s per batch of
    8 on this 41-digit space; see the benchmark's report for the seconds per proposal).

    Returns:
        The evaluated vectors in order (the initial points first), seconds spent asking, snaps.
    """
    import logging

    from ConfigSpace import Configuration, ConfigurationSpace, Integer
    from smac import HyperparameterOptimizationFacade as HPO
    from smac import Scenario
    from smac.initial_design import DefaultInitialDesign
    from smac.runhistory.dataclasses import TrialValue

    logging.getLogger("smac").setLevel(logging.ERROR)
    grid = problem.grid
    names = [f"d{i:02d}" for i in range(grid.n_digits)]
    space = ConfigurationSpace(seed=seed)
    space.add([Integer(name, (0, int(n) - 1)) for name, n in zip(names, grid.n_levels, strict=True)])
    init_levels = grid.to_levels(init)
    init_configs = [Configuration(space, {k: int(v) for k, v in zip(names, row, strict=True)}) for row in init_levels]
    with tempfile.TemporaryDirectory() as out:
        scenario = Scenario(
            space, deterministic=True, n_trials=settings.budget * 4, seed=seed, output_directory=Path(out)
        )
        design = DefaultInitialDesign(scenario, n_configs=0, additional_configs=init_configs)
        smac = HPO(
            scenario,
            lambda config, seed=0: 0.0,
            initial_design=design,
            acquisition_maximizer=HPO.get_acquisition_maximizer(scenario, challengers=2000),
            intensifier=HPO.get_intensifier(scenario, max_config_calls=1),
            config_selector=HPO.get_config_selector(scenario, retrain_after=settings.batch),
            overwrite=True,
            logging_level=logging.ERROR,
        )
        losses = problem.loss(init)
        for _ in init_configs:  # the design hands the initial points back first
            info = smac.ask()
            row = np.array([info.config[k] for k in names])
            j = int(np.flatnonzero((init_levels == row).all(1))[0])
            smac.tell(info, TrialValue(cost=float(losses[j])))

        def ask(size: int) -> tuple[list[Any], np.ndarray]:
            infos = [smac.ask() for _ in range(size)]
            return infos, np.array([[info.config[k] for k in names] for info in infos])

        def tell(infos: list[Any], raw: np.ndarray, rows: np.ndarray, losses: np.ndarray) -> None:
            # A snapped proposal is told the value of the network that replaced it (SMAC refuses
            # results for configurations it did not ask).
            for info, loss in zip(infos, losses, strict=True):
                smac.tell(info, TrialValue(cost=float(loss)))

        return _batches(problem, init_levels, settings, ask, tell)


# The libraries a baseline's results depend on: its cache key holds their versions, so installing or
# upgrading another baseline's library keeps its finished runs valid.
LIBRARIES = {
    "gp": ("optuna", "torch", "scipy"),
    "tpe": ("optuna",),
    "smac": ("smac", "ConfigSpace", "scikit-learn"),
}


def baseline_info(method: str | None = None) -> dict[str, Any]:
    """Versions of the baseline libraries: those ``method`` uses, or all of them (recorded with the results)."""
    from importlib.metadata import PackageNotFoundError, version

    names = LIBRARIES.get(method, ()) if method else sorted({n for group in LIBRARIES.values() for n in group})
    out: dict[str, Any] = {}
    for name in names:
        try:
            out[name] = version(name)
        except PackageNotFoundError:
            out[name] = None
    return out
