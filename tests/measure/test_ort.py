"""The onnxruntime backend: fixed threads, settings recorded, per-run times."""

from __future__ import annotations

import pytest
from conftest import TINY_STANDARD

import gpunet_hub
from gpunet_hub.measure import _ort as ort_backend
from gpunet_hub.errors import EnvironmentProblem, InputError
from gpunet_hub.export import export_onnx


@pytest.fixture(scope="module")
def tiny_onnx(tmp_path_factory):
    path = tmp_path_factory.mktemp("onnx") / "tiny.onnx"
    return export_onnx(gpunet_hub.build(TINY_STANDARD), path, check=False)


def test_time_onnx_records_raw_times_and_settings(tiny_onnx):
    result = ort_backend.time_onnx(tiny_onnx, threads=1, warmup=3, min_runs=25, min_seconds=0.0)
    assert result.backend == "onnxruntime-cpu"
    assert result.backend_version == __import__("onnxruntime").__version__
    assert len(result.times_ms) == 25 and all(t > 0 for t in result.times_ms)
    assert result.warmup_runs == 3
    s = result.settings
    assert s["threads"] == 1 and s["inter_op_threads"] == 1 and s["graph_optimization"] == "all"
    assert s["precision"] == "fp32" and s["provider"] == "CPUExecutionProvider" and s["cuda_graph"] is False
    assert result.summary.median > 0


def test_session_has_fixed_threads(tiny_onnx):
    session = ort_backend.create_session(tiny_onnx, threads=2, graph_optimization="basic")
    options = session.get_session_options()
    assert options.intra_op_num_threads == 2 and options.inter_op_num_threads == 1
    result = ort_backend.time_onnx(session, threads=2, graph_optimization="basic", warmup=0, min_runs=2, min_seconds=0)
    assert result.settings["threads"] == 2 and result.settings["graph_optimization"] == "basic"


def test_min_seconds_extends_the_run(tiny_onnx):
    result = ort_backend.time_onnx(tiny_onnx, warmup=0, min_runs=1, min_seconds=0.2)
    assert sum(result.times_ms) >= 150  # most of the 0.2 s is spent inside session.run
    assert len(result.times_ms) > 1


def test_missing_gpu_provider_is_an_environment_problem(tiny_onnx):
    if "cuda" in ort_backend.available_providers():
        pytest.skip("this onnxruntime has the CUDA provider")
    with pytest.raises(EnvironmentProblem, match="CUDAExecutionProvider"):
        ort_backend.create_session(tiny_onnx, provider="cuda")


def test_bad_arguments(tiny_onnx):
    with pytest.raises(InputError):
        ort_backend.create_session(tiny_onnx, provider="metal")
    with pytest.raises(InputError):
        ort_backend.create_session(tiny_onnx, graph_optimization="max")
    with pytest.raises(InputError):
        ort_backend.create_session(tiny_onnx, threads=0)


@pytest.mark.skipif("cuda" not in ort_backend.available_providers(), reason="needs onnxruntime-gpu and a CUDA GPU")
def test_cuda_provider_uses_io_binding(tiny_onnx):  # pragma: no cover - no GPU here
    result = ort_backend.time_onnx(tiny_onnx, provider="cuda", warmup=5, min_runs=20)
    assert result.settings["io_binding"] is True and result.backend == "onnxruntime-cuda"
