"""Stages 1-5 of the regenerate workflow: sample, LUT, calibrate, tiers, distributed search.

Each stage is a :class:`Stage`: the plan fields it reads (hashed with its upstream fingerprints) and a
``run`` that builds on the pipeline's own functions (:mod:`gpunet_search.latency.pipeline`,
:mod:`gpunet_search.distributed.runner`) and returns its outputs for the state file. Every stage
resumes by itself: the LUT keeps its measured rows, Tune restores an interrupted experiment.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from gpunet_hub._io import atomic_write_text
from gpunet_hub.errors import InputError

from .context import Context

SAMPLES_FILE = "samples.npz"
LUT_FILE = "lut.sqlite"
CALIBRATION_FILE = "calibration.json"
TIERS_DIR = "tiers"
SEARCH_DIR = "search"


@dataclass(frozen=True)
class Stage:
    """One stage: its name, what it reads from the plan, and how it runs.

    Attributes:
        name: Stage name (state-file key).
        title: One line for progress and the report.
        inputs: The plan fields (and environment facts) the stage reads, as JSON-able data.
        run: Runs the stage, given the context and the outputs of the stages before it.
    """

    name: str
    title: str
    inputs: Callable[[Context], Any]
    run: Callable[[Context, dict[str, dict[str, Any]]], dict[str, Any]]


def _samples(ctx: Context) -> Any:
    from ..latency.sampling import load_samples

    return load_samples(ctx.path(SAMPLES_FILE))


def run_sample(ctx: Context, done: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """Stage 1: Sobol networks of the space, deduplicated, saved with the space's fingerprint."""
    from ..latency.sampling import sample, save_samples

    lat = ctx.plan.latency
    samples = sample(lat.samples, ctx.plan.space, seed=lat.sample_seed)
    save_samples(samples, ctx.path(SAMPLES_FILE))
    return {"file": SAMPLES_FILE, "networks": len(samples), "sha256": samples.sha256}


