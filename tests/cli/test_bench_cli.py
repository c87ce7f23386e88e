"""`gpunet-hub bench` and `gpunet-hub export` end to end on this CPU machine (few runs: fast)."""

from __future__ import annotations

import json

import onnx
import pytest

import gpunet_hub
from gpunet_hub.cli import main

FAST = ["--min-runs", "3", "--min-seconds", "0", "--warmup", "1", "--warmup-seconds", "0"]


def test_bench_json_with_baseline_and_plot(tmp_path, capsys):
    plot = tmp_path / "pareto.png"
    full = tmp_path / "full.json"
    code = main(["bench", "gpunet_p0", "--compare", "efficientnet_b0", "--plot", str(plot), "--format", "json", "--output", str(full), *FAST])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    data = json.loads(captured.out)
    hub_rec, base_rec = data["records"]
    assert hub_rec["model"] == "gpunet_p0" and hub_rec["backend"] == "onnxruntime-cpu" and hub_rec["precision"] == "fp32"
    assert hub_rec["device"]["kind"] == "cpu" and hub_rec["device"]["label"].startswith("CPU: ")
    assert hub_rec["settings"]["threads"] == 1 and hub_rec["stats_ms"]["n"] == 3
    assert base_rec["model"] == "timm:efficientnet_b0" and base_rec["kind"] == "baseline" and base_rec["input_shape"] == [1, 3, 224, 224]
    (verdict,) = data["verdicts"]
    assert verdict["status"] == "unverifiable" and verdict["ratio"] is None
    assert "tensorrt" in data["backend_choice"]["explanation"]  # says why better backends were skipped
    assert "Table 3" in data["baseline_accuracy_source"]
    assert plot.read_bytes()[:4] == b"\x89PNG"
    assert len(json.loads(full.read_text())["records"][0]["times_ms"]) == 3


def test_bench_gpu_budget_table_and_save_then_select_local(capsys):
    # --save-unstable: three runs on a shared CPU may be noisy; this test is about saving and reading back
    code = main(["bench", "--gpu", "GV100", "--max-latency-ms", "1.0", "--save", "--save-unstable", *FAST])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    assert "gpunet_p1" in captured.out  # the hub's pick for GV100 within 1 ms
    assert "cannot verify" in captured.out and "GV100" in captured.out
    assert "onnxruntime-cpu" in captured.out and "unverifiable" in captured.out
    assert "onnxruntime-cpu" in captured.err  # the backend choice is explained
    assert gpunet_hub.select(gpu="local", max_latency_ms=1e6) == "gpunet_p1"


@pytest.mark.parametrize(
    ("argv", "code", "message"),
    [
        (["bench", "gpunet_0", "--backend", "tensorrt"], 2, "unavailable"),
        (["bench", "gpunet_0", "--backend", "cuda-magic"], 1, "unknown backend"),
        (["bench"], 1, "name a model"),
        (["bench", "--gpu", "GV100"], 1, "go together"),
        (["bench", "gpunet_0", "--compare", "efficientnetx_b0_gpu"], 1, "unknown baseline"),
        (["bench", "gpunet_0", "--compare", "FBNetV2-L1"], 1, "timm has no FBNetV2"),
        (["bench", "gpunet_9"], 1, "unknown model"),
    ],
)
def test_bench_errors(argv, code, message, capsys):
    assert main(argv) == code
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err


def test_export_command(tmp_path, capsys):
    out = tmp_path / "p0.onnx"
    assert main(["export", "gpunet_p0", "--out", str(out)]) == 0
    assert "onnxruntime output matches PyTorch" in capsys.readouterr().out
    dims = [d.dim_value for d in onnx.load(str(out)).graph.input[0].type.tensor_type.shape.dim]
    assert dims == [1, 3, 224, 224]
