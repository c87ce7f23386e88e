import pytest
import torch
from conftest import RELEASE_FILES, RELEASED_PARAMS, TINY_DISTILL, TINY_STANDARD, release_config
from timm.models._efficientnet_blocks import EdgeResidual, InvertedResidual, SqueezeExcite
from torch import nn

import gpunet_hub
from gpunet_hub.arch import from_list
from gpunet_hub.builder import ExactInvertedResidual, build_model


def n_params(model):
    return sum(p.numel() for p in model.parameters())


@pytest.mark.parametrize("name", gpunet_hub.list_models())
def test_parameter_counts(name):
    card = gpunet_hub.model_card(name)
    model = build_model(card.arch)
    # The card's count is checked against the built model (every card, released or not).
    assert card.params == n_params(model)
    if name in RELEASE_FILES:
        # The release's own architecture file builds a network with NVIDIA's count.
        assert n_params(build_model(from_list(release_config(name)))) == RELEASED_PARAMS[name]


def _map_sizes(model, resolution):
    sizes = []
    x = model.stem(torch.zeros(1, 3, resolution, resolution))
    sizes.append(x.shape[-1])
    for block in model.blocks:
        x = block(x)
        if x.shape[-1] != sizes[-1]:
            sizes.append(x.shape[-1])
    return sizes


@torch.no_grad()
def test_gpunet0_feature_maps_keep_the_released_unpadded_fused_blocks():
    model = gpunet_hub.create_model("gpunet_0").eval()
    assert _map_sizes(model, 320) == [160, 79, 39, 20, 10]
    fused = model.blocks[2]  # first stride-2 fused_irb
    assert isinstance(fused, EdgeResidual) and fused.conv_exp.padding == (0, 0)


def test_standard_family_details():
    model = gpunet_hub.create_model("gpunet_0")
    bns = [m for m in model.modules() if isinstance(m, nn.BatchNorm2d)]
    assert bns and all(bn.eps == 1e-3 for bn in bns)
    assert isinstance(model.stem[0].bn.act, nn.SiLU)  # head act omitted in the JSON -> swish
    se_block = model.blocks[-1]
    assert isinstance(se_block, InvertedResidual) and isinstance(se_block.se, SqueezeExcite)
    # mid = 704 * 5 = 3520; SE width round(3520 * 0.25 / 5) = 176; SE uses the block's ReLU.
    assert se_block.se.conv_reduce.out_channels == 176 and isinstance(se_block.se.act1, nn.ReLU)
    assert isinstance(model.bn2.act, nn.ReLU) and model.classifier.in_features == 1280
    # Stochastic depth as released: 0.2 * j / (len(json) - 1) for JSON entry j.
    rates = [getattr(b.drop_path, "drop_prob", 0.0) for b in model.blocks]
    assert rates[-1] == pytest.approx(0.2 * 13 / 14)
    p0 = gpunet_hub.create_model("gpunet_p0")
    assert p0.blocks[4].conv_pw.out_channels == 736  # 96 * 7.67 = 736.32 rounds to 736


def test_distill_family_details():
    d1 = gpunet_hub.create_model("gpunet_d1")
    exact = [b for b in d1.blocks if isinstance(b, ExactInvertedResidual)]
    assert exact, "D1's widths (33, 99, ...) need the exact block"
    assert exact[0].conv_pw.out_channels == 33  # 33 * 1, not rounded to 40
    assert all(bn.eps == 1e-5 for bn in d1.modules() if isinstance(bn, nn.BatchNorm2d))
    assert not any(isinstance(m, (SqueezeExcite, nn.SiLU)) for m in d1.modules())
    d2 = gpunet_hub.create_model("gpunet_d2")
    assert not any(isinstance(b, ExactInvertedResidual) for b in d2.blocks)  # all widths divisible by 8
    assert len(d2.stem) == 3 and d2.num_features == 1152 and d2.head_hidden_size == 1984


@pytest.mark.parametrize("config", [TINY_STANDARD, TINY_DISTILL], ids=["standard", "distill"])
@torch.no_grad()
def test_timm_model_surface(config):
    import timm.data

    model = gpunet_hub.build(config).eval()
    x = torch.randn(2, 3, 64, 64)
    features = model.forward_features(x)
    assert features.shape[1] == model.num_features
    assert model.forward_head(features, pre_logits=True).shape == (2, model.head_hidden_size)
    assert torch.equal(model(x), model.forward_head(features))
    assert model(x).shape == (2, 10)
    cfg = timm.data.resolve_data_config(model=model)
    assert cfg["input_size"] == (3, 64, 64) and cfg["interpolation"] == "bicubic"
    transform = timm.data.create_transform(**cfg)
    from PIL import Image

    assert transform(Image.new("RGB", (80, 90))).shape == (3, 64, 64)
    model.reset_classifier(5)
    assert model(x).shape == (2, 5) and model.num_classes == 5
    model.reset_classifier(0)
    assert model(x).shape == (2, model.head_hidden_size)


def test_build_accepts_encodings_and_num_classes():
    from conftest import RELEASED_ENCODINGS

    model = gpunet_hub.build(RELEASED_ENCODINGS["gpunet_1"], num_classes=7)
    assert model.num_classes == 7 and model.arch.resolution == 288
    assert n_params(model) == RELEASED_PARAMS["gpunet_1"] - 1000 * 1281 + 7 * 1281
