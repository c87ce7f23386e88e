"""``gpunet-hub list | card | pick | gpus | download``: the hub's commands (render only)."""

from __future__ import annotations

from enum import Enum
from typing import Annotated, Optional

import typer
from rich.table import Table

from .. import hub as hubs
from ._output import OutputFormat, emit, note, out, print_json

FormatOption = Annotated[OutputFormat, typer.Option("--format", help="Output format.")]
GpuOption = Annotated[
    Optional[str], typer.Option(help="GPU name or alias (GV100, V100, 'NVIDIA A100-SXM4-80GB') or 'local'.")
]
LocalGroupOption = Annotated[
    Optional[str], typer.Option(help="With --gpu local: the group of local rows to use (default: the newest).")
]
HubOption = Annotated[
    Optional[str],
    typer.Option(
        "--hub",
        help="A hub folder or 'hf-hub:org/repo' to read instead of the packaged hub (plus GPUNET_HUB_PATH).",
    ),
]
_TEXT_COLUMNS = ("display_name", "tier", "gpu", "runtime", "stat", "precision", "local_group", "display", "aliases")
# What a listing of models never drops (the name is always kept), and what it drops first when narrow.
_KEEP = ("top1", "latency_ms")
# Short dataset tags in tables (timm's model tags say "in1k"); other datasets show their id.
_DATASET_TAGS = {"imagenet-1k": "in1k"}
_DROP_ORDER = ("stat", "runtime", "display_name", "precision", "tier", "resolution", "params_m", "gpu")


class CardFormat(str, Enum):
    """``card`` prints one record: a table or JSON (a listing's csv/quiet do not fit it)."""

    table = "table"
    json = "json"


def _rows(
    names: list[str], gpu: str | None, local_group: str | None = None, source: hubs.Catalog | None = None
) -> list[dict[str, object]]:
    rows = []
    cat = source or hubs.catalog()
    pool = {c.name: c for c in hubs.candidates(gpu, local_group=local_group, hub=cat)} if gpu else {}
    for name in names:
        card = cat.model_card(name)
        row: dict[str, object] = {
            "name": name,
            "display_name": card.display_name,
            "top1": card.top1,
            "dataset": card.dataset,
            "params_m": round(card.params / 1e6, 2),
            "resolution": card.resolution,
            "tier": f"{card.tier.get('gpu', '')}/{card.tier.get('latency', '')}",
        }
        if gpu:
            c = pool[name]
            r = c.row
            row.update(
                gpu=r.gpu,
                latency_ms=r.ms,
                stat=r.stat,
                runtime=f"{r.runtime} {r.runtime_version}".strip(),
                precision=r.precision,
            )
            if c.local_group:
                row["local_group"] = c.local_group
        rows.append(row)
    return rows


def _listing(rows: list[dict[str, object]], fmt: OutputFormat, title: str) -> None:
    """Prints model rows; a table shows each top-1 with its dataset in one cell (``78.9 in1k``, ``95.2 digits``),
    so no width ever separates a top-1 from the data it was measured on (json and csv keep both fields)."""
    if fmt is OutputFormat.table:
        rows = [
            {
                **{k: v for k, v in row.items() if k != "dataset"},
                "top1": f"{row['top1']:g} {_DATASET_TAGS.get(str(row['dataset']), row['dataset'])}",
            }
            for row in rows
        ]
    emit(rows, fmt, title, left=_TEXT_COLUMNS, keep=_KEEP, drop_order=_DROP_ORDER)


def _title(base: str, gpu: str | None, local_group: str | None, source: hubs.Catalog | None = None) -> str:
    if source is not None and source.label != hubs.catalog().label:
        base += f" from {source.label}"
    if not gpu or gpu.strip().lower() != hubs.LOCAL:
        return base
    from ..hub.local_table import find_group

    group = find_group(local_group)
    return base + (f" (measured here: {group.describe()})" if group else " (measured here: nothing yet)")


def list_cmd(
    filter: Annotated[str, typer.Argument(help="Wildcard pattern, e.g. 'gpunet_d*'.")] = "",  # noqa: A002
    gpu: GpuOption = None,
    max_latency_ms: Annotated[Optional[float], typer.Option(help="With --gpu: only models within this budget.")] = None,
    local_group: LocalGroupOption = None,
    hub: HubOption = None,
    format: FormatOption = OutputFormat.table,  # noqa: A002
) -> None:
    """List hub models (top-1 on the dataset shown), optionally with their measured latency on a GPU."""
    cat = hubs.catalog(hub)
    names = hubs.list_models(filter, gpu=gpu, max_latency_ms=max_latency_ms, local_group=local_group, hub=cat)
    title = _title("gpunet-hub models" + (f" on {gpu}" if gpu else ""), gpu, local_group, cat)
    _listing(_rows(names, gpu, local_group, cat), format, title)


