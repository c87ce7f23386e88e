"""onnxruntime latency backend (CPU, CUDA and TensorRT execution providers).

Through the registry (:mod:`gpunet_hub.measure.registry`) the backends are ``onnxruntime-cpu``,
``onnxruntime-cuda`` and ``onnxruntime-tensorrt`` (:class:`OrtBackend`); ``open(path, config)`` gives an
:class:`OrtSession` whose ``time(plan)`` can be called repeatedly. The functions below are the same
machinery for direct use:

* ``create_session(path, *, provider="cpu", threads=1, graph_optimization="all",
  provider_options=None) -> onnxruntime.InferenceSession``: one session with fixed threads
  (``intra_op_num_threads=threads``, ``inter_op_num_threads=1``, sequential execution).
* ``time_onnx(path_or_session, *, threads=1, provider="cpu", warmup=20, warmup_seconds=0.0,
  min_runs=100, min_seconds=0.0, max_runs=None, max_seconds=60.0, plan=None, seed=0) ->
  TimingResult``: per-run times (``result.times_ms``, ms, warm-up excluded) of ``session.run`` on
  one fixed random input; ``result.summary`` has median/mean/p90/p99/std/CV.

Timing is a Python loop around ``session.run`` with ``time.perf_counter_ns`` (the pip wheel ships no
``onnxruntime_perf_test``). Inputs are built once; on GPU
providers inputs and outputs are bound to device memory once with ``io_binding`` so copies stay out of
the timed call. ``graph_optimization="all"`` (ORT_ENABLE_ALL) is what ORT would run in production, so
the latency is that of the optimised graph.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any

from ..errors import EnvironmentProblem, InputError, require
from .registry import BackendInfo
from .stats import TimingPlan, TimingResult, run_timed

if TYPE_CHECKING:
    from .registry import SessionConfig

PROVIDERS = {
    "cpu": "CPUExecutionProvider",
    "cuda": "CUDAExecutionProvider",
    "tensorrt": "TensorrtExecutionProvider",
}
GRAPH_OPTIMIZATION = {
    "disable": "ORT_DISABLE_ALL",
    "basic": "ORT_ENABLE_BASIC",
    "extended": "ORT_ENABLE_EXTENDED",
    "all": "ORT_ENABLE_ALL",
}
_DTYPES = {"tensor(float)": "float32", "tensor(float16)": "float16", "tensor(double)": "float64"}


class ProviderUnavailableError(EnvironmentProblem):
    """The requested execution provider is not in this onnxruntime build."""


def _ort() -> ModuleType:
    return require("onnxruntime", "onnx", "the onnxruntime backend")


def available_providers() -> list[str]:
    """Short names (``cpu``, ``cuda``, ``tensorrt``) of the providers this onnxruntime build has."""
    have = set(_ort().get_available_providers())
    return [short for short, full in PROVIDERS.items() if full in have]


def backend_name(provider: str) -> str:
    """The record's backend label for a provider: ``onnxruntime-cpu`` and so on."""
    return f"onnxruntime-{provider}"


def create_session(
    path: str | Path,
    *,
    provider: str = "cpu",
    threads: int = 1,
    graph_optimization: str = "all",
    provider_options: dict[str, Any] | None = None,
) -> Any:
    """Creates an ``InferenceSession`` with fixed threading, sequential execution and one provider.

    Args:
        path: ONNX file.
        provider: ``cpu``, ``cuda`` or ``tensorrt`` (the GPU ones fall back to nothing: a missing
            provider is an error, not a silent CPU run).
        threads: ``intra_op_num_threads`` (1 gives the most stable CPU numbers on small machines).
        graph_optimization: ``disable``, ``basic``, ``extended`` or ``all``.
        provider_options: Options of the provider (e.g. ``{"trt_fp16_enable": True}``).

    Raises:
        InputError: Unknown provider, optimisation level or thread count.
        ProviderUnavailableError: The provider is not in this onnxruntime build.
    """
    ort = _ort()
    if provider not in PROVIDERS:
        raise InputError(
            f"unknown onnxruntime provider {provider!r}; choose one of {', '.join(PROVIDERS)}", params=("provider",)
        )
    if graph_optimization not in GRAPH_OPTIMIZATION:
        raise InputError(
            f"unknown graph optimisation {graph_optimization!r}; choose one of {', '.join(GRAPH_OPTIMIZATION)}",
            params=("graph_optimization",),
        )
    if int(threads) < 1:
        raise InputError(f"threads must be >= 1, got {threads!r}", params=("threads",))
    if provider not in available_providers():
        raise ProviderUnavailableError(
            f"onnxruntime {ort.__version__} has no {PROVIDERS[provider]} (available: "
            f"{', '.join(ort.get_available_providers())}); GPU providers need the onnxruntime-gpu package and a GPU"
        )
    options = ort.SessionOptions()
    options.intra_op_num_threads = int(threads)
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.graph_optimization_level = getattr(ort.GraphOptimizationLevel, GRAPH_OPTIMIZATION[graph_optimization])
    providers: list[Any] = [(PROVIDERS[provider], dict(provider_options or {}))]
    return ort.InferenceSession(str(path), options, providers=providers)


