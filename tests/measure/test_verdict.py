"""Verdicts: like with like only; a CPU figure is never compared with a GPU row."""

from __future__ import annotations

import pytest

import gpunet_hub
from gpunet_hub.measure.device import Device, cpu_device, gpu_device
from gpunet_hub.measure.record import BenchRecord, to_csv, to_json
from gpunet_hub.measure.stats import summarize
from gpunet_hub.measure.verdict import verdict_for


def record(
    device: Device,
    ms: float,
    *,
    backend="trtexec",
    version="10.13.0",
    precision="fp16",
    batch=1,
    typing="weak",
    model="gpunet_0",
):
    times = (ms * 0.99, ms, ms * 1.01)
    return BenchRecord(
        model=model,
        kind="hub",
        input_shape=(batch, 3, 320, 320),
        batch=batch,
        precision=precision,
        backend=backend,
        backend_version=version,
        device=device,
        stats=summarize(times),
        settings={"typing": typing, "cuda_graph": True},
        times_ms=times,
    )


CARD = gpunet_hub.model_card("gpunet_0")  # GV100 0.63 ms, GA100 0.46 ms (TensorRT 8, FP16, median)
V100 = gpu_device(name="Tesla V100-SXM2-32GB", driver="535.0")


def test_cpu_is_never_compared():
    v = verdict_for(record(cpu_device(1), 0.63, backend="onnxruntime-cpu", version="1.32.0", precision="fp32"), CARD)
    assert v.status == "unverifiable" and v.ratio is None and v.hub_ms is None
    assert "cannot verify" in v.message and "GV100" in v.message
    # even a CPU figure that happens to equal the GPU row, at the same precision and backend, is not compared
    v = verdict_for(record(cpu_device(2), 0.63), CARD)
    assert v.status == "unverifiable" and not v.compared


def test_a_cpu_row_of_a_regenerated_hub_is_compared_on_that_cpu_only():
    import dataclasses

    from gpunet_hub.hub.cards import LatencyRow

    here, other = cpu_device(1), cpu_device(2)  # the label names the thread count: another setting is another device
    row = LatencyRow(here.label, 1, "fp32", "onnxruntime-cpu", "1.22.0", "median", 2.0, "regenerated hub (test)")
    card = dataclasses.replace(CARD, latency=(row,))
    v = verdict_for(record(here, 2.1, backend="onnxruntime-cpu", version="1.22.0", precision="fp32"), card)
    assert v.status == "consistent" and v.hub_ms == 2.0 and v.ratio == pytest.approx(1.05)
    assert "TensorRT" not in v.message
    assert (
        verdict_for(record(here, 3.0, backend="onnxruntime-cpu", version="1.22.0", precision="fp32"), card).status
        == "slower"
    )
    v = verdict_for(record(other, 2.0, backend="onnxruntime-cpu", version="1.22.0", precision="fp32"), card)
    assert v.status == "unverifiable" and not v.compared and here.label in v.message


def test_matching_gpu_row_consistent_and_slower():
    assert V100.hub_gpu == "GV100"
    v = verdict_for(record(V100, 0.66), CARD)
    assert v.status == "consistent" and v.hub_ms == 0.63 and v.ratio == pytest.approx(0.66 / 0.63)
    assert "TensorRT 10.13.0" in v.message  # cross-version comparison is flagged
    v = verdict_for(record(V100, 0.80), CARD, tolerance=0.10)
    assert v.status == "slower"
    v = verdict_for(record(V100, 0.50), CARD)
    assert v.status == "faster"
    assert verdict_for(record(V100, 0.80), CARD, tolerance=0.3).status == "consistent"


def test_statistic_of_the_row_is_used():
    rec = BenchRecord(
        model="gpunet_0",
        kind="hub",
        input_shape=(1, 3, 320, 320),
        batch=1,
        precision="fp16",
        backend="tensorrt",
        backend_version="8.6.1",
        device=V100,
        stats=summarize([0.60, 0.62, 0.63, 0.64, 2.0]),
        settings={"typing": "weak"},
    )
    v = verdict_for(rec, CARD)
    assert v.hub_row.stat == "median" and v.measured_ms == pytest.approx(0.63) and v.status == "consistent"


def test_no_row_for_this_gpu_or_batch_or_precision():
    rtx = gpu_device(name="NVIDIA GeForce RTX 4090", driver="550")
    assert rtx.hub_gpu is None
    v = verdict_for(record(rtx, 0.3), CARD)
    assert v.status == "no-row" and "no row for NVIDIA GeForce RTX 4090" in v.message
    assert verdict_for(record(V100, 2.0, batch=8), CARD).status == "no-row"
    assert verdict_for(record(V100, 1.0, precision="fp32"), CARD).status == "no-row"


def test_other_runtime_is_not_compared():
    v = verdict_for(record(V100, 0.64, backend="onnxruntime-cuda", version="1.31.1"), CARD)
    assert v.status == "not-comparable" and v.ratio is None and v.hub_ms == 0.63


def test_record_json_and_csv():
    rec = record(V100, 0.64)
    data = __import__("json").loads(to_json([rec], include_times=True))["records"][0]
    assert data["device"]["name"] == "Tesla V100-SXM2-32GB" and data["device"]["hub_gpu"] == "GV100"
    assert data["stats_ms"]["median"] == pytest.approx(0.64) and len(data["times_ms"]) == 3
    assert data["typing"] == "weak" and data["backend_version"] == "10.13.0" and "date" in data
    assert data["throughput_ips"] == pytest.approx(1000 / 0.64)
    lines = to_csv([rec]).splitlines()
    assert lines[0].startswith("model,kind,input_shape,batch,precision,typing,backend")
    assert "1x3x320x320" in lines[1] and "GPU: Tesla V100-SXM2-32GB" in lines[1]
