"""Regenerate a hub on this CPU with the ``cpu-digits`` preset, and keep its report (issue 12, "Presets and proof").

Runs ``gpunet-hub search regenerate --preset cpu-digits`` (sample, LUT, calibration, >= 3 tiers, a
distributed search per tier at the evaluator's default proxy, final training, ONNX export and bench on
onnxruntime CPU, model cards, report) into ``--out``, then copies its ``report.md`` and Pareto plot
into ``benchmarks/results/regenerate_cpu_digits/`` with a ``summary.json`` of the figures the report
states: tier fidelity, the LUT's signed error and the top-1 per tier, time per stage, wall time.

The run resumes: run the same command again after an interruption. ``--rebench`` benches the
trained entries again (and rewrites the cards and report); every invocation appends its bench rows
to ``bench_history.json``, which shows how far the machine's speed moves between runs. Run it alone (other engineers
time on this machine too), and expect up to an hour on 2 cores::

    flock /tmp/gpunet-timing.lock .venv/bin/python benchmarks/regenerate_cpu_digits.py
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import time
from pathlib import Path

from gpunet_hub._io import atomic_write_text, utc_now
from gpunet_search.workflow import make_plan, open_context, run
from gpunet_search.workflow.report import PLOT_FILE, REPORT_FILE

RESULTS = Path(__file__).parent / "results" / "regenerate_cpu_digits"
GOAL_SECONDS = 3600.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("regenerated_cpu_digits"), help="The run's output folder.")
    parser.add_argument("--results", type=Path, default=RESULTS, help="Where report.md, the plot and summary go.")
    parser.add_argument(
        "--rebench",
        action="store_true",
        help="Bench the trained entries again (stages 7-9 rerun; earlier stages resume) to see this machine's drift.",
    )
    args = parser.parse_args()

    plan = make_plan("cpu-digits")
    ctx = open_context(plan, args.out)
    if args.rebench:
        for name in ("bench", "cards", "report"):
            ctx.state.stages.pop(name, None)
        ctx.state.save()
    start = time.perf_counter()
    runs = run(ctx)
    wall = time.perf_counter() - start
    stages = {r.name: r for r in runs}
    report = stages["report"].output
    total = sum(ctx.state.stages[name].seconds for name in stages if name != "report")
    args.results.mkdir(parents=True, exist_ok=True)
    for name in (REPORT_FILE, PLOT_FILE):
        shutil.copyfile(ctx.path(name), args.results / name)
    summary = {
        "preset": "cpu-digits",
        "date": utc_now(),
        "device": ctx.device.to_dict(),
        "cpus": os.cpu_count(),
        "load_average_at_end": list(os.getloadavg()),
        "plan": plan.to_dict(),
        "tier_fidelity": report["tier_fidelity"],
        "lut_signed_error": report["lut_error"],
        "top1_per_tier": report["top1"],
        "seconds_per_stage": {name: ctx.state.stages[name].seconds for name in stages},
        "seconds_total_all_attempts": total,
        "seconds_this_invocation": wall,
        "resumed_stages": [r.name for r in runs if r.action == "skipped"],
        "goal_seconds": GOAL_SECONDS,
        "within_goal": total <= GOAL_SECONDS,
    }
    atomic_write_text(args.results / "summary.json", json.dumps(summary, indent=2) + "\n")
    # Every invocation's bench of the same trained networks, to show how far this machine's speed moves.
    history_file = args.results / "bench_history.json"
    history = json.loads(history_file.read_text()) if history_file.exists() else []
    bench_rows = json.loads(ctx.path("bench.json").read_text())
    history.append(
        {
            "date": utc_now(),
            "load_average": list(os.getloadavg()),
            "rows": [
                {k: row.get(k) for k in ("key", "ms", "round_medians_ms", "tier_measured_ms", "lo_ms", "hi_ms", "in_tier")}
                for row in bench_rows
            ],
        }
    )
    atomic_write_text(history_file, json.dumps(history, indent=2) + "\n")
    fidelity = report["tier_fidelity"]
    print(
        f"tier fidelity {fidelity:.0%}; top-1 per tier {report['top1']}; {total / 60:.1f} min over all attempts "
        f"(goal {GOAL_SECONDS / 60:.0f}); report and plot -> {args.results}"
    )


if __name__ == "__main__":
    main()
