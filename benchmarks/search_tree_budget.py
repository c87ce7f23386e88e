"""When does the LA-MCTS tree pay? The searcher with and without its tree at growing budgets (issue 13).

For each budget (128, 256, 512 evaluations by default; batches of 8 from the same 16 Sobol starts),
runs LA-MCTS+BO and its no-tree ablation on the four synthetic functions and the tier problem
(``gpunet_search.experiments.synthetic``) for the same seeds, and reports per (problem, budget) the
median final regret of both, the seed-by-seed wins / losses / ties of the tree and a two-sided
Wilcoxon signed-rank p-value, and the median seconds per proposal. Writes
``benchmarks/results/search_tree_budget.{json,md}``::

    flock /tmp/gpunet-timing.lock python benchmarks/search_tree_budget.py --seeds 5
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from gpunet_hub._io import atomic_write_text
from gpunet_hub.errors import InputError
from gpunet_search.experiments.bench import PROBLEMS, BenchSettings, run_all
from gpunet_search.experiments.report import paired, paired_cells, summarise

RESULTS = Path(__file__).parent / "results"


def sweep(problems: tuple[str, ...], budgets: list[int], seeds: tuple[int, ...], workers: int) -> dict[str, dict]:
    """``{problem: {budget: row}}`` of the tree against its ablation."""
    out: dict[str, dict] = {p: {} for p in problems}
    for budget in budgets:
        settings = BenchSettings(problems=problems, methods=("lamcts_bo", "bo"), seeds=seeds, budget=budget)
        records = run_all(settings, workers=workers,
                          progress=lambda r, b=budget: print(f"  budget {b}: {r['problem']} {r['method']} seed {r['seed']}: "
                                                             f"regret {r['regret'][-1]:.4g}", file=sys.stderr, flush=True))
        summary = summarise(records, settings)
        for problem in problems:
            rows = summary[problem]
            out[problem][str(budget)] = {
                "tree_median": rows["lamcts_bo"]["regret"][str(budget)]["median"],
                "no_tree_median": rows["bo"]["regret"][str(budget)]["median"],
                "tree_vs_no_tree": paired(records, problem, "lamcts_bo", "bo"),
                "seconds_per_proposal": {m: rows[m]["seconds_per_proposal"] for m in ("lamcts_bo", "bo")},
            }
    return out


def markdown(rows: dict[str, dict]) -> str:
    lines = ["| problem | budget | tree median | no-tree median | tree wins / losses / ties | Wilcoxon p | s/proposal tree / no tree |",
             "|---|---|---|---|---|---|---|"]
    for problem, budgets in rows.items():
        for budget, r in budgets.items():
            spp = r["seconds_per_proposal"]
            lines.append(f"| {problem} | {budget} | {r['tree_median']:.4g} | {r['no_tree_median']:.4g} | "
                         f"{paired_cells(r['tree_vs_no_tree'])} | {spp['lamcts_bo']:.3f} / {spp['bo']:.3f} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=5, help="number of seeds (FIRST..FIRST+N-1)")
    parser.add_argument("--first-seed", type=int, default=0)
    parser.add_argument("--budgets", type=int, nargs="+", default=[128, 256, 512])
    parser.add_argument("--problems", default=",".join(PROBLEMS))
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--out", type=Path, default=RESULTS / "search_tree_budget.json")
    args = parser.parse_args(argv)
    settings = BenchSettings(problems=tuple(args.problems.split(",")), methods=("lamcts_bo", "bo"), budget=max(args.budgets))
    try:
        settings.validate()  # names checked before any run
    except InputError as exc:
        parser.error(str(exc))
    seeds = tuple(range(args.first_seed, args.first_seed + args.seeds))
    start = time.perf_counter()
    rows = sweep(settings.problems, sorted(args.budgets), seeds, args.workers)
    command = "python benchmarks/search_tree_budget.py " + " ".join(argv if argv is not None else sys.argv[1:])
    result = {"benchmark": "search_tree_budget", "command": command.strip(), "seeds": list(seeds), "batch": 8, "n_init": 16,
              "wall_seconds": round(time.perf_counter() - start, 1), "rows": rows}
    atomic_write_text(args.out, json.dumps(result, indent=1) + "\n")
    table = markdown(rows)
    atomic_write_text(args.out.with_suffix(".md"), f"# The tree against its ablation, by budget\n\n`{result['command']}`\n\n{table}\n")
    print(table)
    print(f"\nwrote {args.out}, {args.out.with_suffix('.md')}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
