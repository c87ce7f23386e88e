"""``python -m gpunet_search.distributed run|results``: the stage-3b commands without the hub CLI."""

from __future__ import annotations

import sys

import typer

from gpunet_hub.errors import GPUNetHubError

from .cli import err, register

app = typer.Typer(help="Distributed search on Ray Tune.", no_args_is_help=True)
register(app)


def main(argv: list[str] | None = None) -> int:
    """Runs a command; a gpunet-hub error prints one line and exits 1 (input) or 2 (environment)."""
    from gpunet_hub.errors import EnvironmentProblem

    try:
        app(args=argv, standalone_mode=False)
    except GPUNetHubError as exc:
        err.print(f"error: {exc}", highlight=False, markup=False)
        return 2 if isinstance(exc, EnvironmentProblem) else 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