def random_inputs(session: Any, *, seed: int = 0, batch_size: int | None = None) -> dict[str, Any]:
    """One random array per graph input (symbolic dims become ``batch_size`` or 1)."""
    import numpy as np

    rng = np.random.default_rng(seed)
    feeds = {}
    for arg in session.get_inputs():
        shape = [d if isinstance(d, int) and d > 0 else (batch_size or 1) for d in arg.shape]
        dtype = _DTYPES.get(arg.type)
        if dtype is None:
            raise InputError(f"input {arg.name!r} has type {arg.type}; only float inputs are supported")
        feeds[arg.name] = rng.standard_normal(shape).astype(dtype)
    return feeds


def _session_step(session: Any, feeds: dict[str, Any], provider: str) -> Any:
    """A zero-argument callable running the session once (io_binding on GPU providers)."""
    if provider == "cpu":
        outputs = [o.name for o in session.get_outputs()]
        return lambda: session.run(outputs, feeds)
    ort = _ort()
    binding = session.io_binding()
    for name, array in feeds.items():
        binding.bind_ortvalue_input(name, ort.OrtValue.ortvalue_from_numpy(array, "cuda", 0))
    for out in session.get_outputs():
        binding.bind_output(out.name, "cuda", 0)

    def step() -> None:
        session.run_with_iobinding(binding)  # synchronises the stream before returning

    return step


def session_settings(session: Any, *, provider: str, threads: int, graph_optimization: str) -> dict[str, Any]:
    """The effective settings of a session, for the record."""
    inputs = session.get_inputs()
    precision = "fp16" if any(i.type == "tensor(float16)" for i in inputs) else "fp32"
    settings: dict[str, Any] = {
        "provider": PROVIDERS[provider],
        "threads": threads,
        "inter_op_threads": 1,
        "execution_mode": "sequential",
        "graph_optimization": graph_optimization,
        "precision": precision,
        "io_binding": provider != "cpu",
        "data_transfers": False if provider != "cpu" else "n/a (host memory)",
    }
    if provider == "tensorrt":
        opts = session.get_provider_options().get(PROVIDERS[provider], {})
        fp16 = str(opts.get("trt_fp16_enable", "0")) in ("1", "True", "true")
        settings["precision"] = "fp16" if fp16 or precision == "fp16" else "fp32"
        settings["typing"] = "weak" if fp16 else "strong"
        settings["cuda_graph"] = str(opts.get("trt_cuda_graph_enable", "0")) in ("1", "True", "true")
    else:
        settings["cuda_graph"] = False
    return settings


def time_onnx(
    path_or_session: str | Path | Any,
    *,
    threads: int = 1,
    provider: str = "cpu",
    graph_optimization: str = "all",
    provider_options: dict[str, Any] | None = None,
    warmup: int = 20,
    warmup_seconds: float = 0.0,
    min_runs: int = 100,
    min_seconds: float = 0.0,
    max_runs: int | None = None,
    max_seconds: float | None = 60.0,
    plan: TimingPlan | None = None,
    batch_size: int | None = None,
    seed: int = 0,
) -> TimingResult:
    """Times ``session.run`` on one ONNX model.

    Args:
        path_or_session: ONNX file, or a session from :func:`create_session` (then ``provider``,
            ``threads`` and ``graph_optimization`` must describe it; they label the result).
        threads: Intra-op threads of a new session.
        provider: ``cpu``, ``cuda`` or ``tensorrt``.
        graph_optimization: ``disable``, ``basic``, ``extended`` or ``all``.
        provider_options: Provider options of a new session.
        warmup: Untimed warm-up runs (at least).
        warmup_seconds: Minimum warm-up duration.
        min_runs: Minimum timed runs.
        min_seconds: Minimum timed duration.
        max_runs: Cap on timed runs.
        max_seconds: Cap on timed duration.
        plan: A full :class:`TimingPlan`; overrides the six counts above.
        batch_size: Size of symbolic (dynamic) dimensions of the inputs.
        seed: Seed of the random input.

    Returns:
        Per-run times in ms and the effective settings.
    """
    if isinstance(path_or_session, (str, Path)):
        session = create_session(
            path_or_session,
            provider=provider,
            threads=threads,
            graph_optimization=graph_optimization,
            provider_options=provider_options,
        )
    else:
        session = path_or_session
    plan = plan or TimingPlan(
        warmup_runs=warmup,
        warmup_seconds=warmup_seconds,
        min_runs=min_runs,
        min_seconds=min_seconds,
        max_runs=max_runs,
        max_seconds=max_seconds,
    )
    timed = OrtSession(
        session,
        provider=provider,
        threads=threads,
        graph_optimization=graph_optimization,
        batch_size=batch_size,
        seed=seed,
    )
    return timed.time(plan)


