"""Fingerprints that tie every output file to its inputs: files, devices, software versions.

A *device fingerprint* names what a latency was measured on and how: the device (CPU model or GPU
name), the backend and its version, the execution provider and the thread count. Two measurements
are comparable only when their device fingerprints are equal; a LUT row, a calibration and a tier
file all carry it.
"""

from __future__ import annotations

import hashlib
import json
import platform
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any


def short_hash(payload: Any, length: int = 16) -> str:
    """SHA-256 (hex, truncated) of a JSON-serialisable value in canonical form."""
    text = json.dumps(payload, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:length]


def file_sha256(path: str | Path, length: int = 16) -> str:
    """SHA-256 (hex, truncated) of a file's bytes."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()[:length]


@dataclass(frozen=True)
class DeviceInfo:
    """What a latency is measured on and with.

    Attributes:
        device: CPU model or GPU name.
        backend: Timing backend, e.g. ``onnxruntime-cpu`` (``gpunet_hub.bench``'s labels).
        backend_version: Its version.
        provider: Execution provider (``CPUExecutionProvider``, ...).
        threads: Intra-op threads of the timed session.
        opt_level: Graph optimisation level.
    """

    device: str
    backend: str
    backend_version: str
    provider: str
    threads: int
    opt_level: str = "ORT_ENABLE_ALL"

    @property
    def fingerprint(self) -> str:
        """16 hex digits; equal fingerprints mean comparable measurements."""
        return short_hash(asdict(self))

    def to_dict(self) -> dict[str, Any]:
        return asdict(self) | {"fingerprint": self.fingerprint}

    @property
    def label(self) -> str:
        """Human-readable one-liner, e.g. ``onnxruntime 1.32.0 CPUExecutionProvider x1 on AMD EPYC``."""
        return f"{self.backend} {self.backend_version} {self.provider} x{self.threads} thread(s) on {self.device}"


def onnxruntime_cpu_device(threads: int = 1) -> DeviceInfo:
    """The device fingerprint of onnxruntime's CPU provider on this machine."""
    from gpunet_hub.bench.device import cpu_model
    from gpunet_hub.bench.ort import backend_name
    from gpunet_hub.errors import require

    ort = require("onnxruntime", "onnx", "measuring the latency LUT")
    return DeviceInfo(
        device=cpu_model(),
        backend=backend_name("cpu"),
        backend_version=str(ort.__version__),
        provider="CPUExecutionProvider",
        threads=int(threads),
    )


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
