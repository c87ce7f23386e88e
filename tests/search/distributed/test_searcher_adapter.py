"""The Tune searcher adapter, called directly (no Ray cluster): queue, budget, unknown ids, state."""

from __future__ import annotations

import json
import pickle
import threading
import time

import pytest
from ray.tune.search import Searcher

from gpunet_hub.errors import InputError
from gpunet_search.evaluate import MedianStoppingRule
from gpunet_search.distributed.searcher import TuneSearcher
from gpunet_search.distributed.tier import arch_hash, load_tier



def _searcher(tier_file, config, **kwargs) -> TuneSearcher:
    kwargs.setdefault("budget", 12)
    return TuneSearcher(load_tier(tier_file), metric="best_value", mode="max", batch=3, config=config,
                        stop_rule=MedianStoppingRule(grace_epochs=1, min_runs=2), suggest_wait_s=5.0, **kwargs)


def _suggest(s: TuneSearcher, trial_id: str, tries: int = 100):
    for _ in range(tries):
        config = s.suggest(trial_id)
        if config is not None:
            return config
    raise AssertionError("suggest kept returning None")


def _complete(s: TuneSearcher, trial_id: str, config: dict, value: float, epochs: int = 2) -> None:
    result = {"best_value": value, "value": value, "epoch": epochs, "config": {**config, "epochs": 2}}
    s.on_trial_result(trial_id, result)
    s.on_trial_complete(trial_id, result)


def test_budget_distinct_tier_members_and_finished(tier_file, small_config) -> None:
    tier = load_tier(tier_file)
    members = {arch_hash(v, tier.space) for v in tier.vectors}
    s = _searcher(tier_file, small_config)
    seen = []
    for i in range(12):
        config = _suggest(s, f"t{i}")
        assert config["arch_hash"] == arch_hash(config["vector"], "table1") and config["lut_ms"] == tier.estimates()[config["arch_hash"]]
        seen.append(config["arch_hash"])
        _complete(s, f"t{i}", config, float(sum(config["vector"])))
    assert len(set(seen)) == 12 and set(seen) <= members
    assert s.suggest("t12") == Searcher.FINISHED
    s.close()
    assert s._model.n_observations >= 9  # every result but the last batch's was told before the next ask


def test_slow_fit_never_blocks_suggest(tier_file, small_config, monkeypatch) -> None:
    s = _searcher(tier_file, small_config)
    s.suggest_wait_s = 0.05
    release = threading.Event()
    real_ask = s._model.ask
    monkeypatch.setattr(s._model, "ask", lambda n: (release.wait(10), real_ask(n))[1])
    start = time.perf_counter()
    assert s.suggest("t0") is None and s.suggest("t0") is None
    assert time.perf_counter() - start < 1.0
    release.set()
    assert _suggest(s, "t0")["vector"]
    s.close()


def test_unknown_trial_ids_and_errors(tier_file, small_config) -> None:
    s = _searcher(tier_file, small_config)
    config = _suggest(s, "a")
    s.on_trial_complete("never-seen", None, error=True)  # no config: ignored
    s.on_trial_complete("a", None, error=True)  # failed: pending forever, not re-proposed
    other = dict(config, vector=load_tier(tier_file).vectors[-1].tolist())
    other["arch_hash"] = arch_hash(other["vector"], "table1")
    _complete(s, "from-old-snapshot", other, 5.0)  # unknown id, network from the config
    statuses = {r["trial_id"]: r["status"] for r in s.records()}
    assert statuses == {"a": "error", "from-old-snapshot": "done"}
    handed = set()
    for i in range(10):
        handed.add(_suggest(s, f"t{i}")["arch_hash"])
    assert config["arch_hash"] not in handed and other["arch_hash"] not in handed
    s.close()


