"""The median stopping rule, until issue 10's ``gpunet_search.evaluate.MedianStoppingRule`` is merged.

Same API and semantics as that class (``record``/``decide``/``should_stop``/``state_dict``/
``from_state``): Vizier's rule (Golovin et al., KDD 2017) stops a run at epoch ``t`` when its best
value so far is strictly below the median, over the other runs that reached ``t``, of their running
averages up to ``t``. At the merge, ``_deps`` imports that class instead and this file goes.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass, field
from typing import Any

from gpunet_hub.errors import InputError

STATE_FORMAT = "median-stopping/1"


@dataclass
class MedianStoppingRule:
    """Vizier's median stopping rule over many runs (higher values are better).

    Args:
        grace_epochs: Never stop at or before this epoch.
        min_runs: Other runs that must have reached an epoch before it can stop anybody.
        curves: Run id -> values by epoch (the state).
    """

    grace_epochs: int = 1
    min_runs: int = 3
    curves: dict[str, list[float]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.grace_epochs < 0 or self.min_runs < 1:
            raise InputError(f"MedianStoppingRule needs grace_epochs >= 0 and min_runs >= 1, got {self.grace_epochs}, {self.min_runs}")

    def record(self, run_id: str, epoch: int, value: float) -> None:
        """Stores ``value`` as epoch ``epoch`` of ``run_id`` (re-recording an epoch replaces it and what followed).

        Raises:
            InputError: When epochs are skipped.
        """
        curve = self.curves.setdefault(str(run_id), [])
        if not 1 <= epoch <= len(curve) + 1:
            raise InputError(f"run {run_id!r}: epoch {epoch} reported after {len(curve)} epoch(s); report every epoch in order")
        del curve[epoch - 1 :]
        curve.append(float(value))

    def decide(self, run_id: str, epoch: int) -> bool:
        """True when ``run_id``'s best value up to ``epoch`` is strictly below the others' median."""
        curve = self.curves.get(str(run_id), [])
        if epoch <= self.grace_epochs or len(curve) < epoch:
            return False
        averages = [statistics.fmean(c[:epoch]) for other, c in self.curves.items() if other != str(run_id) and len(c) >= epoch]
        return len(averages) >= self.min_runs and max(curve[:epoch]) < statistics.median(averages)

    def should_stop(self, run_id: str, epoch: int, value: float) -> bool:
        """Records the value, then decides."""
        self.record(run_id, epoch, value)
        return self.decide(run_id, epoch)

    def state_dict(self) -> dict[str, Any]:
        """Plain JSON-able state: settings and every run's curve."""
        return {"format": STATE_FORMAT, "grace_epochs": self.grace_epochs, "min_runs": self.min_runs,
                "curves": {k: list(v) for k, v in self.curves.items()}}

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> MedianStoppingRule:
        """Rebuilds a rule from :meth:`state_dict`'s output.

        Raises:
            InputError: When ``state`` is not such a dict.
        """
        if not isinstance(state, dict) or state.get("format") != STATE_FORMAT or not isinstance(state.get("curves"), dict):
            raise InputError(f"not a median-stopping state (expected format {STATE_FORMAT!r})")
        return cls(int(state["grace_epochs"]), int(state["min_runs"]), {str(k): [float(x) for x in v] for k, v in state["curves"].items()})
