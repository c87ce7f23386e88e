"""Repairs a restored experiment whose snapshot caught a trial between "finished" and "searcher told".

Tune's snapshot can record a trial as TERMINATED before the search algorithm heard of its end. On
``Tuner.restore`` such a trial is never run again, so ``on_trial_complete`` never comes: the
``ConcurrencyLimiter`` keeps it among its live trials for ever (a slot lost each time; once all
slots are lost the experiment waits for ever) and the searcher never learns its result. This
callback completes those trials from the restored trial table at the start of every step.
"""

from __future__ import annotations

import logging
from typing import Any

from ray.tune import Callback

log = logging.getLogger(__name__)


class CompleteRestoredTrials(Callback):
    """Calls ``search_alg.on_trial_complete`` for finished trials the search algorithm still counts as live.

    Args:
        search_alg: The ``ConcurrencyLimiter`` given to the Tuner (pickled with it, so the restored
            callback refers to the restored limiter).
    """

    def __init__(self, search_alg: Any) -> None:
        self.search_alg = search_alg

    def on_step_begin(self, iteration: int, trials: list[Any], **info: Any) -> None:
        live = getattr(self.search_alg, "live_trials", set())
        for trial in trials:
            if trial.status == "TERMINATED" and trial.trial_id in live:
                log.info("trial %s finished before the last snapshot told the searcher; completing it now", trial.trial_id)
                self.search_alg.on_trial_complete(trial.trial_id, result=trial.last_result, error=False)
