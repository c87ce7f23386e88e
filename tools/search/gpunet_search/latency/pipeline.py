"""Stage 1 glue shared by the CLI and the benchmarks: build, estimate, calibrate.

Every function takes explicit inputs (sample set, LUT path, device, protocol) and returns plain
results; the CLI adds progress bars and files, the benchmarks add tables.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from gpunet_hub import _validate
from gpunet_hub.errors import InputError
from gpunet_hub.measure.device import Device

from .calibration import MODELS, Calibration, evaluate
from .estimate import KeyIndex, index_encodings, pack_keys, scaled_resolution
from .fingerprint import onnxruntime_cpu_device
from .layer_keys import PRECISIONS
from .lut import LatencyLUT
from .measure import ItemTimer, ProgressFn, TimingProtocol, measure_items, net_item
from .sampling import SampleSet


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


def key_index(samples: SampleSet, setting: Setting) -> KeyIndex:
    """The distinct layer keys of a sample set (and each row's index into them)."""
    space = samples.check_space()
    return index_encodings(
        samples.encodings,
        space,
        batch=setting.batch,
        precision=setting.precision,
        res_scale=setting.res_scale,
        min_resolution=setting.min_resolution,
        width_mult=setting.width_mult,
        classes=setting.classes,
    )


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


def load_calibration(
    lut: LatencyLUT,
    device: str,
    setting: Setting,
    remedy: str = "fit one with calibrate() first, or use the raw LUT sums",
) -> Calibration:
    """The device's stored calibration, refusing a stale one.

    Args:
        lut: The LUT holding the calibrations.
        device: The device fingerprint.
        setting: Precision, batch and resolution scale of the calibration.
        remedy: What to do when it is missing or stale, appended to the message.

    Raises:
        InputError: None stored for this (device, precision, batch, res_scale), or fitted on an older
            revision of the LUT rows.
    """
    record = lut.calibration(device, setting.precision, setting.batch, setting.res_scale)
    if record is None:
        raise InputError(
            f"no calibration for device {device} ({setting.precision}, batch {setting.batch}, res_scale "
            f"{setting.res_scale:g}) in {lut.path}; {remedy}"
        )
    if record["revision"] != lut.revision(device):
        raise InputError(
            f"the calibration of device {device} was fitted on LUT revision {record['revision']}, but rows were "
            f"replaced "
            f"since (revision {lut.revision(device)}); {remedy}"
        )
    return Calibration.from_record(record["model"], record["coef"])


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
    space = samples.check_space()
    items = [
        net_item(
            row,
            space.name,
            scaled_resolution(int(row[0]), setting.res_scale, setting.min_resolution),
            tag,
            width_mult=setting.width_mult,
            classes=setting.classes,
            precision=setting.precision,
        )
        for row in samples.encodings.tolist()
    ]
    measure_items(lut_path, items, device, backend, protocol, kind="net", progress=progress, chunk=chunk)
    with LatencyLUT(lut_path) as lut:
        return lut.lookup(items, device.fingerprint, kind="net")


def calibrate(
    lut_path: str | Path,
    samples: SampleSet,
    device: Device,
    backend: ItemTimer,
    protocol: TimingProtocol,
    setting: Setting,
    *,
    model: str = "linear+weights",
    train_fraction: float = 0.5,
    seed: int = 0,
    progress_layers: ProgressFn | None = None,
    progress_nets: ProgressFn | None = None,
    store: bool = True,
) -> tuple[Calibration, dict[str, Any]]:
    """Measures the networks' missing layers and the networks whole, fits and stores a calibration.

    With ``store=False`` the calibration is only returned (the caller keeps it); a shrunken network
    (``setting.shrinks_network``) needs that, since the LUT keys calibrations by ``res_scale`` only.

    Returns:
        The calibration (fitted on the train split; stored in the LUT for this device) and the report
        (held-out raw and calibrated metrics, bias, coefficients).

    Raises:
        InputError: A bad model, train fraction or seed (checked before anything is measured).
    """
    _validate.choice(model, "model", MODELS)
    train_fraction = _validate.number(train_fraction, "train_fraction", minimum=0, exclusive_minimum=True, maximum=1)
    if train_fraction == 1:
        raise InputError("train_fraction must be < 1: the held-out share would be empty", params=("train_fraction",))
    _validate.integer(seed, "seed", minimum=0)
    if store and setting.shrinks_network:
        raise InputError(
            "calibrate(store=True) keys calibrations by res_scale only; for a shrunken network "
            f"({setting.to_dict()}) pass store=False and keep the returned calibration"
        )
    build_lut(lut_path, samples, device, backend, protocol, setting, progress=progress_layers)
    measured = measure_networks(lut_path, samples, device, backend, protocol, setting, progress=progress_nets)
    index = key_index(samples, setting)
    with LatencyLUT(lut_path) as lut:
        sums, latency = lut_sums(lut, index, device.fingerprint)
        require_complete(sums, latency, index, lut, device.fingerprint)
        calibration, report = evaluate(
            sums,
            measured,
            index.num_layers,
            params_m=index.params_m,
            model=model,
            train_fraction=train_fraction,
            seed=seed,
        )
        report |= {
            "coef": calibration.coef(),
            "formula": calibration.describe(),
            "device": device.fingerprint,
            "device_label": device.setup_label,
            **setting.to_dict(),
            "samples_sha256": samples.sha256,
        }
        if store:
            lut.save_calibration(
                device.fingerprint,
                setting.precision,
                setting.batch,
                setting.res_scale,
                model,
                calibration.coef(),
                report,
            )
    return calibration, report
