"""Tiers, calibration, and the stage-1 CLI end to end on a LUT filled with known latencies."""

from __future__ import annotations

import json

import numpy as np
import pytest

from gpunet_hub.cli import main
from gpunet_hub.errors import InputError
from gpunet_search.latency.calibration import Calibration, accuracy_metrics, evaluate, fit, raw_bias, split
from gpunet_search.latency.fingerprint import onnxruntime_cpu_device
from gpunet_search.latency.lut import LatencyLUT, Measurement
from gpunet_search.latency.pipeline import Setting, key_index
from gpunet_search.latency.sampling import load_samples, sample, save_samples
from gpunet_search.latency.tiers import Tier, assign, member_row, parse_tiers, write_tiers


def test_parse_tiers():
    tiers = parse_tiers(centres="0.5,0.65,0.85,1.25,1.75", width="10%")
    assert [t.name for t in tiers] == ["0.5ms", "0.65ms", "0.85ms", "1.25ms", "1.75ms"]
    assert tiers[1].lo == pytest.approx(0.585) and tiers[1].hi == pytest.approx(0.715)
    absolute = parse_tiers(centres="1,2", width="0.25")
    assert (absolute[1].lo, absolute[1].hi) == (1.75, 2.25)
    edges = parse_tiers(edges="0.5,0.65,0.85")
    assert [(t.lo, t.hi, t.name) for t in edges] == [(0.5, 0.65, "0.5-0.65ms"), (0.65, 0.85, "0.65-0.85ms")]
    for bad in ({"centres": "1", "edges": "1,2"}, {}, {"edges": "2,1"}, {"edges": "1"}, {"centres": "a,b"},
                {"centres": "1", "width": "-5%"}, {"centres": "1", "width": "wide"}):
        with pytest.raises(InputError):
            parse_tiers(**bad)


def test_assign_half_open_and_overlapping():
    estimates = np.array([0.4, 0.5, 0.6, 0.65, 0.7, np.nan])
    got = assign(estimates, [Tier(0.5, 0.65, "a"), Tier(0.6, 0.75, "b")])
    assert got[0].tolist() == [1, 2] and got[1].tolist() == [2, 3, 4]


def test_a_guard_keeps_members_away_from_the_bounds():
    measured = np.array([0.51, 0.52, 0.6, 0.63, 0.64, np.nan])
    tier = [Tier(0.5, 0.65, "a")]
    assert assign(measured, tier)[0].tolist() == [0, 1, 2, 3, 4]
    # 3 %: 0.51 * 0.97 < 0.5 and 0.64 * 1.03 >= 0.65 fall out; 0.52 and 0.63 stay.
    assert assign(measured, tier, guard=0.03)[0].tolist() == [1, 2, 3]


def test_measured_members_replace_estimated_ones_in_the_files(tmp_path):
    samples = sample(8, "table1", seed=0)
    estimates = np.linspace(0.4, 0.8, len(samples))
    measured = np.full(len(samples), np.nan)
    measured[[0, 5, 7]] = [0.6, 0.9, 0.62]  # row 0 is estimated outside, row 5 measured outside
    tiers = [Tier(0.55, 0.65, "0.6ms")]
    (row,) = write_tiers(tmp_path, tiers, samples, estimates, estimates, {}, measured=measured, guard=0.02)
    with np.load(row["file"]) as data:
        assert data["rows"].tolist() == [0, 7] and data["measured_ms"].tolist() == [0.6, 0.62]
        assert json.loads(str(data["meta"]))["membership"] == {"by": "measured", "guard": 0.02}
    (plain,) = write_tiers(tmp_path, tiers, samples, estimates, estimates, {})
    with np.load(plain["file"]) as data:
        assert "measured_ms" not in data and data["rows"].tolist() == assign(estimates, tiers)[0].tolist()


def test_member_row_finds_a_network_in_a_tier_file_or_says_it_is_absent():
    encodings = np.array([[1, 2, 3], [4, 5, 6], [4, 5, 7]])
    assert member_row(encodings, [4, 5, 7]) == 2 and member_row(encodings, np.array([1, 2, 3])) == 0
    assert member_row(encodings, [4, 5, 8]) is None