class OrtSession:
    """An onnxruntime session with its random input bound once, timed as often as needed.

    Args:
        session: An ``InferenceSession`` (from :func:`create_session`).
        provider: Its provider's short name (labels the result).
        threads: Its intra-op threads (labels the result).
        graph_optimization: Its optimisation level (labels the result).
        batch_size: Size of symbolic (dynamic) input dimensions.
        seed: Seed of the random input.
    """

    def __init__(
        self,
        session: Any,
        *,
        provider: str = "cpu",
        threads: int = 1,
        graph_optimization: str = "all",
        batch_size: int | None = None,
        seed: int = 0,
    ) -> None:
        self.session = session
        self.settings = session_settings(
            session, provider=provider, threads=threads, graph_optimization=graph_optimization
        )
        self._backend = backend_name(provider)
        self._version = str(_ort().__version__)
        self._step = _session_step(session, random_inputs(session, seed=seed, batch_size=batch_size), provider)

    def time(self, plan: TimingPlan) -> TimingResult:
        """Warms up and times ``session.run`` per ``plan``."""
        times, warm = run_timed(self._step, plan)
        return TimingResult(
            times_ms=tuple(times),
            backend=self._backend,
            backend_version=self._version,
            warmup_runs=warm,
            settings=dict(self.settings),
        )

    def close(self) -> None:
        """Drops the session (onnxruntime frees it with the last reference)."""
        self._step = _closed
        self.session = None


def _closed() -> None:
    raise InputError("this timing session is closed; open a new one")


@dataclass(frozen=True)
class OrtBackend:
    """onnxruntime with one execution provider, as a registry backend.

    Attributes:
        provider: ``cpu``, ``cuda`` or ``tensorrt``.
        graph_optimization: ``disable``, ``basic``, ``extended`` or ``all``.
    """

    provider: str = "cpu"
    graph_optimization: str = "all"

    @property
    def info(self) -> BackendInfo:
        return BackendInfo(
            backend_name(self.provider),
            "onnxruntime",
            gpu=self.provider != "cpu",
            execution_provider=PROVIDERS[self.provider],
            opt_level=GRAPH_OPTIMIZATION[self.graph_optimization],
        )

    def available(self) -> tuple[bool, str]:
        """Whether this onnxruntime build has the provider (and a GPU for the GPU providers)."""
        try:
            have = available_providers()
        except EnvironmentProblem as exc:
            return False, str(exc)
        if self.provider not in have:
            return False, f"onnxruntime has no {PROVIDERS[self.provider]} here (providers: {', '.join(have)})"
        from .device import cuda_available

        if self.provider != "cpu" and not cuda_available():
            return False, "no CUDA GPU is visible"
        return True, f"onnxruntime provider {PROVIDERS[self.provider]}"

    def version(self) -> str:
        return str(_ort().__version__)

    def onnx_precision(self, precision: str) -> str:
        """FP16 goes into the graph, except for the TensorRT provider, whose ``trt_fp16_enable`` casts."""
        return "fp16" if precision == "fp16" and self.provider != "tensorrt" else "fp32"

    def open(self, model: str | Path, config: SessionConfig) -> OrtSession:
        """A session on the ONNX file ``model`` with ``config``'s threads and batch."""
        options = None
        if self.provider == "tensorrt":
            options = {"trt_fp16_enable": config.precision == "fp16", "trt_cuda_graph_enable": config.cuda_graph}
        session = create_session(
            model,
            provider=self.provider,
            threads=config.threads,
            graph_optimization=self.graph_optimization,
            provider_options=options,
        )
        return OrtSession(
            session,
            provider=self.provider,
            threads=config.threads,
            graph_optimization=self.graph_optimization,
            batch_size=config.batch,
            seed=config.seed,
        )


__all__ = [
    "GRAPH_OPTIMIZATION",
    "PROVIDERS",
    "OrtBackend",
    "OrtSession",
    "ProviderUnavailableError",
    "available_providers",
    "backend_name",
    "create_session",
    "random_inputs",
    "session_settings",
    "time_onnx",
]
