"""Does the bench harness add overhead, and how repeatable is its median? (issue 3, item 8)

(a) Overhead: on one ONNX file of GPUNet-0 and one onnxruntime session (1 thread), the harness
    (``gpunet_hub.measure._ort.time_onnx``) and a plain hand-written ``session.run`` loop are timed in
    interleaved rounds (ABBA order: harness then plain, then plain then harness, ...), so machine drift hits both alike. The
    ratio harness/plain of each round's medians is reported; target 1.00 +/- 0.03.
(b) Repeatability: five full bench runs (the ``gpunet-hub bench`` path: cached export, new session,
    default CPU plan of >= 2 s) and the CV of their medians; target under 3 % on CPU.

Run it alone on the machine (other engineers share it)::

    flock /tmp/gpunet-timing.lock .venv/bin/python benchmarks/bench_harness.py

Writes ``benchmarks/results/bench_harness.json`` and prints a table.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import numpy as np

from gpunet_hub._io import atomic_write_text
from gpunet_hub._io import utc_now
from gpunet_hub.measure import _ort as ort_backend
from gpunet_hub.measure._run import BenchConfig, bench_target, export_cached, hub_target
from gpunet_hub.measure.registry import device_for
from gpunet_hub.measure.stats import TimingPlan, summarize

RESULTS = Path(__file__).parent / "results" / "bench_harness.json"


def plain_loop(session, feeds: dict, warmup: int, runs: int) -> list[float]:
    """The loop a user would write by hand: perf_counter_ns around session.run."""
    for _ in range(warmup):
        session.run(None, feeds)
    times = []
    for _ in range(runs):
        t0 = time.perf_counter_ns()
        session.run(None, feeds)
        times.append((time.perf_counter_ns() - t0) / 1e6)
    return times


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", default="gpunet_0")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--rounds", type=int, default=8, help="interleaved overhead rounds")
    parser.add_argument("--runs", type=int, default=40, help="timed runs per round and method")
    parser.add_argument("--repeats", type=int, default=5, help="full bench runs for the spread")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)

    target = hub_target(args.model)
    config = BenchConfig(backend="onnxruntime-cpu", precision="fp32", threads=args.threads, plan=TimingPlan.cpu())
    onnx_path = export_cached(target.build(), target.name, target.input_size, config, target.fingerprint)

    # (a) harness vs plain loop, interleaved, same session and input
    session = ort_backend.create_session(onnx_path, threads=args.threads)
    feeds = ort_backend.random_inputs(session, seed=0)
    plain_loop(session, feeds, warmup=10, runs=0)
    rounds = []
    for index in range(args.rounds):
        # ABBA order: even rounds time the harness first, odd rounds the plain loop first
        if index % 2:
            plain = plain_loop(session, feeds, warmup=5, runs=args.runs)
        harness = ort_backend.time_onnx(session, threads=args.threads, warmup=5, min_runs=args.runs, min_seconds=0, max_runs=args.runs)
        if not index % 2:
            plain = plain_loop(session, feeds, warmup=5, runs=args.runs)
        h, p = harness.summary.median, float(np.median(plain))
        rounds.append({"harness_median_ms": h, "plain_median_ms": p, "ratio": h / p})
    ratios = [r["ratio"] for r in rounds]
    overhead = {
        "rounds": rounds,
        "ratio_median": statistics.median(ratios),
        "ratio_min": min(ratios),
        "ratio_max": max(ratios),
        "ratio_of_min_medians": min(r["harness_median_ms"] for r in rounds) / min(r["plain_median_ms"] for r in rounds),
        "target": "1.00 +/- 0.03",
    }
    overhead["within_target"] = abs(overhead["ratio_median"] - 1.0) <= 0.03

    # (b) five full bench runs (export cached, new session each time, default CPU plan)
    device = device_for("onnxruntime-cpu", args.threads)
    runs = []
    for _ in range(args.repeats):
        record = bench_target(target, config, device=device)
        runs.append({"median_ms": record.stats.median, "n": record.stats.n, "cv_within_run": record.stats.cv})
    medians = [r["median_ms"] for r in runs]
    spread = summarize(medians)
    repeat = {
        "runs": runs,
        "median_of_medians_ms": spread.median,
        "cv_of_medians": spread.cv,
        "min_ms": spread.min,
        "max_ms": spread.max,
        "target": "CV < 3 %",
        "within_target": spread.cv < 0.03,
    }

    result = {
        "date": utc_now(),
        "model": target.name,
        "input_shape": [1, *target.input_size],
        "device": device.to_dict(),
        "backend": f"onnxruntime-cpu {__import__('onnxruntime').__version__}",
        "threads": args.threads,
        "overhead": overhead,
        "repeatability": repeat,
        "command": " ".join([Path(sys.argv[0]).name, *(argv if argv is not None else sys.argv[1:])]),
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(args.out, json.dumps(result, indent=2) + "\n")

    print(f"{target.name} 1x{'x'.join(map(str, target.input_size))} on {device.label}, onnxruntime-cpu, fp32")
    print(f"{'metric':<52} {'value':>12}  target")
    print(f"{'(a) harness / plain loop, median of round ratios':<52} {overhead['ratio_median']:>12.3f}  1.00 +/- 0.03")
    print(f"{'    range over ' + str(args.rounds) + ' interleaved rounds':<52} {overhead['ratio_min']:>5.3f}-{overhead['ratio_max']:<6.3f}")
    print(f"{'    harness median / plain median (min of rounds)':<52} {overhead['ratio_of_min_medians']:>12.3f}")
    print(f"{'(b) median of ' + str(args.repeats) + ' bench runs (ms)':<52} {spread.median:>12.2f}")
    print(f"{'    CV of the ' + str(args.repeats) + ' medians':<52} {100 * spread.cv:>11.2f}%  < 3 %")
    print(f"{'    min / max median (ms)':<52} {spread.min:>5.2f}/{spread.max:<6.2f}")
    print(f"written: {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
