"""How fast are sampling and LUT estimation for a million networks? (issue 4, item 9)

Times, on this machine, the whole path ``search sample`` + ``search tiers`` takes for 1,000,000
networks of the paper's Table 1 space, split into: Sobol draw, mapping onto the digit grids,
deduplication, key indexing (distinct layer keys and the per-row index, computed from the
``(N, 41)`` array without building a network), the LUT read (SQLite, one row per distinct key), the
summation and the calibration (the default ``linear+weights``, which adds each network's parameter
count). Target: under 10 s in total.

The LUT is "already built": a temporary SQLite LUT is filled beforehand (not timed) with one row per
distinct key. A real CPU LUT for all those keys would take days to measure here (see the report), and
the values do not change the cost of reading and summing them, so the rows hold placeholder
latencies (proportional to each layer's multiply-adds); no latency figure of this benchmark is a
measurement.

    python benchmarks/lut_throughput.py [--n 1000000] [--repeats 3]

Writes ``benchmarks/results/lut_throughput.json`` and prints a table.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from gpunet_hub._io import atomic_write_text
from gpunet_hub.space import get_space, sobol_unit
from gpunet_search.latency.calibration import Calibration
from gpunet_search.latency.estimate import estimate_sums, index_encodings
from gpunet_search.latency.fingerprint import onnxruntime_cpu_device, software_versions
from gpunet_search.latency.lut import LatencyLUT, Measurement
from gpunet_search.latency.sampling import dedupe_rows

RESULTS = Path(__file__).parent / "results" / "lut_throughput.json"
PHASES = ("sobol", "map", "dedupe", "key_index", "lut_read", "sum", "calibrate")


def _fill(path: Path, index, device) -> int:
    rows = []
    for key, code in zip(index.keys, index.codes.tolist()):
        macs = key.cin * key.cout * max(key.expansion, 1.0) * key.kernel**2 * key.h * key.w / key.stride**2
        rows.append(Measurement("layer", device.fingerprint, device.backend, "fp32", 1, str(key), code, 1e-9 * macs + 0.01,
                                0.0, None, 0, 0, 0, versions='{"placeholder": true}', measured_at="placeholder"))
    with LatencyLUT(path) as lut:
        lut.register_device(device)
        return lut.add_rows(rows)


def run_once(n: int, space, lut_path: Path, device, seed: int) -> tuple[dict[str, float], int, int]:
    t = {}
    start = time.perf_counter()
    unit = sobol_unit(n, seed=seed)
    t["sobol"] = time.perf_counter()
    encodings = space.from_unit(unit)
    t["map"] = time.perf_counter()
    encodings = encodings[dedupe_rows(encodings)]
    t["dedupe"] = time.perf_counter()
    index = index_encodings(encodings, space)
    t["key_index"] = time.perf_counter()
    with LatencyLUT(lut_path) as lut:
        latency = lut.lookup_codes(index.codes, device.fingerprint, "fp32", 1)
    t["lut_read"] = time.perf_counter()
    sums = estimate_sums(index, latency)
    t["sum"] = time.perf_counter()
    # The default calibration (linear+weights) needs each network's parameter count: one more gather-sum.
    estimates = Calibration("linear+weights", 1.02, 1.2, 0.0, 0.14).apply(sums, index.num_layers, index.params_m)
    t["calibrate"] = time.perf_counter()
    if np.isnan(estimates).any():
        raise RuntimeError("the placeholder LUT does not cover every key")
    marks = [start] + [t[p] for p in PHASES]
    return {p: marks[i + 1] - marks[i] for i, p in enumerate(PHASES)}, len(encodings), len(index.codes)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=1_000_000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    space = get_space("table1")
    device = onnxruntime_cpu_device(1)
    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory(prefix="lut-throughput-") as tmp:
        lut_path = Path(tmp) / "lut.sqlite"
        t0 = time.perf_counter()
        first = index_encodings(space.from_unit(sobol_unit(args.n, seed=0)), space)
        filled = _fill(lut_path, first, device)
        fill_s = time.perf_counter() - t0
        runs = [run_once(args.n, space, lut_path, device, seed=0) for _ in range(args.repeats)]
    phases = {p: [r[0][p] for r in runs] for p in PHASES}
    totals = [sum(r[0].values()) for r in runs]
    networks, keys = runs[0][1], runs[0][2]
    result = {
        "benchmark": "lut_throughput",
        "n_requested": args.n,
        "networks": networks,
        "distinct_layer_keys": keys,
        "space": space.name,
        "repeats": args.repeats,
        "seconds_median": {p: round(statistics.median(v), 3) for p, v in phases.items()} | {"total": round(statistics.median(totals), 3)},
        "seconds_min": {p: round(min(v), 3) for p, v in phases.items()} | {"total": round(min(totals), 3)},
        "target_total_s": 10.0,
        "passed": statistics.median(totals) < 10.0,
        "lut": {"rows": filled, "values": "placeholders (multiply-add proportional); not measurements", "fill_seconds_untimed": round(fill_s, 1)},
        "machine": {"cpus": os.cpu_count(), "loadavg_before": load_before, "loadavg_after": os.getloadavg(), "device": device.device},
        "versions": software_versions(),
    }
    atomic_write_text(args.out, json.dumps(result, indent=2) + "\n")
    print(f"lut_throughput: {networks:,} networks of space {space.name!r}, {keys:,} distinct layer keys, "
          f"{args.repeats} repeats; load average {load_before[0]:.2f} -> {result['machine']['loadavg_after'][0]:.2f}")
    print(f"{'phase':<12} {'median s':>9} {'min s':>8}")
    for p in (*PHASES, "total"):
        print(f"{p:<12} {result['seconds_median'][p]:>9.3f} {result['seconds_min'][p]:>8.3f}")
    split = result["seconds_median"]
    print(f"sampling {split['sobol'] + split['map'] + split['dedupe']:.2f} s | key indexing {split['key_index']:.2f} s | "
          f"LUT read + summation + calibration {split['lut_read'] + split['sum'] + split['calibrate']:.2f} s")
    print(f"target < 10 s: {'PASS' if result['passed'] else 'FAIL'}  -> {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
