"""What a measurement ran on: the CPU (model, threads) or the GPU (name, driver, hub key).

The device label is what the local latency table and every record show, so a CPU figure is never
mistaken for a GPU one: ``"CPU: AMD EPYC 7B13 (1 thread)"`` or ``"GPU: Tesla V100-SXM2-32GB"``.
"""

from __future__ import annotations

import os
import platform
from dataclasses import asdict, dataclass
from typing import Any

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

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


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
    from ..gpus import resolve_gpu

    try:
        return resolve_gpu(gpu_name)
    except UnknownGPUError:
        return None


def _driver_version() -> str | None:
    try:
        import pynvml  # type: ignore[import-not-found]

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
