"""The distributed search on Ray Tune (issue 11): scheduling efficiency, kill-and-resume, a digits search.

1. ``scheduling_efficiency``: 64 ``synthetic:tier`` trials that only sleep 2 s (2 epochs of 1 s, a
   checkpoint each) at 8 concurrent on a local Ray instance with 8 logical CPUs: ideal time
   (64 x 2 s / 8) over the measured ``Tuner.fit`` wall time (Tuner build, actor start-up, searcher
   and snapshots included; ``ray.init`` excluded). Goal >= 0.85. Also the driver's peak RSS.
   The same run with proposals in Sobol order (no GP fit) separates Tune's overhead from the model's.
   ``cold_start``: the time ``concurrent`` bare Ray actors take to start, and the efficiency bound it sets.
2. ``restore_lost`` / ``restore_duplicated``: a driver process (``python -m gpunet_search.distributed
   run --address ...``) is SIGKILLed twice mid-search (after 3 and after 8 finished trials) and the
   same command is run again each time, then to the end. Lost = trials (by trial id) finished before
   a kill that are not among the final finished trials; duplicated = final trials minus distinct networks, plus
   trials beyond the budget. Goal 0 and 0.
3. ``digits``: a real search with the issue-10 evaluator at its default proxy on ``digits`` (one tier,
   24 trials, 2 concurrent), LA-MCTS + BO beside Sobol order (the tier file's first 24 networks,
   same evaluator, same early stopping), one seed: best-so-far by trial, wall time, share stopped
   early. Needs ``--digits-tier FILE`` (a tier from the stage-1 pipeline) and the evaluator.

Parts 1-2 use a tier made from ``gpunet_search.experiments.synthetic.TierProblem`` (its latency stand-in as the
"LUT estimate"), labelled so in the results. Run alone, under the timing lock::

    flock /tmp/gpunet-timing.lock .venv/bin/python benchmarks/distributed_search.py [--digits-tier tiers/tier_X.npz]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from gpunet_hub._io import atomic_write_text
from gpunet_hub.space import get_space
from gpunet_search.distributed.evaluators import EvaluatorSpec
from gpunet_search.distributed.results import load_rows
from gpunet_search.distributed.runner import RunSettings, prepare, run
from gpunet_search.latency.sampling import SampleSet
from gpunet_search.search.searcher import SearcherConfig
from gpunet_search.experiments.synthetic import TierProblem
from gpunet_search.latency.tiers import Tier, write_tiers

RESULTS = Path(__file__).parent / "results"


def synthetic_tier(folder: Path, seed: int = 0) -> Path:
    """A tier file of TierProblem's tier networks (Sobol order) with its latency stand-in as estimate."""
    problem = TierProblem(seed)
    vectors = problem.tier_vectors
    samples = SampleSet(vectors.astype(np.int16), "table1", get_space("table1").fingerprint(), {"seed": seed})
    latency = problem.latency(vectors)
    write_tiers(folder, [Tier(problem.lo, problem.hi + 1e-9, "synthetic")], samples, latency, latency,
                {"estimate": "TierProblem latency stand-in (not a LUT)"})
    return folder / "tier_synthetic.npz"


def scheduling(tier: Path, storage: Path, trials: int, concurrent: int, sleep_s: float, searcher: SearcherConfig, name: str) -> dict:
    settings = RunSettings(tier=tier, evaluator=EvaluatorSpec("synthetic:tier", epochs=2, sleep_s=sleep_s), trials=trials,
                           concurrent=concurrent, storage=str(storage), name=name, early_stop=False, searcher=searcher)
    outcome = run(prepare(settings))
    rows, _ = load_rows(outcome.path)
    ideal = trials * sleep_s / concurrent
    # Completion times from the searcher's saved state: the steady state starts when the first
    # `concurrent` trials (one per fresh actor process, whose start-up they carry) have finished.
    state = json.loads(max(Path(outcome.path).glob("searcher-state-*.pkl")).read_text())
    ends = sorted(r["finished_at"] for r in state["records"])
    warm_ideal = (len(ends) - concurrent) * sleep_s / concurrent
    return {"trials": trials, "concurrent": concurrent, "sleep_s": sleep_s, "ideal_s": ideal, "measured_s": round(outcome.seconds, 2),
            "scheduling_efficiency": round(ideal / outcome.seconds, 3), "errored": len(outcome.errors),
            "finished": sum(r.status in ("done", "stopped") for r in rows),
            "first_wave_s": round(ends[concurrent - 1] - (ends[-1] - outcome.seconds), 2),
            "steady_state_efficiency": round(warm_ideal / (ends[-1] - ends[concurrent - 1]), 3),
            "note": ("measured_s is the whole Tuner.fit: it includes starting `concurrent` fresh trial actor processes (Ray worker, "
                     "Tune and the trial's imports) on this machine's cores; steady_state_efficiency covers the trials after the "
                     "first wave, from the searcher's completion times")}


