"""``--dry-run``: each stage's status, the work it has left, and the hours it should take here.

Rates (seconds per layer key, per whole network, per training epoch, per bench) come from earlier
runs on this device (recorded in the state file by device fingerprint) or, when there are none, from a
short probe: a few layer keys and one network measured in a scratch LUT, one proxy epoch trained.
Each estimate says which.
"""

from __future__ import annotations

import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .context import Context
from .fingerprints import DONE
from .runner import STAGES
from .stages import LUT_FILE, SAMPLES_FILE

PROBE_KEYS = 3
BENCH_OVERHEAD_S = 3.0  # export + session start per network


@dataclass(frozen=True)
class StageEstimate:
    """One stage of the plan as ``--dry-run`` shows it.

    Attributes:
        name: Stage name.
        title: Its title.
        status: ``done``, ``stale`` or ``todo``.
        work: What is left, in words (keys to measure, trials to run, ...).
        seconds: Estimated seconds on this device (0 when done; ``None`` when no rate is known).
        rate_source: Where the rate comes from (``earlier run``, ``probe``, ``none``).
    """

    name: str
    title: str
    status: str
    work: str
    seconds: float | None
    rate_source: str


def _samples(ctx: Context) -> Any:
    from ..latency.sampling import load_samples, sample

    path = ctx.path(SAMPLES_FILE)
    if ctx.state.status("sample", ctx.fingerprints["sample"]) == DONE and path.exists():
        return load_samples(path)
    return sample(ctx.plan.latency.samples, ctx.plan.space, seed=ctx.plan.latency.sample_seed)


def _missing_keys(ctx: Context, samples: Any) -> tuple[int, list[str]]:
    from ..latency.lut import LatencyLUT
    from ..latency.pipeline import key_index

    index = key_index(samples, ctx.plan.setting())
    missing = np.ones(len(index.codes), dtype=bool)
    lut = ctx.path(LUT_FILE)
    if lut.exists():
        with LatencyLUT(lut, readonly=True) as store:
            if ctx.device.fingerprint in store.devices():
                latency = store.lookup_codes(index.codes, ctx.device.fingerprint, index.precision, index.batch)
                missing = np.isnan(latency)
    keys = [str(index.keys[i]) for i in np.flatnonzero(missing)]
    return len(index.codes), keys


def probe_rates(ctx: Context, keys: list[str], samples: Any) -> dict[str, float]:
    """Measures a few layer keys and one network in a scratch LUT and trains one proxy epoch."""
    from ..evaluate import evaluate
    from ..latency.estimate import scaled_resolution
    from ..latency.measure import measure_items, net_item

    plan, setting = ctx.plan, ctx.plan.setting()
    rates: dict[str, float] = {}
    vector = [int(v) for v in samples.encodings[0]]
    with tempfile.TemporaryDirectory(prefix="gpunet-regenerate-probe-") as scratch:
        lut = Path(scratch) / "probe.sqlite"
        if keys:
            start = time.perf_counter()
            measure_items(lut, keys[:PROBE_KEYS], ctx.device, ctx.timer, plan.timing_protocol(), kind="layer")
            rates["layer_key_s"] = (time.perf_counter() - start) / min(PROBE_KEYS, len(keys))
        item = net_item(
            vector,
            plan.space,
            scaled_resolution(vector[0], setting.res_scale, setting.min_resolution),
            width_mult=setting.width_mult,
            classes=setting.classes,
            precision=setting.precision,
        )
        start = time.perf_counter()
        measure_items(lut, [item], ctx.device, ctx.timer, plan.timing_protocol(), kind="net")
        rates["calibration_net_s"] = time.perf_counter() - start
    result = evaluate(vector, plan.eval_config().replace(epochs=1), space=plan.space, dataset=plan.dataset)
    rates["trial_epoch_s"] = rates["final_epoch_s"] = result.seconds
    return rates


def dry_run(ctx: Context, *, probe: bool = True) -> list[StageEstimate]:
    """The plan's stages with their status, remaining work and estimated seconds (nothing is written).

    Args:
        ctx: From :func:`~.runner.open_context`.
        probe: Measure rates the state file does not hold yet (a few seconds to a minute).
    """
    plan = ctx.plan
    status = {s.name: ctx.state.status(s.name, ctx.fingerprints[s.name]) for s in STAGES}
    samples = _samples(ctx)
    total_keys, keys = _missing_keys(ctx, samples)
    known = dict(ctx.state.rates.get(ctx.device.fingerprint, {}))
    source = dict.fromkeys(known, "earlier run on this device")
    needed = {"layer_key_s", "calibration_net_s", "trial_epoch_s", "final_epoch_s"}
    if probe and needed - set(known) and any(status[s] != DONE for s in ("lut", "calibrate", "search", "final")):
        for name, value in probe_rates(ctx, keys, samples).items():
            if name not in known:
                known[name], source[name] = value, "probe"
    tiers = len(plan.latency.tier_centres_ms or plan.latency.tier_quantiles)
    trained = tiers + len(plan.references)
    search_epochs = plan.eval_config().epochs
    bench_s = (plan.bench.min_seconds if plan.bench.min_seconds is not None else 2.0) + BENCH_OVERHEAD_S
    work: dict[str, tuple[str, float, str | None]] = {
        "sample": (f"{plan.latency.samples:,} Sobol networks of {plan.space}", 0.0, None),
        "lut": (f"{len(keys):,} of {total_keys:,} layer keys to measure", len(keys), "layer_key_s"),
        "calibrate": (
            f"{plan.latency.calibration_nets} networks measured whole",
            plan.latency.calibration_nets,
            "calibration_net_s",
        ),
        "tiers": (
            (
                f"{tiers} tiers; at most {plan.latency.samples:,} networks measured whole (those estimated near a tier)",
                plan.latency.samples,
                "calibration_net_s",
            )
            if plan.latency.verify_tiers
            else (f"{tiers} tiers", 0.0, None)
        ),
        "search": (
            f"{tiers} tiers x {plan.search.trials} trials of {search_epochs} epoch(s), {plan.search.concurrent} at once",
            tiers * plan.search.trials * search_epochs / plan.search.concurrent,
            "trial_epoch_s",
        ),
        "final": (f"{trained} networks x {plan.final.epochs} epochs", trained * plan.final.epochs, "final_epoch_s"),
        "bench": (f"{trained} networks exported and benched", trained * bench_s, None),
        "cards": (f"{tiers} cards into hub/", 0.0, None),
        "report": ("report.md and pareto.png", 0.0, None),
    }
    out = []
    for stage in STAGES:
        text, units, rate = work[stage.name]
        if status[stage.name] == DONE:
            out.append(StageEstimate(stage.name, stage.title, DONE, text, 0.0, "-"))
            continue
        if rate is None:
            out.append(StageEstimate(stage.name, stage.title, status[stage.name], text, units, "fixed allowance"))
        elif rate in known:
            out.append(
                StageEstimate(stage.name, stage.title, status[stage.name], text, units * known[rate], source[rate])
            )
        else:
            out.append(StageEstimate(stage.name, stage.title, status[stage.name], text, None, "none"))
    return out


__all__ = ["StageEstimate", "dry_run", "probe_rates"]
