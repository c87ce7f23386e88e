"""Where does a searcher run lose? Climb lengths, the regret digit by digit, and how the GP ranks the fixes.

For each seed of one synthetic function (``gpunet_search.experiments.synthetic``), runs LA-MCTS+BO
at the benchmark's budget and batching (``--set FIELD=VALUE`` overrides its config) and reports:

* the climb length of every model-based ``ask`` (steps, or sweeps with ``climb=sweep``), to see
  whether climbs reach a local optimum of LogEI or stop at their cap;
* the GP kernel each ``ask`` fitted (with ``gp_kernel=auto``, the one it chose), as runs of the
  same kernel with the number of observations each began at;
* the final regret and the part of it each digit holds (the gain of setting that digit alone to the
  planted optimum's level);
* for each GP kernel, refitted on the run's observations: the LogEI rank, among every single-digit
  move of the best network, of each move that truly improves it, and the predicted and true change
  of the moves that fix the digits holding the most regret. A good model ranks them first; when it
  does not, no optimiser of the acquisition finds them.

Writes ``OUT.json`` and ``OUT.md``::

    python benchmarks/search_diagnosis.py --problem levy --seeds 0 1 2 18 --out benchmarks/results/search_diagnosis
    python benchmarks/search_diagnosis.py --problem levy --seeds 0 1 2 18 --set climb=sweep \\
        --out benchmarks/results/search_diagnosis_sweep
"""

from __future__ import annotations

import argparse
import json
import sys
import warnings
from pathlib import Path
from typing import Any

import numpy as np

from gpunet_hub._io import atomic_write_text
from gpunet_hub.errors import InputError
from gpunet_search.experiments.bench import BenchSettings
from gpunet_search.experiments.synthetic import FUNCTIONS, GridFunction
from gpunet_search.search.bo import GPSurrogate
from gpunet_search.search.kernels import GP_KERNELS
from gpunet_search.search.searcher import LamctsBoSearcher, SearcherConfig
from gpunet_search.workflow.plan import parse_override

RESULTS = Path(__file__).parent / "results"


def run(fn: GridFunction, seed: int, settings: BenchSettings) -> tuple[LamctsBoSearcher, list[int], list[list[Any]]]:
    """The searcher after a benchmark run (the shared Sobol starts, then batches), its climb lengths
    and its kernels as ``[kernel, observations at the first ask of the run]`` runs."""
    grid = fn.grid
    init = grid.to_vectors(grid.sobol(settings.budget, seed))[: settings.n_init]
    config = SearcherConfig(**{**settings.config, "n_init": settings.n_init})
    searcher = LamctsBoSearcher("table1", mode="min", seed=seed, config=config)
    searcher.tell(init, fn(init))
    climbs: list[int] = []
    kernel_runs: list[list[Any]] = []
    while searcher.n_observations < settings.budget:
        n_obs = searcher.n_observations
        batch = searcher.ask(min(settings.batch, settings.budget - searcher.n_observations))
        searcher.tell(batch, fn(np.array(batch)))
        climbs.append(int(searcher.last_info["climb_steps"]))
        kernel = str(searcher.last_info["gp_kernel"])
        if not kernel_runs or kernel_runs[-1][0] != kernel:
            kernel_runs.append([kernel, n_obs])
    return searcher, climbs, kernel_runs


def diagnose(fn: GridFunction, searcher: LamctsBoSearcher, n_top: int = 4) -> dict[str, Any]:
    """Regret by digit at the best network and each kernel's LogEI ranking of its single-digit moves."""
    grid = fn.grid
    best_vector, best_value = searcher.best()
    best = grid.to_levels(np.array([best_vector]))[0]
    gains = []
    for digit in range(grid.n_digits):
        fixed = best.copy()
        fixed[digit] = fn.target[digit]
        gains.append(float(best_value - fn.levels_value(grid.canonical(fixed))[0]))
    moves, _ = grid.single_digit_moves(best[None, :])
    moved_digit = np.argmax(moves != best, axis=1)  # a move that empties a stage also zeroes its hidden digits
    true_gain = best_value - fn.levels_value(moves)
    improving = np.flatnonzero(true_gain > 1e-9)
    top_digits = [int(d) for d in np.argsort(gains)[::-1][:n_top] if gains[d] > 1e-9]
    vectors, values = searcher.observations()
    x, y = grid.normalise(grid.to_levels(vectors)), -values
    kernels: dict[str, Any] = {}
    for kernel in GP_KERNELS:
        if kernel == "rbf":
            continue
        gp = GPSurrogate(x, y, kernel=kernel, n_levels=grid.n_levels, rng=np.random.default_rng(0))
        posterior = gp.posterior()
        score = posterior.log_ei(grid.normalise(moves))
        mean = posterior.mean_var(grid.normalise(moves))[0] * y.std() + y.mean()
        rank = np.argsort(np.argsort(-score, kind="stable"), kind="stable") + 1  # 1: the best LogEI
        fixes = []
        for digit in top_digits:
            j = int(np.flatnonzero((moved_digit == digit) & (moves[:, digit] == fn.target[digit]))[0])
            fixes.append({"digit": digit, "true_gain": float(true_gain[j]),
                          "predicted_gain": float(best_value + mean[j]), "rank": int(rank[j])})  # fmt: skip
        kernels[kernel] = {"improving_ranks": sorted(int(rank[j]) for j in improving), "top_fixes": fixes}
    return {
        "regret": float(fn.regret(np.array([best_value]))[0]),
        "regret_by_digit": gains,
        "n_moves": len(moves),
        "n_improving": len(improving),
        "kernels": kernels,
    }


