"""What a measurement ran on and with: the device record shared by ``bench`` and the latency LUT.

A :class:`Device` names the hardware (CPU model and threads, or GPU name, driver and hub key) and,
once a backend is chosen, the backend, its version, execution provider and graph optimisation
level. Its :attr:`Device.fingerprint` hashes what makes two latencies comparable; equal fingerprints
mean comparable measurements (the local latency table groups by it, the search pipeline's LUT keys
rows by it).

The device label is what the local latency table and every record show, so a CPU figure is never
mistaken for a GPU one: ``"CPU: AMD EPYC 7B13 (1 thread)"`` or ``"GPU: Tesla V100-SXM2-32GB"``.
"""

from __future__ import annotations

import os
import platform
from dataclasses import asdict, dataclass, replace
from typing import Any

from .._io import json_sha256
from ..errors import UnknownGPUError


@dataclass(frozen=True)
class Device:
    """A device a benchmark ran on.

    Attributes:
        kind: ``cpu`` or ``gpu``.
        name: CPU model or GPU name as the driver prints it.
        label: Human-readable label (includes threads for CPUs).
        hub_gpu: The hub's GPU key (``GV100``) when the GPU is one the hub knows, else ``None``.
        driver: GPU driver version, when known.
        cuda: CUDA runtime version, when known.
        threads: Threads the backend used (CPU runs).
        logical_cpus: Logical CPUs of the machine.
        clocks_locked: Whether GPU clocks were known to be locked (``None``: unknown).
        backend: The timing backend (``onnxruntime-cpu``, ``tensorrt``, ...), once chosen.
        backend_version: Its version.
        provider: onnxruntime's execution provider (``CPUExecutionProvider``), if any.
        opt_level: onnxruntime's graph optimisation level (``ORT_ENABLE_ALL``), if any.
    """

    kind: str
    name: str
    label: str
    hub_gpu: str | None = None
    driver: str | None = None
    cuda: str | None = None
    threads: int | None = None
    logical_cpus: int | None = None
    clocks_locked: bool | None = None
    backend: str | None = None
    backend_version: str | None = None
    provider: str | None = None
    opt_level: str | None = None

    def with_backend(
        self, backend: str, version: str, *, provider: str | None = None, opt_level: str | None = None
    ) -> Device:
        """This device as timed by ``backend`` (the record a fingerprint is taken of)."""
        return replace(self, backend=backend, backend_version=version, provider=provider, opt_level=opt_level)

    @property
    def fingerprint(self) -> str:
        """16 hex digits over device, backend, version, provider, threads and optimisation level.

        The hashed fields and their names are those of the search pipeline's LUT rows, so a LUT
        measured before this record existed keeps its fingerprints.
        """
        return json_sha256(
            {
                "device": self.name,
                "backend": self.backend,
                "backend_version": self.backend_version,
                "provider": self.provider,
                "threads": self.threads,
                "opt_level": self.opt_level,
            },
            16,
        )

    @property
    def setup_label(self) -> str:
        """The device with its backend, e.g. ``onnxruntime-cpu 1.32.0 (CPUExecutionProvider) on CPU: ...``."""
        if self.backend is None:
            return self.label
        extra = ", ".join(v for v in (self.provider, self.opt_level) if v)
        return (
            f"{self.backend} {self.backend_version or ''}".strip()
            + (f" ({extra})" if extra else "")
            + f" on {self.label}"
        )

    def to_dict(self) -> dict[str, Any]:
        """A JSON-able dict (all fields, plus ``fingerprint``)."""
        return asdict(self) | {"fingerprint": self.fingerprint}


def cpu_model() -> str:
    """The CPU model name (``/proc/cpuinfo`` on Linux, ``platform.processor()`` elsewhere)."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as handle:
            for line in handle:
                if line.lower().startswith("model name"):
                    return " ".join(line.split(":", 1)[1].split())
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown CPU"


def cpu_device(threads: int) -> Device:
    """The CPU, labelled with the thread count the backend used."""
    name = cpu_model()
    plural = "thread" if threads == 1 else "threads"
    return Device(
        kind="cpu",
        name=name,
        label=f"CPU: {name} ({threads} {plural})",
        threads=threads,
        logical_cpus=os.cpu_count(),
    )


def hub_key_for(gpu_name: str) -> str | None:
    """The hub GPU key of a device name, or ``None`` if the hub has no such GPU."""
    from ..hub.gpus import resolve_gpu

    try:
        return resolve_gpu(gpu_name)
    except UnknownGPUError:
        return None


def _driver_version() -> str | None:
    try:
        import pynvml

        pynvml.nvmlInit()
        try:
            version = pynvml.nvmlSystemGetDriverVersion()
            return version.decode() if isinstance(version, bytes) else str(version)
        finally:
            pynvml.nvmlShutdown()
    except Exception:  # pynvml missing or no driver: the version is simply unknown
        return None


def gpu_device(index: int = 0, *, name: str | None = None, driver: str | None = None) -> Device:
    """A CUDA GPU (via torch), or one described by ``name`` (tests, trtexec logs)."""
    cuda = None
    if name is None:
        import torch

        name = torch.cuda.get_device_name(index)
        cuda = torch.version.cuda
    return Device(
        kind="gpu",
        name=name,
        label=f"GPU: {name}",
        hub_gpu=hub_key_for(name),
        driver=driver if driver is not None else _driver_version(),
        cuda=cuda,
    )


def cuda_available() -> bool:
    """Whether torch sees a CUDA GPU (False when torch has no CUDA or no GPU is present)."""
    try:
        import torch

        return bool(torch.cuda.is_available())
    except Exception:
        return False
