"""The TensorRT Python API backend (TensorRT 8.5+, 10.x and 11.x).

Build (``build_engine``): parse the ONNX file, build an FP16 or FP32 engine with a timing cache, and
cache the serialized engine on disk keyed by (ONNX hash, GPU, TensorRT version, precision, batch).
FP16 is version dependent:

* 8.x: explicit-batch network (``1 << EXPLICIT_BATCH``), ``BuilderFlag.FP16`` (weak typing);
* 10.x: flags ``0`` (explicit batch is implicit), ``BuilderFlag.FP16`` (weak typing; deprecated in 10.12);
* 11.x: every network is strongly typed and ``BuilderFlag.FP16`` no longer exists: FP16 must already
  be in the ONNX graph (``export_onnx(..., precision="fp16")``), and the build takes no flag.

Time (:class:`TrtSession`): device buffers from torch, ``set_tensor_address`` + ``execute_async_v3`` on
one stream, each run bracketed by CUDA events on that stream (never host time around the asynchronous
enqueue), optionally replayed from a CUDA graph; warm-up by count and time, then >= 1000 runs. The
session is built once and timed as often as needed (the LUT times each layer in several rounds).
:class:`TensorRTBackend` is the registry's ``tensorrt`` backend.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .._io import atomic_write_bytes, cache_dir, file_sha256
from ..errors import EnvironmentProblem, InputError, MissingDependencyError
from .registry import BackendInfo
from .stats import TimingPlan, TimingResult, run_timed

if TYPE_CHECKING:
    from .registry import SessionConfig


class EngineBuildError(EnvironmentProblem):
    """TensorRT could not parse the ONNX file or build an engine."""


def import_tensorrt() -> Any:
    """Imports ``tensorrt`` or raises :class:`MissingDependencyError` with how to get it."""
    try:
        import tensorrt
    except ImportError as exc:
        raise MissingDependencyError(
            "the tensorrt backend needs the 'tensorrt' Python package (pip install 'gpunet-hub[trt]' on a "
            "machine with NVIDIA's package index and a GPU); it is not installed"
        ) from exc
    return tensorrt


def version_tuple(trt: Any) -> tuple[int, int, int]:
    """``trt.__version__`` as ``(major, minor, patch)``."""
    parts = [int(p) for p in re.findall(r"\d+", str(trt.__version__))[:3]]
    return tuple(([*parts, 0, 0, 0])[:3])  # type: ignore[return-value]


def available() -> tuple[bool, str]:
    """Whether the backend can run here, and why not."""
    try:
        trt = import_tensorrt()
    except MissingDependencyError:
        return False, "the tensorrt Python package is not installed (and cannot be from PyPI alone)"
    from .device import cuda_available

    if not cuda_available():
        return False, f"tensorrt {trt.__version__} is installed but no CUDA GPU is visible"
    if not hasattr(trt.IExecutionContext, "execute_async_v3"):
        return False, f"tensorrt {trt.__version__} predates execute_async_v3 (8.5); use trtexec"
    return True, f"tensorrt {trt.__version__}"


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9.]+", "-", text).strip("-")


def engine_key(onnx_hash: str, gpu_name: str, trt_version: str, precision: str, batch: int) -> str:
    """The engine cache key: (ONNX hash, GPU, TensorRT version, precision, batch)."""
    text = f"{onnx_hash}|{gpu_name}|{trt_version}|{precision}|{batch}"
    return hashlib.sha256(text.encode()).hexdigest()[:32]


@dataclass(frozen=True)
class EngineBuild:
    """A built (or cached) engine.

    Attributes:
        plan: The serialized engine.
        path: Its file in the engine cache.
        cached: Whether it came from the cache.
        trt_version: TensorRT version that built it.
        precision: ``fp16`` or ``fp32``.
        typing: ``weak`` (builder flag) or ``strong`` (types from the graph).
        timing_cache: The timing cache file used.
        builder_optimization_level: The builder's optimisation level, if the API exposes it.
        workspace_mib: The builder workspace limit.
    """

    plan: bytes
    path: Path
    cached: bool
    trt_version: str
    precision: str
    typing: str
    timing_cache: Path
    builder_optimization_level: int | None
    workspace_mib: int = 4096


def _network_flags(trt: Any, major: int) -> int:
    if major < 10:
        return 1 << int(trt.NetworkDefinitionCreationFlag.EXPLICIT_BATCH)
    return 0


def _parse(trt: Any, network: Any, logger: Any, onnx_path: Path) -> None:
    parser = trt.OnnxParser(network, logger)
    if not parser.parse_from_file(str(onnx_path)):
        errors = "; ".join(str(parser.get_error(i)) for i in range(parser.num_errors))
        raise EngineBuildError(f"TensorRT could not parse {onnx_path}: {errors or 'unknown error'}")


def _add_profile(trt: Any, builder: Any, network: Any, config: Any, batch: int) -> None:
    """Adds a fixed-shape optimisation profile when the ONNX batch dimension is dynamic."""
    dynamic = False
    profile = builder.create_optimization_profile()
    for i in range(network.num_inputs):
        tensor = network.get_input(i)
        shape = tuple(tensor.shape)
        if any(d < 0 for d in shape):
            dynamic = True
            fixed = tuple(batch if j == 0 and d < 0 else d for j, d in enumerate(shape))
            if any(d < 0 for d in fixed):
                raise InputError(f"input {tensor.name} has dynamic dims beyond the batch: {shape}")
            profile.set_shape(tensor.name, fixed, fixed, fixed)
    if dynamic:
        config.add_optimization_profile(profile)


def build_engine(
    onnx_path: str | Path,
    *,
    precision: str = "fp16",
    batch: int = 1,
    gpu_name: str,
    workspace_mib: int = 4096,
    cache_root: str | Path | None = None,
    trt: Any = None,
) -> EngineBuild:
    """Builds (or loads from the engine cache) a TensorRT engine for an ONNX file.

    Args:
        onnx_path: The ONNX model.
        precision: ``fp16`` or ``fp32``.
        batch: Batch size (fixes a dynamic batch dimension).
        gpu_name: The GPU the engine is for (part of the cache keys).
        workspace_mib: Builder workspace limit.
        cache_root: Folder of the engine and timing caches (default: the user cache, ``tensorrt/``).
        trt: The ``tensorrt`` module (default: imported).

    Raises:
        InputError: FP16 on TensorRT 11 with an FP32 graph; bad precision.
        EngineBuildError: Parse or build failure.
    """
    if precision not in ("fp16", "fp32"):
        raise InputError(f"precision must be fp16 or fp32, got {precision!r}")
    trt = trt or import_tensorrt()
    major = version_tuple(trt)[0]
    version = str(trt.__version__)
    onnx_path = Path(onnx_path)
    root = Path(cache_root) if cache_root is not None else cache_dir("tensorrt")
    engine_path = root / "engines" / f"{engine_key(file_sha256(onnx_path), gpu_name, version, precision, batch)}.plan"
    timing_path = root / f"timing-{_slug(gpu_name)}-trt{version}.cache"
    typing = "strong" if major >= 11 else "weak"
    if engine_path.exists():
        return EngineBuild(
            engine_path.read_bytes(), engine_path, True, version, precision, typing, timing_path, None, workspace_mib
        )

    logger = trt.Logger(trt.Logger.WARNING)
    builder = trt.Builder(logger)
    network = builder.create_network(_network_flags(trt, major))
    _parse(trt, network, logger, onnx_path)
    config = builder.create_builder_config()
    if hasattr(config, "set_memory_pool_limit"):
        config.set_memory_pool_limit(trt.MemoryPoolType.WORKSPACE, int(workspace_mib) << 20)
    else:  # TensorRT 8.0-8.3
        config.max_workspace_size = int(workspace_mib) << 20
    if precision == "fp16":
        if major >= 11:
            if network.num_inputs and network.get_input(0).dtype != trt.DataType.HALF:
                raise InputError(
                    f"TensorRT {version} is strongly typed and has no FP16 builder flag: export an FP16 "
                    "ONNX graph (export_onnx(..., precision='fp16')) to build an FP16 engine"
                )
        else:
            config.set_flag(trt.BuilderFlag.FP16)
    _add_profile(trt, builder, network, config, batch)
    cache_bytes = timing_path.read_bytes() if timing_path.exists() else b""
    timing_cache = config.create_timing_cache(cache_bytes)
    config.set_timing_cache(timing_cache, ignore_mismatch=False)
    plan = builder.build_serialized_network(network, config)
    if plan is None:
        raise EngineBuildError(f"TensorRT {version} failed to build an engine for {onnx_path} ({precision})")
    data = bytes(plan)
    atomic_write_bytes(timing_path, bytes(config.get_timing_cache().serialize()))
    atomic_write_bytes(engine_path, data)
    level = getattr(config, "builder_optimization_level", None)
    return EngineBuild(data, engine_path, False, version, precision, typing, timing_path, level, workspace_mib)


_TORCH_DTYPES = {
    "FLOAT": "float32",
    "HALF": "float16",
    "INT32": "int32",
    "INT8": "int8",
    "BOOL": "bool",
    "BF16": "bfloat16",
}


def _torch_dtype(trt_dtype: Any) -> Any:
    import torch

    name = getattr(trt_dtype, "name", str(trt_dtype)).split(".")[-1]
    if name not in _TORCH_DTYPES:
        raise InputError(f"unsupported TensorRT tensor type {name}")
    return getattr(torch, _TORCH_DTYPES[name])


class TrtSession:
    """A deserialized engine with device buffers, one stream and (optionally) a CUDA graph.

    Each :meth:`time` brackets every launch with CUDA events on the session's stream (GPU compute
    time, no copies, never host time around the asynchronous enqueue).

    Args:
        built: The engine (from :func:`build_engine`).
        batch: Batch size of a dynamic batch dimension.
        cuda_graph: Replay the launch from a CUDA graph.
        trt: The ``tensorrt`` module (default: imported).

    Raises:
        EnvironmentProblem: No CUDA GPU.
        EngineBuildError: The engine does not deserialize.
    """

    def __init__(self, built: EngineBuild, *, batch: int = 1, cuda_graph: bool = True, trt: Any = None) -> None:
        import torch

        if not torch.cuda.is_available():
            raise EnvironmentProblem("timing a TensorRT engine needs a CUDA GPU; none is visible")
        trt = trt or import_tensorrt()
        self.built, self.cuda_graph = built, cuda_graph
        logger = trt.Logger(trt.Logger.WARNING)
        self._engine = trt.Runtime(logger).deserialize_cuda_engine(built.plan)
        if self._engine is None:
            raise EngineBuildError("TensorRT could not deserialize the engine (built by another version or GPU?)")
        engine = self._engine
        context = engine.create_execution_context()
        for i in range(engine.num_io_tensors):
            name = engine.get_tensor_name(i)
            if engine.get_tensor_mode(name) == trt.TensorIOMode.INPUT:
                shape = tuple(engine.get_tensor_shape(name))
                if any(d < 0 for d in shape):
                    shape = tuple(batch if j == 0 and d < 0 else d for j, d in enumerate(shape))
                    context.set_input_shape(name, shape)
        self._buffers = []
        for i in range(engine.num_io_tensors):
            name = engine.get_tensor_name(i)
            shape = tuple(context.get_tensor_shape(name))
            buffer = torch.empty(shape, dtype=_torch_dtype(engine.get_tensor_dtype(name)), device="cuda")
            if engine.get_tensor_mode(name) == trt.TensorIOMode.INPUT and buffer.is_floating_point():
                buffer.normal_()
            self._buffers.append(buffer)
            context.set_tensor_address(name, buffer.data_ptr())
        self._context = context
        self._stream = torch.cuda.Stream()

        def enqueue() -> None:
            context.execute_async_v3(self._stream.cuda_stream)

        self._step: Callable[[], None] = enqueue
        with torch.cuda.stream(self._stream):
            enqueue()  # the first launch finishes shape-dependent setup before any capture
            self._stream.synchronize()
            if cuda_graph:
                self._graph = torch.cuda.CUDAGraph()
                with torch.cuda.graph(self._graph, stream=self._stream):
                    enqueue()
                self._step = self._graph.replay

    def time(self, plan: TimingPlan) -> TimingResult:
        """Warms up and times the engine per ``plan``."""
        import torch

        stream, step = self._stream, self._step
        start = torch.cuda.Event(enable_timing=True)
        end = torch.cuda.Event(enable_timing=True)

        def timer(_: Callable[[], Any]) -> float:
            # Events on the same stream bracket the launch only; no host sync in between.
            start.record(stream)
            step()
            end.record(stream)
            end.synchronize()
            return float(start.elapsed_time(end))

        def warm_step() -> None:
            step()
            stream.synchronize()

        with torch.cuda.stream(stream):
            times, warm = run_timed(warm_step, plan, timer=timer)
        built = self.built
        return TimingResult(
            times_ms=tuple(times),
            backend="tensorrt",
            backend_version=built.trt_version,
            warmup_runs=warm,
            settings={
                "precision": built.precision,
                "typing": built.typing,
                "cuda_graph": self.cuda_graph,
                "data_transfers": False,
                "timer": "cuda events around execute_async_v3",
                "engine_cached": built.cached,
                "engine": str(built.path),
                "timing_cache": str(built.timing_cache),
                "workspace_mib": built.workspace_mib,
                "builder_optimization_level": built.builder_optimization_level,
            },
        )

    def close(self) -> None:
        """Frees the graph, buffers, context and engine."""
        self._step = _closed
        for attr in ("_graph", "_buffers", "_context", "_engine"):
            if hasattr(self, attr):
                delattr(self, attr)


def _closed() -> None:
    raise InputError("this TensorRT session is closed; open a new one")


def measure(
    onnx_path: str | Path,
    *,
    precision: str = "fp16",
    batch: int = 1,
    gpu_name: str,
    timing: TimingPlan | None = None,
    cuda_graph: bool = True,
    workspace_mib: int = 4096,
    cache_root: str | Path | None = None,
) -> TimingResult:
    """Builds (or loads) the engine and times it once: the full TensorRT backend in one call."""
    built = build_engine(
        onnx_path,
        precision=precision,
        batch=batch,
        gpu_name=gpu_name,
        workspace_mib=workspace_mib,
        cache_root=cache_root,
    )
    session = TrtSession(built, batch=batch, cuda_graph=cuda_graph)
    try:
        return session.time(timing or TimingPlan.gpu())
    finally:
        session.close()


def graph_precision(precision: str, major: int | None) -> str:
    """The ONNX graph's precision for a TensorRT run: FP16 must be in the graph from TensorRT 11 on
    (strongly typed, no FP16 builder flag or ``--fp16``); older versions cast an FP32 graph."""
    return "fp16" if precision == "fp16" and major is not None and major >= 11 else "fp32"


def _major() -> int | None:
    try:
        return version_tuple(import_tensorrt())[0]
    except EnvironmentProblem:
        return None


@dataclass(frozen=True)
class TensorRTBackend:
    """The TensorRT Python API as a registry backend (engine build + CUDA-event timing).

    Attributes:
        workspace_mib: Builder workspace limit.
        cache_root: Folder of the engine and timing caches (default: the user cache).
    """

    workspace_mib: int = 4096
    cache_root: str | None = None
    info: BackendInfo = field(default=BackendInfo("tensorrt", "tensorrt", gpu=True), init=False)

    def available(self) -> tuple[bool, str]:
        return available()

    def version(self) -> str:
        return str(import_tensorrt().__version__)

    def onnx_precision(self, precision: str) -> str:
        return graph_precision(precision, _major())

    def open(self, model: str | Path, config: SessionConfig) -> TrtSession:
        """Builds (or loads from the cache) the engine of the ONNX file ``model`` and prepares it for timing."""
        import torch

        built = build_engine(
            model,
            precision=config.precision,
            batch=config.batch,
            gpu_name=torch.cuda.get_device_name(0),
            workspace_mib=self.workspace_mib,
            cache_root=self.cache_root,
        )
        return TrtSession(built, batch=config.batch, cuda_graph=config.cuda_graph)
