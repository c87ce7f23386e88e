"""The ``gpunet-hub export`` and ``gpunet-hub bench`` commands (registered on the main typer app)."""

from __future__ import annotations

import sys
from enum import Enum
from pathlib import Path
from typing import Any, Optional

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from ..errors import InputError

out = Console()
err = Console(stderr=True)


class OutFormat(str, Enum):
    table = "table"
    json = "json"
    csv = "csv"


class Precision(str, Enum):
    auto = "auto"
    fp16 = "fp16"
    fp32 = "fp32"


def _progress() -> Progress:
    return Progress(
        SpinnerColumn(),
        TextColumn("{task.description}"),
        BarColumn(),
        TextColumn("{task.completed}/{task.total}"),
        TimeElapsedColumn(),
        console=err,
        transient=True,
    )


def export_cmd(
    name: str = typer.Argument(..., help="Model name or alias (random weights unless --weights)."),
    out_path: Path = typer.Option(..., "--out", "-o", help="Destination .onnx file."),
    batch_size: int = typer.Option(1, help="Batch size of the graph."),
    opset: int = typer.Option(17, help="ONNX opset."),
    dynamic_batch: bool = typer.Option(False, "--dynamic-batch", help="Make the batch dimension symbolic."),
    check: bool = typer.Option(True, "--check/--no-check", help="Compare onnxruntime's output with PyTorch's."),
    precision: str = typer.Option("fp32", help="fp32, or fp16 (an FP16 graph, for strongly typed TensorRT 11)."),
    weights: Optional[str] = typer.Option(None, help="'default', 'hf-hub:org/repo' or a local path; none: random init."),
) -> None:
    """Export a hub model to ONNX (eval mode, card resolution, onnx.checker, numerical check)."""
    from ..export import export_onnx
    from ..hub import create_model, model_card

    card = model_card(name)
    with _progress() as progress:
        task = progress.add_task(f"exporting {card.name} at {card.resolution}px", total=1)
        model: Any = card.name if weights is None else create_model(card.name, weights=weights)
        path = export_onnx(model, out_path, batch_size=batch_size, opset=opset, dynamic_batch=dynamic_batch, check=check, precision=precision)
        progress.advance(task)
    checks = "onnx.checker passed" + (", onnxruntime output matches PyTorch" if check else "")
    out.print(f"wrote {path} ({card.name}, input {batch_size}x3x{card.resolution}x{card.resolution}, opset {opset}, {precision}; {checks})", highlight=False, soft_wrap=True)


def _targets(models: list[str], all_models: bool, gpu: str | None, max_latency_ms: float | None, batch: int) -> list[Any]:
    from .. import hub
    from .runner import hub_target

    names: list[str] = []
    if all_models:
        names = hub.list_models()
    if gpu is not None or max_latency_ms is not None:
        if gpu is None or max_latency_ms is None:
            raise InputError("--gpu and --max-latency-ms go together: they pick the hub's best model within the budget")
        picked = hub.select(gpu, max_latency_ms, batch_size=batch)
        row = next(c.row for c in hub.candidates(gpu, batch_size=batch) if c.name == picked)
        err.print(
            f"the hub picks {picked} for {gpu} within {max_latency_ms:g} ms: {hub.model_card(picked).top1} % top-1, "
            f"{row.ms:g} ms {row.stat} ({row.runtime} {row.runtime_version} {row.precision}, batch {row.batch}) on {row.gpu}",
            highlight=False,
            soft_wrap=True,
        )
        names.append(picked)
    names += [hub.resolve_name(n) for n in models]
    if not names:
        raise InputError("name a model (gpunet-hub bench gpunet_0), or use --all, or --gpu GV100 --max-latency-ms 1.0")
    return [hub_target(n) for n in dict.fromkeys(names)]


