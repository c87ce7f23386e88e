import subprocess
import sys

import pytest

import gpunet_hub
from gpunet_hub import InputError, NoModelWithinBudgetError, UnknownGPUError, UnknownModelError


def test_import_and_lookup_do_not_import_torch():
    code = (
        "import sys, gpunet_hub; gpunet_hub.list_models(); gpunet_hub.select('GV100', 1.0); "
        "gpunet_hub.model_card('GPUNet-0'); print('torch' in sys.modules)"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "False"


@pytest.mark.parametrize(
    ("gpu", "budget", "expected"),
    [
        ("GV100", 1.0, "gpunet_p1"),  # 0.96 ms, 81.1 %
        ("V100", 0.9, "gpunet_1"),  # 0.82 ms, 80.5 % beats P0's 80.3 %
        ("Tesla V100-SXM2-32GB", 0.63, "gpunet_p0"),  # inclusive budget
        ("GV100", 100.0, "gpunet_d2"),
        ("NVIDIA A100-SXM4-80GB", 1.0, "gpunet_d1"),  # 0.94 ms on A100
        ("A100", 0.5, "gpunet_p0"),  # 0.45 ms
    ],
)
def test_select_uses_measured_rows(gpu, budget, expected):
    assert gpunet_hub.select(gpu, budget) == expected


def test_impossible_budget_names_the_fastest_and_the_smallest_budget():
    with pytest.raises(NoModelWithinBudgetError) as info:
        gpunet_hub.select("GV100", 0.5)
    message = str(info.value)
    assert "gpunet_0 0.63 ms, gpunet_p0 0.63 ms" in message
    assert "smallest budget that selects a model is 0.63 ms" in message


def test_unknown_names_suggest_close_matches():
    with pytest.raises(UnknownModelError, match="unknown model 'gpunet_3'.*available: gpunet_0"):
        gpunet_hub.model_card("gpunet_3")
    with pytest.raises(UnknownGPUError, match="unknown GPU 'GV10'.*Did you mean 'GV100'"):
        gpunet_hub.select("GV10", 1.0)
    with pytest.raises(InputError, match="max_latency_ms must be > 0"):
        gpunet_hub.select("GV100", 0)


def test_aliases_and_listing():
    assert gpunet_hub.model_card("GV100/0.65ms").name == "gpunet_0"
    assert gpunet_hub.model_card("GPUNet-D2").name == "gpunet_d2"
    assert gpunet_hub.list_models("gpunet_d*") == ["gpunet_d1", "gpunet_d2"]
    assert gpunet_hub.list_models(gpu="GV100", max_latency_ms=0.9) == ["gpunet_0", "gpunet_1", "gpunet_p0"]
    assert gpunet_hub.list_gpus() == ["GV100", "GA100"]
    with pytest.raises(InputError, match="needs a gpu"):
        gpunet_hub.list_models(max_latency_ms=1.0)


def test_cards_hold_measured_rows_not_tiers():
    p1 = gpunet_hub.model_card("gpunet_p1")
    assert p1.tier == {"gpu": "GV100", "latency": "0.8ms-D"}
    (row,) = p1.latency_rows("GV100")
    assert (row.ms, row.batch, row.precision, row.runtime, row.stat) == (0.96, 1, "fp16", "tensorrt", "median")
    assert p1.crop_pct == 0.875 and p1.teacher.startswith("tf_efficientnet_b2")
    assert gpunet_hub.model_card("gpunet_0").encoding is not None and p1.encoding is None


def test_load_by_budget_returns_p1_in_eval_mode():
    model = gpunet_hub.load(gpu="GV100", max_latency_ms=1.0, weights=None)
    assert model.arch == gpunet_hub.model_card("gpunet_p1").arch
    assert not model.training
    assert model.pretrained_cfg["crop_pct"] == 0.875
    with pytest.raises(InputError, match="not both"):
        gpunet_hub.load("gpunet_0", gpu="GV100", max_latency_ms=1.0, weights=None)
    with pytest.raises(InputError, match="needs a model name"):
        gpunet_hub.load(gpu="GV100", weights=None)