def run_lut(ctx: Context, done: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """Stage 2: measures every layer key the samples need (resumes: measured keys stay in the LUT)."""
    from ..latency.measure import clean_stale_tmp
    from ..latency.pipeline import build_lut

    clean_stale_tmp()
    result = build_lut(
        ctx.path(LUT_FILE),
        _samples(ctx),
        ctx.device,
        ctx.timer,
        ctx.plan.timing_protocol(),
        ctx.plan.setting(),
        progress=ctx.progress,
    )
    if result["measured"]:
        ctx.state.record_rate(ctx.device.fingerprint, "layer_key_s", result["seconds"] / result["measured"])
    return {k: result[k] for k in ("total", "already", "measured", "seconds", "networks")} | {"file": LUT_FILE}


def run_calibrate(ctx: Context, done: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """Stage 3: measures the first networks whole and fits LUT sum -> latency (kept in calibration.json)."""
    from ..latency.pipeline import calibrate
    from ..latency.predictor import CalibrationPredictor

    lat = ctx.plan.latency
    start = time.perf_counter()
    predictor, report = calibrate(
        ctx.path(LUT_FILE),
        _samples(ctx).head(lat.calibration_nets),
        ctx.device,
        ctx.timer,
        ctx.plan.timing_protocol(),
        ctx.plan.setting(),
        model=lat.calibration_model,
        seed=ctx.plan.seed,
        progress_nets=ctx.progress,
        store=False,
    )
    seconds = time.perf_counter() - start
    if (
        not isinstance(predictor, CalibrationPredictor) or predictor.calibration is None
    ):  # the plan names calibrations only
        raise InputError(f"latency.calibration_model {lat.calibration_model!r} is not a calibration model")
    calibration = predictor.calibration
    ctx.state.record_rate(ctx.device.fingerprint, "calibration_net_s", seconds / lat.calibration_nets)
    record = {"model": calibration.model, "coef": calibration.coef(), "report": report}
    atomic_write_text(ctx.path(CALIBRATION_FILE), json.dumps(record, indent=2, default=float) + "\n")
    held_out = report["calibrated"]
    return {
        "file": CALIBRATION_FILE,
        "formula": calibration.describe(),
        "held_out_mape": float(held_out["mape"]),
        "held_out_kendall": float(held_out["kendall"]),
        "raw_bias_mean": float(report["bias"]["mean"]),
    }


def calibration_of(ctx: Context) -> Any:
    """The calibration stage 3 fitted (read back from its file)."""
    from ..latency.calibration import Calibration

    record = json.loads(ctx.path(CALIBRATION_FILE).read_text())
    return Calibration.from_record(record["model"], record["coef"])


def run_tiers(ctx: Context, done: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """Stage 4: calibrated estimates of every sample, tier centres (quantiles or given), tier files.

    With ``latency.verify_tiers`` the networks estimated near a tier are measured whole and the tiers'
    members are drawn from those measurements (``latency.tier_guard`` inside the bounds).
    """
    from ..latency.calibration import accuracy_metrics
    from ..latency.lut import LatencyLUT
    from ..latency.pipeline import key_index, lut_sums, require_complete
    from ..latency.tiers import parse_tiers, write_tiers

    plan, lat = ctx.plan, ctx.plan.latency
    samples, setting = _samples(ctx), plan.setting()
    calibration = calibration_of(ctx)
    index = key_index(samples, setting)
    with LatencyLUT(ctx.path(LUT_FILE), readonly=True) as store:
        fp = ctx.device.fingerprint
        sums, latency = lut_sums(store, index, fp)
        require_complete(sums, latency, index, store, fp, "re-run the workflow (its LUT stage resumes)")
        meta = {
            "samples_sha256": samples.sha256,
            "samples_file": SAMPLES_FILE,
            "limit": None,
            "lut_id": store.lut_id,
            "lut_revision": store.revision(fp),
            "device": fp,
            "device_info": store.device(fp),
            **setting.to_dict(),
            "calibration": {"model": calibration.model, **calibration.coef()},
            "estimate": "calibrated LUT sum",
        }
    estimates = calibration.apply(sums, index.num_layers, index.params_m)
    if lat.tier_centres_ms is not None:
        centres = [float(c) for c in lat.tier_centres_ms]
    else:
        centres = [float(f"{q:.3g}") for q in np.quantile(estimates, lat.tier_quantiles)]
    tiers = parse_tiers(centres=",".join(f"{c:g}" for c in centres), width=lat.tier_width)
    if len({t.name for t in tiers}) < len(tiers):
        raise InputError(
            f"tier centres {centres} (ms) coincide: the estimates of {len(samples)} networks are too alike at "
            f"quantiles {list(lat.tier_quantiles)}; spread the quantiles or draw more samples"
        )
    measured = _measure_near_tiers(ctx, samples, estimates, tiers) if lat.verify_tiers else None
    guard = lat.tier_guard if measured is not None else 0.0
    summary = write_tiers(ctx.path(TIERS_DIR), tiers, samples, estimates, sums, meta, measured=measured, guard=guard)
    small = [row for row in summary if row["count"] < plan.search.trials]
    if small:
        row = small[0]
        verified = " (measured whole)" if measured is not None else ""
        raise InputError(
            f"tier {row['name']} holds {row['count']} networks{verified}, fewer than search.trials "
            f"({plan.search.trials}); draw more samples (latency.samples), widen the tiers (latency.tier_width)"
            + (", lower latency.tier_guard" if measured is not None else "")
            + " or run fewer trials"
        )
    verification = None
    if measured is not None:
        done_rows = np.isfinite(measured)
        verification = {
            "measured": int(done_rows.sum()),
            "margin": lat.verify_margin,
            "guard": guard,
            "estimate_error_mape": accuracy_metrics(estimates[done_rows], measured[done_rows])["mape"]
            if done_rows.sum() >= 3  # the metrics' own minimum
            else None,
        }
    return {
        "dir": TIERS_DIR,
        "tiers": [{**row, "file": ctx.relative(row["file"])} for row in summary],
        "membership": "measured" if measured is not None else "estimate",
        "verification": verification,
        "estimate_ms": {
            "min": float(np.min(estimates)),
            "median": float(np.median(estimates)),
            "max": float(np.max(estimates)),
        },
    }


def _measure_near_tiers(ctx: Context, samples: Any, estimates: np.ndarray, tiers: list[Any]) -> np.ndarray:
    """Measures whole the networks estimated near a tier; ms per row (NaN for the rows not measured).

    The measurements go into the LUT file (``net`` rows), so a re-run resumes and later fits can use them.
    """
    from ..latency.pipeline import measure_networks

    margin = ctx.plan.latency.verify_margin
    near = np.zeros(len(estimates), dtype=bool)
    for tier in tiers:
        near |= (estimates >= tier.lo * (1 - margin)) & (estimates < tier.hi * (1 + margin))
    rows = np.flatnonzero(near)
    measured = np.full(len(estimates), np.nan)
    if rows.size:
        measured[rows] = measure_networks(
            ctx.path(LUT_FILE),
            samples.take(rows),
            ctx.device,
            ctx.timer,
            ctx.plan.timing_protocol(),
            ctx.plan.setting(),
            progress=ctx.progress,
        )
    return measured


def experiment_name(ctx: Context, tier: str, fingerprint: str) -> str:
    """The Tune experiment of one tier: fixed for these inputs, new when an input changed."""
    return f"{ctx.plan.name}-{tier}-{fingerprint[:8]}"


def storage(ctx: Context) -> str:
    """Where the experiments live: the plan's shared storage, else ``<out>/search``."""
    return ctx.plan.search.storage or str(ctx.path(SEARCH_DIR))


def run_search(ctx: Context, done: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """Stage 5: one Ray Tune search per tier (a re-run restores an interrupted experiment).

    Ray is shut down afterwards when this stage started it (a caller's own session stays).
    """
    import ray

    started_here = not ray.is_initialized()
    try:
        return _search_tiers(ctx, done)
    finally:
        if started_here and ray.is_initialized():
            ray.shutdown()


def _search_tiers(ctx: Context, done: dict[str, dict[str, Any]]) -> dict[str, Any]:
    from ..distributed.evaluators import EvaluatorSpec
    from ..distributed.results import load_rows
    from ..distributed.runner import RunSettings, prepare, run
    from ..search.searcher import SearcherConfig

    plan, search = ctx.plan, ctx.plan.search
    fingerprint = ctx.fingerprints["search"]
    config = plan.eval_config()
    evaluator = EvaluatorSpec(
        "train",
        space=plan.space,
        epochs=config.epochs,
        seed=plan.seed,
        dataset=plan.dataset,
        proxy=dict(plan.proxy),
    )
    winners = []
    tiers = done["tiers"]["tiers"]
    for number, tier in enumerate(tiers, 1):
        settings = RunSettings(
            tier=ctx.path(tier["file"]),
            evaluator=evaluator,
            trials=search.trials,
            concurrent=search.concurrent,
            storage=storage(ctx),
            name=experiment_name(ctx, tier["name"], fingerprint),
            address=search.address,
            cpus_per_trial=search.cpus_per_trial,
            gpus_per_trial=search.gpus_per_trial,
            seed=plan.seed,
            early_stop=search.early_stop,
            searcher=SearcherConfig(**search.searcher),
        )
        prepared = prepare(settings)
        ctx.note(
            f"search tier {tier['name']} ({number}/{len(tiers)}): {search.trials} trials, "
            f"{'resuming' if prepared.restoring else 'starting'} {prepared.path}"
        )
        outcome = run(prepared)
        if outcome.errors:
            trial, error = next(iter(outcome.errors.items()))
            raise InputError(
                f"search of tier {tier['name']}: {len(outcome.errors)} trial(s) failed, e.g. {trial}: {error}; "
                f"see {prepared.path}"
            )
        rows, _ = load_rows(prepared.path)
        scored = [r for r in rows if r.best is not None and r.status in ("done", "stopped")]
        if not scored:
            raise InputError(f"search of tier {tier['name']} finished no trial; see {prepared.path}")
        best = max(scored, key=lambda r: (r.best, -(r.lut_ms or 0.0)))
        ctx.state.record_rate(ctx.device.fingerprint, "trial_epoch_s", _epoch_seconds(scored))
        winners.append(
            {
                "tier": tier["name"],
                "lo_ms": tier["lo_ms"],
                "hi_ms": tier["hi_ms"],
                "experiment": prepared.name,
                "storage": prepared.storage,
                "vector": best.vector,
                "arch_hash": best.arch_hash,
                "lut_ms": best.lut_ms,
                "search_top1": best.best,
                "trials": len(rows),
                "stopped_early": sum(r.status == "stopped" for r in rows),
                "seconds": outcome.seconds,
            }
        )
    return {"winners": winners, "evaluator": evaluator.to_dict()}


def _epoch_seconds(rows: list[Any]) -> float:
    epochs = sum(r.epochs for r in rows)
    return float(sum(r.seconds or 0.0 for r in rows) / epochs) if epochs else 0.0


__all__ = [
    "Stage",
    "calibration_of",
    "experiment_name",
    "run_calibrate",
    "run_lut",
    "run_sample",
    "run_search",
    "run_tiers",
    "storage",
]
