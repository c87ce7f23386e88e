"""The backend registry and its one protocol: open a model, time it repeatedly with bounds, close."""

from __future__ import annotations

import pytest
import torch

from gpunet_hub import InputError
from gpunet_hub.export import export_onnx
from gpunet_hub.measure import SessionConfig, TimingPlan, backends, choose_backend, get_backend, run
from gpunet_hub.measure.registry import device_for, runtime_of


def test_registry_names_order_and_runtimes():
    assert list(backends()) == [
        "tensorrt", "trtexec", "onnxruntime-tensorrt", "onnxruntime-cuda", "onnxruntime-cpu", "torch-cuda", "torch-cpu",
    ]
    assert [runtime_of(n) for n in ("tensorrt", "trtexec", "onnxruntime-cpu", "torch-cpu")] == ["tensorrt", "tensorrt", "onnxruntime", "torch"]
    with pytest.raises(InputError, match="unknown backend 'onnxruntime-gpu'.*Did you mean"):
        get_backend("onnxruntime-gpu")


def test_a_single_layer_is_timed_like_a_network(tmp_path):
    """What the latency LUT does: one session per layer, several bounded rounds of fixed runs."""
    layer = torch.nn.Conv2d(8, 16, 3, padding=1)
    path = export_onnx(layer, tmp_path / "conv.onnx", input_size=(8, 14, 14), check=False)
    backend = get_backend("onnxruntime-cpu")
    assert backend.available()[0] and not backend.info.takes_module
    session = backend.open(path, SessionConfig(precision="fp32", batch=1, threads=1))
    try:
        rounds = [session.time(TimingPlan.fixed(warmup=2, runs=7, max_seconds=10.0)) for _ in range(3)]
    finally:
        session.close()
    assert [len(r.times_ms) for r in rounds] == [7, 7, 7] and all(r.warmup_runs == 2 for r in rounds)
    assert rounds[0].backend == "onnxruntime-cpu" and rounds[0].settings["threads"] == 1
    with pytest.raises(InputError, match="closed"):
        session.time(TimingPlan.fixed(0, 1))


def test_torch_backend_times_a_module_and_needs_its_shape():
    backend = get_backend("torch-cpu")
    layer = torch.nn.Conv2d(3, 4, 3)
    with pytest.raises(InputError, match="input_shape"):
        backend.open(layer, SessionConfig())
    session = backend.open(layer, SessionConfig(input_shape=(1, 3, 16, 16)))
    assert len(session.time(TimingPlan.fixed(1, 4)).times_ms) == 4
    session.close()


def test_session_config_is_checked_at_the_boundary():
    with pytest.raises(InputError, match="precision"):
        SessionConfig(precision="int8")
    with pytest.raises(InputError, match="threads"):
        SessionConfig(threads=0)


def test_auto_explains_what_it_skipped_and_the_device_carries_the_backend():
    choice = choose_backend("auto")
    if choice.name != "onnxruntime-cpu":
        pytest.skip("a GPU backend is available here")
    assert [name for name, _ in choice.skipped] == ["tensorrt", "trtexec", "onnxruntime-tensorrt", "onnxruntime-cuda"]
    device = device_for("onnxruntime-cpu", threads=1)
    assert (device.backend, device.provider, device.opt_level, device.threads) == (
        "onnxruntime-cpu", "CPUExecutionProvider", "ORT_ENABLE_ALL", 1,
    )
    assert device_for("onnxruntime-cpu", threads=2).fingerprint != device.fingerprint
    assert device.to_dict()["fingerprint"] == device.fingerprint


def test_run_returns_a_report(isolated_cache):
    fast = {"min_runs": 2, "min_seconds": 0.0, "warmup": 1, "warmup_seconds": 0.0}
    with pytest.raises(InputError, match="batch_size must be >= 1"):
        run(models=("gpunet_p0",), batch_size=0)
    # two runs say nothing about stability; this test is about the report, so save regardless
    report = run(models=("gpunet_p0",), backend="torch-cpu", save=True, save_unstable=True, **fast)
    (record,) = report.records
    assert record.model == "gpunet_p0" and record.backend == "torch-cpu" and record.stats.n == 2
    assert report.verdicts["gpunet_p0"].status == "unverifiable" and report.job.choice.name == "torch-cpu"
    assert report.saved_to is not None and report.saved_to.parent == isolated_cache
    assert '"backend_choice"' in report.to_json() and report.to_csv().startswith("model,")
