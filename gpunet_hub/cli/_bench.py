"""``gpunet-hub export`` and ``gpunet-hub bench``: thin renderers of the library calls.

``bench`` builds a :class:`gpunet_hub.measure.BenchRequest` from its options, runs it with
:func:`gpunet_hub.measure.prepare` / :func:`~gpunet_hub.measure.execute` and prints the report.
"""

from __future__ import annotations

from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Optional

import typer
from rich.table import Table

from ..measure._run import DEFAULT_MAX_CV
from ._output import OutputFormat, err, fmt_ms, info, note, print_text, print_wide, progress, split_choices, warn

if TYPE_CHECKING:
    from ..measure import BenchReport


class Precision(str, Enum):
    auto = "auto"
    fp16 = "fp16"
    fp32 = "fp32"


def export_cmd(
    name: Annotated[str, typer.Argument(help="Model name or alias (random weights unless --weights).")],
    out_path: Annotated[Path, typer.Option("--out", "-o", help="Destination .onnx file.")],
    batch_size: Annotated[int, typer.Option(help="Batch size of the graph.")] = 1,
    opset: Annotated[int, typer.Option(help="ONNX opset.")] = 17,
    dynamic_batch: Annotated[bool, typer.Option("--dynamic-batch", help="Make the batch dimension symbolic.")] = False,
    check: Annotated[
        bool, typer.Option("--check/--no-check", help="Compare onnxruntime's output with PyTorch's.")
    ] = True,
    precision: Annotated[
        str, typer.Option(help="fp32, or fp16 (an FP16 graph, for strongly typed TensorRT 11).")
    ] = "fp32",
    weights: Annotated[
        Optional[str], typer.Option(help="'default', 'hf-hub:org/repo' or a local path; none: random init.")
    ] = None,
) -> None:
    """Export a hub model to ONNX (eval mode, card resolution, onnx.checker, numerical check)."""
    from .._factory import create_model
    from .._io import sigterm_as_interrupt
    from ..export import check_export_args, export_onnx
    from ..hub import model_card

    card = model_card(name)
    check_export_args(out_path, batch_size=batch_size, opset=opset, precision=precision, path_param="out_path")
    if weights is None:
        warn(
            f"exporting {card.name} with random weights (the graph and its latency are the model's; its outputs "
            "are not): pass --weights default for the released ones"
        )
    with sigterm_as_interrupt(), progress() as bar:
        task = bar.add_task(f"exporting {card.name} at {card.resolution}px", total=1)
        model: Any = card.name if weights is None else create_model(card.name, weights=weights)
        path = export_onnx(
            model,
            out_path,
            batch_size=batch_size,
            opset=opset,
            dynamic_batch=dynamic_batch,
            check=check,
            precision=precision,
        )
        bar.advance(task)
    checks = "onnx.checker passed" + (", onnxruntime output matches PyTorch" if check else "")
    kind = "random weights" if weights is None else f"weights {weights}"
    note(
        f"wrote {path} ({card.name}, {kind}, input {batch_size}x3x{card.resolution}x{card.resolution}, "
        f"opset {opset}, {precision}; {checks})"
    )


def bench_cmd(
    models: Annotated[Optional[list[str]], typer.Argument(help="Hub models (names or aliases).")] = None,
    all_models: Annotated[bool, typer.Option("--all", help="Measure every hub model.")] = False,
    gpu: Annotated[
        Optional[str], typer.Option(help="With --max-latency-ms: bench the hub's pick for this GPU and budget.")
    ] = None,
    max_latency_ms: Annotated[Optional[float], typer.Option(help="Latency budget (ms) of the hub's pick.")] = None,
    backend: Annotated[
        str,
        typer.Option(
            help="auto, tensorrt, trtexec, onnxruntime-tensorrt, onnxruntime-cuda, onnxruntime-cpu, torch-cuda, torch-cpu."
        ),
    ] = "auto",
    precision: Annotated[Precision, typer.Option(help="auto: fp16 on GPU backends, fp32 on CPU.")] = Precision.auto,
    batch_size: Annotated[int, typer.Option(help="Batch size.")] = 1,
    threads: Annotated[int, typer.Option(help="CPU intra-op threads (1 is the most stable).")] = 1,
    warmup: Annotated[Optional[int], typer.Option(help="Warm-up runs (at least).")] = None,
    warmup_seconds: Annotated[Optional[float], typer.Option(help="Warm-up duration (at least).")] = None,
    min_runs: Annotated[
        Optional[int], typer.Option(help="Timed runs (at least; default 1000 on GPU, 50 on CPU).")
    ] = None,
    min_seconds: Annotated[Optional[float], typer.Option(help="Timed duration (at least; default 2 s on CPU).")] = None,
    max_seconds: Annotated[Optional[float], typer.Option(help="Stop timing a model after this long.")] = None,
    tolerance: Annotated[float, typer.Option(help="Relative tolerance of the verdict against the hub.")] = 0.10,
    compare: Annotated[
        Optional[str], typer.Option(help="Comma-separated timm baselines, e.g. efficientnet_b0,resnet50.")
    ] = None,
    save: Annotated[bool, typer.Option("--save", help="Save the figures to the local latency table.")] = False,
    max_cv: Annotated[
        float, typer.Option(help="Flag rows whose coefficient of variation exceeds this fraction (0.1 = 10%).")
    ] = DEFAULT_MAX_CV,
    save_unstable: Annotated[
        bool, typer.Option("--save-unstable", help="With --save: save rows above --max-cv too.")
    ] = False,
    plot: Annotated[Optional[Path], typer.Option(help="Write a latency vs top-1 plot (PNG).")] = None,
    format: Annotated[OutputFormat, typer.Option("--format", help="Output format.")] = OutputFormat.table,  # noqa: A002
    output: Annotated[Optional[Path], typer.Option(help="Also write the full JSON (with per-run times) here.")] = None,
    hub: Annotated[
        Optional[str],
        typer.Option(
            "--hub", help="A hub folder or 'hf-hub:org/repo' whose models are benchmarked and picked from too."
        ),
    ] = None,
) -> None:
    """Measure latency on this machine and compare it with the hub, honestly labelled."""
    from .._io import sigterm_as_interrupt
    from ..hub.catalog import hub_path_added
    from ..measure import BenchRequest, execute, prepare

    with hub_path_added(hub):  # the hub's models join the packaged ones for this command
        request = BenchRequest(
            models=tuple(models or ()),
            all_models=all_models,
            gpu=gpu,
            max_latency_ms=max_latency_ms,
            compare=split_choices(compare),
            backend=backend,
            precision=precision.value,
            batch_size=batch_size,
            threads=threads,
            warmup=warmup,
            warmup_seconds=warmup_seconds,
            min_runs=min_runs,
            min_seconds=min_seconds,
            max_seconds=max_seconds,
            tolerance=tolerance,
            save=save,
            plot=plot,
            output=output,
            max_cv=max_cv,
            save_unstable=save_unstable,
        )
        job = prepare(request)
        if job.pick is not None:
            err.print(job.pick.describe(), highlight=False, soft_wrap=True)
        info(f"{job.choice.explain()}; device {job.device.label}")
        engine = job.choice.backend.info.runtime == "tensorrt"
        labels = {
            "build": "building",
            "export": "exporting ONNX of",
            "time": f"{'building the engine and timing' if engine else 'timing'} ({job.choice.name})",
        }
        lines = not err.is_terminal  # no live bar when stderr is piped: one line per model instead
        with sigterm_as_interrupt(), progress() as bar:
            task = bar.add_task("benchmarking", total=len(job.targets))

            def on_progress(stage: str, model: str, done: int, total: int) -> None:
                bar.update(task, completed=done, description=f"{labels.get(stage, stage)} {model}".strip())
                if lines and stage == "build" and total > 1:
                    info(f"[{done + 1}/{total}] {model}")

            report = execute(job, on_progress)
        _render(report, format)
        _warn_unstable(report)


