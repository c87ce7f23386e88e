"""Time the ``smoke`` preset of the regenerate workflow end to end (issue 12: "under 2 minutes on 2 cores").

Runs ``gpunet-hub search regenerate --preset smoke`` into a fresh temporary folder (so nothing is
resumed), loads one entry of the hub it wrote with ``gpunet_hub.load(hub=...)``, and writes the wall
time of the whole command, the time per stage and the goal to
``benchmarks/results/regenerate_smoke.json``. Ray starts inside the measured time, as it does for a
user. Run it alone::

    flock /tmp/gpunet-timing.lock .venv/bin/python benchmarks/regenerate_smoke.py [--repeats 2]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time
from pathlib import Path

import gpunet_hub
from gpunet_hub._io import atomic_write_text, utc_now
from gpunet_search.workflow import make_plan, open_context, run

RESULTS = Path(__file__).parent / "results" / "regenerate_smoke.json"
GOAL_SECONDS = 120.0


def one_run() -> dict:
    with tempfile.TemporaryDirectory(prefix="gpunet-smoke-") as tmp:
        start = time.perf_counter()
        ctx = open_context(make_plan("smoke"), Path(tmp) / "out")
        runs = run(ctx)
        wall = time.perf_counter() - start
        entries = next(r.output for r in runs if r.name == "cards")["entries"]
        model = gpunet_hub.load(entries[0], hub=ctx.path("hub"))
        return {
            "seconds": round(wall, 1),
            "seconds_per_stage": {r.name: round(ctx.state.stages[r.name].seconds, 1) for r in runs},
            "actions": sorted({r.action for r in runs}),
            "entries": entries,
            "loaded": type(model).__name__,
        }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=2, help="Fresh runs (the median is reported).")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()
    os.environ.setdefault("RAY_AUTH_MODE", "disabled")
    load_before = list(os.getloadavg())
    runs = [one_run() for _ in range(args.repeats)]
    median = statistics.median(r["seconds"] for r in runs)
    report = {
        "benchmark": "regenerate_smoke",
        "date": utc_now(),
        "cpus": os.cpu_count(),
        "load_average_before": load_before,
        "load_average_after": list(os.getloadavg()),
        "runs": runs,
        "seconds_median": median,
        "goal_seconds": GOAL_SECONDS,
        "within_goal": median <= GOAL_SECONDS,
    }
    atomic_write_text(args.out, json.dumps(report, indent=2) + "\n")
    print(json.dumps({k: report[k] for k in ("seconds_median", "goal_seconds", "within_goal")}))


if __name__ == "__main__":
    main()
