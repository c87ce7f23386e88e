"""Does the CPU proxy rank networks like a longer run, above its own noise? (issue 10, "Measured")

1. A latency tier: draw ``--pool`` Sobol networks of the paper's Table 1 space, build their per-layer
   LUT (stage 1: onnxruntime CPU, 1 thread, at resolution x``--lut-res-scale``) and keep the
   ``--nets`` networks whose LUT sum is closest to the pool's median (uncalibrated sums; the tier's
   spread is reported).
2. Evaluate each at the default proxy (``proxy_config()``) with two seeds, then at ``--long-factor``
   x the epochs (seed 0, schedule stretched with it).
3. Report Kendall tau between the seeds (noise floor), between proxy and long run, the top-1 spread,
   seconds per candidate, and the evaluator's training-step overhead over a hand-written loop on
   the same model, batches and optimiser (interleaved A/B, medians).

Run it alone (other engineers time on this machine too)::

    flock /tmp/gpunet-timing.lock .venv/bin/python benchmarks/evaluator_fidelity.py

Writes ``benchmarks/results/evaluator_fidelity.json`` and prints a summary.
"""

from __future__ import annotations

import argparse
import copy
import json
import multiprocessing
import os
import statistics
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path

import numpy as np
import torch
from scipy.stats import kendalltau

from gpunet_hub._io import atomic_write_text
from gpunet_search.evaluate import EvalConfig, evaluate, proxy_config
from gpunet_search.evaluate.data import digits_splits, load_data
from gpunet_search.evaluate.network import proxy_resolution, resolve_network, scale_width
from gpunet_search.evaluate.train import build_trainer, build_transforms

RESULTS = Path(__file__).parent / "results"
GOALS = {"kendall_tau_seed": 0.6, "kendall_tau_proxy_long": 0.6, "top1_spread": 5.0, "seconds_per_candidate": 120.0,
         "overhead_ratio": 1.05}


def select_tier(pool: int, nets: int, seed: int, res_scale: float, runs: int, rounds: int) -> tuple[list[list[int]], dict]:
    """The ``nets`` networks of a Sobol pool whose LUT estimate is closest to the pool's median."""
    from gpunet_search.latency.fingerprint import onnxruntime_cpu_device
    from gpunet_search.latency.lut import LatencyLUT
    from gpunet_search.latency.measure import LayerTimer, TimingProtocol
    from gpunet_search.latency.pipeline import Setting, build_lut, key_index, lut_sums
    from gpunet_search.latency.sampling import sample

    device = onnxruntime_cpu_device(1)
    setting = Setting(1, "fp32", res_scale)
    samples = sample(pool, "table1", seed=seed)
    start = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        lut_path = Path(tmp) / "lut.sqlite"
        build_lut(lut_path, samples, device, LayerTimer(threads=1), TimingProtocol(warmup=5, runs=runs, rounds=rounds, cv_max=0.2), setting)
        with LatencyLUT(lut_path) as lut:
            sums, _ = lut_sums(lut, key_index(samples, setting), device.fingerprint)
    order = np.argsort(np.abs(np.log(sums) - np.log(np.median(sums))))[:nets]
    chosen = sorted(order.tolist(), key=lambda i: sums[i])
    info = {
        "method": f"{pool} Sobol networks of table1 (seed {seed}); per-layer LUT on onnxruntime CPU, 1 thread, "
                  f"resolution x{res_scale}; the {nets} with the uncalibrated LUT sum closest to the pool median",
        "pool_lut_sum_ms": {"min": float(sums.min()), "median": float(np.median(sums)), "max": float(sums.max())},
        "tier_lut_sum_ms": {"min": float(sums[chosen].min()), "max": float(sums[chosen].max())},
        "tier_relative_width": float(sums[chosen].max() / sums[chosen].min() - 1),
        "seconds": time.perf_counter() - start,
    }
    return [[int(v) for v in samples.encodings[i]] for i in chosen], info | {"lut_sum_ms": [float(sums[i]) for i in chosen]}


def evaluate_one(vector: list[int], config: EvalConfig) -> dict:
    start = time.perf_counter()
    result = evaluate(vector, config, space="table1")
    wall = time.perf_counter() - start
    return {"score": result.score, "top1": result.top1, "top1_ema": result.top1_ema, "best_epoch": result.best_epoch,
            "curve": [round(r.score, 2) for r in result.curve], "train_loss_last": result.curve[-1].train_loss,
            "params": result.params, "resolution": result.resolution, "seconds": wall}


