"""The ``gpunet-hub`` command line (typer + rich).

gpunet-hub's own commands are registered here, statically (:mod:`._hub`, :mod:`._bench`). Other
packages add command groups through the ``gpunet_hub.cli`` entry-point group, as huggingface_hub's
CLI extensions do: each entry point names a typer app, added under the entry point's name. The
maintainer pipeline registers itself this way in ``pyproject.toml``::

    [project.entry-points."gpunet_hub.cli"]
    search = "gpunet_search.cli:app"

so gpunet_hub never imports it. A plugin is loaded only when its command (or the top-level help)
is asked for; one that fails to load gives a one-line error when invoked.

Errors print one line on stderr, never a traceback: exit 1 for bad input, 2 for environment problems
(offline, missing optional dependency, no GPU). Argument names in library messages are said as the
command's flags (:func:`._output.flag_message`).
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import Annotated, Any

import typer
from rich.markup import escape

from ..errors import EnvironmentProblem, GPUNetHubError
from . import _bench, _cache, _hub
from ._output import err, fail
from ._plugins import add_plugins

app = typer.Typer(
    name="gpunet-hub",
    help="GPU-optimised classifiers (GPUNet, GPUNet-D) by GPU type and measured latency.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


def _version(value: bool) -> None:
    if value:
        from .. import __version__
        from ._output import note

        note(f"gpunet-hub {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Print the version and exit.")
    ] = False,
) -> None:
    """GPU-optimised classifiers (GPUNet, GPUNet-D) by GPU type and measured latency."""


_hub.register(app)
_bench.register(app)
_cache.register(app)


def _invoked(argv: Sequence[str]) -> str | None:
    """The top-level command ``argv`` names (``None`` for bare ``gpunet-hub`` or ``--help``)."""
    return next((a for a in argv if not a.startswith("-")), None)


def command(argv: Sequence[str] = ()) -> Any:
    """The click command tree of ``gpunet-hub``, with the plugins ``argv`` needs loaded."""
    group = typer.main.get_command(app)
    add_plugins(group, only=_invoked(argv))
    return group


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``gpunet-hub`` script."""
    args = list(sys.argv[1:] if argv is None else argv)
    group = command(args)
    try:
        result = group.main(args=args, prog_name="gpunet-hub", standalone_mode=False)
    except GPUNetHubError as exc:
        from ._output import command_flags

        return fail(exc, command_flags(group, args))
    except Exception as exc:
        # Usage errors come from click, or from the copy of click that newer typer vendors: match
        # on click's exception interface rather than on one of the two classes.
        if hasattr(exc, "format_message") and hasattr(exc, "exit_code"):
            if not exc.format_message():  # help was shown for a bare group
                return 0
            message = " ".join(exc.format_message().split())
            err.print(f"[bold red]error:[/] {escape(message)} (see gpunet-hub --help)", highlight=False)
            return 1
        if type(exc).__name__ == "Abort":
            err.print("aborted")
            return 130
        if type(exc).__name__ == "Exit":  # --version, from the copy of click that typer vendors
            return int(getattr(exc, "exit_code", 0) or 0)
        if isinstance(exc, OSError):  # disk full, permissions, a vanished file: the environment
            return fail(EnvironmentProblem(f"{exc.strerror or exc}: {exc.filename or ''}".rstrip(": ")))
        raise
    return result if isinstance(result, int) else 0


__all__ = ["app", "command", "main"]


if __name__ == "__main__":
    sys.exit(main())
