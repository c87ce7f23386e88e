"""Layer keys: canonical form, agreement of the vectorised index with ArchSpecs and built modules."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
import torch
from conftest import RELEASED_ENCODINGS, TINY_DISTILL

from gpunet_hub.arch import from_list
from gpunet_hub.builder import build_model
from gpunet_hub.errors import InputError
from gpunet_hub.space import decode
from gpunet_search.latency import estimate
from gpunet_search.latency.estimate import estimate_sums, index_encodings, pack_keys, scaled_resolution, unpack_keys
from gpunet_search.latency.layer_keys import LayerKey, arch_layer_keys, build_layer, distinct_keys
from gpunet_search.latency.sampling import sample


def test_key_string_roundtrip_and_errors():
    key = LayerKey("irb", 96, 112, 5, 2, 6.0, True, "swish", 40, 40)
    assert str(key) == "irb:c96>112:k5:s2:e6:se1:swish:40x40:b1:fp32"
    assert LayerKey.parse(str(key)) == key
    tail = LayerKey("tail", 256, 1792, 1, 1, 0.0, False, "relu", 7, 7, classes=1000)
    assert LayerKey.parse(str(tail)) == tail and str(tail).endswith(":n1000")
    assert LayerKey.parse("irb:c8>8:k3:s1:e2.5:se0:relu:9x9:b4:fp16").expansion == 2.5
    assert len({key, LayerKey.parse(str(key))}) == 1
    with pytest.raises(InputError):
        LayerKey.parse("irb:c96:k5")


@pytest.mark.parametrize("space, scale, chunk", [("table1", 1.0, None), ("table1", 0.25, 37), ("release", 1.0, 64)])
def test_vectorised_index_matches_archspec_keys(space, scale, chunk, monkeypatch):
    if chunk:  # a million rows are indexed in chunks; small ones put several chunk edges in 300 rows
        monkeypatch.setattr(estimate, "_CHUNK_ROWS", chunk)
    s = sample(300, space, seed=11)
    index = index_encodings(s.encodings, space, res_scale=scale)
    expanded = index.expand()
    for row in range(0, 300, 7):
        arch = decode(s.encodings[row].tolist(), space)
        expected = arch_layer_keys(arch, resolution=scaled_resolution(arch.resolution, scale))
        assert index.network_keys(row) == expected
        assert [index.keys[i] for i in expanded[row] if i >= 0] == expected
        assert index.num_layers[row] == len(arch.layers)
    assert index.used().all()
    assert len(index.keys) == len(distinct_keys(arch_layer_keys(decode(r.tolist(), space), resolution=scaled_resolution(int(r[0]), scale)) for r in s.encodings))


def test_released_padding_gpunet0():
    arch = decode(RELEASED_ENCODINGS["gpunet_0"], "release")
    keys = arch_layer_keys(arch)
    sizes = [(k.layer_type, k.h) for k in keys]
    # RELEASED_GPUNETS: GPUNet-0 at 320 px has maps 160, 79 (unpadded stride-2 fused), 39, 20, 10.
    assert sizes[0] == ("head", 320) and sizes[1] == ("conv", 160)
    fused = [k for k in keys if k.layer_type == "fused_irb"]
    assert fused[0].h == 160 and fused[1].h == 79 and fused[2].h == 79
    assert [k.h for k in keys if k.layer_type == "irb" and k.stride == 2] == [39, 20]
    assert keys[-1].h == 10


def _input_shapes(model: torch.nn.Module, res: int) -> list[tuple[int, ...]]:
    shapes: list[tuple[int, ...]] = []
    hooks = [model.stem.register_forward_pre_hook(lambda m, a: shapes.append(tuple(a[0].shape)))]
    hooks += [b.register_forward_pre_hook(lambda m, a: shapes.append(tuple(a[0].shape))) for b in model.blocks]
    hooks.append(model.conv_head.register_forward_pre_hook(lambda m, a: shapes.append(tuple(a[0].shape))))
    with torch.inference_mode():
        model.eval()(torch.zeros(1, 3, res, res))
    for h in hooks:
        h.remove()
    return shapes


def test_key_shapes_match_the_built_network():
    encodings = sample(64, "table1", seed=2).encodings
    # One net whose fused stages use kernel 5 (unpadded stride 2 loses 4 pixels) and one with kernel 3.
    rows = [next(r for r in encodings if r[6] == 5 and r[12] == 5), next(r for r in encodings if r[6] == 3)]
    for row in rows:
        arch = replace(decode(row.tolist(), "table1"), resolution=61)
        keys = arch_layer_keys(arch)
        shapes = _input_shapes(build_model(arch), 61)
        assert [(k.batch, k.cin, k.h, k.w) for k in keys] == [tuple(s) for s in shapes]


@pytest.mark.parametrize(
    "key",
    [
        LayerKey("head", 3, 24, 3, 2, 0.0, False, "swish", 33, 33),
        LayerKey("conv", 24, 24, 5, 1, 0.0, False, "relu", 17, 17),
        LayerKey("fused_irb", 24, 32, 5, 2, 3.0, True, "swish", 17, 17),
        LayerKey("fused_irb", 32, 32, 3, 1, 2.0, False, "relu", 7, 7),
        LayerKey("irb", 32, 48, 3, 2, 6.0, True, "relu", 7, 7),
        LayerKey("irb", 48, 48, 5, 1, 4.0, False, "swish", 4, 4),
        LayerKey("tail", 48, 64, 1, 1, 0.0, False, "relu", 4, 4, classes=10),
    ],
)
def test_build_layer_output_shape(key):
    module = build_layer(key).eval()
    with torch.inference_mode():
        y = module(torch.zeros(key.input_shape))
    if key.layer_type == "tail":
        assert tuple(y.shape) == (1, key.classes)
    else:
        assert tuple(y.shape) == (1, key.cout, *key.output_hw)


def test_pack_roundtrip_and_estimate_sums(monkeypatch):
    monkeypatch.setattr(estimate, "_CHUNK_ROWS", 23)
    s = sample(200, seed=9)
    index = index_encodings(s.encodings, "table1", res_scale=0.5)
    assert np.array_equal(pack_keys(index.keys), index.codes)
    assert unpack_keys(index.codes, batch=1, precision="fp32", classes=1000) == index.keys
    latency = np.random.default_rng(0).uniform(0.01, 1.0, len(index.keys))
    sums = estimate_sums(index, latency)
    position = {k: i for i, k in enumerate(index.keys)}
    for row in (0, 57, 199):
        assert sums[row] == pytest.approx(sum(latency[position[k]] for k in index.network_keys(row)))
    latency[index.index[3, 0]] = np.nan  # row 3's head: its sum becomes unknown
    assert np.isnan(estimate_sums(index, latency)[3])
    with pytest.raises(InputError):
        estimate_sums(index, latency[:-1])
    part = index.take_rows(slice(50, 120))
    assert part.key_params is index.key_params and part.key_macs_activations is index.key_macs_activations
    assert np.array_equal(estimate_sums(part, np.nan_to_num(latency)), estimate_sums(index, np.nan_to_num(latency))[50:120])


def test_distill_and_bad_precision_refused():
    with pytest.raises(InputError, match="standard-family"):
        arch_layer_keys(from_list(TINY_DISTILL))
    with pytest.raises(InputError):
        arch_layer_keys(decode(RELEASED_ENCODINGS["gpunet_0"], "release"), precision="int8")


def test_resolution_too_small_for_the_kernels_is_refused(monkeypatch):
    encodings = sample(64, "table1", seed=2).encodings
    with pytest.raises(InputError, match="larger res_scale") as whole:
        index_encodings(encodings, "table1", res_scale=0.05)
    monkeypatch.setattr(estimate, "_CHUNK_ROWS", 5)  # the count and example cover every chunk
    with pytest.raises(InputError) as chunked:
        index_encodings(encodings, "table1", res_scale=0.05)
    assert str(chunked.value) == str(whole.value) and str(whole.value).split()[1:3] == ["of", "64"]
    row = next(r for r in encodings if r[6] == 5 and r[12] == 5)
    arch = decode(row.tolist(), "table1")
    with pytest.raises(InputError, match="smaller than its kernel"):
        arch_layer_keys(arch, resolution=12)
