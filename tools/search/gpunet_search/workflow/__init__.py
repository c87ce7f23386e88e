"""The regenerate-hub workflow: a plan in, a hub folder of bench-verified model cards out.

``gpunet-hub search regenerate`` runs nine stages over one output folder: sample, LUT build,
calibrate, tiers, a distributed search per tier, final training, ONNX export + bench, model cards,
and a Pareto plot with ``report.md``. Each stage is fingerprinted by its inputs (:mod:`.fingerprints`),
so a re-run skips what is done and redoes what a changed input made stale; a killed run resumes.

Examples:
    >>> from gpunet_search.workflow import make_plan, open_context, run
    >>> ctx = open_context(make_plan("smoke"), "regenerated")
    >>> runs = run(ctx)  # doctest: +SKIP
"""

from .plan import BenchPlan, FinalPlan, LatencyPlan, Plan, SearchPlan, make_plan
from .presets import PRESETS
from .runner import STAGE_NAMES, STAGES, open_context, run

__all__ = [
    "PRESETS",
    "STAGES",
    "STAGE_NAMES",
    "BenchPlan",
    "FinalPlan",
    "LatencyPlan",
    "Plan",
    "SearchPlan",
    "make_plan",
    "open_context",
    "run",
]
