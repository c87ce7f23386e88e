"""Calibrating LUT sums against whole-network measurements, and the accuracy metrics.

The per-layer sum is biased, with a sign that depends on the device and runtime (about 0.88x the
end-to-end latency on onnxruntime CPU, about 1.75x on TensorRT per the GPUNet paper), so nothing is
hard-coded: a calibration is *fitted* per device fingerprint on networks measured whole with the
same backend. Models:

* ``sum``: the LUT sum as it is (nothing fitted): the null model, which cross-validation keeps when
  the sum is already unbiased and a fit on few networks would only add error (onnxruntime CPU at
  full resolution: 3.3 % held-out MAPE against 4.5-4.8 % for fits on 12 networks);
* ``linear``: ``a * sum + b`` (least squares); the usual baseline of LUT predictors;
* ``scale``: ``a * sum``;
* ``linear+layers``: ``a * sum + c * n_layers + b``: the per-layer term models what fusing layers
  into one graph removes (per-layer launch/session overhead on CPU, cross-layer fusion on TensorRT);
* ``linear+weights``: ``a * sum + d * params_M + b``: a lone layer timed in a tight loop keeps its
  weights in cache, a whole network streams all of them from memory on every run, so the sum misses
  a term proportional to the weights (on onnxruntime CPU at reduced resolution this term is most of
  the LUT error: held-out MAPE 16 % -> 5 %, see ``benchmarks/lut_accuracy.py``);
* ``linear+weights+layers``: both terms.

Metrics: Spearman and Kendall (tau-b) from scipy, MAPE
``mean(|pred - true| / true)``, +/-5% and +/-10% accuracy ``mean(|pred - true| / true <= th)`` (as
nn-Meter), RMSE in ms, and the raw bias ``sum / measured`` (mean, min, max).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from gpunet_hub.errors import InputError

MODELS = ("linear", "scale", "linear+layers", "linear+weights", "linear+weights+layers", "sum")
_FIXED = "sum"  # the model with no fitted coefficient (a = 1)
# The features each model uses besides the LUT sum (and whether it has an offset).
_TERMS = {
    "sum": ((), False),
    "scale": ((), False),
    "linear": ((), True),
    "linear+layers": (("layers",), True),
    "linear+weights": (("weights",), True),
    "linear+weights+layers": (("weights", "layers"), True),
}


@dataclass(frozen=True)
class Calibration:
    """A fitted calibration: ``a * sum + c * n_layers + d * params_M + b`` (ms).

    Attributes:
        model: One of :data:`MODELS`.
        a: Scale of the LUT sum.
        b: Offset in ms.
        c: Per-layer term in ms (``+layers`` models).
        d: Per-million-parameter term in ms (``+weights`` models): a lone layer is timed with its
            weights hot in cache, a whole network streams them from memory on every run.
    """

    model: str
    a: float
    b: float = 0.0
    c: float = 0.0
    d: float = 0.0

    def apply(
        self, sums: np.ndarray, num_layers: np.ndarray | None = None, params_m: np.ndarray | None = None
    ) -> np.ndarray:
        """Calibrated estimates (ms) of LUT sums (with each network's layer count / parameters in millions)."""
        out = self.a * np.asarray(sums, dtype=np.float64) + self.b
        for coef, values, name in ((self.c, num_layers, "layer count"), (self.d, params_m, "parameter count")):
            if coef:
                if values is None:
                    raise InputError(f"the {self.model} calibration needs each network's {name}")
                out = out + coef * np.asarray(values, dtype=np.float64)
        return out

    def coef(self) -> dict[str, float]:
        return {k: v for k, v in asdict(self).items() if k != "model"}

    @classmethod
    def from_record(cls, model: str, coef: dict[str, float]) -> Calibration:
        return cls(model, *(float(coef.get(k, 0.0)) for k in ("a", "b", "c", "d")))

    def describe(self) -> str:
        text = f"{self.a:.4g} * sum"
        if self.c:
            text += f" {self.c:+.4g} ms * layers"
        if self.d:
            text += f" {self.d:+.4g} ms * Mparams"
        return text + (f" {self.b:+.4g} ms" if _TERMS[self.model][1] else "")


def min_networks(model: str) -> int:
    """The fewest networks a calibration model can be fitted on (one more than its coefficients, at least 2)."""
    if model not in MODELS:
        raise InputError(f"unknown calibration model {model!r}; choose one of {', '.join(MODELS)}")
    return max(2, 1 + _n_coefficients(model))


def _n_coefficients(model: str) -> int:
    terms, offset = _TERMS[model]
    return 0 if model == _FIXED else 1 + len(terms) + int(offset)


def fit_warnings(calibration: Calibration, n_train: int) -> list[str]:
    """Why a fitted calibration may not be trusted: too few networks for its terms, or an implausible sign.

    The LUT sum must add latency (``a > 0``), and so must the weights a whole network streams from
    memory (``d >= 0``); the layer term and the offset may take either sign (fusion removes time on
    TensorRT, per-layer overhead adds it on CPU).
    """
    n_coef = _n_coefficients(calibration.model)
    out = []
    if n_coef and n_train < 8 * n_coef:
        out.append(
            f"the {calibration.model} calibration has {n_coef} coefficients fitted on {n_train} networks; "
            f"with fewer than {8 * n_coef} the fit is unstable: measure more networks (calibrate --nets)"
        )
    if calibration.a <= 0:
        out.append(f"the LUT-sum scale a = {calibration.a:.4g} is not positive: the fit is meaningless for this data")
    if calibration.d < 0:
        out.append(
            f"the weights term d = {calibration.d:.4g} ms/Mparams is negative (more weights, less time): the fit is "
            "unstable; measure more networks or use the linear model"
        )
    return out


def fit(
    sums: np.ndarray,
    measured: np.ndarray,
    num_layers: np.ndarray | None = None,
    model: str = "linear",
    params_m: np.ndarray | None = None,
) -> Calibration:
    """Least-squares fit of a calibration model.

    Raises:
        InputError: Unknown model, too few networks, or a missing feature.
    """
    if model not in MODELS:
        raise InputError(f"unknown calibration model {model!r}; choose one of {', '.join(MODELS)}")
    terms, offset = _TERMS[model]
    sums, measured = np.asarray(sums, dtype=np.float64), np.asarray(measured, dtype=np.float64)
    if len(sums) < min_networks(model):
        raise InputError(f"a {model} calibration needs at least {min_networks(model)} networks, got {len(sums)}")
    if model == _FIXED:
        return Calibration(model, 1.0)
    features = {"layers": num_layers, "weights": params_m}
    columns = [sums]
    for term in terms:
        if features[term] is None:
            raise InputError(
                f"the {model} calibration needs each network's "
                f"{'layer count' if term == 'layers' else 'parameter count'}"
            )
        columns.append(np.asarray(features[term], dtype=np.float64))
    if offset:
        columns.append(np.ones_like(sums))
    solution, *_ = np.linalg.lstsq(np.stack(columns, axis=1), measured, rcond=None)
    names = ("sum", *terms, *(("offset",) if offset else ()))
    values = dict(zip(names, solution.tolist(), strict=True))
    return Calibration(
        model, values["sum"], values.get("offset", 0.0), values.get("layers", 0.0), values.get("weights", 0.0)
    )


def accuracy_metrics(pred: np.ndarray, true: np.ndarray) -> dict[str, float]:
    """Rank and error metrics of predictions against measurements (see the module docstring)."""
    from scipy import stats

    pred, true = np.asarray(pred, dtype=np.float64), np.asarray(true, dtype=np.float64)
    if len(pred) != len(true) or len(pred) < 3:
        raise InputError(f"need >= 3 paired values, got {len(pred)} and {len(true)}")
    rel = np.abs(pred - true) / true
    return {
        "n": len(pred),
        "spearman": float(stats.spearmanr(pred, true).statistic),
        "kendall": float(stats.kendalltau(pred, true).statistic),
        "mape": float(rel.mean()),
        "acc5": float((rel <= 0.05).mean()),
        "acc10": float((rel <= 0.10).mean()),
        "rmse_ms": float(np.sqrt(np.mean((pred - true) ** 2))),
    }


def raw_bias(sums: np.ndarray, measured: np.ndarray) -> dict[str, float]:
    """``sum / measured``: mean, min and max (compare the mean with GPUNet's TensorRT +75%)."""
    ratio = np.asarray(sums, dtype=np.float64) / np.asarray(measured, dtype=np.float64)
    return {"mean": float(ratio.mean()), "min": float(ratio.min()), "max": float(ratio.max())}


def split(n: int, train_fraction: float = 0.5, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """A seeded random split of ``range(n)`` into sorted train and held-out indices."""
    if not 0 < train_fraction < 1:
        raise InputError(f"train fraction must be in (0, 1), got {train_fraction}")
    order = np.random.default_rng(seed).permutation(n)
    cut = round(n * train_fraction)
    return np.sort(order[:cut]), np.sort(order[cut:])


def evaluate(
    sums: np.ndarray,
    measured: np.ndarray,
    num_layers: np.ndarray | None = None,
    *,
    params_m: np.ndarray | None = None,
    model: str = "linear",
    train_fraction: float = 0.5,
    seed: int = 0,
) -> tuple[Calibration, dict[str, Any]]:
    """Fits on a train split and reports raw and calibrated metrics on the held-out split.

    Returns:
        The calibration (fitted on the train split) and ``{"raw", "calibrated", "bias", "n_train",
        "n_test", "model"}``; ``raw`` compares the uncalibrated sum with the measurement.
    """
    sums, measured = np.asarray(sums, dtype=np.float64), np.asarray(measured, dtype=np.float64)
    train, test = split(len(sums), train_fraction, seed)

    def part(values: np.ndarray | None, rows: np.ndarray) -> np.ndarray | None:
        return None if values is None else np.asarray(values)[rows]

    calibration = fit(sums[train], measured[train], part(num_layers, train), model, part(params_m, train))
    report = {
        "model": model,
        "n_train": len(train),
        "n_test": len(test),
        "raw": accuracy_metrics(sums[test], measured[test]),
        "calibrated": accuracy_metrics(
            calibration.apply(sums[test], part(num_layers, test), part(params_m, test)), measured[test]
        ),
        "bias": raw_bias(sums, measured),
    }
    return calibration, report
