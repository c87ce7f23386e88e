"""The nine stages in order, their fingerprints, and ``run``/``dry_run`` over an output folder.

A stage's fingerprint hashes the plan fields it reads and the fingerprint of the stage before it,
so a changed input makes that stage and every later one stale, and nothing earlier. ``run`` skips
the stages whose recorded fingerprint matches, runs the others and records each one as it finishes
(a killed run resumes at the first unfinished stage, which itself resumes its own work).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from .cards import run_cards
from .context import Context, ProgressFn
from .final import run_bench, run_final
from .fingerprints import DONE, State, fingerprint
from .plan import Plan
from .report import write_report
from .stages import Stage, run_calibrate, run_lut, run_sample, run_search, run_tiers


def _run_report(ctx: Context, done: dict[str, dict[str, Any]]) -> dict[str, Any]:
    titles = {stage.name: stage.title for stage in STAGES[:-1]}
    seconds = {name: ctx.state.stages[name].seconds for name in titles if name in ctx.state.stages}
    return write_report(ctx, done, titles, seconds)


def _search_inputs(ctx: Context) -> Any:
    search = ctx.plan.search
    return {
        "search": {k: v for k, v in asdict(search).items() if k != "address"},  # where it runs changes nothing
        "proxy": ctx.plan.eval_config().fingerprint(),
        "dataset": ctx.plan.dataset,
        "space": ctx.plan.space,
    }


STAGES: tuple[Stage, ...] = (
    Stage(
        "sample",
        "1. sample",
        lambda c: {"space": c.plan.space, "n": c.plan.latency.samples, "seed": c.plan.latency.sample_seed},
        run_sample,
    ),
    Stage(
        "lut",
        "2. LUT build",
        lambda c: {
            "setting": c.plan.setting().to_dict(),
            "device": c.device.fingerprint,
            "protocol": asdict(c.plan.timing_protocol()),
        },
        run_lut,
    ),
    Stage(
        "calibrate",
        "3. calibrate",
        lambda c: {
            "nets": c.plan.latency.calibration_nets,
            "model": c.plan.latency.calibration_model,
            "seed": c.plan.seed,
        },
        run_calibrate,
    ),
    Stage(
        "tiers",
        "4. tiers",
        lambda c: {
            "quantiles": list(c.plan.latency.tier_quantiles),
            "centres": c.plan.latency.tier_centres_ms,
            "width": c.plan.latency.tier_width,
            "trials": c.plan.search.trials,
            "verify": [c.plan.latency.verify_tiers, c.plan.latency.verify_margin, c.plan.latency.tier_guard],
        },
        run_tiers,
    ),
    Stage("search", "5. distributed search", _search_inputs, run_search),
    Stage(
        "final",
        "6. final training",
        lambda c: {"recipe": c.plan.eval_config(final=True).fingerprint(), "references": list(c.plan.references)},
        run_final,
    ),
    Stage(
        "bench",
        "7. ONNX export + bench",
        lambda c: {
            "device": c.device.fingerprint,
            "precision": c.plan.precision(),
            "batch": c.plan.latency.batch,
            "bench": asdict(c.plan.bench),
        },
        run_bench,
    ),
    Stage("cards", "8. model cards", lambda c: {"name": c.plan.name}, run_cards),
    Stage("report", "9. Pareto plot + report", lambda c: {}, _run_report),
)
STAGE_NAMES = tuple(stage.name for stage in STAGES)


def fingerprints(ctx: Context) -> dict[str, str]:
    """Every stage's current fingerprint (each chained to the one before)."""
    out: dict[str, str] = {}
    previous = ""
    for stage in STAGES:
        previous = out[stage.name] = fingerprint(stage.name, previous, stage.inputs(ctx))
    return out


def open_context(plan: Plan, out: str | Path, **kwargs: Any) -> Context:
    """The context of ``plan`` in folder ``out`` (created), with its state file and fingerprints."""
    folder = Path(out).expanduser().resolve()
    folder.mkdir(parents=True, exist_ok=True)
    ctx = Context(plan, folder, State(folder), **kwargs)
    ctx.fingerprints = fingerprints(ctx)
    return ctx


@dataclass(frozen=True)
class StageRun:
    """What happened to one stage in a run: ``skipped`` (done before) or ``ran``, with its seconds."""

    name: str
    action: str
    seconds: float
    output: dict[str, Any]


StageHook = Callable[[Stage, str], AbstractContextManager[ProgressFn]]


def _no_hook(stage: Stage, status: str) -> AbstractContextManager[ProgressFn]:
    return nullcontext(lambda done, total: None)


def run(ctx: Context, *, until: str | None = None, hook: StageHook = _no_hook) -> list[StageRun]:
    """Runs every stage that is not done (up to ``until``), recording each in the state file.

    Args:
        ctx: From :func:`open_context`.
        until: Stop after this stage (default: all nine).
        hook: Wraps each stage that runs; yields its progress callback (the CLI's progress bar).

    Raises:
        InputError / EnvironmentProblem: From the stage that failed; the stages before it stay done.
    """
    done: dict[str, dict[str, Any]] = {}
    runs = []
    for stage in STAGES:
        current = ctx.fingerprints[stage.name]
        status = ctx.state.status(stage.name, current)
        if status == DONE:
            record = ctx.state.stages[stage.name]
            done[stage.name] = record.output
            runs.append(StageRun(stage.name, "skipped", record.seconds, record.output))
        else:
            start = time.perf_counter()
            try:
                with hook(stage, status) as tick:
                    ctx.progress = tick
                    output = stage.run(ctx, done)
            except BaseException:
                ctx.state.interrupted(stage.name, current, time.perf_counter() - start)
                raise
            record = ctx.state.finish(stage.name, current, output, time.perf_counter() - start)
            done[stage.name] = output
            runs.append(StageRun(stage.name, "ran", record.seconds, output))
        if stage.name == until:
            break
    return runs


__all__ = ["STAGES", "STAGE_NAMES", "StageRun", "fingerprints", "open_context", "run"]