def test_save_restore_continues_without_duplicates(tier_file, small_config, tmp_path) -> None:
    a = _searcher(tier_file, small_config)
    first = []
    for i in range(5):
        config = _suggest(a, f"t{i}")
        first.append(config["arch_hash"])
        if i < 3:
            _complete(a, f"t{i}", config, float(i))
    path = tmp_path / "searcher-state.pkl"
    a.save(str(path))
    state = json.loads(path.read_text())
    assert state["version"] == 1 and state["suggested"] == 5 and set(state["trials"]) == {"t3", "t4"}
    # A restored searcher (built as Tune does: unpickled from tuner.pkl, then restore()).
    b = pickle.loads(pickle.dumps(_searcher(tier_file, small_config)))
    b.restore(str(path))
    assert b.suggested == 5 and b.stop_state()["curves"].keys() == {"t0", "t1", "t2"}
    b.on_trial_complete("t3", {"best_value": 1.5, "epoch": 2, "config": {"epochs": 2}})  # known id after restore
    rest = [_suggest(b, f"u{i}")["arch_hash"] for i in range(7)]
    assert b.suggest("u7") == Searcher.FINISHED
    assert len(set(first + rest)) == 12
    with pytest.raises(InputError, match="budget"):
        _searcher(tier_file, small_config, budget=13).restore(str(path))
    with pytest.raises(InputError, match="exceeds"):
        _searcher(tier_file, small_config, budget=10_000)
    a.close()
    b.close()


def test_stop_statistics_live_in_the_searcher(tier_file, small_config) -> None:
    s = _searcher(tier_file, small_config)
    for trial, values in {"x": [1.0, 2.0, 3.0], "y": [1.5, 2.5, 3.5]}.items():
        for epoch, value in enumerate(values, 1):
            s.on_trial_result(trial, {"value": value, "best_value": value, "epoch": epoch})
    assert not s.should_stop("z", {"value": 0.1, "best_value": 0.1, "epoch": 1})  # grace epoch
    assert s.should_stop("z", {"value": 0.2, "best_value": 0.2, "epoch": 2})  # below the median of x and y
    assert not s.should_stop("w", {"value": 9.0, "best_value": 9.0, "epoch": 2})  # missed epoch 1: padded, above
    restored = _searcher(tier_file, small_config)
    restored.load_state_dict(json.loads(json.dumps(s.state_dict())))
    assert restored.should_stop("z", {"value": 0.3, "best_value": 0.3, "epoch": 3})


def test_restored_table_and_searcher_state_are_reconciled(tier_file, small_config) -> None:
    """Tune saves (and copies) the trial table and the searcher state separately: a killed driver can leave them apart."""
    from types import SimpleNamespace

    from ray.tune.search import ConcurrencyLimiter

    from gpunet_search.distributed.reconcile import CompleteRestoredTrials

    limiter = ConcurrencyLimiter(_searcher(tier_file, small_config), max_concurrent=3)
    callback = CompleteRestoredTrials(limiter)
    limiter, callback = pickle.loads(pickle.dumps((limiter, callback)))  # as in tuner.pkl: one pickle, shared objects
    assert callback.search_alg is limiter
    searcher = limiter.searcher
    configs = {tid: _suggest(limiter, tid) for tid in ("a", "b", "lost")}
    assert limiter.suggest("c") is None  # all slots taken
    stranger = load_tier(tier_file).vectors[-1].tolist()
    table = [  # "a" finished but the limiter was not told; "lost" is missing; "new" is unknown to the searcher
        SimpleNamespace(trial_id="a", status="TERMINATED", config={**configs["a"], "epochs": 2},
                        last_result={"best_value": 3.0, "epoch": 2, "config": {**configs["a"], "epochs": 2}}),
        SimpleNamespace(trial_id="b", status="RUNNING", config=configs["b"], last_result={}),
        SimpleNamespace(trial_id="new", status="TERMINATED", config={"vector": stranger, "arch_hash": arch_hash(stranger, "table1"), "epochs": 2},
                        last_result={"best_value": 1.0, "epoch": 2, "config": {"vector": stranger, "epochs": 2}}),
    ]
    callback.on_step_begin(0, table)
    assert limiter.live_trials == {"b"}
    assert searcher.live_trials() == ["b"]
    assert sorted(r["trial_id"] for r in searcher.records()) == ["a", "new"]
    assert searcher.suggested == 3  # a, b and the adopted one; the lost one went back to the pool
    more = {tid: _suggest(limiter, tid) for tid in ("c", "d")}
    assert not {c["arch_hash"] for c in more.values()} & {arch_hash(stranger, "table1"), configs["a"]["arch_hash"]}
    table += [SimpleNamespace(trial_id=tid, status="PENDING", config=c, last_result={}) for tid, c in more.items()]
    callback.on_step_begin(1, table)  # nothing more to repair
    assert searcher.suggested == 5
    searcher.close()