def _warn_unstable(report: BenchReport) -> None:
    limit = report.job.request.max_cv
    for r in report.records:
        if r.model in report.unstable:
            saved = "; not saved (--save-unstable saves it)" if r.model in report.unsaved else ""
            warn(
                f"{r.model}: CV {100 * r.stats.cv:.1f}% exceeds --max-cv {100 * limit:g}%: the machine was busy or "
                f"the run too short; its figures are noisy{saved}"
            )


def _render(report: BenchReport, fmt: OutputFormat) -> None:
    if fmt is OutputFormat.json:
        print_text(report.to_json())
        return
    if fmt is OutputFormat.csv:
        print_text(report.to_csv())
        return
    if fmt is OutputFormat.quiet:
        for r in report.records:
            note(f"{r.model} {r.stats.median:.6g}")
        return
    _print_table(report)
    if report.saved_to:
        kept = [r for r in report.records if r.model not in report.unsaved]
        hub_rows = sum(r.kind == "hub" for r in kept)
        note(
            f"saved {hub_rows} hub rows (and {len(kept) - hub_rows} baseline rows) to {report.saved_to}; "
            "use gpu='local' in load()/select() or `gpunet-hub list --gpu local`"
        )
    if report.plot is not None:
        note(f"plot written to {report.plot}")


def _print_table(report: BenchReport) -> None:
    job, records = report.job, report.records
    config = job.config
    table = Table(
        title=f"Latency (ms) measured on {job.device.label}\n{config.backend} {records[0].backend_version}, {config.precision}, batch {config.batch}"
    )
    for col in ("model", "input", "median", "mean", "p90", "p99", "CV%", "runs", "img/s", "hub", "verdict"):
        table.add_column(
            col, justify="left" if col in ("model", "input", "verdict") else "right", no_wrap=col in ("model", "input")
        )
    for r in records:
        s = r.stats
        v = report.verdicts.get(r.model)
        if r.kind == "hub":
            hub_ms = fmt_ms(v.hub_ms, "g") if v and v.hub_ms is not None else "-"
            verdict = v.status if v else "-"
        else:
            hub_ms, verdict = "-", "baseline"
        table.add_row(
            r.model,
            "x".join(str(d) for d in r.input_shape[1:]),
            fmt_ms(s.median),
            fmt_ms(s.mean),
            fmt_ms(s.p90),
            fmt_ms(s.p99),
            f"{100 * s.cv:.1f}",
            str(s.n),
            f"{r.throughput:.1f}",
            hub_ms,
            verdict,
        )
    print_wide(table)
    if job.device.kind == "cpu":
        from ..hub import catalog, known_gpus, list_gpus

        gpus = [g for g in list_gpus() if g in known_gpus()]  # a --hub measured on a CPU adds its label
        asked = job.request.gpu
        where = f"{asked} " if asked and catalog().resolve_device(asked) in known_gpus() else ""
        note(
            f"Note: the hub's {where}rows are TensorRT FP16 GPU rows (GPUs: {', '.join(gpus)}); this device is a CPU "
            "and cannot verify them. The figures above are local CPU figures only and are never compared with GPU rows."
        )
    else:
        for v in report.verdicts.values():
            note(f"{v.model}: {v.message}")
    for r in records:
        for n in r.notes:
            warn(f"{r.model}: {n}")


def register(app: typer.Typer) -> None:
    """Adds ``export`` and ``bench`` to ``app``."""
    app.command("export")(export_cmd)
    app.command("bench")(bench_cmd)
