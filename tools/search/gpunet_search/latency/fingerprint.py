"""What a latency was measured on and with: the device record and the software versions.

A *device fingerprint* names the device (CPU model or GPU name), the backend and its version, the
execution provider and the thread count. Two measurements are comparable only when their
fingerprints are equal; a LUT row, a calibration and a tier file all carry it. The record is
:class:`gpunet_hub.measure.Device`, the one ``gpunet-hub bench`` writes.
"""

from __future__ import annotations

import platform

from gpunet_hub.measure.device import Device


def onnxruntime_cpu_device(threads: int = 1) -> Device:
    """The device record of onnxruntime's CPU provider on this machine (the LUT's default backend)."""
    from gpunet_hub.errors import require
    from gpunet_hub.measure.registry import device_for

    require("onnxruntime", "onnx", "measuring the latency LUT")
    return device_for("onnxruntime-cpu", threads)


def software_versions() -> dict[str, str]:
    """Versions of the packages a measurement depends on (recorded with every LUT row)."""
    from importlib import metadata

    versions = {"python": platform.python_version()}
    for name in ("torch", "timm", "onnx", "onnxruntime", "numpy", "gpunet-hub"):
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return versions