def card_cmd(
    name: Annotated[str, typer.Argument(help="Model name or alias.")],
    hub: HubOption = None,
    format: Annotated[CardFormat, typer.Option("--format", help="Output format.")] = CardFormat.table,  # noqa: A002
) -> None:
    """Show a model card: accuracy (and on which dataset), size, preprocessing, measured latency, weights."""
    from ..hub.card_prose import dataset_name

    cat = hubs.catalog(hub)
    c = cat.model_card(name)
    if format is CardFormat.json:
        print_json(c.to_dict())
        return
    table = Table(title=f"{c.display_name} ({c.name}) from {cat.origins[c.name]}", show_header=False)
    not_imagenet = "" if c.dataset == "imagenet-1k" else ", not ImageNet"
    for key, value in (
        ("aliases", ", ".join(c.aliases)),
        ("top-1", f"{c.top1} % on {dataset_name(c.dataset)} validation{not_imagenet}  ({c.top1_source})"),
        ("dataset", f"{c.dataset} ({c.arch.num_classes} classes)"),
        ("params", f"{c.params:,}"),
        ("input", f"{c.resolution}px, crop_pct {c.crop_pct}, {c.interpolation}"),
        ("teacher", c.teacher or "none"),
        ("search tier", f"{c.tier.get('latency')} on {c.tier.get('gpu')} (provenance, not a measurement)"),
        ("encoding", str(list(c.encoding)) if c.encoding else "none (not stage-uniform)"),
        ("weights", c.weights.url if c.weights else "none"),
        *((("provenance", ", ".join(sorted(c.provenance))),) if c.provenance else ()),
    ):
        table.add_row(key, value)
    out.print(table, markup=False)
    lat = Table(title="measured latency")
    for col in ("gpu", "batch", "precision", "runtime", "stat", "ms", "source"):
        lat.add_column(col)
    for r in c.latency:
        lat.add_row(r.gpu, str(r.batch), r.precision, f"{r.runtime} {r.runtime_version}", r.stat, f"{r.ms:g}", r.source)
    out.print(lat, markup=False)


def pick_cmd(
    gpu: Annotated[str, typer.Option(help="GPU name or alias (GV100, V100, 'NVIDIA A100-SXM4-80GB', local).")],
    max_latency_ms: Annotated[float, typer.Option(help="Latency budget in ms (inclusive).")],
    batch_size: Annotated[int, typer.Option(help="Batch size of the latency rows.")] = 1,
    local_group: LocalGroupOption = None,
    hub: HubOption = None,
    format: FormatOption = OutputFormat.table,  # noqa: A002
) -> None:
    """Pick the most accurate model within a latency budget on a GPU (or the device a hub was measured on)."""
    cat = hubs.catalog(hub)
    name = hubs.select(gpu, max_latency_ms, batch_size=batch_size, local_group=local_group, hub=cat)
    if format is OutputFormat.quiet:
        note(name)
        return
    title = _title(f"best within {max_latency_ms:g} ms on {gpu}", gpu, local_group, cat)
    _listing(_rows([name], gpu, local_group, cat), format, title)


def gpus_cmd(hub: HubOption = None, format: FormatOption = OutputFormat.table) -> None:  # noqa: A002
    """List the GPUs (or other devices) the hub has latency rows for."""
    info = hubs.known_gpus()
    rows: list[dict[str, object]] = [
        {"name": key, "display": info[key].display, "aliases": list(info[key].aliases)}
        if key in info
        else {"name": key, "display": "device a hub was measured on", "aliases": []}
        for key in hubs.list_gpus(hub=hub)
    ]
    rows.append({"name": "local", "display": "this machine", "aliases": []})  # rows of `bench --save`
    if format is not OutputFormat.json:  # a list in JSON; one cell elsewhere
        rows = [{**row, "aliases": ", ".join(row["aliases"])} for row in rows]  # type: ignore[arg-type]
    emit(rows, format, "GPUs", left=_TEXT_COLUMNS, keep=("aliases",))


def download_cmd(
    name: Annotated[str, typer.Argument(help="Model name or alias.")],
    file: Annotated[
        Optional[str],
        typer.Option(
            "--file",
            help="A local copy of the weights (the NGC .zip, a .pth.tar or .safetensors): checked and "
            "converted without the network.",
        ),
    ] = None,
    hub: HubOption = None,
) -> None:
    """Download (and convert) a model's released weights into the user cache; --file works offline.

    With --hub, fetches the hub (a Hugging Face repo into its cache) and checks the card folder's weights.
    """
    from .._validate import input_file
    from ..weights.sources import fetch_weights, install_local_weights

    cat = hubs.catalog(hub)
    card = cat.model_card(name)
    folder = cat.card_folder(card.name)
    if file is None:
        path = fetch_weights(card, progress=True, folder=folder)
        note(f"weights of {card.name} ready: {path}")
        return
    if folder is not None:
        from ..errors import InputError

        raise InputError(
            f"{card.name} comes from {cat.origins[card.name]}, whose weights are {folder}; --file installs the "
            "released weights of a packaged model",
            params=("file", "hub"),
        )
    source = input_file(file, "file", "weights file")
    path = install_local_weights(card, source)
    note(f"weights of {card.name} from {source} checked and cached: {path}; load({card.name!r}) now uses them")


def register(app: typer.Typer) -> None:
    """Adds the hub's commands to ``app``."""
    app.command("list")(list_cmd)
    app.command("card")(card_cmd)
    app.command("pick")(pick_cmd)
    app.command("gpus")(gpus_cmd)
    app.command("download")(download_cmd)
