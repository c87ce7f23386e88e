"""Eager PyTorch latency: the reference a user would otherwise measure.

On a GPU each run is timed with CUDA events on the current stream (``torch.cuda.Event``), which
measures device time rather than the asynchronous launch; on the CPU with the host clock under
``torch.inference_mode``. ``torch.set_num_threads`` is set for the run and restored afterwards.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from ..errors import EnvironmentProblem, InputError
from .stats import TimingPlan, TimingResult, run_timed


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
    """Times ``module(x)`` in eval mode under ``torch.inference_mode``.

    Args:
        module: The network (moved to ``device``; its train/eval mode is restored afterwards).
        input_shape: Full input shape, batch first.
        device: ``cpu`` or ``cuda``.
        precision: ``fp32`` or ``fp16`` (``fp16`` needs CUDA).
        threads: ``torch.set_num_threads`` during the run (CPU intra-op threads).
        plan: Warm-up and run counts (default: :meth:`TimingPlan.cpu` / :meth:`TimingPlan.gpu`).
        seed: Seed of the random input.

    Raises:
        EnvironmentProblem: ``cuda`` requested without a GPU.
        InputError: Unknown device or precision, or fp16 on CPU.
    """
    import torch

    if device not in ("cpu", "cuda"):
        raise InputError(f"torch device must be 'cpu' or 'cuda', got {device!r}")
    if precision not in ("fp32", "fp16"):
        raise InputError(f"precision must be fp32 or fp16, got {precision!r}")
    if device == "cuda" and not torch.cuda.is_available():
        raise EnvironmentProblem("the torch-cuda backend needs a CUDA GPU; none is visible to torch")
    if device == "cpu" and precision == "fp16":
        raise InputError("fp16 eager timing needs a GPU; use --precision fp32 on CPU")
    plan = plan or (TimingPlan.gpu() if device == "cuda" else TimingPlan.cpu())
    dtype = torch.float16 if precision == "fp16" else torch.float32
    generator = torch.Generator().manual_seed(seed)
    x = torch.randn(tuple(input_shape), generator=generator).to(device=device, dtype=dtype)
    was_training = module.training
    previous_threads = torch.get_num_threads()
    module = module.to(device=device, dtype=dtype).eval()
    try:
        torch.set_num_threads(int(threads))
        with torch.inference_mode():
            if device == "cuda":
                times, warm = run_timed(lambda: module(x), plan, timer=_cuda_event_timer())
            else:
                times, warm = run_timed(lambda: module(x), plan)
    finally:
        torch.set_num_threads(previous_threads)
        module.train(was_training)
    return TimingResult(
        times_ms=tuple(times),
        backend=backend_name(device),
        backend_version=torch.__version__,
        warmup_runs=warm,
        settings={
            "threads": int(threads),
            "precision": precision,
            "typing": "n/a",
            "cuda_graph": False,
            "data_transfers": False,
            "mode": "eager, inference_mode",
            "timer": "cuda events" if device == "cuda" else "host perf_counter",
        },
    )
