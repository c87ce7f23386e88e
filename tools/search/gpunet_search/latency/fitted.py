"""Fitted learned predictors kept as plain data, applied without the library that fitted them.

The learned models are fitted with scikit-learn or torch, then copied into one of these: the same
numbers, stored as JSON beside the measurements (``to_dict`` / ``from_dict``) and applied without
importing either library, so ``search tiers`` on a million networks pays neither the import nor a
refit. ``ridge``, ``mlp`` and ``gbr`` are applied with numpy; ``rf``'s 50 deep trees, which a numpy
walk would be slow on, become an ONNX-ML tree ensemble that onnxruntime runs (:class:`Forest`). Each
class's ``predict`` takes the model's input matrix (one row per network).
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from gpunet_hub.errors import InputError, require


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


def _as_sklearn_compares(x: np.ndarray) -> np.ndarray:
    """``x`` rounded to float32 and widened back: what scikit-learn's trees compare against their float64
    thresholds (they cast their input to float32)."""
    return x.astype(np.float32).astype(np.float64)


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
        columns = np.ascontiguousarray(_as_sklearn_compares(x.T))
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


_ONNX_ML_OPSET = 3  # the first with float64 thresholds and leaf values (``*_as_tensor``)


@dataclass
class Forest:
    """The mean of a fitted scikit-learn ``RandomForestRegressor``'s trees, run by onnxruntime.

    Kept as an ONNX model of one ``ai.onnx.ml`` ``TreeEnsembleRegressor`` (the standard operator for tree
    ensembles, which onnxruntime runs compiled and without the GIL): its thresholds and leaf values are
    float64 and each row is rounded to float32, then compared in float64, as scikit-learn's trees
    compare, so every row reaches the leaves it reaches in scikit-learn. The operator's output is
    float32, so the prediction equals scikit-learn's to float32 precision. A row with a missing input
    (NaN) gets NaN, as from the other models.

    Attributes:
        model: The serialised ONNX model (input ``X``: float64 rows of ``inputs`` columns).
        inputs: Columns per row.
    """

    model: bytes
    inputs: int
    _session: Any = field(default=None, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        onnxruntime = require("onnxruntime", "search", "applying a stored rf predictor")
        options = onnxruntime.SessionOptions()
        # One thread per session: callers run chunks on a thread per CPU (predict_networks).
        options.intra_op_num_threads = options.inter_op_num_threads = 1
        try:
            self._session = onnxruntime.InferenceSession(self.model, options, providers=["CPUExecutionProvider"])
        except Exception as exc:  # onnxruntime's own error types (InvalidProtobuf, Fail, ...) are not public
            raise ValueError(f"not a loadable ONNX model ({type(exc).__name__}: {exc})") from None
        shapes = [(i.name, i.type, i.shape[-1] if i.shape else None) for i in self._session.get_inputs()]
        if shapes != [("X", "tensor(double)", self.inputs)]:
            raise ValueError(f"the ONNX model takes {shapes}, not float64 rows X of {self.inputs} columns")

    def __getstate__(self) -> dict[str, Any]:  # the session is rebuilt, not pickled (it cannot be)
        return {"model": self.model, "inputs": self.inputs}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.model, self.inputs = state["model"], state["inputs"]
        self.__post_init__()

    @classmethod
    def from_sklearn(cls, model: Any) -> Forest:
        """The ONNX form of a fitted single-output ``RandomForestRegressor`` (needs the ``onnx`` package).

        Raises:
            InputError: Another kind of model.
        """
        if type(model).__name__ != "RandomForestRegressor" or getattr(model, "n_outputs_", 0) != 1:
            raise InputError("only a single-output RandomForestRegressor becomes a Forest")
        onnx = require("onnx", "search", "storing an rf predictor")
        helper, tensor = onnx.helper, onnx.TensorProto

        nodes: dict[str, list[Any]] = {k: [] for k in ("tree", "node", "feature", "split", "mode", "true", "false")}
        leaves: dict[str, list[Any]] = {"tree": [], "node": [], "value": []}
        for tree_id, estimator in enumerate(model.estimators_):
            t = estimator.tree_
            for node in range(t.node_count):
                leaf = bool(t.children_left[node] < 0)
                nodes["tree"].append(tree_id)
                nodes["node"].append(node)
                nodes["feature"].append(0 if leaf else int(t.feature[node]))
                nodes["split"].append(0.0 if leaf else float(t.threshold[node]))
                nodes["mode"].append("LEAF" if leaf else "BRANCH_LEQ")
                nodes["true"].append(0 if leaf else int(t.children_left[node]))
                nodes["false"].append(0 if leaf else int(t.children_right[node]))
                if leaf:
                    leaves["tree"].append(tree_id)
                    leaves["node"].append(node)
                    leaves["value"].append(float(t.value[node, 0, 0]))
        ensemble = helper.make_node(
            "TreeEnsembleRegressor",
            ["X"],
            ["Y"],
            domain="ai.onnx.ml",
            n_targets=1,
            aggregate_function="AVERAGE",
            post_transform="NONE",
            nodes_treeids=nodes["tree"],
            nodes_nodeids=nodes["node"],
            nodes_featureids=nodes["feature"],
            nodes_values_as_tensor=helper.make_tensor("splits", tensor.DOUBLE, [len(nodes["split"])], nodes["split"]),
            nodes_modes=nodes["mode"],
            nodes_truenodeids=nodes["true"],
            nodes_falsenodeids=nodes["false"],
            target_treeids=leaves["tree"],
            target_nodeids=leaves["node"],
            target_ids=[0] * len(leaves["node"]),
            target_weights_as_tensor=helper.make_tensor(
                "leaves", tensor.DOUBLE, [len(leaves["value"])], leaves["value"]
            ),
        )
        inputs = int(model.n_features_in_)
        graph = helper.make_graph(
            [ensemble],
            "random_forest",
            [helper.make_tensor_value_info("X", tensor.DOUBLE, [None, inputs])],
            [helper.make_tensor_value_info("Y", tensor.FLOAT, [None, 1])],
        )
        onnx_model = helper.make_model(graph, opset_imports=[helper.make_opsetid("ai.onnx.ml", _ONNX_ML_OPSET)])
        return cls(onnx_model.SerializeToString(), inputs)

    def predict(self, x: np.ndarray) -> np.ndarray:
        x = np.asarray(x, dtype=np.float64)
        if x.ndim != 2 or x.shape[1] != self.inputs:
            raise ValueError(f"the forest takes rows of {self.inputs} columns, got an array of shape {x.shape}")
        out = self._session.run(None, {"X": _as_sklearn_compares(x)})[0][:, 0].astype(np.float64)
        out[np.isnan(x).any(axis=1)] = np.nan
        return out

    def to_dict(self) -> dict[str, Any]:
        return {"onnx": base64.b64encode(self.model).decode("ascii"), "inputs": self.inputs}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Forest:
        try:
            model = base64.b64decode(data["onnx"], validate=True)
        except (binascii.Error, TypeError) as exc:
            raise ValueError(f"the stored forest is not base64 ({exc})") from None
        return cls(model, int(data["inputs"]))
