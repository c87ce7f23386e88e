"""Is LA-MCTS + BO worth it? The searcher on synthetic problems, beside what a user would pick instead.

Issues 5 and 13. Budget 128 evaluations = 16 rounds x batch 8; every model-based method starts from
the same 16 Sobol points. Problems: Ackley, Levy, Rosenbrock and Rastrigin on the 41-digit grid
(Table 1 ranges) with a planted optimum and a random digit permutation per seed, and a latency-tier
problem over a 2^16 Sobol pool (``gpunet_search.experiments.synthetic``). Methods: LA-MCTS+BO, the
same BO without the tree, Optuna ``GPSampler`` and ``TPESampler`` (multivariate, constant liar),
SMAC3's HPO facade (the optional ``bench-search`` extra; HEBO does not install against the
project's numpy), random and Sobol. The baselines ask a whole batch before any of it is told; on the
tier their infeasible or repeated proposals are snapped to the nearest unevaluated tier network and
counted. GPSampler and SMAC take seconds per proposal: ``--cache DIR`` keeps finished baseline runs
so a long benchmark can be run in parts.

Reports median and IQR of simple regret at 32/64/128 evaluations, the tier problem's best-found
rank, duplicates, infeasible proposals and seconds per proposal, LA-MCTS+BO against its ablation and
against the best baseline of each problem seed by seed (Wilcoxon); checks the targets
(``gpunet_search.experiments.report``); times one ``ask(8)`` with 500 observations (its bound is
``report.ASK_SECONDS_TARGET``).
Writes ``<out>/search_synthetic.{json,md,png}`` atomically (``benchmarks/results`` by default).
Timings are per-process with one torch thread; run it alone for clean seconds-per-proposal figures::

    flock /tmp/gpunet-timing.lock python benchmarks/search_synthetic.py --cache ~/.cache/gpunet-bench
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from gpunet_hub.errors import EnvironmentProblem, InputError
from gpunet_search.experiments.baselines import baseline_info
from gpunet_search.experiments.bench import METHODS, PROBLEMS, BenchSettings, run_all, time_ask
from gpunet_search.experiments.report import markdown_table, summarise, targets, targets_text, write_results
from gpunet_search.workflow.plan import parse_override

RESULTS = Path(__file__).parent / "results"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=20, help="number of seeds (FIRST..FIRST+N-1)")
    parser.add_argument("--first-seed", type=int, default=0, help="first seed (100: fresh instances to confirm on)")
    parser.add_argument("--cache", type=Path, default=None, help="folder reusing finished baseline runs")
    parser.add_argument("--budget", type=int, default=128)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--n-init", type=int, default=16)
    parser.add_argument("--problems", default=",".join(PROBLEMS))
    parser.add_argument("--methods", default=",".join(METHODS))
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--out", type=Path, default=RESULTS)
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="FIELD=VALUE",
                        help="override a SearcherConfig default for both searchers (repeatable), e.g. liar=mean")
    parser.add_argument("--ask-obs", type=int, default=500, help="history size of the ask(8) timing (0 skips it)")
    args = parser.parse_args(argv)
    try:
        settings = BenchSettings(
            problems=tuple(args.problems.split(",")),
            methods=tuple(args.methods.split(",")),
            seeds=tuple(range(args.first_seed, args.first_seed + args.seeds)),
            budget=args.budget,
            batch=args.batch,
            n_init=args.n_init,
            config={k: v for o in args.overrides for k, v in parse_override(o).items()},
        )
        settings.validate()
    except (InputError, EnvironmentProblem) as exc:
        parser.error(str(exc))
    total = len(settings.problems) * len(settings.methods) * len(settings.seeds)
    done = 0

    def progress(record: dict) -> None:
        nonlocal done
        done += 1
        print(f"[{done}/{total}] {record['problem']} {record['method']} seed {record['seed']}: "
              f"regret {record['regret'][-1]:.4g} ({record['wall_seconds']:.1f} s)", file=sys.stderr, flush=True)

    # The ask timing comes first, in a process that has done nothing else yet (as a user's would),
    # not after the runs have filled its heap.
    ask_timing = [time_ask(args.ask_obs, 8, repeats=5, use_tree=tree, config=settings.config) for tree in (True, False)] if args.ask_obs else []
    start = time.perf_counter()
    records = run_all(settings, workers=args.workers, progress=progress, cache=args.cache)
    elapsed = time.perf_counter() - start
    command = "python benchmarks/search_synthetic.py " + " ".join(argv if argv is not None else sys.argv[1:])
    paths = write_results(records, settings, args.out, meta={"command": command.strip(), "libraries": baseline_info(), "wall_seconds": elapsed, "workers": args.workers, "ask_timing": ask_timing})
    summary = summarise(records, settings)
    print(markdown_table(summary))
    print()
    print(targets_text(targets(summary, settings, records)))
    for t in ask_timing:
        print(f"- ask({t['batch']}) with {t['n_obs']} observations, {'LA-MCTS+BO' if t['use_tree'] else 'BO (no tree)'}: "
              f"median {t['median']:.3f} s, max {t['max']:.3f} s over {len(t['seconds'])} asks (target < 2 s)")
    print(f"\nwall time {elapsed:.0f} s; wrote {', '.join(str(p) for p in paths.values())}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
