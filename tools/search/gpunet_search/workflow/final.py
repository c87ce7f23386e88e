"""Stages 6-7: final training of each tier's winner (and of the reference networks), ONNX export, bench.

The final training is the evaluator (:func:`gpunet_search.evaluate.evaluate`) with the plan's longer
recipe, checkpointing every epoch into ``final/<key>/`` so that a killed run resumes. The weights
shipped are those of the last epoch (EMA when the recipe keeps one), and the card reports that
epoch's accuracy. The bench is ``gpunet-hub bench``'s own code (:func:`gpunet_hub.measure._run.bench_target`):
the trained network is exported to ONNX and timed on the plan's backend.
"""

from __future__ import annotations

import json
from dataclasses import replace
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np

from gpunet_hub._io import atomic_path, atomic_write_text
from gpunet_hub.arch import ArchSpec, from_list
from gpunet_hub.errors import CheckpointError

from .context import Context

FINAL_DIR = "final"
ONNX_DIR = "onnx"
BENCH_FILE = "bench.json"
WEIGHTS_FILE = "model.safetensors"


def candidates(ctx: Context, done: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    """What stage 6 trains: each tier's winner (an entry), then each reference network."""
    from gpunet_hub.hub.index import model_card

    out = [
        {"key": f"tier-{w['tier']}", "kind": "entry", "tier": w["tier"], "network": w["vector"]}
        for w in done["search"]["winners"]
    ]
    for name in ctx.plan.references:
        card = model_card(name)
        out.append({"key": f"ref-{card.name}", "kind": "reference", "tier": None, "network": card.arch.to_list()})
    return out


def _final_weights(checkpoint: Path, target: Path) -> None:
    """Saves the last epoch's weights (the EMA's when there is one) from an evaluator checkpoint."""
    import torch
    from safetensors.torch import save_file

    from ..evaluate.checkpoint import CHECKPOINT_FORMAT

    payload = torch.load(checkpoint, map_location="cpu", weights_only=True)
    if not isinstance(payload, dict) or payload.get("format") != CHECKPOINT_FORMAT:
        raise CheckpointError(f"{checkpoint} is not an evaluator checkpoint; delete {checkpoint.parent} to retrain")
    trainer = payload["trainer"]
    state = trainer["ema"] if trainer.get("ema") is not None else trainer["model"]
    with atomic_path(target) as tmp:
        save_file({k: v.contiguous() for k, v in state.items()}, str(tmp))


def run_final(ctx: Context, done: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """Stage 6: trains every candidate with the final recipe (resumes from its checkpoints)."""
    from ..evaluate import evaluate
    from ..evaluate.checkpoint import CHECKPOINT_NAME

    plan = ctx.plan
    config = plan.eval_config(final=True)
    tag = ctx.fingerprints["final"][:8]
    trained = []
    items = candidates(ctx, done)
    for number, item in enumerate(items, 1):
        folder = ctx.path(FINAL_DIR, f"{item['key']}-{tag}")
        ctx.note(
            f"final training {number}/{len(items)}: {item['key']} ({config.epochs} epochs) -> {ctx.relative(folder)}"
        )

        def tick(report: Any) -> None:
            ctx.progress(report.record.epoch, report.epochs)

        result = evaluate(
            item["network"],
            config,
            space=plan.space,
            dataset=plan.dataset,
            out_dir=folder,
            resume=True,
            callback=tick,
        )
        _final_weights(folder / CHECKPOINT_NAME, folder / WEIGHTS_FILE)
        last = result.curve[-1]
        epochs = len(result.curve)
        ctx.state.record_rate(ctx.device.fingerprint, "final_epoch_s", result.seconds / max(epochs, 1))
        trained.append(
            {
                **{k: item[k] for k in ("key", "kind", "tier")},
                "dir": ctx.relative(folder),
                "weights": ctx.relative(folder / WEIGHTS_FILE),
                "arch": result.arch,
                "resolution": result.resolution,
                "params": result.params,
                "top1": last.score,
                "top1_raw": last.top1,
                "top5": last.top5_ema if last.top5_ema is not None else last.top5,
                "weights_kind": "ema" if last.top1_ema is not None else "raw",
                "epochs": epochs,
                "best_epoch": result.best_epoch,
                "best_top1": result.score,
                "seconds": result.seconds,
                "dataset": result.dataset,
                "config": result.config,
            }
        )
    return {"trained": trained}


def trained_arch(item: dict[str, Any]) -> ArchSpec:
    """The network a candidate was trained as (narrowed, re-headed) at the resolution it was trained at."""
    return replace(from_list(item["arch"]), resolution=int(item["resolution"]))


def _module(ctx: Context, item: dict[str, Any]) -> Any:
    from safetensors.torch import load_file

    from gpunet_hub.builder import build_model

    model = build_model(trained_arch(item))
    model.load_state_dict(load_file(str(ctx.path(item["weights"]))))
    return model.eval()


def _tier_measurement(ctx: Context, done: dict[str, dict[str, Any]], tier: str, vector: list[int]) -> float | None:
    """The whole-network measurement stage 4 made of a tier member (``None`` for estimate-only tiers)."""
    from ..latency.tiers import member_row

    entry = next(t for t in done["tiers"]["tiers"] if t["name"] == tier)
    with np.load(ctx.path(entry["file"]), allow_pickle=False) as data:
        if "measured_ms" not in data:
            return None
        row = member_row(data["encodings"], vector)
        return None if row is None else float(data["measured_ms"][row])


def run_bench(ctx: Context, done: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """Stage 7: exports each trained network to ONNX and times it as ``gpunet-hub bench`` does.

    Each network is benched ``bench.rounds`` times, interleaved with the others; its row is the run with
    the lowest median (all the medians are kept in ``round_medians_ms``).
    """
    from gpunet_hub.measure import TimingPlan, get_backend
    from gpunet_hub.measure._run import BenchConfig, Target, bench_target

    plan, bench = ctx.plan, ctx.plan.bench
    backend = get_backend(plan.latency.backend)
    base = TimingPlan.gpu() if backend.info.gpu else TimingPlan.cpu()
    timing = base.with_overrides(
        warmup_runs=bench.warmup, min_runs=bench.min_runs, min_seconds=bench.min_seconds, max_seconds=bench.max_seconds
    )
    config = BenchConfig(
        backend=plan.latency.backend,
        precision=plan.precision(),
        batch=plan.latency.batch,
        threads=plan.latency.threads,
        plan=timing,
        onnx_dir=ctx.path(ONNX_DIR),
    )
    winners = {w["tier"]: w for w in done["search"]["winners"]}
    rows = []
    trained = done["final"]["trained"]
    targets = []
    for item in trained:
        arch = trained_arch(item)
        targets.append(
            Target(
                f"{plan.name}-{item['key']}",
                "hub",
                partial(_module, ctx, item),
                (3, arch.resolution, arch.resolution),
                arch.to_json() + item["weights"],
            )
        )
    runs: list[list[Any]] = [[] for _ in trained]
    for round_ in range(bench.rounds):  # interleaved: a burst of other work hits one run of each, not all of one
        for number, target in enumerate(targets):
            runs[number].append(bench_target(target, config, device=ctx.device))
            ctx.progress(round_ * len(trained) + number + 1, bench.rounds * len(trained))
    for item, records in zip(trained, runs, strict=True):
        record = min(records, key=lambda r: float(r.stats.median))
        ms = float(record.stats.median)
        row: dict[str, Any] = {
            "key": item["key"],
            "kind": item["kind"],
            "tier": item["tier"],
            "ms": ms,
            "round_medians_ms": [float(r.stats.median) for r in records],
        }
        winner = winners.get(item["tier"])
        if winner is not None:
            lut = winner["lut_ms"]
            row |= {
                "lo_ms": winner["lo_ms"],
                "hi_ms": winner["hi_ms"],
                "lut_ms": lut,
                "tier_measured_ms": _tier_measurement(ctx, done, item["tier"], winner["vector"]),
                "in_tier": bool(winner["lo_ms"] <= ms < winner["hi_ms"]),
                "lut_error": None if lut is None else (float(lut) - ms) / ms,
            }
        row["record"] = record.to_dict(include_times=False)
        rows.append(row)
    atomic_write_text(ctx.path(BENCH_FILE), json.dumps(rows, indent=2) + "\n")
    entries = [r for r in rows if r["kind"] == "entry"]
    inside = sum(r["in_tier"] for r in entries)
    return {
        "file": BENCH_FILE,
        "rows": rows,
        "tier_fidelity": inside / len(entries) if entries else None,
        "onnx_dir": ONNX_DIR,
    }


__all__ = ["BENCH_FILE", "FINAL_DIR", "WEIGHTS_FILE", "candidates", "run_bench", "run_final", "trained_arch"]