def run_all(vectors: list[list[int]], config: EvalConfig, label: str, workers: int) -> list[dict]:
    """Evaluate every network; ``workers`` processes at once (each with ``config.threads`` threads)."""
    rows: list[dict | None] = [None] * len(vectors)
    with ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context("spawn")) as pool:
        futures = {pool.submit(evaluate_one, vector, config): i for i, vector in enumerate(vectors)}
        for future in as_completed(futures):
            i = futures[future]
            row = rows[i] = future.result()
            print(f"  {label} net {i:>2}: top-1 {row['score']:5.1f}%  ({row['params'] / 1e6:.2f} M params, {row['resolution']} px, "
                  f"{row['seconds']:5.1f} s)  curve {row['curve']}", flush=True)
    return [row for row in rows if row is not None]


def overhead(vector: list[int], config: EvalConfig, steps: int) -> dict:
    """Evaluator's training step vs a hand-written loop: same model, batches and optimiser, interleaved."""
    from timm.optim import create_optimizer_v2
    from timm.scheduler import create_scheduler_v2
    from timm.utils import ModelEmaV3

    spec = resolve_network(vector, "table1")
    resolution = proxy_resolution(spec.resolution, config.res_scale, config.min_resolution)
    train_tf, val_tf = build_transforms(config, resolution)
    data = load_data("digits", resolution=resolution, train_transform=train_tf, val_transform=val_tf, batch_size=config.batch_size)
    loader = torch.utils.data.DataLoader(data.train, batch_size=config.batch_size, shuffle=True, drop_last=True)
    batches = [b for _, b in zip(range(4), loader)]
    torch.set_num_threads(config.threads)
    torch.manual_seed(0)
    from gpunet_hub.builder import build_model

    model = build_model(scale_width(spec.with_num_classes(10), config.width_mult), drop_rate=config.drop, drop_path_rate=config.drop_path)
    trainer = build_trainer(model, config, steps_per_epoch=len(batches), device=torch.device("cpu"))
    plain_model = copy.deepcopy(model)  # after build_trainer: the same weights and memory format
    plain_opt = create_optimizer_v2(plain_model, opt=config.opt, lr=config.lr, weight_decay=config.weight_decay,
                                    momentum=config.momentum, eps=config.opt_eps)
    plain_sched, _ = create_scheduler_v2(plain_opt, sched=config.sched, num_epochs=config.epochs, decay_epochs=config.decay_epochs,
                                         decay_rate=config.decay_rate, warmup_lr=config.warmup_lr, warmup_epochs=config.warmup_epochs,
                                         step_on_epochs=False, updates_per_epoch=len(batches))
    plain_ema = ModelEmaV3(plain_model, decay=config.ema_decay, use_warmup=config.ema_warmup) if config.ema else None
    model.train()
    plain_model.train()
    updates = 0

    def plain_step(x: torch.Tensor, y: torch.Tensor) -> None:
        # The same recipe written inline: forward, loss, backward, optimiser, EMA, schedule.
        nonlocal updates
        if config.channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        loss = torch.nn.functional.cross_entropy(plain_model(x), y, label_smoothing=config.smoothing)
        plain_opt.zero_grad(set_to_none=True)
        loss.backward()
        plain_opt.step()
        updates += 1
        if plain_ema is not None:
            plain_ema.update(plain_model, step=updates)
        plain_sched.step_update(num_updates=updates)

    a, b = [], []
    for k in range(steps + 2):
        x, y = batches[k % len(batches)]
        first, second = ((trainer.step, a), (plain_step, b)) if k % 2 == 0 else ((plain_step, b), (trainer.step, a))
        for fn, times in (first, second):
            t = time.perf_counter()
            fn(x, y)
            if k >= 2:  # the first pair warms up both
                times.append(time.perf_counter() - t)
    return {"evaluator_step_ms": 1e3 * statistics.median(a), "plain_step_ms": 1e3 * statistics.median(b),
            "ratio": statistics.median(a) / statistics.median(b), "pairs": steps, "batch": config.batch_size,
            "resolution": resolution, "what": "median step time; evaluator = Trainer.step; plain = the same recipe written inline as a plain loop "
            "(forward, cross-entropy with the same smoothing, backward, the same timm optimiser, timm EMA and timm schedule "
            "updates), so the ratio is the evaluator's own overhead"}


