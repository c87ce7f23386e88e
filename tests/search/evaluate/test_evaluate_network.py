"""The network a run trains: encodings, ArchSpecs and files in; width multiplier and resolution."""

from __future__ import annotations

import json

import pytest
from conftest import RELEASED_ENCODINGS, TINY_STANDARD

from gpunet_hub.builder import build_model
from gpunet_hub.errors import EncodingError
from gpunet_hub.space import decode
from gpunet_search.evaluate import proxy_resolution, resolve_network, scale_width


def test_resolve_network_accepts_every_form(tmp_path):
    vector = RELEASED_ENCODINGS["gpunet_0"]
    assert resolve_network(vector, "release") == decode(vector, "release")
    path = tmp_path / "tiny.json"
    path.write_text(json.dumps(TINY_STANDARD))
    assert resolve_network(path) == resolve_network(TINY_STANDARD) == resolve_network(str(path))
    with pytest.raises(EncodingError):
        resolve_network([1, 2, 3])


def test_width_multiplier_scales_every_layer_and_builds():
    spec = decode(RELEASED_ENCODINGS["gpunet_0"], "release", num_classes=10)
    narrow = scale_width(spec, 0.25)
    assert len(narrow.layers) == len(spec.layers)
    for wide, thin in zip(spec.layers, narrow.layers):
        assert thin.num_out_channels % 8 == 0
        assert 0.9 * 0.25 * wide.num_out_channels <= thin.num_out_channels <= max(8, 0.25 * wide.num_out_channels + 4)
        assert (thin.kernel_size, thin.stride, thin.expansion, thin.use_se) == (wide.kernel_size, wide.stride, wide.expansion, wide.use_se)
    full = sum(p.numel() for p in build_model(spec).parameters())
    small = sum(p.numel() for p in build_model(narrow).parameters())
    assert small < full / 8
    assert scale_width(spec, 1.0) is spec


def test_proxy_resolution():
    assert proxy_resolution(320, 1.0, 24) == 320
    assert proxy_resolution(320, 0.125, 24) == 40
    assert proxy_resolution(128, 0.125, 24) == 24
