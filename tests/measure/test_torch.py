"""The eager PyTorch backend (the reference a user would otherwise measure)."""

from __future__ import annotations

import pytest
import torch
from conftest import TINY_STANDARD

import gpunet_hub
from gpunet_hub.measure import _torch as torch_eager
from gpunet_hub.measure._run import BenchConfig, bench_target, hub_target
from gpunet_hub.measure.registry import choose_backend
from gpunet_hub.measure.stats import TimingPlan
from gpunet_hub.errors import EnvironmentProblem, InputError


def test_time_module_cpu_restores_threads_and_mode():
    model = gpunet_hub.build(TINY_STANDARD).train()
    before = torch.get_num_threads()
    result = torch_eager.time_module(model, (1, 3, 64, 64), threads=1, plan=TimingPlan(warmup_runs=2, min_runs=5, min_seconds=0))
    assert torch.get_num_threads() == before and model.training
    assert result.backend == "torch-cpu" and result.backend_version == torch.__version__
    assert len(result.times_ms) == 5 and result.warmup_runs == 2 and result.settings["threads"] == 1


def test_bad_requests():
    model = torch.nn.Identity()
    with pytest.raises(InputError):
        torch_eager.time_module(model, (1, 3), precision="fp16")
    with pytest.raises(InputError):
        torch_eager.time_module(model, (1, 3), device="tpu")
    if not torch.cuda.is_available():
        with pytest.raises(EnvironmentProblem):
            torch_eager.time_module(model, (1, 3), device="cuda")


def test_bench_target_with_torch_backend_skips_export(isolated_cache):
    config = BenchConfig(backend=choose_backend("torch-cpu").name, precision="fp32", plan=TimingPlan(warmup_runs=1, min_runs=2, min_seconds=0))
    record = bench_target(hub_target("gpunet_p0"), config)
    assert record.backend == "torch-cpu" and record.input_shape == (1, 3, 224, 224) and record.stats.n == 2
    assert not list(isolated_cache.glob("onnx/*"))  # eager timing needs no ONNX file