def tau(a: list[float], b: list[float]) -> float:
    return float(kendalltau(a, b).statistic)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nets", type=int, default=16)
    parser.add_argument("--pool", type=int, default=64)
    parser.add_argument("--pool-seed", type=int, default=7)
    parser.add_argument("--lut-res-scale", type=float, default=0.25)
    parser.add_argument("--lut-runs", type=int, default=30)
    parser.add_argument("--lut-rounds", type=int, default=2)
    parser.add_argument("--long-factor", type=int, default=4)
    parser.add_argument("--overhead-pairs", type=int, default=30)
    parser.add_argument("--workers", type=int, default=2, help="Evaluations at once (each uses proxy_config().threads threads)")
    parser.add_argument("--tier-file", type=Path, help="Reuse (or write, if missing) the chosen tier: skips the LUT build")
    parser.add_argument("--config", type=json.loads, default={}, help="JSON overrides of proxy_config() (to try protocols)")
    parser.add_argument("--pilot", action="store_true", help="Only the first --nets networks at proxy seed 0 (no file written)")
    parser.add_argument("--out", type=Path, default=RESULTS / "evaluator_fidelity.json")
    args = parser.parse_args()

    load_before = os.getloadavg()
    start = time.perf_counter()
    digits_splits(8)  # warm scikit-learn's loader outside the timed runs
    if args.tier_file and args.tier_file.exists():
        saved = json.loads(args.tier_file.read_text())
        vectors, tier = saved["vectors"], saved["tier"]
    else:
        vectors, tier = select_tier(args.pool, args.nets, args.pool_seed, args.lut_res_scale, args.lut_runs, args.lut_rounds)
        if args.tier_file:
            atomic_write_text(args.tier_file, json.dumps({"vectors": vectors, "tier": tier}) + "\n")
    print(f"tier: {len(vectors)} networks, LUT sum {tier['tier_lut_sum_ms']['min']:.3f}-{tier['tier_lut_sum_ms']['max']:.3f} ms "
          f"({tier['seconds']:.0f} s)", flush=True)
    config = proxy_config(**args.config)
    long_config = config.with_epochs(config.epochs * args.long_factor)
    seed0 = run_all(vectors, config, "proxy seed 0", args.workers)
    if args.pilot:
        print(f"pilot: spread {max(r['score'] for r in seed0) - min(r['score'] for r in seed0):.1f} points")
        return
    seed1 = run_all(vectors, config.replace(seed=1), "proxy seed 1", args.workers)
    long = run_all(vectors, long_config, f"{args.long_factor}x epochs", args.workers)
    over = overhead(vectors[0], config, args.overhead_pairs)

    s0, s1, sl = ([r["score"] for r in rows] for rows in (seed0, seed1, long))
    tau_long = {"seed0": tau(s0, sl), "seed1": tau(s1, sl)}
    figures = {
        "kendall_tau_seed": tau(s0, s1),
        "kendall_tau_proxy_long": statistics.fmean(tau_long.values()),
        "top1_spread": max(s0) - min(s0),
        "seconds_per_candidate": statistics.fmean(r["seconds"] for r in seed0 + seed1),
        "overhead_ratio": over["ratio"],
    }
    met = {k: (v <= GOALS[k] if k in ("seconds_per_candidate", "overhead_ratio") else v >= GOALS[k]) for k, v in figures.items()}
    report = {
        "benchmark": "evaluator_fidelity",
        **figures,
        "goals": GOALS,
        "met": met,
        "definitions": {
            "score": "best validation top-1 (%) of the EMA weights over the epochs (what a searcher maximises)",
            "kendall_tau_seed": "tau between proxy seed 0 and proxy seed 1",
            "kendall_tau_proxy_long": f"mean of tau(proxy seed 0, {args.long_factor}x run) and tau(proxy seed 1, {args.long_factor}x run); "
                                      "the long run uses seed 0",
            "top1_spread": "max - min proxy seed-0 score across the networks, in points",
            "seconds_per_candidate": "mean wall time of one proxy evaluate() call (data, build, train, validate), both seeds, "
                                     "with --workers evaluations running at once on the machine",
            "overhead_ratio": over["what"],
        },
        "tau_proxy_long_by_seed": tau_long,
        "top1_spread_seed1": max(s1) - min(s1),
        "top1_spread_long": max(sl) - min(sl),
        "proxy_config": config.to_dict(),
        "long_config_changes": {k: long_config.to_dict()[k] for k in ("epochs", "decay_epochs", "warmup_epochs")},
        "tier": tier,
        "overhead": over,
        "dataset": "digits (scikit-learn load_digits, fixed stratified 50/50 split)",
        "machine": {"cpus": os.cpu_count(), "torch_threads": config.threads, "workers": args.workers, "loadavg_before": load_before, "loadavg_after": os.getloadavg()},
        "versions": {"torch": torch.__version__},
        "seconds_total": time.perf_counter() - start,
        "networks": [{"vector": v, "proxy_seed0": a, "proxy_seed1": b, "long": c} for v, a, b, c in zip(vectors, seed0, seed1, long)],
    }
    atomic_write_text(args.out, json.dumps(report, indent=1) + "\n")
    for key, value in figures.items():
        print(f"{key:<24} {value:8.3f}   goal {'<=' if key in ('seconds_per_candidate', 'overhead_ratio') else '>='} {GOALS[key]:<6} "
              f"{'met' if met[key] else 'NOT met'}")
    print(f"-> {args.out}  ({report['seconds_total'] / 60:.1f} min)")


if __name__ == "__main__":
    main()