def markdown(result: dict[str, Any]) -> str:
    lines = [f"# Searcher diagnosis: {result['problem']}, config {result['config'] or 'defaults'}", "",
             f"Command: `{result['command']}`", "",
             "| seed | regret | top digits: regret held | climb lengths (min / median / max, cap) | kernels fitted (from n observations) | refitted kernel | LogEI ranks of the improving moves | top fixes: rank, predicted / true gain |",
             "|---|---|---|---|---|---|---|---|"]  # fmt: skip
    for seed, r in result["seeds"].items():
        climbs = r["climbs"]
        used = ", ".join(f"{kernel} from {n_obs}" for kernel, n_obs in r["kernels_used"])
        held = ", ".join(f"{f['digit']}: {f['true_gain']:.3g}" for f in next(iter(r["kernels"].values()))["top_fixes"])
        for kernel, k in r["kernels"].items():
            fixes = "; ".join(f"d{f['digit']} #{f['rank']}, {f['predicted_gain']:.3g} / {f['true_gain']:.3g}" for f in k["top_fixes"])
            lines.append(f"| {seed} | {r['regret']:.4g} | {held} | {min(climbs)} / {int(np.median(climbs))} / {max(climbs)}, "
                         f"{result['climb_cap']} | {used} | {kernel} | {k['improving_ranks']} of {r['n_moves']} | {fixes} |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--problem", default="levy", help=f"one of {', '.join(FUNCTIONS)}")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="FIELD=VALUE",
                        help="override a SearcherConfig default (repeatable), e.g. climb=sweep")
    parser.add_argument("--out", type=Path, default=RESULTS / "search_diagnosis", help="writes OUT.json and OUT.md")
    args = parser.parse_args(argv)
    try:
        settings = BenchSettings(problems=(args.problem,), methods=("lamcts_bo",), seeds=tuple(args.seeds),
                                 config={k: v for o in args.overrides for k, v in parse_override(o).items()})  # fmt: skip
        settings.validate()
        if args.problem not in FUNCTIONS:
            raise InputError(f"--problem must be a test function ({', '.join(FUNCTIONS)}), got {args.problem!r}")
    except InputError as exc:
        parser.error(str(exc))
    warnings.simplefilter("ignore")
    config = SearcherConfig(**settings.config)
    result: dict[str, Any] = {
        "benchmark": "search_diagnosis", "problem": args.problem, "config": settings.config,
        "budget": settings.budget, "batch": settings.batch, "n_init": settings.n_init,
        "climb": config.climb, "climb_cap": config.climb_steps,
        "command": "python benchmarks/search_diagnosis.py " + " ".join(argv if argv is not None else sys.argv[1:]),
        "seeds": {},
    }  # fmt: skip
    for seed in settings.seeds:
        fn = GridFunction(args.problem, seed)
        searcher, climbs, used = run(fn, seed, settings)
        result["seeds"][str(seed)] = {"climbs": climbs, "kernels_used": used, **diagnose(fn, searcher)}
        print(f"seed {seed}: regret {result['seeds'][str(seed)]['regret']:.4g}", file=sys.stderr, flush=True)
    atomic_write_text(args.out.with_suffix(".json"), json.dumps(result, indent=1) + "\n")
    text = markdown(result)
    atomic_write_text(args.out.with_suffix(".md"), text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
