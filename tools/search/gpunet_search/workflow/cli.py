"""``gpunet-hub search regenerate``: from a device and a dataset to model cards verified by bench.

Errors are ``gpunet_hub.errors`` types, printed by the top-level CLI as one line (exit 1 for bad
input, 2 for the environment). Each running stage shows a rich progress bar.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Optional

import typer
from rich.table import Table

from gpunet_hub import _validate
from gpunet_hub._io import sigterm_as_interrupt
from gpunet_hub.cli._output import note, print_wide, progress
from gpunet_hub.errors import InputError

if TYPE_CHECKING:
    from .context import ProgressFn
    from .stages import Stage

DEFAULT_OUT = Path("regenerated")


@contextmanager
def _stage_progress(stage: Stage, status: str) -> Iterator[ProgressFn]:
    """A progress bar for one running stage; yields its (done, total) callback."""
    note(f"{stage.title}: {'inputs changed, redoing' if status == 'stale' else 'running'}")
    with progress(transient=False) as bar:
        task = bar.add_task(stage.title, total=None)

        def tick(done: int, total: int) -> None:
            bar.update(task, completed=done, total=total)

        yield tick


def _overrides(
    sets: list[str], backend: str | None, address: str | None, storage: str | None, trials: int | None, name: str | None
) -> list[dict[str, Any]]:
    from .plan import parse_override

    changes = [parse_override(text) for text in sets]
    if backend is not None:
        changes.append({"latency": {"backend": backend}})
    if address is not None:
        changes.append({"search": {"address": address}})
    if storage is not None:
        changes.append({"search": {"storage": storage}})
    if trials is not None:
        changes.append({"search": {"trials": trials}})
    if name is not None:
        changes.append({"name": name})
    return changes


def _print_plan(ctx: Any, estimates: list[Any]) -> None:
    plan = ctx.plan
    table = Table(title=f"regenerate plan {plan.name!r} -> {ctx.out} on {ctx.device.setup_label}")
    for col in ("stage", "status", "work left", "estimate", "rate from"):
        table.add_column(col, justify="right" if col == "estimate" else "left")
    for e in estimates:
        hours = "-" if e.seconds is None else f"{e.seconds / 3600:.2f} h" if e.seconds >= 360 else f"{e.seconds:.0f} s"
        table.add_row(e.title, e.status, e.work, hours, e.rate_source)
    print_wide(table)
    known = [e.seconds for e in estimates if e.seconds is not None]
    unknown = [e.title for e in estimates if e.seconds is None]
    scales = plan.scales()
    note(
        f"networks at width x{scales['width_mult']:g}, resolution x{scales['res_scale']:g} (floor "
        f"{scales['min_resolution']} px), {scales['num_classes']} classes, training subset {scales['train_subset']:g}"
    )
    note(
        f"estimated total {sum(known) / 3600:.2f} h"
        + (f" (no rate for {', '.join(unknown)}: run without --no-probe)" if unknown else "")
    )


def regenerate_cmd(
    preset: Annotated[
        Optional[str], typer.Option("--preset", help="A named plan: smoke (minutes, proves the chain) or cpu-digits.")
    ] = None,
    plan_file: Annotated[Optional[Path], typer.Option("--plan", help="A YAML plan file (refines --preset).")] = None,
    out: Annotated[Path, typer.Option("--out", help="Output folder: state, LUT, tiers, runs, hub/, report.md.")] = (
        DEFAULT_OUT
    ),
    sets: Annotated[
        Optional[list[str]], typer.Option("--set", help="Override a plan field, e.g. search.trials=4 (repeatable).")
    ] = None,
    backend: Annotated[
        Optional[str], typer.Option("--backend", help="Measuring backend: onnxruntime-cpu (default), tensorrt, ...")
    ] = None,
    address: Annotated[Optional[str], typer.Option("--address", help="Ray cluster to join (auto, HOST:6379).")] = None,
    storage: Annotated[
        Optional[str], typer.Option("--storage", help="Experiment storage every node sees (s3://..., NFS path).")
    ] = None,
    trials: Annotated[Optional[int], typer.Option("--trials", help="Trials per tier.")] = None,
    name: Annotated[Optional[str], typer.Option("--name", help="Prefix of the entries' names.")] = None,
    dry_run: Annotated[
        bool,
        typer.Option("--dry-run", help="Print the stages, their status, work left and estimated time; run nothing."),
    ] = False,
    probe: Annotated[
        bool, typer.Option("--probe/--no-probe", help="--dry-run: measure rates no earlier run recorded.")
    ] = True,
    until: Annotated[Optional[str], typer.Option("--until", help="Stop after this stage.")] = None,
) -> None:
    """Run the whole pipeline (sample, LUT, calibrate, tiers, search, final training, bench, cards, report)."""
    from .plan import make_plan
    from .runner import STAGE_NAMES, open_context, run

    if preset is None and plan_file is None:
        raise InputError("give --preset (smoke or cpu-digits) and/or --plan FILE")
    if until is not None:
        _validate.choice(until, "--until", STAGE_NAMES)
    plan = make_plan(preset, plan_file, _overrides(sets or [], backend, address, storage, trials, name))
    out = _validate.output_dir(out, "--out")
    _validate.writable_place(out, "--out")
    ctx = open_context(plan, out, note=note)
    if dry_run:
        from .dryrun import dry_run as estimate

        _print_plan(ctx, estimate(ctx, probe=probe))
        return
    with sigterm_as_interrupt():
        runs = run(ctx, until=until, hook=_stage_progress)
    table = Table(title=f"regenerate {plan.name!r} -> {ctx.out}")
    for col in ("stage", "action", "seconds"):
        table.add_column(col, justify="right" if col == "seconds" else "left")
    for item in runs:
        table.add_row(item.name, item.action, f"{item.seconds:.1f}")
    print_wide(table)
    report = next((r.output for r in runs if r.name == "report"), None)
    if report is not None:
        fidelity = report["tier_fidelity"]
        note(
            f"hub folder {ctx.path('hub')}; report {ctx.path(report['file'])}; tier fidelity "
            + ("n/a" if fidelity is None else f"{fidelity:.0%}")
        )


def register(app: typer.Typer) -> None:
    """Adds ``regenerate`` to ``gpunet-hub search``."""
    app.command("regenerate")(regenerate_cmd)


__all__ = ["regenerate_cmd", "register"]
