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

The in-process phases are timed in one warm process, after the LUT fill. A user runs
``gpunet-hub search tiers`` once, in a fresh process, so the target is checked on that: the command
with ``--raw`` (the LUT sum) and with each predictor stored in the LUT (``calibrate`` with a
placeholder network timer, on ``--calibration-nets`` networks), every run a new process, the
variants alternated round by round, each round starting one variant later. Its wall time includes
the interpreter's start, the imports, reading the sample file and the LUT, loading the predictor
(read as stored numbers, with no refit), and writing the tier files; on these VMs a process's first
touch of fresh memory is slow, so peak memory is recorded too.

    python benchmarks/lut_throughput.py [--n 1000000] [--repeats 3] [--calibration-nets 1088]

Writes ``benchmarks/results/lut_throughput.json`` and prints a table.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from gpunet_hub._io import atomic_write_text
from gpunet_hub.space import get_space, sobol_unit
from gpunet_search.latency.calibration import Calibration
from gpunet_search.latency.estimate import estimate_sums, index_encodings
from gpunet_search.latency.fingerprint import onnxruntime_cpu_device, software_versions
from gpunet_search.latency.lut import LatencyLUT, Measurement
from gpunet_search.latency.measure import TimingProtocol
from gpunet_search.latency.pipeline import Setting, calibrate
from gpunet_search.latency.predictor import PREDICTORS
from gpunet_search.latency.sampling import SampleSet, dedupe_rows, save_samples

RESULTS = Path(__file__).parent / "results" / "lut_throughput.json"
PHASES = ("sobol", "map", "dedupe", "key_index", "lut_read", "sum", "calibrate")
TARGET_S = 10.0
# The tiers command's closing line: "load X s, key index Y s (K keys), lookup + estimate Z s, total T s".
_CLI_NOTE = re.compile(r"load ([\d.]+) s, key index ([\d.]+) s .*lookup \+ estimate ([\d.]+) s, total ([\d.]+) s")
CLI_PHASES = ("load", "key_index", "lookup_estimate", "total")


class PlaceholderNetTimer:
    """Whole-network 'timings' for calibrate: a fixed value per network from its hash (1-2 ms); never a
    measurement. Only the cost of fitting and applying the predictors is benchmarked."""

    def prepare(self, item: str, workdir: Path) -> str:
        return item

    def time(self, handle: str, *, warmup: int, runs: int, max_seconds: float) -> np.ndarray:
        return np.full(runs, 1.0 + int(hashlib.sha1(handle.encode()).hexdigest()[:4], 16) / 65536)

    def close(self, handle: str) -> None:
        pass


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


def _run_cli(args: list[str], timeout: float, workdir: Path) -> tuple[float, float, dict[str, float]]:
    """Wall seconds, peak memory (MB) and the phases the command reports, of one fresh process."""
    out_path, err_path = workdir / "cli.out", workdir / "cli.err"
    with open(out_path, "w") as out, open(err_path, "w") as err:
        start = time.perf_counter()
        proc = subprocess.Popen(args, stdout=out, stderr=err)
        deadline, peak_kb = start + timeout, 0
        while True:
            peak_kb = max(peak_kb, _high_water_kb(proc.pid))
            pid, status = os.waitpid(proc.pid, os.WNOHANG)
            if pid:
                break
            if time.perf_counter() > deadline:
                proc.kill()
                os.waitpid(proc.pid, 0)
                raise RuntimeError(f"{' '.join(args)} ran over {timeout:.0f} s")
            time.sleep(0.01)
        wall = time.perf_counter() - start
    proc.returncode = os.waitstatus_to_exitcode(status)
    text = out_path.read_text()
    match = _CLI_NOTE.search(text.replace("\n", " "))
    if proc.returncode != 0 or match is None:
        detail = err_path.read_text().strip()[-500:] or text.strip()[-500:]
        raise RuntimeError(f"{' '.join(args)} failed ({proc.returncode}): {detail}")
    return wall, peak_kb / 1024, dict(zip(CLI_PHASES, map(float, match.groups()), strict=True))