def test_calibration_fit_and_metrics():
    rng = np.random.default_rng(0)
    sums = rng.uniform(1, 10, 60)
    layers = rng.integers(20, 70, 60)
    measured = 1.3 * sums + 0.02 * layers + 0.5
    full = fit(sums, measured, layers, "linear+layers")
    assert (full.a, full.b, full.c) == pytest.approx((1.3, 0.5, 0.02))
    assert np.allclose(full.apply(sums, layers), measured)
    lin = fit(sums, 2 * sums + 1)
    assert (lin.a, lin.b) == pytest.approx((2.0, 1.0)) and fit(sums, 3 * sums, model="scale").a == pytest.approx(3.0)
    assert Calibration.from_record("linear", lin.coef()) == lin
    params = rng.uniform(5, 100, 60)
    weights = fit(sums, 1.02 * sums + 0.14 * params + 1.2, model="linear+weights", params_m=params)
    assert (weights.a, weights.b, weights.d) == pytest.approx((1.02, 1.2, 0.14))
    both = fit(sums, 1.02 * sums + 0.14 * params + 0.03 * layers + 0.2, layers, "linear+weights+layers", params)
    assert (both.a, both.b, both.c, both.d) == pytest.approx((1.02, 0.2, 0.03, 0.14))
    assert "Mparams" in both.describe() and Calibration.from_record(both.model, both.coef()) == both
    with pytest.raises(InputError, match="parameter count"):
        weights.apply(sums)
    with pytest.raises(InputError):
        fit(sums[:2], measured[:2])
    with pytest.raises(InputError):
        full.apply(sums)
    m = accuracy_metrics(np.array([1.0, 2.15, 2.9, 4.5]), np.array([1.0, 2.0, 3.0, 4.0]))
    assert m["spearman"] == 1.0 and m["acc5"] == 0.5 and m["acc10"] == 0.75
    assert m["mape"] == pytest.approx((0 + 0.075 + 1 / 30 + 0.125) / 4)
    assert raw_bias(np.array([1.0, 3.0]), np.array([2.0, 2.0])) == {"mean": 1.0, "min": 0.5, "max": 1.5}
    train, test = split(10, 0.5, seed=1)
    assert len(train) == 5 and sorted(np.r_[train, test].tolist()) == list(range(10))
    cal, report = evaluate(sums, 0.9 * sums + 0.3, layers)
    assert report["calibrated"]["mape"] < 1e-9 and report["raw"]["mape"] > 0 and report["n_test"] == 30
    assert cal.a == pytest.approx(0.9)


def _fill_lut(path, samples, scale, device):
    """A LUT whose every key of ``samples`` has a latency proportional to its multiply-adds."""
    index = key_index(samples, Setting(1, "fp32", scale))
    rows = []
    for key, code in zip(index.keys, index.codes.tolist()):
        ms = 2e-9 * key.cin * key.cout * max(key.expansion, 1) * key.kernel ** 2 * key.h * key.w / key.stride ** 2 + 0.01
        rows.append(Measurement("layer", device.fingerprint, device.backend, "fp32", 1, str(key), code, ms, 0.0, 0.01, 3, 300, 10))
    with LatencyLUT(path) as lut:
        lut.register_device(device)
        lut.add_rows(rows)
    return index


