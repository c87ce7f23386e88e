"""Latency predictors stored in the LUT file, beside the measurements they are fitted on.

A fitted predictor lives in the LUT's ``calibrations`` table, one per (device, precision, batch,
resolution scale), as before: a calibration model stores its coefficients (``a``, ``b``, ``c``,
``d``); a learned model stores its name, seed and hyper-parameters, the feature set, the ``net``
items it was fitted on, what their latencies were divided by (earlier measuring runs brought to the
level of the fit's own, :mod:`.sessions`), its predictions for the first of them and its fitted
numbers (:mod:`.fitted`), which it loads from. A record stored before its model kept its numbers is
refitted on those rows (they are in the same file). Either way the stored predictions are checked on
load, so no model is pickled and a changed library or a replaced row is caught, not silently used.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import numpy as np

from gpunet_hub.errors import EnvironmentProblem, InputError

from .calibration import MODELS, Calibration
from .estimate import KeyIndex, estimate_sums
from .features import FEATURE_SET, NetworkFeatures, network_features
from .lut import LatencyLUT, Measurement
from .measure import parse_net_item
from .predictor import CalibrationPredictor, LearnedPredictor, Predictor

_CHECK_ROWS = 3
_THREADED_PREDICTORS = ("rf",)  # predict_networks runs their chunks on a thread per CPU
_CHECK_RTOL = 1e-4


def features_of(lut: LatencyLUT, encodings: np.ndarray, space: str, setting: Any, device: str) -> NetworkFeatures:
    """The predictor features of networks, from the LUT's layer rows (NaN LUT columns where a key is missing).

    Args:
        lut: The LUT.
        encodings: ``(N, 41)`` encodings.
        space: Their search space.
        setting: A :class:`~.pipeline.Setting` (batch, precision, resolution scale).
        device: The device fingerprint.
    """
    encodings = np.asarray(encodings, dtype=np.int64)
    index = setting.index(encodings, space)
    latency = lut.lookup_codes(index.codes, device, index.precision, index.batch)
    return network_features(index, latency, encodings)


def predict_networks(
    predictor: Predictor,
    index: KeyIndex,
    latency: np.ndarray,
    encodings: np.ndarray,
    *,
    chunk: int = 32_768,
    workers: int | None = None,
) -> np.ndarray:
    """A predictor's latency (ms) for every row of a key index, in chunks (bounded memory for millions).

    A calibration needs only the LUT sum and two counts; a learned model gets the full features,
    ``chunk`` rows at a time (about 70 float64 columns: some 18 MB per 32,768 rows), ``workers``
    chunks at once (default: one per CPU this process may use for ``rf``, whose trees run without the
    GIL; one for the others, whose work holds it or already runs on BLAS threads). Small chunks are
    faster than large ones for a million rows: their buffers are reused, where large ones are mapped
    afresh each time, and first-touching fresh memory is slow on some hosts. Each row is predicted by
    one thread, so the result does not depend on ``workers``.
    """
    if isinstance(predictor, CalibrationPredictor) and predictor.calibration is not None:
        return predictor.calibration.apply(estimate_sums(index, latency), index.num_layers, index.params_m)
    out = np.empty(len(index))
    starts = range(0, len(index), chunk)
    index.take_rows(slice(0, 0))  # the per-key counts, computed once before the threads share them

    def predict_chunk(start: int) -> None:
        rows = slice(start, start + chunk)
        out[rows] = predictor.predict(network_features(index.take_rows(rows), latency, encodings[rows]))

    if workers is None and predictor.name in _THREADED_PREDICTORS:
        workers = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    workers = workers or 1
    if workers <= 1 or len(starts) <= 1:
        for start in starts:
            predict_chunk(start)
    else:
        with ThreadPoolExecutor(max_workers=min(workers, len(starts))) as pool:
            list(pool.map(predict_chunk, starts))
    return out


def net_rows(items: Sequence[str]) -> tuple[str, np.ndarray]:
    """The space and ``(N, 41)`` encodings of network items (all of one space).

    Raises:
        InputError: Items of several spaces, or not network items.
    """
    parsed = [parse_net_item(i) for i in items]
    spaces = {p[0] for p in parsed}
    if len(spaces) != 1:
        raise InputError(f"network items of one search space expected, got {sorted(spaces) or 'none'}")
    return spaces.pop(), np.array([p[2] for p in parsed], dtype=np.int64)


def stored_networks(lut: LatencyLUT, device: str, space: str, setting: Any) -> list[str]:
    """The untagged ``net`` items measured on ``device`` at ``setting``'s resolution scale, of ``space``.

    These accumulate as networks are measured (every ``calibrate`` adds its networks); a retest (tagged
    item) is a second measurement of a network already there and is left out.
    """
    return [row.item for row in _stored_rows(lut, device, space, setting)]


def _stored_rows(lut: LatencyLUT, device: str, space: str, setting: Any) -> list[Measurement]:
    from .pipeline import setting_net_item  # pipeline imports this module

    out = []
    for row in lut.rows(device, kind="net"):
        item_space, _, digits, tag = parse_net_item(row.item)
        if tag or item_space != space or row.precision != setting.precision or row.batch != setting.batch:
            continue
        if setting_net_item(digits, space, setting) == row.item:  # the same (scaled, shrunken) network
            out.append(row)
    return out


@dataclass(frozen=True)
class StoredNetworks:
    """Networks measured whole in the LUT, as training rows.

    Attributes:
        items: Their LUT items.
        features: Their features (``None`` when there are none).
        measured: Their measured latencies (ms).
        sessions: The run that last measured each (the LUT's ``worker``; see :mod:`.sessions`).
    """

    items: list[str]
    features: NetworkFeatures | None
    measured: np.ndarray
    sessions: list[str]


def stored_training_set(
    lut: LatencyLUT, device: str, space: str, setting: Any, exclude: set[str] | frozenset[str]
) -> StoredNetworks:
    """The networks measured whole in the LUT (:func:`stored_networks`) other than ``exclude``.

    ``calibrate`` adds them to a sample's train part, so a predictor improves as measurements accumulate;
    ``exclude`` keeps out the sample's own networks (its held-out part above all).
    """
    rows = [r for r in _stored_rows(lut, device, space, setting) if r.item not in exclude]
    if not rows:
        return StoredNetworks([], None, np.empty(0), [])
    items = [r.item for r in rows]
    features = features_of(lut, net_rows(items)[1], space, setting, device)
    return StoredNetworks(items, features, np.array([r.median_ms for r in rows]), [r.worker or "unknown" for r in rows])


def predictor_record(
    predictor: Predictor,
    train_items: Sequence[str],
    features: NetworkFeatures,
    divisors: np.ndarray | None = None,
) -> dict[str, Any]:
    """What is stored of a fitted predictor (``coef`` of the ``calibrations`` row).

    Args:
        predictor: The fitted predictor.
        train_items: The LUT items it was fitted on.
        features: Their features.
        divisors: What their measured latencies were divided by before the fit (:mod:`.sessions`); stored
            so that a learned model is refitted on the same targets.
    """
    if predictor.name in MODELS:
        return predictor.record()
    check = predictor.predict(features.take(np.arange(min(_CHECK_ROWS, len(features)))))
    record = predictor.record() | {"train_items": list(train_items), "check_ms": [float(v) for v in check]}
    state = predictor.fitted_state() if isinstance(predictor, LearnedPredictor) else None
    if state is not None:
        record["state"] = state
    if divisors is not None and np.any(divisors != 1.0):
        record["target_divisors"] = [float(v) for v in divisors]
    return record


def stored_targets(lut: LatencyLUT, device: str, coef: dict[str, Any]) -> tuple[list[str], np.ndarray]:
    """A stored learned predictor's training items and targets (measured latencies over its divisors).

    Raises:
        InputError: The record's divisors do not match its items.
    """
    items = [str(i) for i in coef.get("train_items") or []]
    divisors = np.asarray(coef.get("target_divisors") or np.ones(len(items)), dtype=np.float64)
    if divisors.shape != (len(items),) or not np.all(divisors > 0):
        raise InputError(
            f"a stored predictor has {len(items)} training networks but {divisors.size} target divisors (or one "
            "<= 0); re-run calibrate"
        )
    return items, lut.lookup(items, device, kind="net") / divisors


def load_predictor(
    lut: LatencyLUT,
    device: str,
    setting: Any,
    remedy: str = "fit one with calibrate() first, or use the raw LUT sums",
) -> Predictor:
    """The device's stored predictor (a calibration, or a learned model restored or refitted on its networks).

    Args:
        lut: The LUT holding the predictor and its networks.
        device: The device fingerprint.
        setting: Precision, batch and resolution scale.
        remedy: What to do when it is missing or stale, appended to messages.

    Raises:
        InputError: None stored, fitted on an older revision of the rows, of an older feature set, or
            its networks are gone from the LUT.
        EnvironmentProblem: The restored or refitted model does not reproduce the stored predictions
            (another scikit-learn or torch version): re-run calibrate (it reuses the measurements).
    """
    record = lut.calibration(device, setting.precision, setting.batch, setting.res_scale)
    where = f"device {device} ({setting.precision}, batch {setting.batch}, res_scale {setting.res_scale:g})"
    if record is None:
        raise InputError(f"no calibration for {where} in {lut.path}; {remedy}")
    if record["revision"] != lut.revision(device):
        raise InputError(
            f"the calibration of device {device} was fitted on LUT revision {record['revision']}, but rows were "
            f"replaced since (revision {lut.revision(device)}); {remedy}"
        )
    name, coef = record["model"], record["coef"]
    if name in MODELS:
        return CalibrationPredictor(name, Calibration.from_record(name, coef))
    if coef.get("feature_set") != FEATURE_SET:
        raise InputError(
            f"the {name} predictor of {where} uses features {coef.get('feature_set')!r}; this version computes "
            f"{FEATURE_SET!r}; {remedy}"
        )
    items, measured = stored_targets(lut, device, coef)
    if not items or np.isnan(measured).any():
        raise InputError(
            f"the {name} predictor of {where} was fitted on {len(items)} networks of which "
            f"{int(np.isnan(measured).sum())} are no longer in {lut.path}; {remedy}"
        )
    expected = np.asarray(coef.get("check_ms") or [], dtype=np.float64)
    seed, params = int(coef.get("seed", 0)), dict(coef.get("params") or {})
    stateful = isinstance(coef.get("state"), dict)  # restored from its fitted numbers
    space, encodings = net_rows(items[: max(len(expected), 1)] if stateful else items)
    features = features_of(lut, encodings, space, setting, device)
    if stateful:
        predictor = LearnedPredictor.from_state(name, seed, params, coef["state"])
    else:  # a gbr or rf stored before they kept their numbers: refitted on every stored network
        predictor = LearnedPredictor(name, seed, params).fit(features, measured)
    how = "restored from its stored weights" if stateful else "refitted on its stored networks"
    got = predictor.predict(features.take(np.arange(len(expected))))
    if len(expected) and not np.allclose(got, expected, rtol=_CHECK_RTOL, atol=0):
        raise EnvironmentProblem(
            f"the {name} predictor of {where}, {how}, predicts {got.round(4).tolist()} ms where it predicted "
            f"{expected.round(4).tolist()} ms when it was stored (another scikit-learn/torch version?); {remedy}"
        )
    return predictor
