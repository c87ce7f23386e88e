"""Whole-network latency predictors: the calibrated LUT sums and learned models, behind one interface.

Every predictor maps :class:`~.features.NetworkFeatures` to milliseconds and is fitted on networks
measured whole (the LUT's ``net`` rows). Names:

* the calibrations of :mod:`.calibration` (``linear``, ``linear+weights``, ...): a few least-squares
  coefficients on the LUT sum, the parameter and layer counts;
* ``ridge``: a ``linear+weights`` base plus a linear model of its residual on the per-stage LUT
  sums, parameters, activations, per-stage multiply-adds, layer counts and capped per-layer weight
  bytes (scikit-learn ``RidgeCV``, weighted by ``1 / measured^2`` so it minimises relative error,
  shrunk towards the base): a separate scale per stage;
* ``gbr`` / ``rf``: gradient-boosted trees / a random forest (scikit-learn) on every feature (digits
  included), fitted to the log-ratio of the measured latency over a ``linear+weights`` base fitted on
  the same networks, so the trees model what the linear calibration misses and the prediction still
  extrapolates like the base;
* ``mlp``: a small torch MLP (2 x 32, an ensemble of 5 seeds) on the standardised log-features, fitted
  to the same log-ratio.

Nothing is pickled: a learned predictor is stored as its name, hyper-parameters, the LUT items it
was fitted on and its fitted numbers (:mod:`.fitted`). ``ridge``, ``mlp`` and ``gbr`` are applied
with numpy alone and ``rf`` as an ONNX tree ensemble by onnxruntime, so loading one imports neither
scikit-learn nor torch.
:func:`cross_validate` and :func:`select` pick a model by out-of-fold error; :func:`uncertainty` is
the spread of bootstrap refits, used to choose which networks to measure next.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np

from gpunet_hub.errors import InputError
from gpunet_hub.space import NUM_DIGITS

from .calibration import MODELS, Calibration, accuracy_metrics, fit
from .features import COLUMNS, FEATURE_SET, GROUPS, WEIGHT_COLUMNS, NetworkFeatures
from .fitted import Affine, BoostedTrees, Forest, MLPEnsemble

LEARNED = ("ridge", "gbr", "rf", "mlp")
PREDICTORS = (*MODELS, *LEARNED)
_RIDGE_COLUMNS = (
    *(f"lut_{g}_ms" for g in GROUPS),
    "params_m",
    "activations_m",
    *(f"gmacs_{g}" for g in GROUPS),
    "layers",
    "layers_se",
    "layers_swish",
    "layers_wide_kernel",
    "activations_se_m",
    *WEIGHT_COLUMNS,
)
_LOG_COLUMNS = tuple(c for c in COLUMNS if not c.startswith("digit"))


class Predictor(Protocol):
    """What the pipeline, the tiers and the benchmark use: fit on measured networks, predict ms."""

    name: str

    def fit(self, features: NetworkFeatures, measured: np.ndarray) -> Predictor: ...

    def predict(self, features: NetworkFeatures) -> np.ndarray: ...

    def describe(self) -> str: ...

    def record(self) -> dict[str, Any]: ...


def _check_training(features: NetworkFeatures, measured: np.ndarray, minimum: int, name: str) -> np.ndarray:
    measured = np.asarray(measured, dtype=np.float64)
    if measured.shape != (len(features),):
        raise InputError(f"need one measured latency per network ({len(features)}), got shape {measured.shape}")
    if len(measured) < minimum:
        raise InputError(f"the {name} predictor needs at least {minimum} measured networks, got {len(measured)}")
    if not np.all(np.isfinite(measured)) or np.any(measured <= 0):
        raise InputError("measured latencies must be finite and > 0")
    if not np.all(np.isfinite(features.column("lut_sum_ms"))):
        raise InputError("some networks use layer keys the LUT lacks (NaN LUT sums); measure them first")
    return measured


@dataclass
class CalibrationPredictor:
    """A :mod:`.calibration` model as a predictor (``a * sum [+ d * Mparams] [+ c * layers] + b``)."""

    name: str = "linear+weights"
    calibration: Calibration | None = None

    def fit(self, features: NetworkFeatures, measured: np.ndarray) -> CalibrationPredictor:
        measured = _check_training(features, measured, 2, self.name)
        self.calibration = fit(
            features.column("lut_sum_ms"),
            measured,
            features.column("layers"),
            self.name,
            features.column("params_m"),
        )
        return self

    def predict(self, features: NetworkFeatures) -> np.ndarray:
        if self.calibration is None:
            raise InputError(f"the {self.name} predictor is not fitted; call fit() first")
        return self.calibration.apply(
            features.column("lut_sum_ms"), features.column("layers"), features.column("params_m")
        )

    def describe(self) -> str:
        return self.calibration.describe() if self.calibration else f"{self.name} (not fitted)"

    def record(self) -> dict[str, Any]:
        if self.calibration is None:
            raise InputError(f"the {self.name} predictor is not fitted; nothing to store")
        return self.calibration.coef()


# Hyper-parameters of the learned models: small, strongly regularised (tens of training networks).
_DEFAULT_PARAMS: dict[str, dict[str, Any]] = {
    "ridge": {"alphas": [1e-4, 1e-3, 1e-2, 1e-1, 1.0, 10.0, 100.0]},
    "gbr": {"n_estimators": 150, "learning_rate": 0.05, "max_depth": 2, "subsample": 0.8, "min_samples_leaf": 3},
    # rf: 50 trees held-out as accurate as 100 on the lut_accuracy seeds, at half the cost of tiering
    "rf": {"n_estimators": 50, "min_samples_leaf": 2, "max_features": 0.3},
    "mlp": {"hidden": 32, "layers": 2, "epochs": 400, "lr": 3e-3, "weight_decay": 1e-2, "ensemble": 5},
}


@dataclass
class LearnedPredictor:
    """A scikit-learn or torch model of whole-network latency (see the module docstring).

    Attributes:
        name: ``ridge``, ``gbr``, ``rf`` or ``mlp``.
        seed: Seed of the model's randomness (subsampling, bagging, initialisation).
        params: Hyper-parameters (defaults per model).
    """

    name: str = "gbr"
    seed: int = 0
    params: dict[str, Any] = field(default_factory=dict)
    _state: Any = field(default=None, repr=False)

    def __post_init__(self) -> None:
        if self.name not in LEARNED:
            raise InputError(f"unknown learned predictor {self.name!r}; choose one of {', '.join(LEARNED)}")
        self.params = {**_DEFAULT_PARAMS[self.name], **self.params}

    def fit(self, features: NetworkFeatures, measured: np.ndarray) -> LearnedPredictor:
        measured = _check_training(features, measured, 8, self.name)
        if self.name == "ridge":
            self._state = _fit_ridge(features, measured, self.params)
            return self
        base = CalibrationPredictor("linear+weights").fit(features, measured)
        target = np.log(measured / _positive(base.predict(features)))
        if self.name == "mlp":
            model: Any = _fit_mlp(_log_features(features), target, self.params, self.seed)
        else:
            model = _fit_trees(self.name, features.values, target, self.params, self.seed)
        self._state = (base, model)
        return self

    def predict(self, features: NetworkFeatures) -> np.ndarray:
        if self._state is None:
            raise InputError(f"the {self.name} predictor is not fitted; call fit() first")
        if self.name == "ridge":
            base, affine = self._state
            return base.predict(features) + affine.predict(_ridge_matrix(features))
        base, model = self._state
        inputs = _log_features(features) if self.name == "mlp" else features.values
        return _positive(base.predict(features)) * np.exp(model.predict(inputs))

    def describe(self) -> str:
        what = {
            "ridge": "linear+weights + ridge on per-stage LUT sums, sizes, MACs and layer counts",
            "gbr": "gradient-boosted trees x linear+weights",
            "rf": "random forest x linear+weights",
            "mlp": "MLP ensemble x linear+weights",
        }[self.name]
        return f"{self.name}: {what}"

    def record(self) -> dict[str, Any]:
        return {"learned": self.name, "seed": self.seed, "params": self.params, "feature_set": FEATURE_SET}

    def fitted_state(self) -> dict[str, Any] | None:
        """The fitted model as plain data (:mod:`.fitted`), for :meth:`from_state`; ``None`` unfitted."""
        if self._state is None:
            return None
        base, model = self._state
        return {"base": base.record(), self.name: model.to_dict()}

    @classmethod
    def from_state(cls, name: str, seed: int, params: dict[str, Any], state: dict[str, Any]) -> LearnedPredictor:
        """A fitted model from :meth:`fitted_state` (no refit, no scikit-learn or torch).

        Raises:
            InputError: Another model, or a state that is not one.
        """
        if name not in _STATEFUL:
            raise InputError(f"only {', '.join(_STATEFUL)} can be restored from a state, not {name!r}")
        try:
            base = CalibrationPredictor("linear+weights", Calibration.from_record("linear+weights", state["base"]))
            model = _STATEFUL[name].from_dict(state[name])
            model.predict(np.zeros((1, _INPUT_WIDTH[name])))  # wrong shapes fail here, not in the caller's loop
        except (KeyError, TypeError, ValueError, IndexError) as exc:
            raise InputError(
                f"the stored {name} state is damaged ({type(exc).__name__}: {exc}); re-run calibrate"
            ) from None
        predictor = cls(name, seed, params)
        predictor._state = (base, model)
        return predictor


def _positive(values: np.ndarray) -> np.ndarray:
    """A base prediction usable in a ratio (a linear base can dip below 0 far outside its data)."""
    return np.maximum(values, 1e-6)


def _ridge_matrix(features: NetworkFeatures) -> np.ndarray:
    return np.column_stack([features.column(c) for c in _RIDGE_COLUMNS])


def _fit_ridge(features: NetworkFeatures, measured: np.ndarray, params: dict[str, Any]) -> tuple[Any, Affine]:
    from sklearn.linear_model import RidgeCV
    from sklearn.preprocessing import StandardScaler

    # Ridge fits what a linear+weights base misses, so its penalty shrinks towards that base rather
    # than towards a constant (which is what a plain ridge on a dozen networks and ~20 columns gives).
    base = CalibrationPredictor("linear+weights").fit(features, measured)
    x = _ridge_matrix(features)
    scaler = StandardScaler().fit(x)
    # Weights of mean 1, so that alpha means the same at 5 ms and at 500 ms: raw 1/y^2 would shrink the
    # fit's loss by the square of the latency unit and let the penalty win at full resolution.
    weight = 1.0 / measured**2
    residual = measured - base.predict(features)
    model = RidgeCV(alphas=params["alphas"]).fit(scaler.transform(x), residual, sample_weight=weight / weight.mean())
    return base, Affine(scaler.mean_, scaler.scale_, model.coef_, float(model.intercept_))


def _fit_trees(name: str, x: np.ndarray, target: np.ndarray, params: dict[str, Any], seed: int) -> Any:
    from sklearn.ensemble import GradientBoostingRegressor, RandomForestRegressor

    if name == "gbr":  # kept as its node arrays: applied with numpy, and stored as numbers
        return BoostedTrees.from_sklearn(GradientBoostingRegressor(random_state=seed, **params).fit(x, target))
    return Forest.from_sklearn(RandomForestRegressor(random_state=seed, n_jobs=1, **params).fit(x, target))


def _log_features(features: NetworkFeatures) -> np.ndarray:
    """``log1p`` of the size-like columns (spanning decades), the digits as they are."""
    logs = features.values[:, [features.columns.index(c) for c in _LOG_COLUMNS]]
    np.maximum(logs, 0.0, out=logs)
    np.log1p(logs, out=logs)
    digits = features.values[:, [i for i, c in enumerate(features.columns) if c.startswith("digit")]]
    return np.concatenate([logs, digits], axis=1)


def _fit_mlp(x: np.ndarray, target: np.ndarray, params: dict[str, Any], seed: int) -> MLPEnsemble:
    import torch
    from torch import nn

    mean, scale = x.mean(axis=0), x.std(axis=0)
    scale = np.where(scale > 0, scale, 1.0)
    inputs = torch.as_tensor((x - mean) / scale, dtype=torch.float32)
    y = torch.as_tensor(target, dtype=torch.float32).unsqueeze(1)
    nets = []
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # tens of rows: threads only add overhead (and noise to any timing nearby)
    try:
        with torch.random.fork_rng(devices=[]):
            for member in range(int(params["ensemble"])):
                torch.manual_seed(seed * 1000 + member)
                width, depth = int(params["hidden"]), int(params["layers"])
                layers: list[nn.Module] = []
                for i in range(depth):
                    layers += [nn.Linear(inputs.shape[1] if i == 0 else width, width), nn.SiLU()]
                net = nn.Sequential(*layers, nn.Linear(width, 1))
                optimiser = torch.optim.AdamW(net.parameters(), lr=params["lr"], weight_decay=params["weight_decay"])
                for _ in range(int(params["epochs"])):
                    optimiser.zero_grad()
                    loss = nn.functional.mse_loss(net(inputs), y)
                    loss.backward()
                    optimiser.step()
                linear = [m for m in net if isinstance(m, nn.Linear)]
                nets.append([(m.weight.detach().numpy().copy(), m.bias.detach().numpy().copy()) for m in linear])
    finally:
        torch.set_num_threads(threads)
    return MLPEnsemble(mean, scale, nets)


_STATEFUL: dict[str, Any] = {"ridge": Affine, "mlp": MLPEnsemble, "gbr": BoostedTrees, "rf": Forest}
_INPUT_WIDTH = {
    "ridge": len(_RIDGE_COLUMNS),
    "mlp": len(_LOG_COLUMNS) + NUM_DIGITS,
    "gbr": len(COLUMNS),
    "rf": len(COLUMNS),
}


def make_predictor(name: str, seed: int = 0, params: dict[str, Any] | None = None) -> Predictor:
    """An unfitted predictor by name (:data:`PREDICTORS`).

    Raises:
        InputError: An unknown name.
    """
    if name in MODELS:
        return CalibrationPredictor(name)
    if name in LEARNED:
        return LearnedPredictor(name, seed, dict(params or {}))
    raise InputError(f"unknown latency predictor {name!r}; choose one of {', '.join(PREDICTORS)}")


def folds(n: int, k: int, seed: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """``k`` seeded (train, validation) folds of ``range(n)`` (scikit-learn ``KFold``, shuffled)."""
    from sklearn.model_selection import KFold

    if not 2 <= k <= n:
        raise InputError(f"cross-validation needs 2 <= folds <= networks, got {k} folds for {n} networks")
    return list(KFold(n_splits=k, shuffle=True, random_state=seed).split(np.arange(n)))


def cross_validate(
    names: tuple[str, ...] | list[str],
    features: NetworkFeatures,
    measured: np.ndarray,
    *,
    k: int = 5,
    seed: int = 0,
) -> dict[str, dict[str, float]]:
    """Out-of-fold metrics of each predictor (:func:`~.calibration.accuracy_metrics` of the pooled folds).

    A predictor that cannot be fitted on some fold (too few networks for its terms) is left out.
    """
    measured = np.asarray(measured, dtype=np.float64)
    splits = folds(len(measured), k, seed)
    out: dict[str, dict[str, float]] = {}
    for name in names:
        pred = np.empty_like(measured)
        try:
            for train, valid in splits:
                model = make_predictor(name, seed).fit(features.take(train), measured[train])
                pred[valid] = model.predict(features.take(valid))
        except InputError:
            continue
        out[name] = accuracy_metrics(pred, measured)
    return out


def select(cv: dict[str, dict[str, float]]) -> str:
    """The predictor with the lowest cross-validated MAPE (ties: higher +/-10 %, then the name order)."""
    if not cv:
        raise InputError("no predictor could be cross-validated: measure more networks")
    return min(cv, key=lambda n: (round(cv[n]["mape"], 6), -cv[n]["acc10"], PREDICTORS.index(n)))


def uncertainty(
    name: str,
    features: NetworkFeatures,
    measured: np.ndarray,
    candidates: NetworkFeatures,
    *,
    repeats: int = 8,
    seed: int = 0,
) -> np.ndarray:
    """How unsure a predictor is about each candidate: the std of ``log(prediction)`` over bootstrap refits.

    Args:
        name: The predictor.
        features: Its training networks' features.
        measured: Their measured latency (ms).
        candidates: The networks to rank.
        repeats: Bootstrap refits (bounded by the caller; 8 is plenty to rank).
        seed: Seed of the resampling.

    Returns:
        ``(len(candidates),)`` relative spread (0.05 ~ 5 %).
    """
    measured = np.asarray(measured, dtype=np.float64)
    rng = np.random.default_rng(seed)
    logs = []
    for r in range(int(repeats)):
        rows = rng.integers(0, len(measured), len(measured))
        model = make_predictor(name, seed + r).fit(features.take(rows), measured[rows])
        logs.append(np.log(_positive(model.predict(candidates))))
    return np.std(np.stack(logs), axis=0)
