"""Synthetic networks, latencies and LUTs shared by the latency tests."""

from __future__ import annotations

import numpy as np

from gpunet_hub.measure.device import Device
from gpunet_search.latency.estimate import index_encodings
from gpunet_search.latency.features import network_features
from gpunet_search.latency.lut import LatencyLUT, Measurement
from gpunet_search.latency.pipeline import Setting, network_items
from gpunet_search.latency.sampling import sample

DEVICE = Device(kind="cpu", name="Test CPU", label="Test CPU", threads=1, backend="fake", backend_version="0", provider="FakeProvider")
SETTING = Setting(1, "fp32", 0.25)


def synthetic(n: int = 48, seed: int = 5):
    """Networks of the Table-1 space, a LUT latency per key from its multiply-adds, and a 'measured' latency
    that the LUT sum alone misses: a per-stage scale, a weights term and a small multiplicative noise."""
    samples = sample(n, "table1", seed=seed)
    index = index_encodings(samples.encodings, "table1", res_scale=SETTING.res_scale)
    macs, _ = index.key_macs_activations
    latency = 20 * macs / 1e9 + 0.02
    feats = network_features(index, latency, samples.encodings)
    truth = 0.8 * feats.column("lut_sum_ms") + 0.6 * feats.column("lut_stage7_ms") + 0.15 * feats.column("params_m") + 0.5
    measured = truth * np.exp(np.random.default_rng(seed).normal(0, 0.01, n))
    return samples, index, latency, feats, measured


def store(tmp_path, n: int = 40, workers: list[str] | None = None):
    """A LUT with every layer key of n + 20 synthetic networks and the first n measured whole (by
    ``workers[i]``, the measuring run of network i, when given)."""
    samples, _, _, feats, measured = synthetic(n)
    _, index, latency, _, _ = synthetic(n + 20)  # the layer keys of 20 more (a Sobol prefix holds the first n)
    lut_path = tmp_path / "lut.sqlite"
    rows = [Measurement("layer", DEVICE.fingerprint, "fake", "fp32", 1, str(k), int(c), float(ms), 0.0, 0.01, 3, 300, 10)
            for k, c, ms in zip(index.keys, index.codes.tolist(), latency, strict=True)]
    items = network_items(samples, SETTING)
    runs = workers or [None] * n
    rows += [Measurement("net", DEVICE.fingerprint, "fake", "fp32", 1, i, None, float(m), 0.0, 0.01, 3, 150, 5, worker=w)
             for i, m, w in zip(items, measured, runs, strict=True)]
    with LatencyLUT(lut_path) as lut:
        lut.register_device(DEVICE)
        lut.add_rows(rows)
    return lut_path, samples, items, feats, measured
