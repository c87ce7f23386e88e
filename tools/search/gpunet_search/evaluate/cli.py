"""``gpunet-hub search evaluate``: train one network with the recipe and write its JSON result.

Errors are ``gpunet_hub.errors`` types (the top-level CLI prints them as one line: exit 1 for bad
input, 2 for the environment). One rich line per epoch goes to stderr; the result JSON goes to
``--out DIR/result.json`` and, without ``--out``, to stdout.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Optional

import typer

from gpunet_hub.cli._output import err, out
from gpunet_hub.errors import InputError


def _parse_vector(text: str) -> list[int]:
    try:
        values = json.loads(text if text.strip().startswith("[") else f"[{text}]")
    except json.JSONDecodeError:
        raise InputError(f"--vector must be 41 comma-separated integers, got {text[:60]!r}") from None
    return values


def _network(vector: str | None, arch: Path | None, samples: Path | None, index: int | None, space: str):
    """Exactly one of --vector, --arch, --samples/--index -> (network, space name)."""
    given = [
        name for name, value in (("--vector", vector), ("--arch", arch), ("--samples", samples)) if value is not None
    ]
    if len(given) != 1:
        raise InputError(
            f"give exactly one of --vector, --arch or --samples (with --index); got {', '.join(given) or 'none'}"
        )
    if vector is not None:
        return _parse_vector(vector), space
    if arch is not None:
        return arch, space
    if index is None:
        raise InputError("--samples needs --index N (0-based row of the sample or tier file)")
    from gpunet_search.latency.sampling import load_samples  # stage 1's sample/tier file reader

    if samples is None:
        raise InputError("give --samples FILE with --index N")
    sample_set = load_samples(samples)
    if not 0 <= index < len(sample_set.encodings):
        raise InputError(
            f"--index {index} is out of range: {samples} holds {len(sample_set.encodings)} networks (0..{len(sample_set.encodings) - 1})"
        )
    return [int(v) for v in sample_set.encodings[index]], sample_set.space


def evaluate_cmd(
    vector: Annotated[
        Optional[str], typer.Option("--vector", help="41 comma-separated integers (the paper's encoding).")
    ] = None,
    arch: Annotated[Optional[Path], typer.Option("--arch", help="A release-format architecture JSON file.")] = None,
    samples: Annotated[
        Optional[Path], typer.Option("--samples", help="A sample or tier file (search sample / search tiers).")
    ] = None,
    index: Annotated[Optional[int], typer.Option("--index", help="Row of --samples to evaluate (0-based).")] = None,
    space: Annotated[str, typer.Option("--space", help="Search space of --vector: table1 or release.")] = "table1",
    dataset: Annotated[
        str, typer.Option("--dataset", help="digits (embedded), an ImageFolder path, hfds/NAME or torch/NAME.")
    ] = "digits",
    data_dir: Annotated[
        Optional[Path], typer.Option("--data-dir", help="Folder holding an hfds/ or torch/ dataset (no downloads).")
    ] = None,
    epochs: Annotated[
        Optional[int],
        typer.Option("--epochs", help="Epochs (default: the recipe's); warm-up and decay stretch with them."),
    ] = None,
    res_scale: Annotated[
        Optional[float], typer.Option("--res-scale", help="Input resolution = design resolution x this.")
    ] = None,
    width_mult: Annotated[
        Optional[float], typer.Option("--width-mult", help="Multiplier on every stage's filters.")
    ] = None,
    seed: Annotated[int, typer.Option("--seed", help="Seed of initialisation, data order and augmentation.")] = 0,
    full_scale: Annotated[
        bool,
        typer.Option("--full-scale", help="The paper's Table 5 recipe unchanged (GPU scale) instead of the CPU proxy."),
    ] = False,
    output: Annotated[
        Optional[Path], typer.Option("--out", help="Folder for checkpoint.pt (every epoch) and result.json.")
    ] = None,
    resume: Annotated[bool, typer.Option("--resume", help="Continue the run checkpointed in --out.")] = False,
) -> None:
    """Train one network with the paper's recipe (CPU proxy by default) and print its accuracy as JSON."""
    from .config import EvalConfig, proxy_config
    from .evaluator import EpochReport, evaluate

    network, space_name = _network(vector, arch, samples, index, space)
    if resume and output is None:
        raise InputError("--resume needs --out DIR, the folder of the run to continue")
    changes = {k: v for k, v in (("res_scale", res_scale), ("width_mult", width_mult)) if v is not None}
    base = EvalConfig() if full_scale else proxy_config()
    if full_scale and changes:
        base = base.replace(proxy=True)
    config = base.replace(seed=seed, **changes)
    if epochs is not None:
        config = config.with_epochs(epochs)

    def progress(report: EpochReport) -> None:
        r = report.record
        ema = f"  ema top-1 {r.top1_ema:5.1f}%" if r.top1_ema is not None else ""
        err.print(
            f"epoch {r.epoch:>3}/{report.epochs}  loss {r.train_loss:.3f}  top-1 {r.top1:5.1f}%{ema}  "
            f"lr {r.lr:.2e}  {r.seconds:5.1f} s  best {report.best_score:5.1f}% @ {report.best_epoch}"
        )

    result = evaluate(
        network,
        config,
        space=space_name,
        dataset=dataset,
        data_dir=data_dir,
        out_dir=output,
        resume=resume,
        callback=progress,
    )
    scale = "proxy scale" if result.proxy else "full scale"
    err.print(
        f"[bold]top-1 {result.score:.2f}%[/] (best epoch {result.best_epoch}, {result.params:,} params, "
        f"{result.resolution} px, {scale}, {result.seconds:.1f} s)"
    )
    if output is None:
        out.print_json(result.to_json())
    else:
        out.print(f"result -> {output / 'result.json'}")


def register(app: typer.Typer) -> None:
    """Adds ``evaluate`` to ``gpunet-hub search``."""
    app.command("evaluate")(evaluate_cmd)


__all__ = ["evaluate_cmd", "register"]
