"""gpunet_hub.timm: the hub's models through timm's own create_model, with the cards' configs."""

import subprocess
import sys

import pytest
import timm
import torch
from safetensors.torch import save_file

import gpunet_hub
import gpunet_hub.timm
from gpunet_hub import InputError, WeightsUnavailableError


def test_registration_lists_every_hub_model_with_its_card_config():
    assert timm.list_models("gpunet*") == gpunet_hub.list_models()
    cfg = timm.models.get_pretrained_cfg("gpunet_0")
    card = gpunet_hub.model_card("gpunet_0")
    assert cfg.input_size == (3, card.resolution, card.resolution) and cfg.crop_pct == card.crop_pct
    assert cfg.url == card.weights.url and cfg.classifier == "classifier"
    assert gpunet_hub.timm.register() == gpunet_hub.list_models()  # idempotent, no re-registration


def test_create_model_builds_the_hub_network_and_resolves_its_data_config():
    model = timm.create_model("gpunet_p0", num_classes=10, drop_rate=0.1, in_chans=3)
    assert model.num_classes == 10 and model.arch == gpunet_hub.model_card("gpunet_p0").arch
    config = timm.data.resolve_data_config(model=model)
    assert config["input_size"] == (3, 224, 224) and config["interpolation"] == "bicubic"


def test_pretrained_loads_the_file_timm_overlay_names(tmp_path):
    source = gpunet_hub.create_model("gpunet_p0")
    path = tmp_path / "model.safetensors"
    save_file({k: v.contiguous() for k, v in source.state_dict().items()}, str(path))
    model = timm.create_model("gpunet_p0", pretrained=True, pretrained_cfg_overlay={"file": str(path)})
    for key, value in source.state_dict().items():
        assert torch.equal(model.state_dict()[key], value), key


def test_pretrained_offline_and_bad_arguments_are_typed(monkeypatch, tmp_path):
    monkeypatch.setenv("GPUNET_HUB_OFFLINE", "1")
    monkeypatch.setenv("GPUNET_HUB_CACHE", str(tmp_path))
    with pytest.raises(WeightsUnavailableError, match="offline"):
        timm.create_model("gpunet_0", pretrained=True)
    with pytest.raises(InputError, match="in_chans=3"):
        timm.create_model("gpunet_0", in_chans=1)
    with pytest.raises(InputError, match="bn_eps"):
        timm.create_model("gpunet_0", bn_eps=1e-5)
    with pytest.raises(InputError, match="num_classes"):
        timm.create_model("gpunet_0", num_classes=2.5)


def test_plain_import_stays_torch_free():
    code = "import sys, gpunet_hub; print('torch' in sys.modules, 'timm' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.split() == ["False", "False"]
