"""``gpunet-hub search run | results``: the distributed search (pipeline stage 3b).

Every argument is checked before Ray starts; errors are ``gpunet_hub.errors`` types (the top-level
CLI prints one line: exit 1 for bad input, 2 for the environment).
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.table import Table

from gpunet_hub.cli._output import err, out
from gpunet_hub.errors import EnvironmentProblem

# --storage is shared by `run` and `results`.
StorageOption = Annotated[
    str,
    typer.Option(
        "--storage",
        help="Experiment root: a local folder, or shared storage (NFS path, s3://, gs://) for a cluster.",
    ),
]


class _LiveLine(logging.Handler):
    """Shows the progress logger's latest record on one live status line."""

    def __init__(self, status: object) -> None:
        super().__init__(logging.INFO)
        self.status = status

    def emit(self, record: logging.LogRecord) -> None:
        progress = getattr(record, "progress", None)
        if progress is not None:
            self.status.update(progress.line())  # type: ignore[attr-defined]


def run_cmd(
    tier: Annotated[
        Path, typer.Option("--tier", help="Tier file from `gpunet-hub search tiers`: the networks searched.")
    ],
    evaluator: Annotated[
        str,
        typer.Option(
            "--evaluator",
            help="train (the candidate evaluator, gpunet_search.evaluate, at its default proxy) or synthetic:NAME (ackley, levy, rosenbrock, rastrigin, tier).",
        ),
    ],
    trials: Annotated[int, typer.Option("--trials", help="Trial budget (networks evaluated).")],
    concurrent: Annotated[int, typer.Option("--concurrent", help="Trials at once (worker slots).")] = 2,
    dataset: Annotated[
        str, typer.Option("--dataset", help="train: digits, an ImageFolder path, hfds/NAME or torch/NAME.")
    ] = "digits",
    data_dir: Annotated[
        Optional[Path], typer.Option("--data-dir", help="train: where hfds/ and torch/ datasets are stored.")
    ] = None,
    epochs: Annotated[
        Optional[int], typer.Option("--epochs", help="Epochs per trial (default: the evaluator's; synthetic: 4).")
    ] = None,
    sleep: Annotated[
        float, typer.Option("--sleep", help="synthetic: seconds each trial sleeps (spread over its epochs).")
    ] = 0.0,
    address: Annotated[
        Optional[str],
        typer.Option("--address", help="Join a Ray cluster (auto or HOST:6379); default: Ray on this machine."),
    ] = None,
    storage: StorageOption = "search_runs",
    name: Annotated[
        Optional[str], typer.Option("--name", help="Experiment name (default: search-<tier>-<evaluator>).")
    ] = None,
    resume: Annotated[
        bool, typer.Option("--resume", help="Require an existing experiment (the same command resumes one anyway).")
    ] = False,
    cpus_per_trial: Annotated[float, typer.Option("--cpus-per-trial", help="CPUs reserved per trial.")] = 1.0,
    gpus_per_trial: Annotated[
        float, typer.Option("--gpus-per-trial", help="GPUs reserved per trial (1: one trial per GPU).")
    ] = 0.0,
    num_cpus: Annotated[
        Optional[int],
        typer.Option("--num-cpus", help="CPUs of the local Ray instance (default: concurrent x cpus-per-trial)."),
    ] = None,
    seed: Annotated[int, typer.Option("--seed", help="Seed of the searcher and the evaluator.")] = 0,
    max_failures: Annotated[
        int, typer.Option("--max-failures", help="Retries of a trial whose worker died (from its last checkpoint).")
    ] = 3,
    early_stop: Annotated[bool, typer.Option("--early-stop/--no-early-stop", help="Median stopping rule.")] = True,
) -> None:
    """Search a latency tier on Ray Tune: LA-MCTS + BO proposes, trials evaluate; resumable after any crash."""
    from .evaluators import EvaluatorSpec
    from .runner import RunSettings, prepare, run

    spec = EvaluatorSpec(
        evaluator,
        epochs=epochs,
        sleep_s=sleep,
        seed=seed,
        dataset=dataset,
        data_dir=str(data_dir) if data_dir else None,
    )
    settings = RunSettings(
        tier=tier,
        evaluator=spec,
        trials=trials,
        concurrent=concurrent,
        storage=storage,
        name=name,
        address=address,
        cpus_per_trial=cpus_per_trial,
        gpus_per_trial=gpus_per_trial,
        num_cpus=num_cpus,
        seed=seed,
        max_failures=max_failures,
        early_stop=early_stop,
        resume=resume,
    )
    plan = prepare(settings)
    verb = "resuming" if plan.restoring else "starting"
    err.print(
        f"{verb} {plan.path}: {trials} trials of tier {plan.tier.name} ({len(plan.tier)} networks), {evaluator}, {concurrent} at once",
        highlight=False,
    )
    logging.getLogger("ray").setLevel(logging.WARNING)
    progress_log = logging.getLogger("gpunet_search.distributed.progress")
    with err.status("starting Ray ...") as status:
        handler = _LiveLine(status)
        progress_log.addHandler(handler)
        progress_log.setLevel(logging.INFO)
        try:
            outcome = run(plan)
        finally:
            progress_log.removeHandler(handler)
    _print_results(plan.path, "table")
    err.print(f"[{outcome.seconds:.0f} s] {outcome.trials} trials in {outcome.path}", highlight=False)
    if outcome.errors:
        first = next(iter(outcome.errors.items()))
        raise EnvironmentProblem(
            f"{len(outcome.errors)} trial(s) failed after their retries (first: {first[0]}: {first[1]}); "
            "run the same command again to retry them"
        )


