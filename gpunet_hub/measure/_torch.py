"""Eager PyTorch latency: the reference a user would otherwise measure.

On a GPU each run is timed with CUDA events on the current stream (``torch.cuda.Event``), which
measures device time rather than the asynchronous launch; on the CPU with the host clock under
``torch.inference_mode``. ``torch.set_num_threads`` is set for each timing and restored afterwards.

Through the registry the backends are ``torch-cpu`` and ``torch-cuda`` (:class:`TorchBackend`); they
take the module itself, not an ONNX file.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ..errors import EnvironmentProblem, InputError
from .registry import BackendInfo
from .stats import TimingPlan, TimingResult, run_timed

if TYPE_CHECKING:
    from .registry import SessionConfig

DEVICES = ("cpu", "cuda")


def backend_name(device: str) -> str:
    """``torch-cpu`` or ``torch-cuda``."""
    return f"torch-{device}"


def _cuda_event_timer() -> Callable[[Callable[[], Any]], float]:
    import torch

    start = torch.cuda.Event(enable_timing=True)
    end = torch.cuda.Event(enable_timing=True)

    def timer(fn: Callable[[], Any]) -> float:
        start.record()
        fn()
        end.record()
        end.synchronize()
        return float(start.elapsed_time(end))

    return timer


class TorchSession:
    """A module on its device with one fixed random input, timed as often as needed.

    Args:
        module: The network (moved to ``device`` and put in eval mode; :meth:`close` restores
            its train/eval mode).
        input_shape: Full input shape, batch first.
        device: ``cpu`` or ``cuda``.
        precision: ``fp32`` or ``fp16`` (``fp16`` needs CUDA).
        threads: ``torch.set_num_threads`` during each timing (CPU intra-op threads).
        seed: Seed of the random input.

    Raises:
        EnvironmentProblem: ``cuda`` requested without a GPU.
        InputError: Unknown device or precision, or fp16 on CPU.
    """

    def __init__(
        self,
        module: Any,
        input_shape: Sequence[int],
        *,
        device: str = "cpu",
        precision: str = "fp32",
        threads: int = 1,
        seed: int = 0,
    ) -> None:
        import torch

        if device not in DEVICES:
            raise InputError(f"torch device must be 'cpu' or 'cuda', got {device!r}", params=("device",))
        if precision not in ("fp32", "fp16"):
            raise InputError(f"precision must be fp32 or fp16, got {precision!r}", params=("precision",))
        if device == "cuda" and not torch.cuda.is_available():
            raise EnvironmentProblem("the torch-cuda backend needs a CUDA GPU; none is visible to torch")
        if device == "cpu" and precision == "fp16":
            raise InputError("fp16 eager timing needs a GPU; use precision='fp32' on CPU", params=("precision",))
        dtype = torch.float16 if precision == "fp16" else torch.float32
        generator = torch.Generator().manual_seed(seed)
        self._x = torch.randn(tuple(input_shape), generator=generator).to(device=device, dtype=dtype)
        self._was_training = module.training
        self._original = module
        self.module = module.to(device=device, dtype=dtype).eval()
        self.device, self.precision, self.threads = device, precision, int(threads)

    def time(self, plan: TimingPlan) -> TimingResult:
        """Warms up and times ``module(x)`` per ``plan`` under ``torch.inference_mode``."""
        import torch

        previous_threads = torch.get_num_threads()
        module, x = self.module, self._x
        try:
            torch.set_num_threads(self.threads)
            with torch.inference_mode():
                timer = _cuda_event_timer() if self.device == "cuda" else None
                times, warm = run_timed(lambda: module(x), plan, timer=timer)
        finally:
            torch.set_num_threads(previous_threads)
        return TimingResult(
            times_ms=tuple(times),
            backend=backend_name(self.device),
            backend_version=torch.__version__,
            warmup_runs=warm,
            settings={
                "threads": self.threads,
                "precision": self.precision,
                "typing": "n/a",
                "cuda_graph": False,
                "data_transfers": False,
                "mode": "eager, inference_mode",
                "timer": "cuda events" if self.device == "cuda" else "host perf_counter",
            },
        )

    def close(self) -> None:
        """Restores the module's train/eval mode."""
        self._original.train(self._was_training)


def time_module(
    module: Any,
    input_shape: Sequence[int],
    *,
    device: str = "cpu",
    precision: str = "fp32",
    threads: int = 1,
    plan: TimingPlan | None = None,
    seed: int = 0,
) -> TimingResult:
    """Times ``module(x)`` once per ``plan`` (default: :meth:`TimingPlan.cpu` / :meth:`TimingPlan.gpu`).

    The arguments are those of :class:`TorchSession`; the module's train/eval mode and the thread
    count are restored afterwards.
    """
    session = TorchSession(module, input_shape, device=device, precision=precision, threads=threads, seed=seed)
    try:
        return session.time(plan or (TimingPlan.gpu() if device == "cuda" else TimingPlan.cpu()))
    finally:
        session.close()


@dataclass(frozen=True)
class TorchBackend:
    """Eager PyTorch on one device, as a registry backend.

    Attributes:
        device: ``cpu`` or ``cuda``.
    """

    device: str = "cpu"

    @property
    def info(self) -> BackendInfo:
        return BackendInfo(backend_name(self.device), "torch", gpu=self.device == "cuda", takes_module=True, auto=False)

    def available(self) -> tuple[bool, str]:
        from .device import cuda_available

        if self.device != "cuda":
            return True, "eager PyTorch on CPU"
        return (True, "CUDA GPU visible to torch") if cuda_available() else (False, "no CUDA GPU is visible to torch")

    def version(self) -> str:
        import torch

        return str(torch.__version__)

    def onnx_precision(self, precision: str) -> str:
        return precision  # no ONNX file: the module itself is timed

    def open(self, model: Any, config: SessionConfig) -> TorchSession:
        """A session on the module ``model`` (``config.input_shape`` is required)."""
        if config.input_shape is None:
            raise InputError(
                "the torch backends time a module and need input_shape=(batch, C, H, W)", params=("input_shape",)
            )
        return TorchSession(
            model,
            config.input_shape,
            device=self.device,
            precision=config.precision,
            threads=config.threads,
            seed=config.seed,
        )
