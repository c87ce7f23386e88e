"""Earlier measuring runs brought to the level of the current one before a predictor is fitted on them."""

from __future__ import annotations

import numpy as np
import pytest
from latency_fixtures import DEVICE, SETTING, store, synthetic

from gpunet_hub.errors import InputError
from gpunet_search.latency.lut import LatencyLUT
from gpunet_search.latency.predictor import make_predictor
from gpunet_search.latency.predictor_store import load_predictor, predictor_record, stored_training_set
from gpunet_search.latency.sessions import MIN_SESSION_NETWORKS, align_sessions


def _runs(levels: dict[str, tuple[int, float]], held_out: int = 16):
    """Synthetic networks split into runs of (size, level), the first run the current one, then ``held_out``
    more networks of the current run."""
    n = sum(size for size, _ in levels.values()) + held_out
    _, _, _, feats, measured = synthetic(n, seed=7)
    sessions, factor = [], np.ones(n)
    start = 0
    for name, (size, level) in levels.items():
        sessions += [name] * size
        factor[start : start + size] = level
        start += size
    return feats, measured * factor, measured, sessions, np.arange(start, n)


def test_earlier_runs_are_brought_to_the_current_level():
    feats, observed, truth, sessions, held_out = _runs({"now": (32, 1.0), "monday": (32, 1.08), "friday": (24, 0.97)})
    fit_rows = np.arange(len(sessions))
    alignment = align_sessions(feats.take(fit_rows), observed[fit_rows], sessions, np.array(sessions) == "now")
    assert alignment.levels == pytest.approx({"monday": 1.08, "friday": 0.97}, rel=0.006)
    assert alignment.unaligned == 0 and np.all(alignment.divisors[:32] == 1.0)
    aligned = make_predictor("ridge").fit(feats.take(fit_rows), observed[fit_rows] / alignment.divisors)
    pooled = make_predictor("ridge").fit(feats.take(fit_rows), observed[fit_rows])

    def error(model):
        return float(np.mean(np.abs(model.predict(feats.take(held_out)) / truth[held_out] - 1)))

    # The pool's average level is 2 % above the current run's; aligned, the fit is at the noise (1 %).
    assert error(aligned) < 0.012 and error(pooled) > 0.015


def test_runs_too_small_to_align_are_left_as_measured():
    small = MIN_SESSION_NETWORKS - 1
    feats, observed, _, sessions, _ = _runs({"now": (24, 1.0), "big": (24, 1.05), "tiny": (small, 1.2)}, held_out=0)
    alignment = align_sessions(feats, observed, sessions, np.array(sessions) == "now")
    assert set(alignment.levels) == {"big"} and alignment.unaligned == small
    assert np.all(alignment.divisors[48:] == 1.0)
    # Too few networks of the current run to give a reference level: nothing is aligned.
    few_now = np.array(sessions) == "tiny"
    none = align_sessions(feats, observed, sessions, few_now)
    assert none.levels == {} and np.all(none.divisors == 1.0) and none.unaligned == 48
    with pytest.raises(InputError, match="one measured latency, run and current flag per network"):
        align_sessions(feats, observed[:-1], sessions, np.array(sessions) == "now")


def test_stored_runs_and_divisors_round_trip_through_the_lut(tmp_path):
    workers = ["host:1:a"] * 20 + ["host:2:b"] * 20
    lut_path, _, items, feats, measured = store(tmp_path, 40, workers)
    with LatencyLUT(lut_path) as lut:
        stored = stored_training_set(lut, DEVICE.fingerprint, "table1", SETTING, exclude=set(items[:5]))
        assert stored.items == sorted(items[5:]) and stored.features is not None
        by_item = dict(zip(items, workers, strict=True))
        assert stored.sessions == [by_item[i] for i in stored.items]
        divisors = np.where(np.arange(40) < 20, 1.0, 1.04)
        model = make_predictor("gbr").fit(feats, measured / divisors)
        record = predictor_record(model, items, feats, divisors)
        lut.save_calibration(DEVICE.fingerprint, "fp32", 1, 0.25, "gbr", record, {})
        # Reloading refits the trees on the same aligned targets, so they predict what was stored.
        np.testing.assert_allclose(load_predictor(lut, DEVICE.fingerprint, SETTING).predict(feats), model.predict(feats))
        record["target_divisors"] = record["target_divisors"][:-1]
        lut.save_calibration(DEVICE.fingerprint, "fp32", 1, 0.25, "gbr", record, {})
        with pytest.raises(InputError, match="40 training networks but 39 target divisors"):
            load_predictor(lut, DEVICE.fingerprint, SETTING)
