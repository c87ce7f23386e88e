"""Early stopping: the hook the evaluator calls after each epoch, and the median stopping rule.

The median stopping rule is Google Vizier's (Golovin et al., KDD 2017, section 3.2.2): a run is
stopped at step ``t`` when its best value so far is strictly below the median, over the other
runs that reached ``t``, of their running averages up to ``t``. Its state is plain JSON-able data
(run id -> curve) that the caller owns, so a search that restarts keeps its history.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass, field
from typing import Any, Protocol

from gpunet_hub.errors import InputError

STATE_FORMAT = "median-stopping/1"


class StopPolicy(Protocol):
    """What the evaluator asks after each epoch."""

    def should_stop(self, run_id: str, epoch: int, value: float) -> bool:
        """Records ``value`` (higher is better) for ``run_id`` at 1-based ``epoch``; True stops the run."""
        ...


@dataclass
class MedianStoppingRule:
    """Vizier's median stopping rule over many runs (higher values are better).

    Args:
        grace_epochs: Never stop before this many epochs.
        min_runs: Other runs that must have reached an epoch before it can stop anybody.
        curves: Run id -> values by epoch (the state; see :meth:`state_dict`).
    """

    grace_epochs: int = 1
    min_runs: int = 3
    curves: dict[str, list[float]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.grace_epochs < 0 or self.min_runs < 1:
            raise InputError(
                f"MedianStoppingRule needs grace_epochs >= 0 and min_runs >= 1, got {self.grace_epochs}, {self.min_runs}"
            )

    def record(self, run_id: str, epoch: int, value: float) -> None:
        """Stores ``value`` as epoch ``epoch`` of ``run_id`` (re-recording an epoch replaces it, as a resume does).

        Raises:
            InputError: When epochs are skipped (the curve must be reported in order).
        """
        curve = self.curves.setdefault(str(run_id), [])
        if not 1 <= epoch <= len(curve) + 1:
            raise InputError(
                f"run {run_id!r}: epoch {epoch} reported after {len(curve)} epoch(s); report every epoch in order"
            )
        del curve[epoch - 1 :]
        curve.append(float(value))

    def median_at(self, run_id: str, epoch: int) -> float | None:
        """The median of the other runs' running averages at ``epoch`` (``None`` if too few reached it)."""
        averages = [
            statistics.fmean(curve[:epoch])
            for other, curve in self.curves.items()
            if other != run_id and len(curve) >= epoch
        ]
        return statistics.median(averages) if len(averages) >= self.min_runs else None

    def decide(self, run_id: str, epoch: int) -> bool:
        """True when ``run_id``'s best value up to ``epoch`` is strictly below the median."""
        curve = self.curves.get(str(run_id), [])
        if epoch <= self.grace_epochs or len(curve) < epoch:
            return False
        median = self.median_at(str(run_id), epoch)
        return median is not None and max(curve[:epoch]) < median

    def should_stop(self, run_id: str, epoch: int, value: float) -> bool:
        """Records the value, then decides (the :class:`StopPolicy` hook)."""
        self.record(run_id, epoch, value)
        return self.decide(run_id, epoch)

    def state_dict(self) -> dict[str, Any]:
        """Plain JSON-able state: settings and every run's curve."""
        return {
            "format": STATE_FORMAT,
            "grace_epochs": self.grace_epochs,
            "min_runs": self.min_runs,
            "curves": {k: list(v) for k, v in self.curves.items()},
        }

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> MedianStoppingRule:
        """Rebuilds a rule from :meth:`state_dict`'s output.

        Raises:
            InputError: When ``state`` is not such a dict.
        """
        if not isinstance(state, dict) or state.get("format") != STATE_FORMAT:
            raise InputError(f"not a median-stopping state (expected format {STATE_FORMAT!r})")
        curves = state.get("curves", {})
        if not isinstance(curves, dict) or not all(isinstance(v, list) for v in curves.values()):
            raise InputError("median-stopping state: 'curves' must map run ids to lists of values")
        return cls(
            int(state["grace_epochs"]),
            int(state["min_runs"]),
            {str(k): [float(x) for x in v] for k, v in curves.items()},
        )


__all__ = ["MedianStoppingRule", "StopPolicy"]
