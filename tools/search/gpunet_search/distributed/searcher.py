"""The server of the distributed search: a ``ray.tune.search.Searcher`` around :class:`LamctsBoSearcher`.

* ``suggest`` hands out proposals from a queue. When the queue is empty, a background thread refills
  it with ``ask(batch)`` (after telling the model every result that arrived meanwhile); ``suggest``
  waits for it at most ``suggest_wait_s`` and otherwise returns ``None`` (Tune asks again), so the
  Tune controller never blocks on a slow GP fit.
* Only the background thread touches the model. The controller thread queues results in an inbox;
  every finished refill publishes the model's state together with the inbox entries it consumed, so
  a snapshot taken at any moment is consistent: model state + unconsumed inbox + queue.
* ``on_trial_complete`` tolerates trial ids it never handed out (a restore from an older snapshot):
  the network comes from ``result["config"]["vector"]``. A network is never proposed twice: every
  network handed out is remembered (saved state included), a failed one stays pending in the model.
* It also owns the median stopping rule and its per-epoch curves (:mod:`.stopping` asks it),
  because Tune restores a searcher's state after a driver restart but not a scheduler's.
* ``save``/``restore`` write one versioned JSON document (the file name is Tune's ``.pkl``).
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from pathlib import Path
from typing import Any

import numpy as np
from ray.tune.search import Searcher

from gpunet_hub.errors import InputError

from ._deps import LamctsBoSearcher, MedianStoppingRule, SearcherConfig
from .tier import TierPool, arch_hash

log = logging.getLogger(__name__)

STATE_VERSION = 1
STATE_KIND = "gpunet_search.distributed.TuneSearcher"


class TuneSearcher(Searcher):
    """LA-MCTS + BO over the networks of one tier, as a Tune searcher with a fixed trial budget.

    Args:
        tier: The tier to search (its members are the pool and the feasible set).
        budget: Trials to hand out in total (errored and early-stopped trials count).
        metric: The reported best-so-far metric the model learns from.
        mode: ``max`` or ``min``.
        batch: Proposals per background ``ask`` (usually the number of concurrent trials).
        seed: Seed of the model.
        config: Model parameters.
        suggest_wait_s: Longest time ``suggest`` waits for a running refill before returning ``None``.
        stop_rule: The median stopping rule (``None``: no early stopping).
        curve_metric: The per-epoch value the rule compares.
        epoch_key: The result key holding the 1-based epoch.

    Raises:
        InputError: A budget larger than the tier, or bad parameters.
    """

    def __init__(
        self,
        tier: TierPool,
        *,
        budget: int,
        metric: str,
        mode: str = "max",
        batch: int = 1,
        seed: int = 0,
        config: SearcherConfig | None = None,
        suggest_wait_s: float = 0.05,
        stop_rule: MedianStoppingRule | None = None,
        curve_metric: str = "value",
        epoch_key: str = "epoch",
    ) -> None:
        if budget < 1 or batch < 1 or suggest_wait_s < 0:
            raise InputError(
                f"budget and batch must be >= 1 and the wait >= 0, got {budget}, {batch}, {suggest_wait_s}"
            )
        if budget > len(tier):
            raise InputError(
                f"--trials {budget} exceeds the {len(tier)} networks of tier {tier.name} ({tier.path}); use at most {len(tier)}"
            )
        super().__init__(metric=metric, mode=mode)
        self.tier_name = tier.name
        self.tier_sha256 = tier.sha256
        self.space = tier.space
        self.budget, self.batch, self.suggest_wait_s = int(budget), int(batch), float(suggest_wait_s)
        self._estimates = tier.estimates()
        self._model = LamctsBoSearcher(
            tier.space, mode=mode, feasible=tier.membership(), pool=tier.vectors, seed=seed, config=config
        )
        self._init_runtime()
        self._model_state: dict[str, Any] = self._model.state_dict()
        self._queue: list[list[int]] = []
        self._inbox: list[dict[str, Any]] = []  # results not yet told to the model
        self._cancel: list[list[int]] = []  # networks released by reconcile(), not yet cancelled in the model
        self._trials: dict[str, list[int]] = {}  # live trial id -> vector
        self._handed: dict[str, str] = {}  # arch hash -> trial id, every network ever handed out
        self._records: list[dict[str, Any]] = []  # finished trials
        self._rule = stop_rule
        self.curve_metric, self.epoch_key = curve_metric, epoch_key
        self._suggested = 0
        self._exhausted = False

    # -- runtime (threads are not state) ------------------------------------------------------------
    def _init_runtime(self) -> None:
        self._mutex = threading.Lock()
        self._executor: ThreadPoolExecutor | None = None
        self._refill: Future | None = None

    def __getstate__(self) -> dict[str, Any]:
        self._collect(wait=True)
        state = self.__dict__.copy()
        for key in ("_mutex", "_executor", "_refill"):
            state.pop(key)
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._init_runtime()

    def close(self) -> None:
        """Waits for a running refill and stops the background thread."""
        self._collect(wait=True)
        if self._executor is not None:
            self._executor.shutdown(wait=True)
            self._executor = None

    # -- Tune API ---------------------------------------------------------------------------------
    def set_search_properties(self, metric: str | None, mode: str | None, config: dict, **spec: Any) -> bool:
        self._metric = self._metric or metric
        self._mode = self._mode or mode
        return True

    def set_max_concurrency(self, max_concurrent: int) -> bool:
        return False  # the ConcurrencyLimiter enforces it

    def suggest(self, trial_id: str) -> dict[str, Any] | str | None:  # type: ignore[override]  # Tune omits FINISHED (a str)
        if self._suggested >= self.budget:
            return Searcher.FINISHED
        vector = self._next_proposal()
        if vector is None:
            if self._exhausted and self._refill is None:
                log.warning("the tier has no unseen network left after %d trials; finishing early", self._suggested)
                return Searcher.FINISHED
            return None
        key = arch_hash(vector, self.space)
        self._trials[trial_id] = vector
        self._handed[key] = trial_id
        self._suggested += 1
        return {"vector": vector, "arch_hash": key, "lut_ms": self._estimates.get(key)}

    def on_trial_result(self, trial_id: str, result: dict) -> None:
        self._record_curve(trial_id, result)

    def on_trial_complete(self, trial_id: str, result: dict | None = None, error: bool = False) -> None:
        vector = self._trials.pop(trial_id, None)
        config = (result or {}).get("config") or {}
        if vector is None and "vector" in config:
            vector = [int(v) for v in config["vector"]]
            log.info(
                "trial %s was not handed out by this searcher state (older snapshot); network from its config", trial_id
            )
        if vector is None:
            log.warning("trial %s completed without a known network; ignored", trial_id)
            return
        if result:
            self._record_curve(trial_id, result)
        key = arch_hash(vector, self.space)
        self._handed.setdefault(key, trial_id)
        metrics = result or {}
        ok = not error and self.metric in metrics and np.isfinite(float(metrics[self.metric]))
        epochs = int(result.get(self.epoch_key, 0) or 0) if result else 0
        target = config.get("epochs")
        status = "error" if not ok else ("stopped" if target is not None and epochs < int(target) else "done")
        told = {r["arch_hash"] for r in self._records if r["status"] != "error"}
        self._records = [r for r in self._records if r["trial_id"] != trial_id]  # a retried or re-completed trial
        self._records.append(
            {
                "trial_id": trial_id,
                "arch_hash": key,
                "vector": vector,
                "status": status,
                "epochs": epochs,
                "value": float(metrics[self.metric]) if ok else None,
                "finished_at": time.time(),
            }
        )
        if ok and key not in told:
            with self._mutex:
                self._inbox.append({"vector": vector, "value": float(metrics[self.metric])})
        # A failed network stays pending in the model: it is neither retried by the searcher nor
        # told a made-up value (Tune's FailureConfig retries it from its checkpoint first).

    def save(self, checkpoint_path: str) -> None:
        Path(checkpoint_path).write_text(json.dumps(self.state_dict()))

    def restore(self, checkpoint_path: str) -> None:
        self.load_state_dict(json.loads(Path(checkpoint_path).read_text()))

    # -- state ------------------------------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        """Everything needed to continue: model state, queue, inbox, trials, curves, counters (JSON-able)."""
        with self._mutex:
            model, queue, inbox, cancel = self._model_state, list(self._queue), list(self._inbox), list(self._cancel)
        return {
            "version": STATE_VERSION,
            "kind": STATE_KIND,
            "tier": self.tier_name,
            "tier_sha256": self.tier_sha256,
            "budget": self.budget,
            "batch": self.batch,
            "metric": self.metric,
            "mode": self.mode,
            "model": model,
            "queue": queue,
            "inbox": inbox,
            "cancel": cancel,
            "trials": dict(self._trials),
            "handed": dict(self._handed),
            "records": list(self._records),
            "stop_rule": self._rule.state_dict() if self._rule is not None else None,
            "suggested": self._suggested,
            "exhausted": self._exhausted,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restores :meth:`state_dict` output into a searcher built for the same tier and budget.

        Raises:
            InputError: Another version, kind, tier, budget or metric.
        """
        if not isinstance(state, dict) or state.get("version") != STATE_VERSION or state.get("kind") != STATE_KIND:
            raise InputError(f"not a {STATE_KIND} state of version {STATE_VERSION}")
        for key in ("tier_sha256", "budget", "metric", "mode"):
            mine = self.tier_sha256 if key == "tier_sha256" else getattr(self, key)
            if state.get(key) != mine:
                raise InputError(
                    f"the saved search has {key} {state.get(key)!r}, this one {mine!r}; start a new experiment (--name)"
                )
        self.close()
        self._model.load_state_dict(state["model"])
        with self._mutex:
            self._model_state = state["model"]
            self._queue = [list(map(int, v)) for v in state["queue"]]
            self._inbox = list(state["inbox"])
            self._cancel = [list(map(int, v)) for v in state.get("cancel", [])]
        self._trials = {k: list(map(int, v)) for k, v in state["trials"].items()}
        self._handed = dict(state["handed"])
        self._records = list(state["records"])
        if self._rule is not None and state.get("stop_rule") is not None:
            self._rule = MedianStoppingRule.from_state(state["stop_rule"])
        self._suggested = int(state["suggested"])
        self._exhausted = bool(state["exhausted"])

    # -- statistics for the scheduler and the progress display -----------------------------------
    def signed(self, value: float) -> float:
        """A metric value oriented so that larger is better."""
        return float(value) if self.mode == "max" else -float(value)

    def should_stop(self, trial_id: str, result: dict) -> bool:
        """Records the trial's per-epoch value in the stopping rule and applies it (False without a rule)."""
        epoch = self._record_curve(trial_id, result)
        return bool(epoch) and self._rule is not None and self._rule.decide(trial_id, epoch)

    def stop_state(self) -> dict[str, Any] | None:
        """The stopping rule's plain-data state (``None`` without a rule)."""
        return self._rule.state_dict() if self._rule is not None else None

    def records(self) -> list[dict[str, Any]]:
        """Finished trials in completion order: trial id, arch hash, vector, status, epochs, value, finished_at (epoch s)."""
        return list(self._records)

    @property
    def suggested(self) -> int:
        """Trials handed out so far."""
        return self._suggested

    # -- repairs after a restore (see reconcile.py) ------------------------------------------------
    def live_trials(self) -> list[str]:
        """Ids of the trials handed out and not completed."""
        return list(self._trials)

    def release(self, trial_id: str) -> bool:
        """Forgets a trial handed out after the trial table was saved: its network may be proposed again.

        Returns:
            True when the trial was live here.
        """
        vector = self._trials.pop(trial_id, None)
        if vector is None:
            return False
        key = arch_hash(vector, self.space)
        if self._handed.get(key) == trial_id:
            del self._handed[key]
        self._suggested -= 1
        with self._mutex:
            self._cancel.append(vector)
        return True

    def adopt(self, trial_id: str, config: Mapping[str, Any]) -> bool:
        """Takes over a trial of the table that this (older) searcher state never handed out.

        Returns:
            True when the trial was unknown and is now counted in the budget.
        """
        if trial_id in self._trials or "vector" not in config or any(r["trial_id"] == trial_id for r in self._records):
            return False
        vector = [int(v) for v in config["vector"]]
        self._trials[trial_id] = vector
        self._handed[arch_hash(vector, self.space)] = trial_id
        self._suggested += 1
        return True

    # -- internals --------------------------------------------------------------------------------
    def _record_curve(self, trial_id: str, result: dict) -> int:
        """Feeds the rule; returns the epoch recorded (0 when nothing was)."""
        epoch = int(result.get(self.epoch_key, 0) or 0)
        if self._rule is None or epoch < 1 or self.curve_metric not in result:
            return 0
        value = self.signed(result[self.curve_metric])
        curve = self._rule.curves.get(trial_id, [])
        if epoch > len(curve) + 1:  # results missed by an older snapshot: hold the first value known
            for missing in range(len(curve) + 1, epoch):
                self._rule.record(trial_id, missing, value)
        self._rule.record(trial_id, epoch, value)
        return epoch

    def _pop(self) -> list[int] | None:
        with self._mutex:
            while self._queue:
                vector = self._queue.pop(0)
                if arch_hash(vector, self.space) not in self._handed:
                    return vector
                log.warning("dropping a proposal that was already handed out: %s", vector)
        return None

    @property
    def _refill_size(self) -> int:
        """Proposals the next ask should make: a batch, never more than the budget still needs."""
        return min(self.batch, self.budget - self._suggested - len(self._queue))

    def _start_refill(self) -> None:
        if self._refill is None and not self._exhausted and self._refill_size > 0:
            if self._executor is None:
                self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="gpunet-searcher")
            self._refill = self._executor.submit(self._refill_job)

    def _next_proposal(self) -> list[int] | None:
        """Pops a queued proposal; keeps the next batch being asked in the background (prefetch)."""
        self._collect(wait=False)
        vector = self._pop()
        if vector is None and self._refill is None:
            self._start_refill()
        if vector is None and self._refill is not None:
            try:
                self._refill.result(timeout=self.suggest_wait_s)
            except FutureTimeout:
                return None
            self._collect(wait=False)
            vector = self._pop()
        if vector is not None and len(self._queue) < self.batch:
            self._start_refill()  # the next batch is fitted while the trials run
        return vector

    def _collect(self, wait: bool) -> None:
        """Clears a finished refill; re-raises its error in the caller (the controller)."""
        refill = self._refill
        if refill is None or (not wait and not refill.done()):
            return
        self._refill = None
        refill.result()

    def _refill_job(self) -> None:
        """Background thread: tell the model the new results, ask a batch, publish state + queue."""
        with self._mutex:
            inbox, cancel = list(self._inbox), list(self._cancel)
        if cancel:
            self._model.cancel(cancel)
        for item in inbox:
            try:
                self._model.tell([item["vector"]], [item["value"]])
            except InputError as exc:  # e.g. a result that an older snapshot already held
                log.warning("result not told to the model: %s", exc)
        picks = self._model.ask(self._refill_size) if self._refill_size > 0 else []
        state = self._model.state_dict()
        with self._mutex:
            del self._inbox[: len(inbox)]
            del self._cancel[: len(cancel)]
            self._queue.extend(picks)
            self._model_state = state
            self._exhausted = self._refill_size > 0 and not picks
