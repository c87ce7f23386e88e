"""``gpunet-hub search bench-synthetic``: the searcher's synthetic benchmark (pipeline stage 2).

The defaults are a small budget (2 seeds x 48 evaluations) that finishes in about a minute; the full
benchmark is ``--seeds 10 --budget 128`` or more (``benchmarks/search_synthetic.py`` runs 20 seeds).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated

import typer

from gpunet_hub import _validate
from gpunet_hub.cli._output import note, print_wide, progress, split_choices
from gpunet_hub.errors import InputError

DEFAULT_OUTPUT = Path("bench_synthetic")


def _split(text: str, known: tuple[str, ...], flag: str) -> tuple[str, ...]:
    """The comma-separated names of ``flag``, each one of ``known``, at least one."""
    names = split_choices(text, known, what=f"{flag} name", param=flag)
    if not names:
        raise InputError(f"{flag} needs at least one of: {', '.join(known)}", params=(flag,))
    return names


def bench_synthetic_cmd(
    seeds: Annotated[int, typer.Option("--seeds", min=1, help="Seeds 0..N-1 (the full benchmark uses 10).")] = 2,
    budget: Annotated[int, typer.Option("--budget", min=4, help="Evaluations per run (the full benchmark: 128).")] = 48,
    batch: Annotated[int, typer.Option("--batch", min=1, help="Proposals per round.")] = 8,
    n_init: Annotated[int, typer.Option("--n-init", min=2, help="Shared Sobol initial points.")] = 16,
    problems: Annotated[
        str, typer.Option("--problems", help="Comma-separated problems.")
    ] = "ackley,levy,rosenbrock,rastrigin,tier",
    methods: Annotated[
        str,
        typer.Option(
            "--methods",
            help="Comma-separated methods (also gp: Optuna GPSampler; smac: SMAC3, the bench-search extra).",
        ),
    ] = "lamcts_bo,bo,tpe,random,sobol",
    workers: Annotated[int, typer.Option("--workers", min=1, max=64, help="Worker processes.")] = 2,
    output: Annotated[
        Path, typer.Option("--out", help="Output folder for search_synthetic.{json,md,png}.")
    ] = DEFAULT_OUTPUT,
) -> None:
    """Benchmark LA-MCTS+BO against plain BO, Optuna's samplers, SMAC3, random and Sobol on synthetic problems."""
    from .bench import METHODS, PROBLEMS, BenchSettings, run_all
    from .report import summarise, targets, targets_text, write_results

    settings = BenchSettings(
        problems=_split(problems, PROBLEMS, "--problems"),
        methods=_split(methods, METHODS, "--methods"),
        seeds=tuple(range(seeds)),
        budget=budget,
        batch=batch,
        n_init=n_init,
    )
    settings.validate()
    output = _validate.output_dir(output, "--out")
    _validate.writable_place(output, "--out")
    total = len(settings.problems) * len(settings.methods) * len(settings.seeds)
    start = time.perf_counter()
    with progress(transient=False) as bar:
        task = bar.add_task("runs", total=total)

        def advance(record: dict) -> None:
            bar.update(task, advance=1, description=f"{record['problem']}/{record['method']}/{record['seed']}")

        records = run_all(settings, workers=workers, progress=advance)
    elapsed = time.perf_counter() - start
    command = (
        f"gpunet-hub search bench-synthetic --seeds {seeds} --budget {budget} --batch {batch} --n-init {n_init} "
        f"--problems {','.join(settings.problems)} --methods {','.join(settings.methods)} --workers {workers} "
        f"--out {output}"
    )
    paths = write_results(
        records, settings, output, meta={"command": command, "wall_seconds": elapsed, "workers": workers}
    )
    summary = summarise(records, settings)
    print_wide(_table(summary))
    note(targets_text(targets(summary, settings, records)))
    note(f"[{elapsed:.0f} s] wrote {', '.join(str(p) for p in paths.values())}")


def _table(summary: dict) -> object:
    from rich.table import Table

    from .report import LABELS

    first = next(iter(next(iter(summary.values())).values()))
    table = Table(title="median simple regret [IQR]", show_lines=False)
    for name in (
        "problem",
        "method",
        *[f"@{c}" for c in first["regret"]],
        "rank",
        "dups",
        "infeas.",
        "snapped",
        "s/prop",
    ):
        table.add_column(name, justify="left" if name in ("problem", "method") else "right")
    for problem, rows in summary.items():
        for method, row in rows.items():
            cells = [f"{r['median']:.3g} [{r['q25']:.3g}, {r['q75']:.3g}]" for r in row["regret"].values()]
            rank = row.get("rank")
            table.add_row(
                problem,
                LABELS.get(method, method),
                *cells,
                f"{rank['median']:g}" if rank else "",
                str(row["duplicates"]),
                str(row["infeasible"]),
                str(row["snapped"]),
                f"{row['seconds_per_proposal']:.3f}",
            )
    return table


def register(app: typer.Typer) -> None:
    """Adds the stage-2 commands to the ``gpunet-hub search`` app."""
    app.command("bench-synthetic")(bench_synthetic_cmd)
