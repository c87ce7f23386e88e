"""Fitted learned predictors kept as plain arrays and applied with numpy.

``ridge``, ``mlp`` and ``gbr`` are fitted with scikit-learn or torch, then copied into one of these:
the same numbers, stored as JSON beside the measurements (``to_dict`` / ``from_dict``) and applied
without importing either library, so ``search tiers`` on a million networks pays neither the import
nor a refit. Each class's ``predict`` takes the model's input matrix (one row per network).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from gpunet_hub.errors import InputError


@dataclass(frozen=True)
class Affine:
    """``((x - mean) / scale) @ coef + intercept``: a fitted ridge."""

    mean: np.ndarray
    scale: np.ndarray
    coef: np.ndarray
    intercept: float

    def predict(self, x: np.ndarray) -> np.ndarray:
        return ((x - self.mean) / self.scale) @ self.coef + self.intercept

    def to_dict(self) -> dict[str, Any]:
        return {
            "mean": self.mean.tolist(),
            "scale": self.scale.tolist(),
            "coef": self.coef.tolist(),
            "intercept": self.intercept,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Affine:
        mean, scale, coef = (np.asarray(data[k], dtype=np.float64) for k in ("mean", "scale", "coef"))
        return cls(mean, scale, coef, float(data["intercept"]))


@dataclass
class MLPEnsemble:
    """The trained MLPs as float32 arrays: ``layers[m]`` is member m's ``(weight, bias)`` pairs, a SiLU
    after each but the last; the prediction is the members' mean."""

    mean: np.ndarray
    scale: np.ndarray
    layers: list[list[tuple[np.ndarray, np.ndarray]]]

    def predict(self, x: np.ndarray) -> np.ndarray:
        inputs = ((x - self.mean) / self.scale).astype(np.float32)
        out = np.zeros(len(x))
        for member in self.layers:
            h = inputs
            for i, (weight, bias) in enumerate(member):
                h = h @ weight.T
                h += bias
                if i < len(member) - 1:  # SiLU, as torch's nn.SiLU: h / (1 + exp(-h)), in place
                    denominator = np.negative(h)
                    with np.errstate(over="ignore"):  # exp -> inf gives h / inf = 0, SiLU's limit
                        np.exp(denominator, out=denominator)
                    denominator += 1.0
                    h /= denominator
            out += h[:, 0]
        return out / len(self.layers)

    def to_dict(self) -> dict[str, Any]:
        return {
            "mean": self.mean.tolist(),
            "scale": self.scale.tolist(),
            "layers": [[[w.tolist(), b.tolist()] for w, b in member] for member in self.layers],
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> MLPEnsemble:
        layers = [
            [(np.asarray(w, dtype=np.float32), np.asarray(b, dtype=np.float32)) for w, b in member]
            for member in data["layers"]
        ]
        return cls(np.asarray(data["mean"], dtype=np.float64), np.asarray(data["scale"], dtype=np.float64), layers)


_TREE_FIELDS = ("left", "right", "feature", "threshold", "value")
_MAX_TREE_DEPTH = 64  # far deeper than a boosted tree grows, far shallower than Python's recursion limit


@dataclass(frozen=True)
class Tree:
    """One regression tree as scikit-learn's node arrays (``tree_``): node ``i`` sends a row to ``left[i]``
    when ``x[feature[i]] <= threshold[i]``, else to ``right[i]``; a leaf has ``left == -1`` and its
    prediction in ``value``. Children always come after their parent."""

    left: np.ndarray
    right: np.ndarray
    feature: np.ndarray
    threshold: np.ndarray
    value: np.ndarray

    def __post_init__(self) -> None:
        nodes = np.arange(len(self.left))
        if not all(len(getattr(self, f)) == len(nodes) for f in _TREE_FIELDS) or not len(nodes):
            raise ValueError("a tree's node arrays differ in length, or it has no node")
        inner = self.left >= 0
        children = np.concatenate([self.left[inner], self.right[inner]])
        parents = np.concatenate([nodes[inner], nodes[inner]])
        # Children after their parent and inside the arrays: the walk in predict ends, on every node.
        if np.any(children <= parents) or np.any(children >= len(nodes)) or np.any(self.feature[inner] < 0):
            raise ValueError("a tree's node arrays do not form a tree")
        depth = np.zeros(len(nodes), dtype=np.int64)
        for node in nodes[inner]:  # parents come first, so each depth is final when it is read
            depth[self.left[node]] = depth[self.right[node]] = depth[node] + 1
        if depth.max() > _MAX_TREE_DEPTH:  # predict recurses once per level
            raise ValueError(f"a tree is {depth.max()} levels deep; at most {_MAX_TREE_DEPTH} are applied")

    def predict(self, columns: np.ndarray) -> np.ndarray:
        """Leaf values of every row; ``columns`` is ``(features, rows)``."""
        return self._node(0, columns)

    def _node(self, node: int, columns: np.ndarray) -> Any:
        if self.left[node] < 0:
            return self.value[node]
        goes_left = columns[self.feature[node]] <= self.threshold[node]
        return np.where(
            goes_left, self._node(int(self.left[node]), columns), self._node(int(self.right[node]), columns)
        )

    def to_dict(self) -> dict[str, Any]:
        return {f: getattr(self, f).tolist() for f in _TREE_FIELDS}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Tree:
        ints = {f: np.asarray(data[f], dtype=np.int64) for f in ("left", "right", "feature")}
        floats = {f: np.asarray(data[f], dtype=np.float64) for f in ("threshold", "value")}
        return cls(**ints, **floats)


@dataclass(frozen=True)
class BoostedTrees:
    """``init + rate * (tree_1 + tree_2 + ...)``: a fitted scikit-learn ``GradientBoostingRegressor``.

    Rows are rounded to float32 and compared in float64, as scikit-learn's trees do, and the trees are
    summed in the same order, so the predictions are scikit-learn's to the bit. A row with a missing
    input (NaN) gets NaN, as from the linear models.
    """

    init: float
    rate: float
    trees: list[Tree]

    @classmethod
    def from_sklearn(cls, model: Any) -> BoostedTrees:
        """The arrays of a fitted single-output ``GradientBoostingRegressor`` (squared-error loss).

        Raises:
            InputError: Another kind of model.
        """
        if getattr(model, "loss", None) != "squared_error" or model.estimators_.shape[1] != 1:
            raise InputError("only a single-output squared-error GradientBoostingRegressor becomes BoostedTrees")
        init = float(model.init_.predict(np.zeros((1, model.n_features_in_)))[0])
        trees = []
        for estimator in model.estimators_[:, 0]:
            t = estimator.tree_
            trees.append(Tree(t.children_left, t.children_right, t.feature, t.threshold, t.value[:, 0, 0]))
        return cls(init, float(model.learning_rate), trees)

    def predict(self, x: np.ndarray) -> np.ndarray:
        x = np.asarray(x)
        columns = np.ascontiguousarray(x.T.astype(np.float32).astype(np.float64))
        out = np.full(len(x), self.init)
        for tree in self.trees:
            out += self.rate * tree.predict(columns)
        out[np.isnan(x).any(axis=1)] = np.nan
        return out

    def to_dict(self) -> dict[str, Any]:
        return {"init": self.init, "rate": self.rate, "trees": [t.to_dict() for t in self.trees]}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> BoostedTrees:
        return cls(float(data["init"]), float(data["rate"]), [Tree.from_dict(t) for t in data["trees"]])
