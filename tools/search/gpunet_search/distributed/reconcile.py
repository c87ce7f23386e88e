"""Repairs a restored experiment whose saved trial table and searcher state disagree.

Tune saves the trial table and the search algorithm one after the other, and copies them to the
storage one file at a time, so a driver killed at the wrong moment leaves a table that is older or
newer than the searcher state, or a trial recorded as TERMINATED before the searcher heard of its
end. Without a repair a restored run can lose a finished trial, run one network twice, exceed the
budget, or wait for ever on a ``ConcurrencyLimiter`` slot held by a trial that will never report.
This callback reconciles them from the trial table at the start of every step (cheap: set lookups):

* a trial the searcher handed out but the table lacks is released (its network may come again);
* a trial in the table that the searcher state lacks is adopted (counted in the budget, never
  proposed again), and completed at once if it already finished;
* a finished trial the limiter still counts as live is completed.
"""

from __future__ import annotations

import logging
from typing import Any

from ray.tune import Callback

log = logging.getLogger(__name__)


class CompleteRestoredTrials(Callback):
    """Keeps the search algorithm consistent with Tune's trial table after a restore.

    Args:
        search_alg: The ``ConcurrencyLimiter`` around the :class:`~.searcher.TuneSearcher` given to the
            Tuner (pickled with it, so the restored callback refers to the restored limiter).
    """

    def __init__(self, search_alg: Any) -> None:
        self.search_alg = search_alg

    def on_step_begin(self, iteration: int, trials: list[Any], **info: Any) -> None:
        limiter, searcher = self.search_alg, self.search_alg.searcher
        table = {trial.trial_id: trial for trial in trials}
        for trial_id in [t for t in searcher.live_trials() if t not in table]:
            searcher.release(trial_id)
            limiter.on_trial_complete(trial_id, result=None, error=True)  # frees the slot; the searcher ignores it now
            log.info("trial %s was handed out after the saved trial table; its network goes back to the pool", trial_id)
        for trial in trials:
            if searcher.adopt(trial.trial_id, trial.config):
                log.info("trial %s is newer than the saved searcher state; adopted", trial.trial_id)
                if trial.status == "TERMINATED":
                    searcher.on_trial_complete(trial.trial_id, result=trial.last_result)
            elif trial.status == "TERMINATED" and trial.trial_id in limiter.live_trials:
                log.info(
                    "trial %s finished before the saved state told the searcher; completing it now", trial.trial_id
                )
                limiter.on_trial_complete(trial.trial_id, result=trial.last_result, error=False)