def _plot(path: Path, records: list[Any], title: str) -> Path:
    from ..errors import require
    from ..hub import model_card
    from .baselines import get_baseline

    matplotlib = require("matplotlib", "bench", "--plot")
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 5.5))
    for kind, marker, color in (("hub", "o", "tab:green"), ("baseline", "s", "tab:gray")):
        pts = []
        for r in records:
            if r.kind != kind:
                continue
            top1 = model_card(r.model).top1 if kind == "hub" else get_baseline(r.model.split(":", 1)[1]).top1
            pts.append((r.stats.median, top1, r.model.removeprefix("timm:")))
        if not pts:
            continue
        pts.sort()
        ax.scatter([p[0] for p in pts], [p[1] for p in pts], marker=marker, color=color, label="GPUNet (hub)" if kind == "hub" else "timm baselines")
        for x, y, label in pts:
            ax.annotate(label, (x, y), textcoords="offset points", xytext=(4, 4), fontsize=8)
    ax.set_xlabel("measured median latency (ms)")
    ax.set_ylabel("ImageNet top-1 (%)")
    ax.set_title(title, fontsize=9)
    ax.grid(alpha=0.3)
    ax.legend(loc="lower right")
    fig.text(0.01, 0.01, "top-1: GPUNet model cards; baselines from the GPUNet paper, Table 3 (timm architectures timed with random weights)", fontsize=6)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120, bbox_inches="tight")
    plt.close(fig)
    return path


def _fmt(value: float | None, digits: str = ".3f") -> str:
    return "-" if value is None else format(value, digits)


def bench_cmd(
    models: list[str] = typer.Argument(None, help="Hub models (names or aliases)."),
    all_models: bool = typer.Option(False, "--all", help="Measure every hub model."),
    gpu: Optional[str] = typer.Option(None, help="With --max-latency-ms: bench the hub's pick for this GPU and budget."),
    max_latency_ms: Optional[float] = typer.Option(None, help="Latency budget (ms) of the hub's pick."),
    backend: str = typer.Option("auto", help="auto, tensorrt, trtexec, onnxruntime-tensorrt, onnxruntime-cuda, onnxruntime-cpu, torch-cuda, torch-cpu."),
    precision: Precision = typer.Option(Precision.auto, help="auto: fp16 on GPU backends, fp32 on CPU."),
    batch_size: int = typer.Option(1, help="Batch size."),
    threads: int = typer.Option(1, help="CPU intra-op threads (1 is the most stable)."),
    warmup: Optional[int] = typer.Option(None, help="Warm-up runs (at least)."),
    warmup_seconds: Optional[float] = typer.Option(None, help="Warm-up duration (at least)."),
    min_runs: Optional[int] = typer.Option(None, help="Timed runs (at least; default 1000 on GPU, 50 on CPU)."),
    min_seconds: Optional[float] = typer.Option(None, help="Timed duration (at least; default 2 s on CPU)."),
    max_seconds: Optional[float] = typer.Option(None, help="Stop timing a model after this long."),
    tolerance: float = typer.Option(0.10, help="Relative tolerance of the verdict against the hub."),
    compare: Optional[str] = typer.Option(None, help="Comma-separated timm baselines, e.g. efficientnet_b0,resnet50."),
    save: bool = typer.Option(False, "--save", help="Save the hub models' figures to the local latency table."),
    plot: Optional[Path] = typer.Option(None, help="Write a latency vs top-1 plot (PNG)."),
    format: OutFormat = typer.Option(OutFormat.table, "--format", help="Output format."),  # noqa: A002
    output: Optional[Path] = typer.Option(None, help="Also write the full JSON (with per-run times) here."),
) -> None:
    """Measure latency on this machine and compare it with the hub, honestly labelled."""
    from .. import hub
    from .record import to_csv, to_json
    from .runner import BenchConfig, baseline_target, bench_target, choose_backend, default_precision, device_for
    from .stats import TimingPlan
    from .verdict import verdict_for

    if batch_size < 1 or threads < 1 or not 0 < tolerance < 10:
        raise InputError("batch size and threads must be >= 1 and the tolerance a positive fraction (0.1 = 10%)")
    targets = _targets(models or [], all_models, gpu, max_latency_ms, batch_size)
    baseline_list = [b.strip() for b in (compare or "").split(",") if b.strip()]
    targets += [baseline_target(b) for b in baseline_list]
    choice = choose_backend(backend)
    prec = default_precision(choice.name) if precision is Precision.auto else precision.value
    base_plan = TimingPlan.gpu() if choice.name in ("tensorrt", "trtexec", "onnxruntime-tensorrt", "onnxruntime-cuda", "torch-cuda") else TimingPlan.cpu()
    plan = base_plan.with_overrides(
        warmup_runs=warmup, warmup_seconds=warmup_seconds, min_runs=min_runs, min_seconds=min_seconds, max_seconds=max_seconds
    )
    config = BenchConfig(backend=choice.name, precision=prec, batch=batch_size, threads=threads, plan=plan)
    device = device_for(choice.name, threads)
    err.print(f"[dim]{choice.explain()}; device {device.label}[/]", highlight=False, soft_wrap=True)

    records = []
    with _progress() as progress:
        overall = progress.add_task("benchmarking", total=len(targets))
        for target in targets:
            def stage(name: str, t: Any = target) -> None:
                label = {"build": "building", "export": "exporting ONNX of", "time": ("building the engine and timing" if choice.name in ("tensorrt", "trtexec") else "timing") + f" ({choice.name})"}[name]
                progress.update(overall, description=f"{label} {t.name}")

            records.append(bench_target(target, config, device=device, on_stage=stage))
            progress.advance(overall)

    verdicts = {r.model: verdict_for(r, hub.model_card(r.model), tolerance=tolerance) for r in records if r.kind == "hub"}
    saved = None
    if save:
        from ..local_table import save_records

        saved = save_records(records)
    if plot is not None:
        _plot(plot, records, f"latency on {device.label}, {choice.name} {prec}, batch {batch_size}")
    extra = {
        "device": device.to_dict(),
        "backend_choice": {"backend": choice.name, "explanation": choice.explain()},
        "timing_plan": plan.to_dict(),
        "verdicts": [v.to_dict() for v in verdicts.values()],
        "saved_to": str(saved) if saved else None,
        "plot": str(plot) if plot else None,
        "baseline_accuracy_source": None,
    }
    if baseline_list:
        from .baselines import source

        extra["baseline_accuracy_source"] = source()
    if output is not None:
        from .._io import atomic_write_text

        atomic_write_text(output, to_json(records, include_times=True, extra=extra))
    if format is OutFormat.json:
        sys.stdout.write(to_json(records, extra=extra))
        return
    if format is OutFormat.csv:
        sys.stdout.write(to_csv(records))
        return
    _print_table(records, verdicts, device, choice, prec, batch_size, gpu)
    if saved:
        out.print(f"saved {sum(r.kind == 'hub' for r in records)} hub rows (and {sum(r.kind != 'hub' for r in records)} baseline rows) to {saved}; "
                  "use gpu='local' in load()/select() or `gpunet-hub list --gpu local`", highlight=False, soft_wrap=True)
    if plot is not None:
        out.print(f"plot written to {plot}", highlight=False, soft_wrap=True)


