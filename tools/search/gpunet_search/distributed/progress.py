"""Live progress of a search: a Tune callback that logs counts and the best trial so far.

The callback is pickled into the experiment (and comes back on restore), so it holds no console:
it logs a :class:`Progress` record on the ``gpunet_search.distributed.progress`` logger, at most once
per ``interval_s``, and the CLI renders what it receives. Counts are computed from the trial table
each time, so they are right after a restore too.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Any

from ray.tune import Callback

from .evaluators import BEST, EPOCH

LOGGER = "gpunet_search.distributed.progress"
log = logging.getLogger(LOGGER)


@dataclass(frozen=True)
class Progress:
    """A search's state at one moment.

    Attributes:
        done: Trials finished (all epochs or stopped early).
        stopped_early: Of those, stopped by the median rule.
        running: Trials running now.
        pending: Trials created and waiting for resources.
        errored: Trials that failed after their retries.
        budget: Trials the search will run in total.
        best: Best value so far (``None`` before the first result).
        best_arch: Arch hash of that trial.
        final: True for the last record of a run.
    """

    done: int
    stopped_early: int
    running: int
    pending: int
    errored: int
    budget: int
    best: float | None
    best_arch: str | None
    final: bool = False

    def line(self) -> str:
        """One human line, e.g. ``12/24 done (3 stopped early), 2 running, best 91.2 (a1b2c3d4e5f6)``."""
        best = f"best {self.best:.4g} ({self.best_arch})" if self.best is not None else "no result yet"
        errored = f", {self.errored} errored" if self.errored else ""
        return (
            f"{self.done}/{self.budget} done ({self.stopped_early} stopped early), {self.running} running, "
            f"{self.pending} pending{errored}, {best}"
        )


def summarise(trials: list[Any], budget: int, epochs: int, mode: str, final: bool = False) -> Progress:
    """Counts of a trial table (Tune ``Trial`` objects)."""
    status = [t.status for t in trials]
    finished = [t for t in trials if t.status == "TERMINATED"]
    stopped = sum(1 for t in finished if int((t.last_result or {}).get(EPOCH, epochs)) < epochs)
    scored = [(float(t.last_result[BEST]), t.config.get("arch_hash")) for t in trials if BEST in (t.last_result or {})]
    pick = max if mode == "max" else min
    best = pick(scored, key=lambda item: item[0]) if scored else (None, None)
    return Progress(
        len(finished),
        stopped,
        status.count("RUNNING"),
        status.count("PENDING"),
        status.count("ERROR"),
        budget,
        best[0],
        best[1],
        final,
    )


class ProgressLog(Callback):
    """Logs a :class:`Progress` record (``extra={"progress": ...}``) at most once per ``interval_s``."""

    def __init__(self, budget: int, epochs: int, mode: str, interval_s: float = 1.0) -> None:
        self.budget, self.epochs, self.mode, self.interval_s = budget, epochs, mode, interval_s
        self._last = 0.0

    def _emit(self, trials: list[Any], final: bool) -> None:
        progress = summarise(trials, self.budget, self.epochs, self.mode, final)
        log.info("%s", progress.line(), extra={"progress": progress})

    def on_step_end(self, iteration: int, trials: list[Any], **info: Any) -> None:
        now = time.monotonic()
        if now - self._last >= self.interval_s:
            self._last = now
            self._emit(trials, final=False)

    def on_experiment_end(self, trials: list[Any], **info: Any) -> None:
        self._emit(trials, final=True)
