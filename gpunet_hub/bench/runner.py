"""Choosing a backend and benchmarking one model end to end (export, build, time, record).

``--backend auto`` takes the best available backend, in the order of the paper's metric: the
TensorRT Python API, trtexec, onnxruntime with the TensorRT or CUDA provider, onnxruntime CPU. It
reports which one it picked and why each better one was unavailable.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .._io import cache_dir
from ..errors import EnvironmentProblem, InputError
from .device import Device, cpu_device, cuda_available, gpu_device
from .record import BenchRecord
from .stats import TimingPlan, TimingResult

BACKENDS = (
    "tensorrt",
    "trtexec",
    "onnxruntime-tensorrt",
    "onnxruntime-cuda",
    "onnxruntime-cpu",
    "torch-cuda",
    "torch-cpu",
)
AUTO_ORDER = ("tensorrt", "trtexec", "onnxruntime-tensorrt", "onnxruntime-cuda", "onnxruntime-cpu")
GPU_BACKENDS = {"tensorrt", "trtexec", "onnxruntime-tensorrt", "onnxruntime-cuda", "torch-cuda"}
OPSET = 17


def backend_available(name: str) -> tuple[bool, str]:
    """Whether a backend can run on this machine, and why not."""
    if name == "tensorrt":
        from . import tensorrt

        return tensorrt.available()
    if name == "trtexec":
        from . import trtexec

        return trtexec.available()
    if name.startswith("onnxruntime-"):
        try:
            from . import ort

            have = ort.available_providers()
        except EnvironmentProblem as exc:
            return False, str(exc)
        provider = name.split("-", 1)[1]
        if provider not in have:
            return False, f"onnxruntime has no {ort.PROVIDERS[provider]} here (providers: {', '.join(have)})"
        if provider != "cpu" and not cuda_available():
            return False, "no CUDA GPU is visible"
        return True, f"onnxruntime provider {ort.PROVIDERS[provider]}"
    if name == "torch-cuda":
        return (True, "CUDA GPU visible to torch") if cuda_available() else (False, "no CUDA GPU is visible to torch")
    if name == "torch-cpu":
        return True, "eager PyTorch on CPU"
    raise InputError(f"unknown backend {name!r}; choose auto or one of {', '.join(BACKENDS)}")


@dataclass(frozen=True)
class BackendChoice:
    """The backend that will run, and why the better ones will not.

    Attributes:
        name: The chosen backend.
        requested: What the user asked for (``auto`` or a name).
        skipped: ``(backend, reason)`` for each better backend that is unavailable.
    """

    name: str
    requested: str
    skipped: tuple[tuple[str, str], ...] = ()

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
        ok, reason = backend_available(requested)
        if not ok:
            raise EnvironmentProblem(f"backend {requested} is unavailable: {reason}")
        return BackendChoice(requested, requested)
    skipped = []
    for name in AUTO_ORDER:
        ok, reason = backend_available(name)
        if ok:
            return BackendChoice(name, "auto", tuple(skipped))
        skipped.append((name, reason))
    raise EnvironmentProblem("no latency backend is available: " + "; ".join(f"{n}: {r}" for n, r in skipped))


def default_precision(backend: str) -> str:
    """FP16 on GPU backends (the paper's metric), FP32 on CPU backends."""
    return "fp16" if backend in GPU_BACKENDS else "fp32"


def device_for(backend: str, threads: int) -> Device:
    """The device a backend runs on."""
    return gpu_device() if backend in GPU_BACKENDS else cpu_device(threads)


@dataclass(frozen=True)
class BenchConfig:
    """Settings shared by every model of one bench run.

    Attributes:
        backend: A concrete backend name (see :data:`BACKENDS`).
        precision: ``fp16`` or ``fp32``.
        batch: Batch size.
        threads: CPU intra-op threads (onnxruntime-cpu, torch-cpu).
        plan: Warm-up and run counts.
        onnx_dir: Where exported ONNX files are kept (default: the user cache, ``onnx/``).
        cuda_graph: TensorRT/trtexec: launch through a CUDA graph.
    """

    backend: str
    precision: str
    batch: int = 1
    threads: int = 1
    plan: TimingPlan = field(default_factory=TimingPlan.cpu)
    onnx_dir: Path | None = None
    cuda_graph: bool = True


def _onnx_precision(config: BenchConfig) -> str:
    """FP16 goes into the graph for strongly typed TensorRT (11+), onnxruntime and fp16 ORT runs."""
    if config.precision != "fp16":
        return "fp32"
    if config.backend in ("tensorrt", "trtexec"):
        major = _trt_major(config.backend)
        return "fp16" if major is not None and major >= 11 else "fp32"
    if config.backend == "onnxruntime-tensorrt":
        return "fp32"  # the provider's trt_fp16_enable does the cast (weak typing)
    return "fp16"


def _trt_major(backend: str) -> int | None:
    try:
        if backend == "tensorrt":
            from .tensorrt import import_tensorrt, version_tuple

            return version_tuple(import_tensorrt())[0]
        from .trtexec import detect_version, find_trtexec

        binary = find_trtexec()
        return detect_version(binary).major if binary else None
    except EnvironmentProblem:
        return None


def export_cached(model: Any, key: str, input_size: tuple[int, ...], config: BenchConfig, fingerprint: str) -> Path:
    """Exports ``model`` to ONNX once per (key, fingerprint, batch, precision); later runs reuse the file."""
    from .. import __version__
    from ..export import export_onnx

    precision = _onnx_precision(config)
    digest = hashlib.sha256(f"{__version__}|{fingerprint}|{input_size}".encode()).hexdigest()[:12]
    folder = config.onnx_dir or cache_dir("onnx")
    path = Path(folder) / f"{key.replace(':', '-')}-b{config.batch}-{precision}-opset{OPSET}-{digest}.onnx"
    if not path.exists():
        export_onnx(model, path, batch_size=config.batch, opset=OPSET, input_size=input_size, precision=precision)
    return path


def time_backend(onnx_path: Path, module: Any, input_shape: tuple[int, ...], config: BenchConfig, device: Device) -> TimingResult:
    """Runs the configured backend on one exported model."""
    backend = config.backend
    if backend.startswith("onnxruntime-"):
        from . import ort

        provider = backend.split("-", 1)[1]
        options = {"trt_fp16_enable": config.precision == "fp16", "trt_cuda_graph_enable": config.cuda_graph} if provider == "tensorrt" else None
        return ort.time_onnx(onnx_path, provider=provider, threads=config.threads, provider_options=options, plan=config.plan)
    if backend == "tensorrt":
        from . import tensorrt

        return tensorrt.measure(
            onnx_path, precision=config.precision, batch=config.batch, gpu_name=device.name, timing=config.plan, cuda_graph=config.cuda_graph
        )
    if backend == "trtexec":
        from . import trtexec

        options = trtexec.TrtexecOptions(
            precision=config.precision,
            iterations=max(config.plan.min_runs, 1),
            warmup_ms=int(max(config.plan.warmup_seconds * 1000, 1)),
            cuda_graph=config.cuda_graph,
            timing_cache=str(cache_dir("tensorrt") / "trtexec-timing.cache"),
        )
        return trtexec.run(onnx_path, options)
    if backend.startswith("torch-"):
        from . import torch_eager

        return torch_eager.time_module(
            module, input_shape, device=backend.split("-", 1)[1], precision=config.precision, threads=config.threads, plan=config.plan
        )
    raise InputError(f"unknown backend {backend!r}")


@dataclass(frozen=True)
class Target:
    """A model to benchmark.

    Attributes:
        name: Display name (hub name, or ``timm:<name>``).
        kind: ``hub`` or ``baseline``.
        build: Returns the module (eval mode).
        input_size: Per-sample input shape.
        fingerprint: Identifies the architecture for the ONNX cache.
    """

    name: str
    kind: str
    build: Callable[[], Any]
    input_size: tuple[int, ...]
    fingerprint: str


def hub_target(name: str) -> Target:
    """A hub model (random weights: latency does not depend on them)."""
    from ..export import resolve_module
    from ..hub import model_card, resolve_name

    canonical = resolve_name(name)
    card = model_card(canonical)
    return Target(canonical, "hub", lambda: resolve_module(canonical), tuple(card.pretrained_cfg["input_size"]), card.arch.to_json())


def baseline_target(name: str) -> Target:
    """A timm baseline from the paper's Table 3."""
    from .baselines import create_baseline, get_baseline, input_size

    baseline = get_baseline(name)
    return Target(f"timm:{baseline.name}", "baseline", lambda: create_baseline(baseline.name), input_size(baseline.name), f"timm:{baseline.name}")


def bench_target(
    target: Target, config: BenchConfig, *, device: Device | None = None, on_stage: Callable[[str], None] | None = None
) -> BenchRecord:
    """Exports (or reuses), builds and times one model; returns its record.

    Args:
        target: The model.
        config: Backend, precision, batch, threads and timing plan.
        device: The device (default: the backend's).
        on_stage: Called with ``"export"``, ``"time"`` as the work progresses (progress bars).
    """
    device = device or device_for(config.backend, config.threads)
    stage = on_stage or (lambda _: None)
    input_shape = (config.batch, *target.input_size)
    stage("build")
    module = target.build()
    onnx_path = None
    if not config.backend.startswith("torch-"):
        stage("export")
        onnx_path = export_cached(module, target.name, target.input_size, config, target.fingerprint)
    stage("time")
    timing = time_backend(onnx_path, module, input_shape, config, device)  # type: ignore[arg-type]
    precision = timing.settings.get("precision", config.precision)
    return BenchRecord.from_timing(target.name, timing, kind=target.kind, input_shape=input_shape, precision=precision, device=device)
