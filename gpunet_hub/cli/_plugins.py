"""Command groups other packages add to ``gpunet-hub`` through the ``gpunet_hub.cli`` entry points.

Each entry point names a typer app (``search = "gpunet_search.cli:app"``); it is added under the
entry point's name. A plugin that cannot be loaded (a missing dependency, a broken install) is
replaced by a command that says so in one line and exits 2, so the rest of the CLI keeps working.
"""

from __future__ import annotations

from collections.abc import Iterable
from importlib.metadata import EntryPoint, entry_points
from typing import Any

import typer

from ..errors import EnvironmentProblem

GROUP = "gpunet_hub.cli"


def discover() -> list[EntryPoint]:
    """The installed entry points of :data:`GROUP`, by name (the first of a repeated name wins)."""
    seen: dict[str, EntryPoint] = {}
    for ep in entry_points(group=GROUP):
        seen.setdefault(ep.name, ep)
    return list(seen.values())


def _broken(ep: EntryPoint, exc: BaseException) -> Any:
    """A command standing in for a plugin that failed to load."""
    reason = f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}".rstrip(": ")
    problem = EnvironmentProblem(
        f"the '{ep.name}' commands ({ep.value}) could not be loaded: {reason}. "
        f"Reinstall the package that provides them (for 'search': pip install 'gpunet-hub[search]')"
    )
    stand_in = typer.Typer(add_completion=False)

    @stand_in.command(
        ep.name,
        help=f"Unavailable: the plugin {ep.value} failed to load.",
        context_settings={"allow_extra_args": True, "ignore_unknown_options": True, "help_option_names": []},
    )
    def unavailable() -> None:
        raise problem

    return typer.main.get_command(stand_in)


def load(ep: EntryPoint) -> Any:
    """The click command of one plugin, or a stand-in that reports why it failed to load."""
    try:
        plugin = ep.load()
        if not isinstance(plugin, typer.Typer):
            raise TypeError(f"{ep.value} is a {type(plugin).__name__}, not a typer.Typer app")
        return typer.main.get_command(plugin)
    except Exception as exc:  # any failure of third-party code at import: reported by the stand-in
        return _broken(ep, exc)


def add_plugins(group: Any, *, only: str | None = None, found: Iterable[EntryPoint] | None = None) -> None:
    """Adds plugin command groups to ``group`` (a click group built by typer).

    Args:
        group: The top-level click group.
        only: Load just the plugin of this name (the invoked command); ``None`` loads all of them
            (the top-level help lists them).
        found: The entry points to consider (default: :func:`discover`).
    """
    for ep in discover() if found is None else found:
        if ep.name in group.commands:
            continue  # gpunet-hub's own commands cannot be replaced
        if only is not None and ep.name != only:
            continue
        group.add_command(load(ep), ep.name)
