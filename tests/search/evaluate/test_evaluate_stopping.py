"""The median stopping rule (Vizier) and its caller-owned, JSON-able state."""

from __future__ import annotations

import json

import pytest

from gpunet_hub.errors import InputError
from gpunet_search.evaluate import MedianStoppingRule


def test_median_rule_stops_below_median_of_running_averages():
    rule = MedianStoppingRule(grace_epochs=1, min_runs=3)
    for run, curve in {"a": [50, 60, 70], "b": [40, 50, 60], "c": [30, 40, 50]}.items():
        for epoch, value in enumerate(curve, start=1):
            assert not rule.should_stop(run, epoch, value)  # the first runs have too few others
    # running averages at epoch 2: a 55, b 45, c 35 -> median 45
    assert not rule.should_stop("d", 1, 10)  # grace period
    assert rule.median_at("d", 2) == 45
    assert rule.should_stop("d", 2, 44.0)
    assert not rule.should_stop("e", 1, 20) and not rule.should_stop("e", 2, 45.0)  # equal is not below
    # a resume re-reports an epoch: it replaces the value instead of growing the curve
    rule.record("e", 2, 46.0)
    assert rule.curves["e"] == [20.0, 46.0]
    with pytest.raises(InputError, match="in order"):
        rule.record("e", 5, 1.0)


def test_state_is_plain_json_and_round_trips():
    rule = MedianStoppingRule(grace_epochs=2, min_runs=1)
    rule.should_stop("x", 1, 10.0)
    rule.should_stop("y", 1, 5.0)
    state = json.loads(json.dumps(rule.state_dict()))
    again = MedianStoppingRule.from_state(state)
    assert again == rule and again.decide("y", 1) == rule.decide("y", 1)
    with pytest.raises(InputError):
        MedianStoppingRule.from_state({"curves": {}})
    with pytest.raises(InputError):
        MedianStoppingRule(min_runs=0)
