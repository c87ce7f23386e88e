"""``gpunet-hub search ...``: the commands of the maintainer pipeline, as one typer app.

``gpunet-hub`` mounts :data:`app` from outside (``gpunet_hub`` never imports this package). Each
stage adds its commands with its ``register(app)``: stage 1 from :mod:`gpunet_search.latency.cli`,
the searcher's benchmark from :mod:`gpunet_search.experiments.cli`, the candidate
evaluator from :mod:`gpunet_search.evaluate.cli`, the Ray Tune search from
:mod:`gpunet_search.distributed.cli`, the regenerate-hub workflow from :mod:`gpunet_search.workflow.cli`.
"""

from __future__ import annotations

import typer

from .distributed import cli as distributed_cli
from .evaluate import cli as evaluate_cli
from .experiments import cli as experiments_cli
from .latency import cli as latency_cli
from .workflow import cli as workflow_cli

app = typer.Typer(
    help="Maintainer pipeline: Sobol sampling, latency LUT, tiers, LA-MCTS + BO search.",
    no_args_is_help=True,
    add_completion=False,
)
latency_cli.register(app)
experiments_cli.register(app)
evaluate_cli.register(app)
distributed_cli.register(app)
workflow_cli.register(app)