def actor_start_s(count: int) -> float:
    """Seconds to start ``count`` bare Ray actors on this instance: fresh worker processes, no Tune.

    The first wave of trials pays at least this (Tune's actors also import Tune), so
    ``ideal / (ideal + actor_start_s)`` bounds the efficiency a cold start can reach on this machine.
    """
    import ray

    @ray.remote(num_cpus=0)
    class Bare:
        def pid(self) -> int:
            return os.getpid()

    start = time.perf_counter()
    actors = [Bare.remote() for _ in range(count)]
    ray.get([a.pid.remote() for a in actors])
    seconds = time.perf_counter() - start
    for actor in actors:
        ray.kill(actor)
    return round(seconds, 2)


def _finished(experiment: Path, epochs: int) -> set[str]:
    """Ids of the trials whose result file reached the last epoch (a folder name may carry a suffix)."""
    done = set()
    for result_json in experiment.glob("*/result.json"):
        try:
            lines = [json.loads(x) for x in result_json.read_text().splitlines() if x.strip()]
        except (OSError, json.JSONDecodeError):
            continue
        done |= {line["trial_id"] for line in lines if line.get("epoch") == epochs}
    return done


def kill_and_resume(tier: Path, storage: Path, address: str, trials: int, kills: tuple[int, ...]) -> dict:
    command = [sys.executable, "-m", "gpunet_search.distributed", "run", "--tier", str(tier), "--evaluator", "synthetic:tier",
               "--epochs", "2", "--sleep", "1", "--trials", str(trials), "--concurrent", "4", "--storage", str(storage), "--address", address]
    experiment = storage / "search-synthetic-synthetic-tier"
    finished_before_kills: set[str] = set()
    events = []
    for after in kills:
        driver = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 300
        while len(_finished(experiment, 2)) < after and driver.poll() is None and time.monotonic() < deadline:
            time.sleep(0.1)
        if driver.poll() is not None:
            raise RuntimeError(f"the driver exited (code {driver.returncode}) before the kill after {after} trials")
        driver.send_signal(signal.SIGKILL)
        driver.wait(30)
        done = _finished(experiment, 2)
        finished_before_kills |= done
        events.append({"killed_after_finished": len(done)})
    final = subprocess.run(command, capture_output=True, text=True, timeout=600)
    if final.returncode != 0:
        raise RuntimeError(f"the resumed driver failed: {final.stderr[-2000:]}")
    rows, _ = load_rows(str(experiment))
    finished = {r.trial_id for r in rows if r.status in ("done", "stopped")}
    hashes = [r.arch_hash for r in rows]
    return {"budget": trials, "kills": events, "final_trials": len(rows), "final_finished": len(finished),
            "errored": sum(r.status == "error" for r in rows),
            "restore_lost": len(finished_before_kills - finished),
            "restore_duplicated": (len(hashes) - len(set(hashes))) + max(0, len(rows) - trials)}


