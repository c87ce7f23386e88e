"""Fitted models kept as data: gradient-boosted trees give scikit-learn's predictions to the bit, a
random forest run by onnxruntime gives them to float32 precision."""

from __future__ import annotations

import json
import pickle
import sys

import numpy as np
import pytest
from sklearn.ensemble import GradientBoostingRegressor, RandomForestRegressor

from gpunet_hub.errors import InputError, MissingDependencyError
from gpunet_search.latency.fitted import BoostedTrees, Forest, Tree
from gpunet_search.latency.predictor import LearnedPredictor


def _data(seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Training rows, targets, and rows to predict (the training rows lie next to the thresholds)."""
    rng = np.random.default_rng(seed)
    scale = np.logspace(-3, 3, 12)  # columns from milli to kilo, as the latency features span
    x = rng.normal(size=(300, 12)) * scale
    y = np.sin(x[:, 0] * 1e3) + 1e-3 * x[:, 7] + 0.1 * rng.normal(size=300)
    return x, y, np.vstack([x, rng.normal(size=(200, 12)) * scale])


def _boosted(depth: int) -> tuple[GradientBoostingRegressor, np.ndarray]:
    x, y, rows = _data(depth)
    model = GradientBoostingRegressor(n_estimators=40, max_depth=depth, subsample=0.8, min_samples_leaf=3,
                                      random_state=0).fit(x, y)
    return model, rows


@pytest.mark.parametrize("depth", [1, 2, 4])
def test_boosted_trees_predict_as_sklearn_to_the_bit_and_round_trip_through_json(depth):
    model, rows = _boosted(depth)
    trees = BoostedTrees.from_sklearn(model)
    assert np.array_equal(trees.predict(rows), model.predict(rows))
    again = BoostedTrees.from_dict(json.loads(json.dumps(trees.to_dict())))
    assert np.array_equal(again.predict(rows), model.predict(rows))


def test_a_row_with_a_missing_input_is_nan_and_leaves_the_others_alone():
    model, rows = _boosted(2)
    rows = rows.copy()
    rows[3, 5] = np.nan
    got = BoostedTrees.from_sklearn(model).predict(rows)
    assert np.isnan(got[3]) and not np.isnan(np.delete(got, 3)).any()
    assert np.array_equal(np.delete(got, 3), model.predict(np.delete(rows, 3, axis=0)))


def test_node_arrays_that_are_not_a_tree_are_refused():
    left, right = np.array([1, -1, -1]), np.array([2, -1, -1])
    feature, threshold, value = np.array([0, -2, -2]), np.array([0.5, -2.0, -2.0]), np.array([0.0, 1.0, 2.0])
    assert np.array_equal(Tree(left, right, feature, threshold, value).predict(np.array([[0.0, 1.0]])), [1.0, 2.0])
    with pytest.raises(ValueError, match="do not form a tree"):
        Tree(np.array([0, -1, -1]), right, feature, threshold, value)  # a node that is its own child: no end
    with pytest.raises(ValueError, match="do not form a tree"):
        Tree(np.array([1, -1, -1]), np.array([7, -1, -1]), feature, threshold, value)  # a child past the arrays
    with pytest.raises(ValueError, match="differ in length"):
        Tree(left, right, feature, threshold, value[:2])
    chain, leaves = np.arange(100), [-1] * 101  # a valid tree 100 levels deep: a chain of left children
    with pytest.raises(ValueError, match="levels deep"):
        Tree(np.concatenate([chain + 1, leaves]), np.concatenate([chain + 101, leaves]),
             np.concatenate([0 * chain, [-2] * 101]), np.zeros(201), np.zeros(201))


def test_a_stored_gbr_with_a_feature_past_the_inputs_is_damaged_and_other_models_are_refused():
    model, _ = _boosted(2)
    state = BoostedTrees.from_sklearn(model).to_dict()
    base = {"a": 1.0, "b": 0.0, "c": 0.0, "d": 0.0}
    assert LearnedPredictor.from_state("gbr", 0, {}, {"base": base, "gbr": state}).name == "gbr"
    state["trees"][0]["feature"][0] = 10_000
    with pytest.raises(InputError, match="damaged"):
        LearnedPredictor.from_state("gbr", 0, {}, {"base": base, "gbr": state})
    with pytest.raises(InputError, match="squared-error"):
        BoostedTrees.from_sklearn(GradientBoostingRegressor(loss="absolute_error", n_estimators=2).fit(np.eye(4), np.ones(4)))


def test_a_forest_predicts_as_sklearn_to_float32_precision_and_round_trips_through_json():
    x, y, rows = _data(7)
    model = RandomForestRegressor(n_estimators=20, min_samples_leaf=2, max_features=0.3, random_state=0).fit(x, y)
    forest = Forest.from_sklearn(model)
    expected = model.predict(rows)
    # A row sent to another leaf would be off by far more: the leaves differ by about 0.1 or more.
    np.testing.assert_allclose(forest.predict(rows), expected, rtol=1e-6, atol=1e-7)
    again = Forest.from_dict(json.loads(json.dumps(forest.to_dict())))
    assert np.array_equal(again.predict(rows), forest.predict(rows))
    copied = pickle.loads(pickle.dumps(forest))  # its onnxruntime session is rebuilt, not pickled
    assert copied == forest and np.array_equal(copied.predict(rows), forest.predict(rows))
    rows[4, 2] = np.nan
    got = forest.predict(rows)
    assert np.isnan(got[4]) and not np.isnan(np.delete(got, 4)).any()


def test_a_damaged_forest_is_refused_when_loaded():
    x, y, _ = _data(8)
    state = Forest.from_sklearn(RandomForestRegressor(n_estimators=3, random_state=0).fit(x, y)).to_dict()
    with pytest.raises(ValueError, match="not base64"):
        Forest.from_dict(state | {"onnx": state["onnx"][:-3] + "!!!"})
    with pytest.raises(ValueError, match="not a loadable ONNX model"):
        Forest.from_dict(state | {"onnx": state["onnx"][: len(state["onnx"]) // 8 * 4]})
    with pytest.raises(ValueError, match="not float64 rows X of 13 columns"):
        Forest.from_dict(state | {"inputs": 13})
    with pytest.raises(ValueError, match="rows of 12 columns"):
        Forest.from_dict(state).predict(np.zeros((2, 11)))
    with pytest.raises(InputError, match="RandomForestRegressor"):
        Forest.from_sklearn(GradientBoostingRegressor(n_estimators=2).fit(x, y))


def test_a_forest_without_onnxruntime_names_the_extra_to_install(monkeypatch):
    x, y, _ = _data(9)
    state = Forest.from_sklearn(RandomForestRegressor(n_estimators=2, random_state=0).fit(x, y)).to_dict()
    monkeypatch.setitem(sys.modules, "onnxruntime", None)  # an import of it now fails
    with pytest.raises(MissingDependencyError, match=r"gpunet-hub\[search\]"):
        Forest.from_dict(state)


def test_a_forest_compares_as_sklearn_at_a_threshold_between_adjacent_float32_values():
    # Two training values one float32 step apart put the threshold exactly between them; a row there
    # rounds (to even) to the upper one and goes right in scikit-learn. Unrounded, or against a float32
    # threshold, it would go left. (Near 1024 a float32 step is 1e-4: scikit-learn splits no closer than 1e-7.)
    low = np.nextafter(np.float32(1024.0), np.float32(2048.0))
    high = np.nextafter(low, np.float32(2048.0))
    x = np.array([[low], [high]] * 10, dtype=np.float64)
    y = np.array([0.0, 1.0] * 10)
    model = RandomForestRegressor(n_estimators=3, bootstrap=False, random_state=0).fit(x, y)
    middle = float(low) / 2 + float(high) / 2
    rows = np.array([[float(low)], [float(high)], [middle]])
    assert model.predict(rows).tolist() == [0.0, 1.0, 1.0]
    assert Forest.from_sklearn(model).predict(rows).tolist() == [0.0, 1.0, 1.0]
