"""``gpunet-hub search ...``: commands of the maintainer pipeline.

Stage 1 (sampling, LUT, calibration, tiers) registers its commands from ``cli_stage1``; stage 2
(the LA-MCTS + BO searcher) from ``cli_searcher``. Each module exposes ``register(app)``.
"""

from __future__ import annotations

import importlib

import typer

app = typer.Typer(help="Maintainer pipeline: Sobol sampling, latency LUT, tiers, LA-MCTS + BO search.", no_args_is_help=True)

for _module in ("cli_stage1", "cli_searcher"):
    try:
        importlib.import_module(f"gpunet_search.{_module}").register(app)
    except ModuleNotFoundError as exc:  # a stage not written yet; any other import failure is a bug
        if exc.name != f"gpunet_search.{_module}":
            raise