def _print_table(records: list[Any], verdicts: dict[str, Any], device: Any, choice: Any, prec: str, batch: int, gpu: str | None) -> None:
    table = Table(title=f"Latency (ms) measured on {device.label}\n{choice.name} {records[0].backend_version}, {prec}, batch {batch}")
    for col in ("model", "input", "median", "mean", "p90", "p99", "CV%", "runs", "img/s", "hub", "verdict"):
        table.add_column(col, justify="left" if col in ("model", "input", "verdict") else "right", no_wrap=col in ("model", "input"))
    for r in records:
        s = r.stats
        v = verdicts.get(r.model)
        if r.kind == "hub":
            hub_ms = _fmt(v.hub_ms, "g") if v and v.hub_ms is not None else "-"
            verdict = v.status if v else "-"
        else:
            hub_ms, verdict = "-", "baseline"
        table.add_row(
            r.model,
            "x".join(str(d) for d in r.input_shape[1:]),
            _fmt(s.median),
            _fmt(s.mean),
            _fmt(s.p90),
            _fmt(s.p99),
            f"{100 * s.cv:.1f}",
            str(s.n),
            f"{r.throughput:.1f}",
            hub_ms,
            verdict,
        )
    console = out if out.is_terminal else Console(width=140)
    console.print(table)
    if device.kind == "cpu":
        from .. import hub

        where = f"{gpu} " if gpu else ""
        out.print(
            f"Note: the hub's {where}rows are TensorRT FP16 GPU rows (GPUs: {', '.join(hub.list_gpus())}); this device is a CPU "
            "and cannot verify them. The figures above are local CPU figures only and are never compared with GPU rows.",
            highlight=False,
            soft_wrap=True,
        )
    else:
        for v in verdicts.values():
            out.print(f"{v.model}: {v.message}", highlight=False, soft_wrap=True)
    notes = [f"{r.model}: {n}" for r in records for n in r.notes]
    for note in notes:
        err.print(f"[yellow]warning:[/] {note}", highlight=False, soft_wrap=True)


def register(app: typer.Typer) -> None:
    """Adds ``export`` and ``bench`` to the ``gpunet-hub`` app."""
    app.command("export")(export_cmd)
    app.command("bench")(bench_cmd)