def test_cli_tiers_end_to_end(tmp_path, capsys):
    device = onnxruntime_cpu_device(1)
    samples_path, lut = tmp_path / "s.npz", tmp_path / "lut.sqlite"
    assert main(["search", "sample", "--n", "3000", "--out", str(samples_path)]) == 0
    samples = load_samples(samples_path)
    index = _fill_lut(lut, samples.head(2000), 0.25, device)
    args = ["search", "tiers", "--samples", str(samples_path), "--lut", str(lut), "--res-scale", "0.25", "--edges", "0,5,10,20,1000"]
    # Not calibrated yet: refused with a hint; --raw works.
    capsys.readouterr()
    assert main(args + ["--limit", "2000", "--out-dir", str(tmp_path / "t")]) == 1
    assert "search calibrate" in capsys.readouterr().err
    assert main(args + ["--limit", "2000", "--raw", "--out-dir", str(tmp_path / "raw")]) == 0
    with LatencyLUT(lut) as store:
        store.save_calibration(device.fingerprint, "fp32", 1, 0.25, "linear", {"a": 2.0, "b": 1.0, "c": 0.0}, {})
    assert main(args + ["--limit", "2000", "--out-dir", str(tmp_path / "t")]) == 0
    summary = json.loads((tmp_path / "t" / "tiers.json").read_text())
    assert summary["device"] == device.fingerprint and summary["calibration"] == {"model": "linear", "a": 2.0, "b": 1.0, "c": 0.0, "d": 0.0}
    assert summary["samples_sha256"] == samples.sha256 and summary["lut_id"]
    counts = {t["name"]: t["count"] for t in summary["tiers"]}
    with LatencyLUT(lut) as store:
        sums = (np.append(store.lookup_codes(index.codes, device.fingerprint, "fp32", 1), 0.0)[index.index] * index.counts).sum(1)
    estimates = 2.0 * sums + 1.0
    assert counts == {"0-5ms": int((estimates < 5).sum()), "5-10ms": int(((estimates >= 5) & (estimates < 10)).sum()),
                      "10-20ms": int(((estimates >= 10) & (estimates < 20)).sum()), "20-1000ms": int((estimates >= 20).sum())}
    tier = load_samples(tmp_path / "t" / "tier_5-10ms.npz")
    with np.load(tmp_path / "t" / "tier_5-10ms.npz") as data:
        assert np.array_equal(samples.encodings[data["rows"]], tier.encodings)
        assert np.allclose(data["estimate_ms"], estimates[data["rows"]])
    assert tier.meta["tier"]["name"] == "5-10ms" and tier.meta["lut_revision"] == 0
    # A tier file feeds `lut build` (here only counted).
    capsys.readouterr()
    assert main(["search", "lut", "build", "--samples", str(tmp_path / "t" / "tier_5-10ms.npz"), "--lut", str(lut),
                 "--res-scale", "0.25", "--dry-run"]) == 0
    assert f"{counts['5-10ms']:,} networks" in capsys.readouterr().out
    # Networks whose keys the LUT lacks are refused, naming the command that fixes it.
    assert main(args + ["--out-dir", str(tmp_path / "u")]) == 1
    error = capsys.readouterr().err
    assert "search lut build" in error and "--res-scale 0.25" in error  # the flags the user gave
    # Replacing rows makes the calibration stale.
    assert main(["search", "lut", "export", "--lut", str(lut), "--out", str(tmp_path / "lut.json")]) == 0
    assert main(["search", "lut", "import", "--lut", str(lut), "--file", str(tmp_path / "lut.json"), "--replace"]) == 0
    capsys.readouterr()
    assert main(args + ["--limit", "2000", "--out-dir", str(tmp_path / "t")]) == 1
    error = capsys.readouterr().err
    assert "re-run `gpunet-hub search calibrate --lut" in error and "--res-scale 0.25" in error
    assert main(["search", "lut", "stats", "--lut", str(lut), "--format", "json"]) == 0
    stats = json.loads(capsys.readouterr().out)
    assert stats["devices"][0]["rows"] == {"layer fp32 b1": len(index.codes)}


def test_cli_calibrate_real_measurement(tmp_path, capsys):
    pytest.importorskip("onnxruntime")
    samples = sample(6, "table1", seed=3)
    save_samples(samples, tmp_path / "s.npz")
    lut = tmp_path / "lut.sqlite"
    code = main(["search", "calibrate", "--samples", str(tmp_path / "s.npz"), "--lut", str(lut), "--nets", "6",
                 "--res-scale", "0.125", "--model", "linear", "--runs", "3", "--rounds", "1", "--warmup", "1", "--report", str(tmp_path / "cal.json")])
    assert code == 0
    report = json.loads((tmp_path / "cal.json").read_text())
    assert report["n_train"] == 3 and report["n_test"] == 3 and report["res_scale"] == 0.125
    assert report["raw"]["n"] == 3 and np.isfinite(report["calibrated"]["mape"])
    with LatencyLUT(lut) as store:
        assert store.calibration(report["device"], "fp32", 1, 0.125)["coef"] == report["coef"]
        assert len(store.rows(report["device"], kind="net")) == 6