def _high_water_kb(pid: int) -> int:
    """A running process's peak resident memory so far (Linux ``VmHWM``; 0 where unknown). Read while it
    runs, since a child's ``ru_maxrss`` also counts the parent it was forked from."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        pass
    return 0


def cli_tiering(encodings: np.ndarray, lut_path: Path, device, workdir: Path, *, predictors: tuple[str, ...],
                calibration_nets: int, repeats: int, timeout: float = 300.0) -> dict[str, Any]:
    """``gpunet-hub search tiers`` on ``encodings`` in fresh processes: ``--raw`` and each predictor.

    Args:
        encodings: The networks (a sample file is written from them).
        lut_path: A LUT holding every key of ``encodings`` for ``device`` (copied per predictor).
        device: The LUT's device.
        workdir: Scratch folder.
        predictors: Predictors to store (``calibrate --model NAME``) and tier with.
        calibration_nets: The first this many networks are 'measured' (placeholder timer) and fitted on.
        repeats: Runs of each variant, alternated.
        timeout: Bound on one run.
    """
    space = get_space("table1")
    samples = SampleSet(encodings, space.name, space.fingerprint(), {"what": "lut_throughput"})
    samples_path = save_samples(samples, workdir / "samples.npz")
    setting = Setting(1, "fp32", 1.0)
    protocol = TimingProtocol(warmup=0, runs=3, rounds=1)
    fitted = samples.take(np.arange(min(calibration_nets, len(samples))))
    luts, fit_s = {}, {}
    for name in predictors:
        luts[name] = workdir / f"lut-{name}.sqlite"
        shutil.copyfile(lut_path, luts[name])
        start = time.perf_counter()
        calibrate(luts[name], fitted, device, PlaceholderNetTimer(), protocol, setting, model=name, with_stored=False)
        fit_s[name] = round(time.perf_counter() - start, 1)
    command = [str(Path(sys.executable).with_name("gpunet-hub")), "search", "tiers", "--samples", str(samples_path),
               "--device", device.fingerprint, "--tiers", "1,2,4,8"]
    variants = {"raw": [*command, "--lut", str(lut_path), "--raw"]}
    variants |= {name: [*command, "--lut", str(path)] for name, path in luts.items()}
    runs: dict[str, list[tuple[float, float, dict[str, float]]]] = {v: [] for v in variants}
    names = list(variants)
    for r in range(repeats):  # A B C, B C A, ...: a slow spell of the host, or a slot, is shared out
        for name in names[r % len(names) :] + names[: r % len(names)]:
            out_dir = workdir / f"tiers-{name}"
            runs[name].append(_run_cli([*variants[name], "--out-dir", str(out_dir)], timeout, workdir))
            shutil.rmtree(out_dir)
    out: dict[str, Any] = {}
    for name, rows in runs.items():
        walls = [w for w, _, _ in rows]
        out[name] = {
            "wall_s_median": round(statistics.median(walls), 2),
            "wall_s": [round(w, 2) for w in walls],
            "peak_mb": round(max(m for _, m, _ in rows)),
            "phases_s_median": {p: round(statistics.median(ph[p] for _, _, ph in rows), 2) for p in CLI_PHASES},
            "startup_s_median": round(statistics.median(w - ph["total"] for w, _, ph in rows), 2),
            "under_target": statistics.median(walls) < TARGET_S,
        }
    return {"what": "wall time of `gpunet-hub search tiers` on the networks, each run a fresh process; phases as the "
                    "command reports them (total: after imports, to the last file written); startup_s: wall - total "
                    "(interpreter, imports)",
            "command": " ".join(["gpunet-hub", *command[1:]]).replace(str(samples_path), "SAMPLES")
            .replace(device.fingerprint, "DEVICE") + " --lut LUT [--raw]",
            "calibration_nets": len(fitted), "calibrate_s_untimed": fit_s, "repeats": repeats,
            "target_s": TARGET_S, "variants": out, "passed": all(v["under_target"] for v in out.values())}


def placeholder_lut(path: Path, n: int, device) -> tuple[np.ndarray, int]:
    """``n`` deduplicated Sobol networks of Table 1 and a LUT at ``path`` filled with a placeholder row
    for every key they use; returns the networks and the rows written."""
    space = get_space("table1")
    encodings = space.from_unit(sobol_unit(n, seed=0))
    encodings = encodings[dedupe_rows(encodings)]
    return encodings, _fill(path, index_encodings(encodings, space), device)


def million_tiering(n: int, *, predictors: tuple[str, ...], calibration_nets: int, repeats: int) -> dict[str, Any]:
    """:func:`cli_tiering` on ``n`` networks and their placeholder LUT, in a temporary folder."""
    device = onnxruntime_cpu_device(1)
    with tempfile.TemporaryDirectory(prefix="lut-throughput-") as tmp:
        encodings, _ = placeholder_lut(Path(tmp) / "lut.sqlite", n, device)
        return cli_tiering(encodings, Path(tmp) / "lut.sqlite", device, Path(tmp), predictors=predictors,
                           calibration_nets=calibration_nets, repeats=repeats) | {"networks": len(encodings)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=1_000_000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--calibration-nets", type=int, default=1088,
                        help="Networks each stored predictor is fitted on (half train, as calibrate splits them).")
    parser.add_argument("--predictors", nargs="+", default=list(PREDICTORS), choices=PREDICTORS)
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    space = get_space("table1")
    device = onnxruntime_cpu_device(1)
    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory(prefix="lut-throughput-") as tmp:
        lut_path = Path(tmp) / "lut.sqlite"
        t0 = time.perf_counter()
        encodings, filled = placeholder_lut(lut_path, args.n, device)
        fill_s = time.perf_counter() - t0
        runs = [run_once(args.n, space, lut_path, device, seed=0) for _ in range(args.repeats)]
        cli = cli_tiering(encodings, lut_path, device, Path(tmp), predictors=tuple(args.predictors),
                          calibration_nets=args.calibration_nets, repeats=args.repeats)
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
        "target_total_s": TARGET_S,
        "in_process_under_target": statistics.median(totals) < TARGET_S,
        "cli": cli,
        "passed": cli["passed"],
        "lut": {"rows": filled, "values": "placeholders (multiply-add proportional); not measurements", "fill_seconds_untimed": round(fill_s, 1)},
        "machine": {"cpus": os.cpu_count(), "loadavg_before": load_before, "loadavg_after": os.getloadavg(), "device": device.name},
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
    print(f"\ngpunet-hub search tiers, a fresh process per run ({args.repeats} each, alternated; median s):")
    print(f"{'estimate':<22} {'wall':>6} {'startup':>8} {'load':>6} {'index':>6} {'estimate':>9} {'peak MB':>8}")
    for name, v in cli["variants"].items():
        ph = v["phases_s_median"]
        print(f"{name:<22} {v['wall_s_median']:>6.2f} {v['startup_s_median']:>8.2f} {ph['load']:>6.2f} "
              f"{ph['key_index']:>6.2f} {ph['lookup_estimate']:>9.2f} {v['peak_mb']:>8}")
    print(f"target < {TARGET_S:g} s for every estimate (command wall time): {'PASS' if result['passed'] else 'FAIL'}  "
          f"-> {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
