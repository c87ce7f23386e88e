"""``gpunet-hub cache info|clear``: what the project stored in the user cache, and freeing it."""

from __future__ import annotations

from typing import Annotated, Optional

import typer
from rich.filesize import decimal as _size

from .._io import CACHE_KINDS, cache_entries, cache_root, clear_cache
from ._output import OutputFormat, emit, note

app = typer.Typer(help="Show or free what gpunet-hub stored (downloads, converted weights, ONNX exports).")

_KINDS = ", ".join((*CACHE_KINDS, "temp"))


@app.command("info")
def info_cmd(
    format: Annotated[OutputFormat, typer.Option("--format", help="Output format.")] = OutputFormat.table,  # noqa: A002
) -> None:
    """Show what the cache holds, by kind, with sizes."""
    entries = cache_entries()
    if not entries:
        note(f"the cache at {cache_root()} holds nothing gpunet-hub can rebuild")
        return
    if format is OutputFormat.table:  # the folder is in the title; each kind's path is root/kind
        rows = [{"kind": e.kind, "files": e.files, "size": _size(e.bytes), "holds": e.description} for e in entries]
    else:
        rows = [
            {"kind": e.kind, "files": e.files, "bytes": e.bytes, "path": str(e.path), "holds": e.description}
            for e in entries
        ]
    emit(rows, format, f"gpunet-hub cache: {cache_root()}", key="kind", left=("kind", "path", "holds"))
    if format is OutputFormat.table:
        note(f"total {_size(sum(e.bytes for e in entries))}; free it with `gpunet-hub cache clear [KIND...]`")


@app.command("clear")
def clear_cmd(
    kinds: Annotated[Optional[list[str]], typer.Argument(help=f"What to delete ({_KINDS}); none: all of them.")] = None,
) -> None:
    """Delete cached data gpunet-hub can rebuild (never the local latency table of `bench --save`)."""
    removed = clear_cache(kinds or None)
    if not removed:
        note("nothing to clear")
        return
    for e in removed:
        note(f"removed {e.kind}: {e.files} files, {_size(e.bytes)}")
    note(f"freed {_size(sum(e.bytes for e in removed))}")


def register(root: typer.Typer) -> None:
    """Adds ``cache`` to ``root``."""
    root.add_typer(app, name="cache")