def digits_search(tier: Path, storage: Path, trials: int, concurrent: int, seed: int) -> dict:
    out = {"tier": str(tier), "trials": trials, "concurrent": concurrent, "seed": seed,
           "note": "one seed: a single paired run, not a distribution"}
    for label, config in (("lamcts_bo", SearcherConfig()), ("sobol_order", SearcherConfig(n_init=10**6))):
        settings = RunSettings(tier=tier, evaluator=EvaluatorSpec("train", seed=seed), trials=trials, concurrent=concurrent,
                               storage=str(storage), name=f"digits-{label}", seed=seed, searcher=config)
        outcome = run(prepare(settings))
        rows, _ = load_rows(outcome.path)
        best = [r.best for r in rows]
        curve = np.maximum.accumulate([b if b is not None else -np.inf for b in best]).tolist()
        out[label] = {"wall_s": round(outcome.seconds, 1), "errored": len(outcome.errors), "best_so_far": curve,
                      "best": curve[-1] if curve else None, "stopped_early_share": round(sum(r.status == "stopped" for r in rows) / max(len(rows), 1), 3)}
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=64)
    parser.add_argument("--concurrent", type=int, default=8)
    parser.add_argument("--sleep", type=float, default=2.0)
    parser.add_argument("--restore-trials", type=int, default=16)
    parser.add_argument("--digits-tier", type=Path, default=None, help="tier file for the real digits search (part 3)")
    parser.add_argument("--digits-trials", type=int, default=24)
    parser.add_argument("--out", type=Path, default=RESULTS / "distributed_search.json")
    args = parser.parse_args(argv)
    import ray

    os.environ.setdefault("RAY_AUTH_MODE", "disabled")
    load_before = os.getloadavg()
    report: dict = {"load_average_before": load_before, "command": "benchmarks/distributed_search.py " + " ".join(argv if argv is not None else sys.argv[1:]),
                    "ray": ray.__version__, "cpus": os.cpu_count()}
    with tempfile.TemporaryDirectory(prefix="gpunet-dist-bench-") as tmp:
        root = Path(tmp)
        tier = synthetic_tier(root / "tier")
        report["synthetic_tier"] = "TierProblem(seed 0) tier networks; estimate = its latency stand-in, not a LUT"
        ray.init(address="local", num_cpus=max(args.concurrent, 4), include_dashboard=False, log_to_driver=False, object_store_memory=200 * 1024**2)
        time.sleep(5)  # let Ray's pre-started workers finish booting: ray.init is not part of the measurement
        try:
            sched = scheduling(tier, root / "sched", args.trials, args.concurrent, args.sleep, SearcherConfig(), "lamcts-bo")
            report |= {"scheduling_efficiency": sched["scheduling_efficiency"], "steady_state_efficiency": sched["steady_state_efficiency"],
                       "scheduling": sched}
            # The same run with proposals in Sobol order (no GP fit): Tune's share of the overhead alone.
            report["scheduling_without_model"] = scheduling(tier, root / "sched", args.trials, args.concurrent, args.sleep,
                                                            SearcherConfig(n_init=10**6), "sobol-order")
            floor = actor_start_s(args.concurrent)
            report["cold_start"] = {"bare_actor_start_s": floor,
                                    "efficiency_bound": round(sched["ideal_s"] / (sched["ideal_s"] + floor), 3),
                                    "note": (f"{args.concurrent} bare Ray actors (fresh worker processes, no Tune) take this long on "
                                             "this machine; Ray starts actors in new processes (it does not reuse task workers), so "
                                             "every Tuner.fit pays at least this before its first wave runs")}
            report["driver_peak_rss_mib"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
            restore = kill_and_resume(tier, root / "restore", ray.get_runtime_context().gcs_address, args.restore_trials, (3, 8))
            report |= {"restore_lost": restore["restore_lost"], "restore_duplicated": restore["restore_duplicated"], "restore": restore}
            if args.digits_tier is None:
                report["digits"] = {"skipped": "no --digits-tier given (needs a stage-1 tier file and the issue-10 evaluator)"}
            else:
                report["digits"] = digits_search(args.digits_tier.resolve(), root / "digits", args.digits_trials, 2, 0)
        finally:
            ray.shutdown()
    report["goals"] = {"scheduling_efficiency>=0.85": report["scheduling_efficiency"] >= 0.85,
                       "restore_lost==0": report["restore_lost"] == 0, "restore_duplicated==0": report["restore_duplicated"] == 0}
    report["load_average_after"] = os.getloadavg()
    atomic_write_text(args.out, json.dumps(report, indent=2) + "\n")
    print(json.dumps({k: report[k] for k in ("scheduling_efficiency", "steady_state_efficiency", "cold_start", "driver_peak_rss_mib", "restore_lost", "restore_duplicated", "goals")}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
