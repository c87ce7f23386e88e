"""Stage 1 glue shared by the CLI and the benchmarks: build, estimate, calibrate.

Every function takes explicit inputs (sample set, LUT path, device, protocol) and returns plain
results; the CLI adds progress bars and files, the benchmarks add tables.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from gpunet_hub import _validate
from gpunet_hub.errors import InputError
from gpunet_hub.measure.device import Device
from gpunet_hub.space import SearchSpace

from .calibration import MODELS, accuracy_metrics, fit_warnings, min_networks, raw_bias, split
from .estimate import KeyIndex, index_encodings, pack_keys, scaled_resolution
from .features import NetworkFeatures
from .fingerprint import onnxruntime_cpu_device
from .layer_keys import PRECISIONS
from .lut import LatencyLUT
from .measure import ItemTimer, ProgressFn, TimingProtocol, measure_items, net_item
from .predictor import (
    PREDICTORS,
    CalibrationPredictor,
    Predictor,
    cross_validate,
    make_predictor,
    select,
    uncertainty,
)
from .predictor_store import (
    features_of,
    load_predictor,
    net_rows,
    predictor_record,
    stored_networks,
    stored_targets,
    stored_training_set,
)
from .sampling import SampleSet
from .sessions import align_stored

MIN_LEARNED = 8  # fewest train networks of a learned predictor (a calibration: calibration.min_networks)


@dataclass(frozen=True)
class Setting:
    """What the keys are computed at: batch, precision, resolution scale, and the proxy's network.

    ``min_resolution``, ``width_mult`` and ``classes`` describe a shrunken network (the evaluator's
    proxy: ``proxy_resolution`` floor, ``scale_width``, the dataset's classes), so that the keys are
    those of the network that is trained and benched. Calibrations stored in the LUT are keyed by
    ``res_scale`` only; :func:`calibrate` refuses to store one for a shrunken network.
    """

    batch: int = 1
    precision: str = "fp32"
    res_scale: float = 1.0
    min_resolution: int = 8
    width_mult: float = 1.0
    classes: int | None = None

    def __post_init__(self) -> None:
        _validate.integer(self.batch, "batch", minimum=1, maximum=4096)
        _validate.choice(self.precision, "precision", PRECISIONS)
        _validate.number(self.res_scale, "res_scale", minimum=0, exclusive_minimum=True, maximum=4)
        _validate.integer(self.min_resolution, "min_resolution", minimum=1, maximum=4096)
        _validate.number(self.width_mult, "width_mult", minimum=0, exclusive_minimum=True, maximum=4)
        if self.classes is not None:
            _validate.integer(self.classes, "classes", minimum=1, maximum=100_000)

    @property
    def shrinks_network(self) -> bool:
        """True when the keys are of a narrowed, floored or re-headed network (not the space's own)."""
        return self.min_resolution != 8 or self.width_mult != 1.0 or self.classes is not None

    def to_dict(self) -> dict[str, Any]:
        return {
            "batch": self.batch,
            "precision": self.precision,
            "res_scale": self.res_scale,
            "min_resolution": self.min_resolution,
            "width_mult": self.width_mult,
            "classes": self.classes,
        }

    def index(self, encodings: np.ndarray, space: str | SearchSpace) -> KeyIndex:
        """The distinct layer keys of ``encodings`` in this setting (and each row's index into them)."""
        return index_encodings(
            encodings,
            space,
            batch=self.batch,
            precision=self.precision,
            res_scale=self.res_scale,
            min_resolution=self.min_resolution,
            width_mult=self.width_mult,
            classes=self.classes,
        )


def key_index(samples: SampleSet, setting: Setting) -> KeyIndex:
    """The distinct layer keys of a sample set (and each row's index into them)."""
    return setting.index(samples.encodings, samples.check_space())


def build_lut(
    lut_path: str | Path,
    samples: SampleSet,
    device: Device,
    backend: ItemTimer,
    protocol: TimingProtocol,
    setting: Setting,
    *,
    workers: int = 1,
    chunk: int = 32,
    progress: ProgressFn | None = None,
) -> dict[str, Any]:
    """Measures every layer key of ``samples`` missing from the LUT (resumable, concurrent-safe)."""
    index = key_index(samples, setting)
    keys = index.keys
    items = [str(k) for k in keys]
    codes = dict(zip(items, pack_keys(keys).tolist(), strict=True))
    result = measure_items(
        lut_path,
        items,
        device,
        backend,
        protocol,
        kind="layer",
        workers=workers,
        chunk=chunk,
        codes=codes,
        progress=progress,
    )
    return result | {"networks": len(samples)}


def pick_device(lut: LatencyLUT, device: str | None, threads: int = 1) -> str:
    """The device fingerprint to read: the one named, else this machine's (ORT CPU), else the only one."""
    if device:
        lut.device(device)
        return device
    known = lut.devices()
    here = onnxruntime_cpu_device(threads).fingerprint if _have_ort() else None
    if here in known:
        return here
    return str(lut.device(None)["fingerprint"])


def _have_ort() -> bool:
    try:
        import onnxruntime  # noqa: F401
    except ImportError:
        return False
    return True


def lut_sums(lut: LatencyLUT, index: KeyIndex, device: str) -> tuple[np.ndarray, np.ndarray]:
    """Per-row LUT sums and the per-key latency vector (NaN where a key is missing)."""
    from .estimate import estimate_sums

    latency = lut.lookup_codes(index.codes, device, index.precision, index.batch)
    return estimate_sums(index, latency), latency


def require_complete(
    sums: np.ndarray,
    latency: np.ndarray,
    index: KeyIndex,
    lut: LatencyLUT,
    device: str,
    remedy: str = "measure them with build_lut() (it resumes where it stopped)",
) -> None:
    """Raises a clear error when some rows use keys the LUT lacks.

    Args:
        sums: Per-row LUT sums (NaN where a key is missing).
        latency: Per-key latencies (NaN where missing).
        index: The key index of the rows.
        lut: The LUT read.
        device: Its device fingerprint.
        remedy: What to do, appended to the message (the CLI names its command and flags).

    Raises:
        InputError: When some row uses a missing key.
    """
    missing_rows = int(np.isnan(sums).sum())
    if missing_rows:
        missing_keys = int((np.isnan(latency) & index.used()).sum())
        raise InputError(
            f"{missing_rows} of {len(sums)} networks use {missing_keys} layer keys that {lut.path} lacks for device "
            f"{device}; {remedy}"
        )


def measure_networks(
    lut_path: str | Path,
    samples: SampleSet,
    device: Device,
    backend: ItemTimer,
    protocol: TimingProtocol,
    setting: Setting,
    *,
    tag: str = "",
    chunk: int = 16,
    progress: ProgressFn | None = None,
) -> np.ndarray:
    """Measures every row of ``samples`` whole (stored in the LUT file as ``net`` rows); returns ms per row.

    ``chunk`` networks are held in memory and interleaved at a time (Table-1 networks reach 100M+
    parameters, so all of them at once may not fit).
    """
    if setting.batch != 1:
        raise InputError("whole-network calibration measurements are implemented for batch 1")
    items = network_items(samples, setting, tag)
    measure_items(lut_path, items, device, backend, protocol, kind="net", progress=progress, chunk=chunk)
    with LatencyLUT(lut_path) as lut:
        return lut.lookup(items, device.fingerprint, kind="net")


def check_calibration_inputs(nets: int, model: str, train_fraction: float, seed: int, folds: int) -> tuple[int, int]:
    """Refuses a calibration that cannot be fitted or tested, before anything is measured.

    Returns:
        ``(n_train, n_test)``.

    Raises:
        InputError: An unknown model, a bad train fraction, seed or fold count, or too few networks
            for the model's terms, the held-out metrics (3) or the cross-validation folds.
    """
    _validate.choice(model, "model", ("auto", *PREDICTORS))
    train_fraction = _validate.number(train_fraction, "train_fraction", minimum=0, exclusive_minimum=True, maximum=1)
    if train_fraction == 1:
        raise InputError("train_fraction must be < 1: the held-out share would be empty", params=("train_fraction",))
    _validate.integer(seed, "seed", minimum=0)
    _validate.integer(folds, "folds", minimum=2, maximum=100)
    n_train = round(nets * train_fraction)
    n_test = nets - n_train
    needed = min_networks(model) if model in MODELS else MIN_LEARNED
    if model == "auto":
        needed = max(MIN_LEARNED, folds)
    if n_train < needed or n_test < 3:
        enough = next(
            n
            for n in range(nets, nets + 10_000)
            if round(n * train_fraction) >= needed and n - round(n * train_fraction) >= 3
        )
        raise InputError(
            f"{nets} networks at train fraction {train_fraction:g} give {n_train} to fit and {n_test} to test; the "
            f"{model} model needs >= {needed} to fit"
            + (f" ({folds}-fold cross-validation)" if model == "auto" else "")
            + f" and >= 3 to test: use --nets {enough} or more",
            params=("nets",),
        )
    return n_train, n_test


def calibrate(
    lut_path: str | Path,
    samples: SampleSet,
    device: Device,
    backend: ItemTimer,
    protocol: TimingProtocol,
    setting: Setting,
    *,
    model: str = "auto",
    train_fraction: float = 0.5,
    seed: int = 0,
    folds: int = 5,
    with_stored: bool = True,
    progress_layers: ProgressFn | None = None,
    progress_nets: ProgressFn | None = None,
    store: bool = True,
) -> tuple[Predictor, dict[str, Any]]:
    """Measures the networks' missing layers and the networks whole, fits and stores a latency predictor.

    Args:
        lut_path: The LUT (layers, networks and the stored predictor).
        samples: The networks; split into a train and a held-out part.
        device: Where the timings run.
        backend: The timing backend.
        protocol: The measuring protocol (layers and networks).
        setting: Batch, precision and resolution scale.
        model: A predictor name (:data:`~.predictor.PREDICTORS`), or ``auto``: the one with the lowest
            cross-validated MAPE on the train part (the choice and every candidate's figures are stored).
        train_fraction: Share of ``samples`` the fit sees.
        seed: Seed of the split, the folds and the learned models.
        folds: Cross-validation folds of ``auto``.
        with_stored: Also fit on the other networks of this device and resolution scale already measured
            in the LUT (the held-out part stays that of ``samples``), so the predictor improves as
            measurements accumulate; ``False`` fits on the train part of ``samples`` alone. The stored
            networks of each earlier measuring run are first brought to this run's level
            (:func:`~.sessions.align_sessions`; the levels are in the report's ``sessions``).
        progress_layers: Progress callback of the layer measurements.
        progress_nets: Progress callback of the network measurements.
        store: Store the predictor in the LUT; with ``False`` it is only returned (the caller keeps it). A
            shrunken network (``setting.shrinks_network``) needs that, since the LUT keys predictors by
            ``res_scale`` only.

    With ``store=False`` the calibration is only returned (the caller keeps it); a shrunken network
    (``setting.shrinks_network``) needs that, since the LUT keys calibrations by ``res_scale`` only.

    Returns:
        The predictor (fitted on the train part, stored in the LUT for this device) and the report
        (held-out raw and predicted metrics, bias, selection, warnings).

    Raises:
        InputError: A bad model, train fraction, seed or too few networks (checked before measuring).
    """
    check_calibration_inputs(len(samples), model, train_fraction, seed, folds)
    space = samples.check_space()
    key_index(samples, setting)  # refuses networks too small for the resolution scale before measuring
    if store and setting.shrinks_network:
        raise InputError(
            "calibrate(store=True) keys predictors by res_scale only; for a shrunken network "
            f"({setting.to_dict()}) pass store=False and keep the returned predictor"
        )
    build_lut(lut_path, samples, device, backend, protocol, setting, progress=progress_layers)
    measured = measure_networks(lut_path, samples, device, backend, protocol, setting, progress=progress_nets)
    items = network_items(samples, setting)
    fp = device.fingerprint
    with LatencyLUT(lut_path) as lut:
        features = features_of(lut, samples.encodings, space.name, setting, fp)
        index = key_index(samples, setting)
        sums, latency = lut_sums(lut, index, fp)
        require_complete(sums, latency, index, lut, fp)
        train, test = split(len(samples), train_fraction, seed)
        train_items = [items[i] for i in train]
        train_x, train_y = features.take(train), measured[train]
        divisors = np.ones(len(train))
        sessions: dict[str, object] | None = None
        if with_stored:
            stored = stored_training_set(lut, fp, space.name, setting, exclude=set(items))
            if stored.features is not None:
                train_items += stored.items
                alignment = align_stored(train_x, train_y, stored)
                train_x = NetworkFeatures(np.vstack([train_x.values, stored.features.values]))
                divisors, sessions = alignment.divisors, alignment.summary()
                train_y = np.concatenate([train_y, stored.measured]) / divisors
        cv = cross_validate(PREDICTORS, train_x, train_y, k=folds, seed=seed) if model == "auto" else {}
        chosen = select(cv) if model == "auto" else model
        predictor = make_predictor(chosen, seed).fit(train_x, train_y)
        warnings = predictor_warnings(predictor, len(train_y))
        report: dict[str, Any] = {
            "model": chosen,
            "requested": model,
            "n_train": len(train_y),
            "n_test": len(test),
            "raw": accuracy_metrics(sums[test], measured[test]),
            "calibrated": accuracy_metrics(predictor.predict(features.take(test)), measured[test]),
            "bias": raw_bias(sums, measured),
            "selection": {"by": f"{folds}-fold cross-validated MAPE on the train part", "cv": cv} if cv else None,
            "sessions": sessions,
            "warnings": warnings,
            "coef": predictor.record(),
            "formula": predictor.describe(),
            "device": fp,
            "device_label": device.setup_label,
            **setting.to_dict(),
            "samples_sha256": samples.sha256,
        }
        record = predictor_record(predictor, train_items, train_x, divisors)
        if store:
            lut.save_calibration(fp, setting.precision, setting.batch, setting.res_scale, chosen, record, report)
    return predictor, report


def predictor_warnings(predictor: Predictor, n_train: int) -> list[str]:
    """Reasons not to trust a fit (see :func:`~.calibration.fit_warnings`; learned models: too few networks)."""
    if isinstance(predictor, CalibrationPredictor) and predictor.calibration is not None:
        return fit_warnings(predictor.calibration, n_train)
    if n_train < 3 * MIN_LEARNED:
        return [
            (
                f"the {predictor.name} predictor is fitted on {n_train} networks; below {3 * MIN_LEARNED} its error "
                "is uncertain: measure more networks (calibrate --nets, or calibrate again with other samples)"
            )
        ]
    return []


def network_items(samples: SampleSet, setting: Setting, tag: str = "") -> list[str]:
    """The LUT items naming ``samples``' networks measured whole at ``setting``."""
    space = samples.check_space()
    return [setting_net_item(row, space.name, setting, tag) for row in samples.encodings.tolist()]


def setting_net_item(encoding: Sequence[int], space: str, setting: Setting, tag: str = "") -> str:
    """The LUT item of one network measured whole at ``setting`` (its scaled, possibly shrunken network)."""
    return net_item(
        encoding,
        space,
        scaled_resolution(int(encoding[0]), setting.res_scale, setting.min_resolution),
        tag,
        width_mult=setting.width_mult,
        classes=setting.classes,
        precision=setting.precision,
    )


def suggest_networks(
    lut: LatencyLUT, device: str, setting: Setting, candidates: SampleSet, n: int, *, repeats: int = 8, seed: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """The ``n`` candidates the stored predictor is least sure about (to measure next).

    The stored predictor's model is refitted ``repeats`` times on bootstrap resamples of its networks;
    a candidate's uncertainty is the spread of its predictions (std of the log). Candidates already
    measured whole are skipped.

    Returns:
        ``(rows, spread)``: indices into ``candidates`` (least sure first) and their relative spreads.

    Raises:
        InputError: No stored predictor, or candidates using layer keys the LUT lacks.
    """
    _validate.integer(n, "n", minimum=1)
    _validate.integer(repeats, "repeats", minimum=2, maximum=100)
    record = lut.calibration(device, setting.precision, setting.batch, setting.res_scale)
    predictor = load_predictor(lut, device, setting)  # refuses a missing or stale one
    space = candidates.check_space()
    items, train_y = stored_targets(lut, device, record["coef"]) if record else ([], np.empty(0))
    if not items:  # a calibration stores coefficients, not its networks
        items = stored_networks(lut, device, space.name, setting)
        train_y = lut.lookup(items, device, kind="net")
    train_space, train_enc = net_rows(items)
    train_x = features_of(lut, train_enc, train_space, setting, device)
    cand_x = features_of(lut, candidates.encodings, space.name, setting, device)
    if np.isnan(cand_x.column("lut_sum_ms")).any():
        raise InputError(
            f"{int(np.isnan(cand_x.column('lut_sum_ms')).sum())} candidates use layer keys the LUT lacks; measure "
            "them first (lut build)"
        )
    spread = uncertainty(predictor.name, train_x, train_y, cand_x, repeats=repeats, seed=seed)
    done = ~np.isnan(lut.lookup(network_items(candidates, setting), device, kind="net"))
    spread = np.where(done, -np.inf, spread)
    order = np.argsort(-spread, kind="stable")[: min(n, int((~done).sum()))]
    return order, spread[order]
