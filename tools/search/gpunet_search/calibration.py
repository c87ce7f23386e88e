"""Calibrating LUT sums against whole-network measurements, and the accuracy metrics.

The per-layer sum is biased, with a sign that depends on the device and runtime (about 0.88x the
end-to-end latency on onnxruntime CPU, about 1.75x on TensorRT per the GPUNet paper), so nothing is
hard-coded: a calibration is *fitted* per device fingerprint on networks measured whole with the
same backend. Models:

* ``linear``: ``a * sum + b`` (least squares); the baseline LATENCY_MEASUREMENT.md recommends;
* ``scale``: ``a * sum``;
* ``linear+layers``: ``a * sum + c * n_layers + b``: the per-layer term models what fusing layers
  into one graph removes (per-layer launch/session overhead on CPU, cross-layer fusion on TensorRT).

Metrics follow LATENCY_MEASUREMENT.md (appendix): Spearman and Kendall (tau-b) from scipy, MAPE
``mean(|pred - true| / true)``, +/-5% and +/-10% accuracy ``mean(|pred - true| / true <= th)`` (as
nn-Meter), RMSE in ms, and the raw bias ``sum / measured`` (mean, min, max).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from gpunet_hub.errors import InputError

MODELS = ("linear", "scale", "linear+layers")


@dataclass(frozen=True)
class Calibration:
    """A fitted calibration: ``a * sum + c * n_layers + b``.

    Attributes:
        model: One of :data:`MODELS`.
        a: Scale of the LUT sum.
        b: Offset in ms.
        c: Per-layer term in ms (``linear+layers`` only).
    """

    model: str
    a: float
    b: float = 0.0
    c: float = 0.0

    def apply(self, sums: np.ndarray, num_layers: np.ndarray | None = None) -> np.ndarray:
        """Calibrated estimates (ms) of LUT sums (``num_layers`` is needed by ``linear+layers``)."""
        sums = np.asarray(sums, dtype=np.float64)
        out = self.a * sums + self.b
        if self.c:
            if num_layers is None:
                raise InputError("the linear+layers calibration needs each network's layer count")
            out = out + self.c * np.asarray(num_layers, dtype=np.float64)
        return out

    def coef(self) -> dict[str, float]:
        return {k: v for k, v in asdict(self).items() if k != "model"}

    @classmethod
    def from_record(cls, model: str, coef: dict[str, float]) -> Calibration:
        return cls(model, float(coef["a"]), float(coef.get("b", 0.0)), float(coef.get("c", 0.0)))

    def describe(self) -> str:
        text = f"{self.a:.4g} * sum"
        if self.c:
            text += f" {self.c:+.4g} ms * layers"
        return text + (f" {self.b:+.4g} ms" if self.model != "scale" else "")


def fit(sums: np.ndarray, measured: np.ndarray, num_layers: np.ndarray | None = None, model: str = "linear") -> Calibration:
    """Least-squares fit of a calibration model.

    Raises:
        InputError: Unknown model, too few networks, or missing layer counts.
    """
    if model not in MODELS:
        raise InputError(f"unknown calibration model {model!r}; choose one of {', '.join(MODELS)}")
    sums, measured = np.asarray(sums, dtype=np.float64), np.asarray(measured, dtype=np.float64)
    needed = {"scale": 1, "linear": 2, "linear+layers": 3}[model]
    if len(sums) < needed + 1:
        raise InputError(f"a {model} calibration needs at least {needed + 1} networks, got {len(sums)}")
    columns = [sums]
    if model == "linear+layers":
        if num_layers is None:
            raise InputError("the linear+layers calibration needs each network's layer count")
        columns.append(np.asarray(num_layers, dtype=np.float64))
    if model != "scale":
        columns.append(np.ones_like(sums))
    solution, *_ = np.linalg.lstsq(np.stack(columns, axis=1), measured, rcond=None)
    if model == "scale":
        return Calibration(model, float(solution[0]))
    if model == "linear":
        return Calibration(model, float(solution[0]), float(solution[1]))
    return Calibration(model, float(solution[0]), float(solution[2]), float(solution[1]))


def accuracy_metrics(pred: np.ndarray, true: np.ndarray) -> dict[str, float]:
    """Rank and error metrics of predictions against measurements (see the module docstring)."""
    from scipy import stats

    pred, true = np.asarray(pred, dtype=np.float64), np.asarray(true, dtype=np.float64)
    if len(pred) != len(true) or len(pred) < 3:
        raise InputError(f"need >= 3 paired values, got {len(pred)} and {len(true)}")
    rel = np.abs(pred - true) / true
    return {
        "n": int(len(pred)),
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
    cut = int(round(n * train_fraction))
    return np.sort(order[:cut]), np.sort(order[cut:])


def evaluate(
    sums: np.ndarray,
    measured: np.ndarray,
    num_layers: np.ndarray | None = None,
    *,
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
    layers_train = None if num_layers is None else np.asarray(num_layers)[train]
    layers_test = None if num_layers is None else np.asarray(num_layers)[test]
    calibration = fit(sums[train], measured[train], layers_train, model)
    report = {
        "model": model,
        "n_train": int(len(train)),
        "n_test": int(len(test)),
        "raw": accuracy_metrics(sums[test], measured[test]),
        "calibrated": accuracy_metrics(calibration.apply(sums[test], layers_test), measured[test]),
        "bias": raw_bias(sums, measured),
    }
    return calibration, report
