"""The one registry of latency backends, and the one protocol they follow.

A :class:`Backend` takes a model (an ONNX file, or the ``nn.Module`` itself for the eager torch
backends) plus a :class:`SessionConfig` (batch, precision, threads) and opens a :class:`Session`;
the session is timed as often as needed with bounds (:class:`~gpunet_hub.measure.stats.TimingPlan`:
warm-up, minimum and maximum runs and seconds) and closed. ``bench`` times whole networks this way
and the search pipeline's latency LUT times single layers the same way, so a TensorRT LUT backend is
the bench TensorRT backend timing a layer.

Backends, in the order ``backend="auto"`` tries them (the paper's metric first): ``tensorrt`` (the
TensorRT Python API), ``trtexec``, ``onnxruntime-tensorrt``, ``onnxruntime-cuda``,
``onnxruntime-cpu``; then ``torch-cuda`` and ``torch-cpu``, the eager reference, only on request.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from ..errors import EnvironmentProblem, InputError, did_you_mean
from .device import Device, cpu_device, gpu_device
from .stats import TimingPlan, TimingResult

PRECISIONS = ("fp32", "fp16")


@dataclass(frozen=True)
class SessionConfig:
    """What a session is opened with.

    Attributes:
        precision: ``fp32`` or ``fp16``.
        batch: Batch size (fixes a dynamic batch dimension of an ONNX file).
        threads: CPU intra-op threads (onnxruntime-cpu, torch-cpu).
        input_shape: Full input shape, batch first; required by the torch backends, which time a
            module rather than a file.
        cuda_graph: TensorRT, trtexec and onnxruntime-tensorrt: launch through a CUDA graph.
        seed: Seed of the random input.
    """

    precision: str = "fp32"
    batch: int = 1
    threads: int = 1
    input_shape: tuple[int, ...] | None = None
    cuda_graph: bool = True
    seed: int = 0

    def __post_init__(self) -> None:
        if self.precision not in PRECISIONS:
            raise InputError(
                f"precision must be one of {', '.join(PRECISIONS)}, got {self.precision!r}", params=("precision",)
            )
        if self.batch < 1:
            raise InputError(f"batch_size must be >= 1, got {self.batch}", params=("batch_size",))
        if self.threads < 1:
            raise InputError(f"threads must be >= 1, got {self.threads}", params=("threads",))


class Session(Protocol):
    """A model prepared on a backend: time it as often as needed, then close it."""

    def time(self, plan: TimingPlan) -> TimingResult:
        """Warms up and times per ``plan``; returns the per-run times and the settings in effect."""
        ...

    def close(self) -> None:
        """Frees what the session holds."""
        ...


@dataclass(frozen=True)
class BackendInfo:
    """The fixed facts of a backend.

    Attributes:
        name: Registry name (``onnxruntime-cpu``), also the records' ``backend`` label.
        runtime: The runtime family (``tensorrt``, ``onnxruntime``, ``torch``): hub rows of the
            same runtime are comparable with its figures.
        gpu: Whether it runs on a GPU.
        takes_module: ``True``: ``open`` takes an ``nn.Module``; ``False``: an ONNX file.
        auto: Whether ``backend="auto"`` considers it.
        execution_provider: onnxruntime's provider (``CPUExecutionProvider``), else ``None``.
        opt_level: onnxruntime's graph optimisation level, else ``None``.
    """

    name: str
    runtime: str
    gpu: bool
    takes_module: bool = False
    auto: bool = True
    execution_provider: str | None = None
    opt_level: str | None = None


class Backend(Protocol):
    """A way of timing a model: its facts (:attr:`info`), availability, version, and sessions."""

    @property
    def info(self) -> BackendInfo: ...

    def available(self) -> tuple[bool, str]:
        """Whether it can run on this machine, and why (not)."""
        ...

    def version(self) -> str:
        """The runtime's version."""
        ...

    def onnx_precision(self, precision: str) -> str:
        """The precision the ONNX graph must have for a run at ``precision``."""
        ...

    def open(self, model: Any, config: SessionConfig) -> Session:
        """Prepares ``model`` (ONNX path, or module if ``info.takes_module``) for timing."""
        ...


def backends() -> dict[str, Backend]:
    """Every backend by name, in ``auto``'s order of preference."""
    from ._ort import OrtBackend
    from ._tensorrt import TensorRTBackend
    from ._torch import TorchBackend
    from ._trtexec import TrtexecBackend

    found: Sequence[Backend] = (
        TensorRTBackend(),
        TrtexecBackend(),
        OrtBackend("tensorrt"),
        OrtBackend("cuda"),
        OrtBackend("cpu"),
        TorchBackend("cuda"),
        TorchBackend("cpu"),
    )
    return {backend.info.name: backend for backend in found}


def get_backend(name: str) -> Backend:
    """One backend by name.

    Raises:
        InputError: For an unknown name, listing the backends and close matches.
    """
    table = backends()
    if not isinstance(name, str) or name not in table:
        hint = did_you_mean(name, list(table)) if isinstance(name, str) else ""
        raise InputError(
            f"unknown backend {name!r}; choose auto or one of {', '.join(table)}." + hint,
            params=("backend",),
        )
    return table[name]


@dataclass(frozen=True)
class BackendChoice:
    """The backend that will run, and why the better ones will not.

    Attributes:
        name: The chosen backend.
        requested: What the caller asked for (``auto`` or a name).
        skipped: ``(backend, reason)`` for each better backend that is unavailable.
    """

    name: str
    requested: str
    skipped: tuple[tuple[str, str], ...] = ()

    @property
    def backend(self) -> Backend:
        """The chosen backend."""
        return get_backend(self.name)

    def explain(self) -> str:
        """One human-readable sentence."""
        if self.requested != "auto":
            return f"backend {self.name} (requested)"
        if not self.skipped:
            return f"backend {self.name} (auto: the best available)"
        why = "; ".join(f"{name}: {reason}" for name, reason in self.skipped)
        return f"backend {self.name} (auto; unavailable: {why})"


def choose_backend(requested: str = "auto") -> BackendChoice:
    """Resolves ``auto`` (or checks an explicit backend).

    Raises:
        InputError: Unknown backend name.
        EnvironmentProblem: The requested backend (or every backend) is unavailable.
    """
    if requested != "auto":
        ok, reason = get_backend(requested).available()
        if not ok:
            raise EnvironmentProblem(f"backend {requested} is unavailable: {reason}")
        return BackendChoice(requested, requested)
    skipped: list[tuple[str, str]] = []
    for backend in backends().values():
        if not backend.info.auto:
            continue
        ok, reason = backend.available()
        if ok:
            return BackendChoice(backend.info.name, "auto", tuple(skipped))
        skipped.append((backend.info.name, reason))
    raise EnvironmentProblem("no latency backend is available: " + "; ".join(f"{n}: {r}" for n, r in skipped))


def runtime_of(backend: str) -> str:
    """The runtime family of a backend name (``trtexec`` -> ``tensorrt``); unknown names are their own."""
    table = backends()
    return table[backend].info.runtime if backend in table else backend


def default_precision(backend: str) -> str:
    """FP16 on GPU backends (the paper's metric), FP32 on CPU backends."""
    return "fp16" if get_backend(backend).info.gpu else "fp32"


def device_for(backend: str, threads: int = 1) -> Device:
    """The device ``backend`` runs on, with the backend's version, provider and optimisation level."""
    chosen = get_backend(backend)
    info = chosen.info
    device = gpu_device() if info.gpu else cpu_device(threads)
    return device.with_backend(info.name, chosen.version(), provider=info.execution_provider, opt_level=info.opt_level)