def _print_results(path: str, fmt: str) -> None:
    from ._deps import vector_id
    from .results import load_rows, render

    rows, manifest = load_rows(path)
    if fmt != "table":
        sys.stdout.write(render(rows, fmt))
        return
    evaluator = manifest.get("evaluator", {}).get("kind", "?")
    table = Table(
        title=f"{path} ({evaluator}, tier {manifest.get('tier')}, {len(rows)}/{manifest.get('trials')} trials)"
    )
    for col in ("arch hash", "LUT ms", "status", "epochs", "final", "best", "s", "node", "retries", "vector"):
        table.add_column(
            col,
            justify="right" if col in ("LUT ms", "epochs", "final", "best", "s", "retries") else "left",
            no_wrap=col != "vector",
            overflow="fold",
        )
    for r in rows:
        table.add_row(
            r.arch_hash,
            _fmt(r.lut_ms),
            r.status,
            str(r.epochs),
            _fmt(r.final),
            _fmt(r.best),
            _fmt(r.seconds, ".1f"),
            r.node or "-",
            str(r.failures),
            vector_id(r.vector),
        )
    out.print(table)


def _fmt(value: float | None, spec: str = ".4g") -> str:
    return "-" if value is None else format(value, spec)


def results_cmd(
    name: Annotated[str, typer.Option("--name", help="Experiment name (as printed by `search run`).")],
    storage: StorageOption = "search_runs",
    fmt: Annotated[str, typer.Option("--format", help="table, json or csv.")] = "table",
) -> None:
    """Every trial of a distributed search: vector, arch hash, LUT estimate, final/best metric, status, epochs, time, node."""
    from gpunet_hub.errors import InputError

    from .results import FORMATS
    from .runner import resolve_storage

    if fmt not in FORMATS:
        raise InputError(f"unknown --format {fmt!r}; choose one of {', '.join(FORMATS)}")
    root = storage if "://" in storage else str(Path(storage).expanduser().resolve())
    if "://" not in root and not Path(root).is_dir():
        raise InputError(f"--storage {storage} does not exist")
    _print_results(f"{resolve_storage(root).rstrip('/')}/{name}", fmt)


def register(app: typer.Typer) -> None:
    """Adds ``run`` and ``results`` to ``gpunet-hub search``."""
    app.command("run")(run_cmd)
    app.command("results")(results_cmd)
