"""Early stopping as a Tune scheduler whose statistics live in the searcher.

Tune does not restore a scheduler's state after a driver restart (ray#30838), so the curves the
median stopping rule compares against are kept by :class:`~.searcher.TuneSearcher` (in its saved
state); :class:`MedianStopper` only asks it, before the searcher sees the result.
"""

from __future__ import annotations

from typing import Protocol

from ray.tune.schedulers import FIFOScheduler, TrialScheduler


class StopStatistics(Protocol):
    """The owner of the stopping rule's state (the searcher)."""

    def should_stop(self, trial_id: str, result: dict) -> bool:
        """Records the trial's epoch result and applies the rule."""
        ...


class MedianStopper(FIFOScheduler):
    """A FIFO scheduler that stops a trial when the statistics' owner says so.

    Args:
        statistics: The searcher (holds the median stopping rule and its curves).
    """

    def __init__(self, statistics: StopStatistics) -> None:
        super().__init__()
        self.statistics = statistics
        self.stopped = 0

    def set_search_properties(self, metric: str | None, mode: str | None, **spec: object) -> bool:
        return True  # the searcher was built with its metric and mode

    def on_trial_result(self, tune_controller: object, trial: object, result: dict) -> str:
        if self.statistics.should_stop(str(getattr(trial, "trial_id", "")), result):
            self.stopped += 1
            return TrialScheduler.STOP
        return TrialScheduler.CONTINUE

    def debug_string(self) -> str:
        return f"MedianStopper: {self.stopped} trial(s) stopped early"
