"""The ``gpunet-hub`` command line (typer + rich).

Errors print one line on stderr, never a traceback: exit 1 for bad input, 2 for environment problems
(offline, missing optional dependency, no GPU).
"""

from __future__ import annotations

import csv
import io
import json
import sys
from enum import Enum
from functools import lru_cache
from typing import Optional

import typer
from rich.console import Console
from rich.table import Table

from . import hub
from .errors import EnvironmentProblem, GPUNetHubError

app = typer.Typer(
    name="gpunet-hub",
    help="GPU-optimised classifiers (GPUNet, GPUNet-D) by GPU type and measured latency.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
out = Console()
err = Console(stderr=True, soft_wrap=True)  # one error, one line


class Format(str, Enum):
    table = "table"
    json = "json"
    csv = "csv"
    quiet = "quiet"


def _rows(names: list[str], gpu: str | None) -> list[dict[str, object]]:
    rows = []
    latency = {c.name: c.row for c in hub.candidates(gpu)} if gpu else {}
    for name in names:
        card = hub.model_card(name)
        row: dict[str, object] = {
            "name": name,
            "display_name": card.display_name,
            "top1": card.top1,
            "params_m": round(card.params / 1e6, 2),
            "resolution": card.resolution,
            "tier": f"{card.tier.get('gpu', '')}/{card.tier.get('latency', '')}",
        }
        if gpu:
            r = latency[name]
            row.update(gpu=r.gpu, latency_ms=r.ms, stat=r.stat, runtime=f"{r.runtime} {r.runtime_version}".strip(), precision=r.precision)
        rows.append(row)
    return rows


def _emit(rows: list[dict[str, object]], fmt: Format, title: str) -> None:
    if fmt is Format.quiet:
        for row in rows:
            out.print(row["name"], highlight=False)
    elif fmt is Format.json:
        sys.stdout.write(json.dumps(rows, indent=2) + "\n")
    elif fmt is Format.csv:
        buffer = io.StringIO()
        if rows:
            writer = csv.DictWriter(buffer, fieldnames=list(rows[0]))
            writer.writeheader()
            writer.writerows(rows)
        sys.stdout.write(buffer.getvalue())
    else:
        table = Table(title=title)
        for key in rows[0] if rows else ["name"]:
            table.add_column(key, justify="right" if key not in ("name", "display_name", "tier", "gpu", "runtime", "stat", "precision") else "left")
        for row in rows:
            table.add_row(*(str(v) for v in row.values()))
        out.print(table)


@app.command("list")
def list_cmd(
    filter: str = typer.Argument("", help="Wildcard pattern, e.g. 'gpunet_d*'."),  # noqa: A002
    gpu: Optional[str] = typer.Option(None, help="Show latency on this GPU (GV100, A100, ... or 'local')."),
    max_latency_ms: Optional[float] = typer.Option(None, help="With --gpu: only models within this budget."),
    format: Format = typer.Option(Format.table, "--format", help="Output format."),  # noqa: A002
) -> None:
    """List hub models, optionally with their measured latency on a GPU."""
    names = hub.list_models(filter, gpu=gpu, max_latency_ms=max_latency_ms)
    title = "gpunet-hub models" + (f" on {gpu}" if gpu else "")
    if gpu and hub.resolve_gpu(gpu) == "local":
        devices = sorted({c.row.gpu for c in hub.candidates(gpu)})
        title += f" (measured here on: {', '.join(devices) or 'nothing yet'})"
    _emit(_rows(names, gpu), format, title)


@app.command()
def card(name: str = typer.Argument(..., help="Model name or alias."), format: Format = typer.Option(Format.table, "--format")) -> None:  # noqa: A002
    """Show a model card: accuracy, size, preprocessing, measured latency, weights."""
    c = hub.model_card(name)
    if format is Format.json:
        sys.stdout.write(json.dumps(c.to_dict(), indent=2) + "\n")
        return
    table = Table(title=f"{c.display_name} ({c.name})", show_header=False)
    for key, value in (
        ("aliases", ", ".join(c.aliases)),
        ("top-1", f"{c.top1} %  ({c.top1_source})"),
        ("params", f"{c.params:,}"),
        ("input", f"{c.resolution}px, crop_pct {c.crop_pct}, {c.interpolation}"),
        ("teacher", c.teacher or "none"),
        ("search tier", f"{c.tier.get('latency')} on {c.tier.get('gpu')} (provenance, not a measurement)"),
        ("encoding", str(list(c.encoding)) if c.encoding else "none (not stage-uniform)"),
        ("weights", c.weights.url if c.weights else "none"),
    ):
        table.add_row(key, value)
    out.print(table)
    lat = Table(title="measured latency")
    for col in ("gpu", "batch", "precision", "runtime", "stat", "ms", "source"):
        lat.add_column(col)
    for r in c.latency:
        lat.add_row(r.gpu, str(r.batch), r.precision, f"{r.runtime} {r.runtime_version}", r.stat, f"{r.ms:g}", r.source)
    out.print(lat)


@app.command()
def pick(
    gpu: str = typer.Option(..., help="GPU name or alias (GV100, V100, 'NVIDIA A100-SXM4-80GB', local)."),
    max_latency_ms: float = typer.Option(..., help="Latency budget in ms (inclusive)."),
    batch_size: int = typer.Option(1, help="Batch size of the latency rows."),
    format: Format = typer.Option(Format.table, "--format"),  # noqa: A002
) -> None:
    """Pick the most accurate model within a latency budget on a GPU."""
    name = hub.select(gpu, max_latency_ms, batch_size=batch_size)
    if format is Format.quiet:
        out.print(name, highlight=False)
        return
    _emit(_rows([name], gpu), format, f"best within {max_latency_ms:g} ms on {gpu}")


@app.command()
def gpus(format: Format = typer.Option(Format.table, "--format")) -> None:  # noqa: A002
    """List the GPUs the hub has latency rows for."""
    from .gpus import known_gpus

    info = known_gpus()
    rows = [{"name": key, "display": info[key].display, "aliases": ", ".join(info[key].aliases)} for key in hub.list_gpus()]
    rows.append({"name": "local", "display": "this machine", "aliases": "rows saved by `gpunet-hub bench --save`"})
    _emit(rows, format, "GPUs")


@app.command()
def download(name: str = typer.Argument(..., help="Model name or alias.")) -> None:
    """Download (and convert) a model's released weights into the user cache."""
    from .weights import fetch_weights

    path = fetch_weights(hub.model_card(name), progress=True)
    out.print(f"weights of {hub.resolve_name(name)} ready: {path}")


@lru_cache(maxsize=1)
def _register_optional() -> None:
    """Adds the bench/export and search commands when their modules are present."""
    try:
        from .bench.cli import register
    except ModuleNotFoundError as exc:
        if not (exc.name or "").startswith("gpunet_hub.bench"):
            raise
    else:
        register(app)
    try:
        from gpunet_search.cli import app as search_app
    except ModuleNotFoundError as exc:
        if exc.name != "gpunet_search" and not (exc.name or "").startswith("gpunet_search."):
            raise

        @app.command(context_settings={"allow_extra_args": True, "ignore_unknown_options": True})
        def search() -> None:
            """Maintainer pipeline (needs the 'search' extra)."""
            raise typer.Exit(_fail(EnvironmentProblem("the search pipeline is not installed: pip install 'gpunet-hub[search]'")))
    else:
        app.add_typer(search_app, name="search")


def _fail(exc: Exception) -> int:
    code = 2 if isinstance(exc, EnvironmentProblem) else 1
    err.print(f"[bold red]error:[/] {exc}", highlight=False)
    return code


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``gpunet-hub`` script."""
    _register_optional()
    command = typer.main.get_command(app)
    try:
        result = command.main(args=argv, prog_name="gpunet-hub", standalone_mode=False)
    except GPUNetHubError as exc:
        return _fail(exc)
    except Exception as exc:
        # Usage errors come from click, or from the copy of click that newer typer vendors: match
        # on click's exception interface rather than on one of the two classes.
        if hasattr(exc, "format_message") and hasattr(exc, "exit_code"):
            if not exc.format_message():  # help was shown for a bare group
                return 0
            err.print(f"[bold red]error:[/] {exc.format_message()} (see gpunet-hub --help)", highlight=False)
            return 1
        if type(exc).__name__ == "Abort":
            err.print("aborted")
            return 130
        raise
    return result if isinstance(result, int) else 0


if __name__ == "__main__":
    sys.exit(main())
