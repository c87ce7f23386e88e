"""Learned latency predictors, their storage in the LUT, the adaptive protocol and calibrate's checks."""

from __future__ import annotations

import hashlib
import json
import sqlite3
import subprocess
import sys
from dataclasses import replace

import numpy as np
import pytest
from latency_fixtures import DEVICE, SETTING
from latency_fixtures import store as _store
from latency_fixtures import synthetic as _synthetic

from gpunet_hub.cli import main
from gpunet_hub.errors import EnvironmentProblem, InputError
from gpunet_search.latency.calibration import Calibration, fit_warnings
from gpunet_search.latency.estimate import scaled_resolution
from gpunet_search.latency.features import COLUMNS, WEIGHT_COLUMNS, WEIGHT_KNOTS_MB, network_features
from gpunet_search.latency.layer_keys import arch_layer_keys
from gpunet_search.latency.lut import LatencyLUT, Measurement
from gpunet_search.latency.measure import TimingProtocol, net_item, parse_net_item, run_worker
from gpunet_search.latency.pipeline import Setting, calibrate, check_calibration_inputs, suggest_networks
from gpunet_search.latency.predictor import (
    LEARNED,
    PREDICTORS,
    cross_validate,
    make_predictor,
    select,
    uncertainty,
)
from gpunet_search.latency.predictor_store import features_of, load_predictor, predictor_record, stored_networks
from gpunet_search.latency.sampling import sample, save_samples


def test_features_match_the_network():
    torch = pytest.importorskip("torch")
    from gpunet_hub.builder import build_model
    from gpunet_hub.space import decode

    samples, index, latency, feats, _ = _synthetic(6)
    assert feats.values.shape == (6, len(COLUMNS))
    assert np.allclose(feats.column("lut_sum_ms"), sum(feats.column(c) for c in COLUMNS if c.startswith("lut_") and c != "lut_sum_ms"))
    assert np.array_equal(feats.values[:, -41:], samples.encodings)
    arch = decode(samples.encodings[0].tolist(), "table1")
    arch = replace(arch, resolution=round(arch.resolution * SETTING.res_scale))
    model = build_model(arch).eval()
    assert feats.column("params_m")[0] == pytest.approx(sum(p.numel() for p in model.parameters()) / 1e6)
    # Each layer's fp32 weight bytes, capped at each knot, summed: the layers are the stem, the blocks and the tail.
    layer_params = [sum(p.numel() for p in m.parameters()) for m in (model.stem, *model.blocks)]
    layer_params.append(sum(p.numel() for p in model.parameters()) - sum(layer_params))
    layer_mb = 4 * np.array(layer_params) / 1e6
    assert layer_mb.min() < WEIGHT_KNOTS_MB[0] and layer_mb.max() > WEIGHT_KNOTS_MB[1]  # the caps bind on some layers
    for knot, column in zip(WEIGHT_KNOTS_MB, WEIGHT_COLUMNS, strict=True):
        assert feats.column(column)[0] == pytest.approx(np.minimum(layer_mb, knot).sum())
    half = network_features(replace(index, precision="fp16"), latency, samples.encodings)  # 2 bytes a weight
    assert half.column(WEIGHT_COLUMNS[1])[0] == pytest.approx(np.minimum(layer_mb / 2, WEIGHT_KNOTS_MB[1]).sum())
    counted = np.array([[sum(k.se for k in keys), sum(k.act == "swish" for k in keys), sum(k.kernel > 3 for k in keys)]
                        for keys in (arch_layer_keys(decode(e.tolist(), "table1"), resolution=scaled_resolution(int(e[0]), SETTING.res_scale))
                                     for e in samples.encodings)])
    assert counted[:, 0].any() and counted[:, 2].any()  # the sample has SE and wide kernels to count
    assert np.array_equal(np.column_stack([feats.column(c) for c in ("layers_se", "layers_swish", "layers_wide_kernel")]), counted)
    macs = [0]

    def count(module, inputs, output):
        if isinstance(module, torch.nn.Conv2d):
            macs[0] += output.numel() * module.in_channels // module.groups * module.kernel_size[0] * module.kernel_size[1]
        elif isinstance(module, torch.nn.Linear):
            macs[0] += module.in_features * module.out_features

    for m in model.modules():
        m.register_forward_hook(count)
    with torch.no_grad():
        model(torch.zeros(1, 3, arch.resolution, arch.resolution))
    # Squeeze-excite is left out of the feature (a few per cent of the multiply-adds).
    assert feats.column("gmacs")[0] == pytest.approx(macs[0] / 1e9, rel=0.08)
    with pytest.raises(InputError, match="encodings"):
        network_features(index, latency, samples.encodings[:3])


def test_learned_predictors_fit_what_the_sum_misses():
    _, _, _, feats, measured = _synthetic()
    train, test = np.arange(32), np.arange(32, 48)
    errors = {}
    for name in PREDICTORS:
        model = make_predictor(name, 0).fit(feats.take(train), measured[train])
        pred = model.predict(feats.take(test))
        assert pred.shape == (16,) and np.all(np.isfinite(pred)) and np.all(pred > 0), name
        errors[name] = float(np.mean(np.abs(pred - measured[test]) / measured[test]))
    # The per-stage scale is invisible to the sum-only calibrations; the per-stage models see it.
    assert errors["ridge"] < errors["linear+weights"] / 2
    assert min(errors["gbr"], errors["rf"], errors["mlp"]) < errors["linear"]
    # Refitting with the same seed gives the same model (the store relies on it).
    for name in LEARNED:
        a = make_predictor(name, 3).fit(feats.take(train), measured[train]).predict(feats.take(test))
        b = make_predictor(name, 3).fit(feats.take(train), measured[train]).predict(feats.take(test))
        assert np.array_equal(a, b), name
    # The same networks timed in other units (or at a larger resolution): ridge's penalty must not depend on the scale.
    ridge = make_predictor("ridge").fit(feats.take(train), measured[train]).predict(feats.take(test))
    scaled = make_predictor("ridge").fit(feats.take(train), 1000 * measured[train]).predict(feats.take(test))
    np.testing.assert_allclose(scaled, 1000 * ridge, rtol=1e-6)
    # On 10 networks (fewer than its ~20 columns) ridge falls back on its base, not on a constant.
    few, rest = np.arange(10), np.arange(10, 48)
    small = {name: make_predictor(name).fit(feats.take(few), measured[few]).predict(feats.take(rest))
             for name in ("linear+weights", "ridge")}
    mape = {name: float(np.mean(np.abs(p - measured[rest]) / measured[rest])) for name, p in small.items()}
    assert mape["ridge"] <= 1.2 * mape["linear+weights"]
    cv = cross_validate(("linear", "ridge", "gbr"), feats.take(train), measured[train], k=4)
    assert select(cv) == min(cv, key=lambda n: cv[n]["mape"]) and cv["ridge"]["n"] == 32
    spread = uncertainty("ridge", feats.take(train), measured[train], feats.take(test), repeats=4)
    assert spread.shape == (16,) and np.all(spread >= 0) and spread.max() > 0
    with pytest.raises(InputError, match="unknown latency predictor"):
        make_predictor("xgb")
    with pytest.raises(InputError, match="at least 8"):
        make_predictor("gbr").fit(feats.take(np.arange(5)), measured[:5])
    with pytest.raises(InputError, match="not fitted"):
        make_predictor("mlp").predict(feats)


def test_the_uncalibrated_sum_is_a_candidate_that_cross_validation_keeps_when_fits_only_add_error():
    _, _, _, feats, _ = _synthetic()
    sums = feats.column("lut_sum_ms")
    # Measurements equal to the LUT sum up to +/-3 % noise, on few networks: every fit chases the noise.
    measured = sums * np.random.default_rng(1).uniform(0.97, 1.03, len(sums))
    rows = np.arange(12)
    model = make_predictor("sum").fit(feats.take(rows), measured[rows])
    assert np.array_equal(model.predict(feats), sums) and model.describe() == "1 * sum"
    assert fit_warnings(Calibration("sum", 1.0), 3) == []
    cv = cross_validate(PREDICTORS, feats.take(rows), measured[rows], k=4)
    assert select(cv) == "sum" and cv["sum"]["mape"] < min(v["mape"] for k, v in cv.items() if k != "sum")
    # With a real bias the fitted models win again.
    assert select(cross_validate(("sum", "linear"), feats.take(rows), 1.4 * measured[rows] + 2.0, k=4)) == "linear"


def test_fit_warnings_flag_few_networks_and_implausible_signs():
    assert fit_warnings(Calibration("linear", 1.1, 0.2), 40) == []
    assert "unstable" in fit_warnings(Calibration("linear", 1.1, 0.2), 6)[0]
    assert any("not positive" in w for w in fit_warnings(Calibration("linear", -0.5, 3.0), 40))
    assert any("negative" in w for w in fit_warnings(Calibration("linear+weights", 1.0, 0.1, d=-0.2), 40))


def test_calibrate_inputs_are_checked_before_measuring():
    assert check_calibration_inputs(64, "auto", 0.5, 0, 5) == (32, 32)
    with pytest.raises(InputError, match="use --nets 15"):
        check_calibration_inputs(6, "auto", 0.5, 0, 5)
    with pytest.raises(InputError, match="Did you mean 'gbr'"):
        check_calibration_inputs(64, "xgb", 0.5, 0, 5)
    with pytest.raises(InputError, match="train_fraction"):
        check_calibration_inputs(64, "linear", 1.0, 0, 5)
    assert check_calibration_inputs(6, "linear", 0.5, 0, 5) == (3, 3)


def test_learned_predictor_round_trips_through_the_lut(tmp_path):
    lut_path, samples, items, feats, measured = _store(tmp_path)
    train = np.arange(24)
    with LatencyLUT(lut_path) as lut:
        assert stored_networks(lut, DEVICE.fingerprint, "table1", SETTING) == sorted(items)
        assert stored_networks(lut, DEVICE.fingerprint, "table1", Setting(1, "fp32", 0.5)) == []
        got = features_of(lut, samples.encodings, "table1", SETTING, DEVICE.fingerprint)
        assert np.allclose(got.values, feats.values)
        # A gbr or rf stored before they kept their fitted numbers is refitted on load.
        for name in ("gbr", "rf"):
            model = make_predictor(name, 2).fit(feats.take(train), measured[train])
            record = predictor_record(model, [items[i] for i in train], feats.take(train))
            record.pop("state", None)
            lut.save_calibration(DEVICE.fingerprint, "fp32", 1, 0.25, name, record, {"formula": model.describe()})
            loaded = load_predictor(lut, DEVICE.fingerprint, SETTING)
            assert loaded.name == name and np.array_equal(loaded.predict(feats), model.predict(feats))
        # Candidates already measured whole are never suggested; the others come least-sure first.
        more = sample(60, "table1", seed=5)
        rows, spread = suggest_networks(lut, DEVICE.fingerprint, SETTING, more, 5, repeats=3)
        assert len(rows) == 5 and all(r >= 40 for r in rows) and np.all(np.diff(spread) <= 0)
        # A stored prediction the refit does not reproduce is refused (another library version).
        record["check_ms"] = [v * 1.01 for v in record["check_ms"]]
        lut.save_calibration(DEVICE.fingerprint, "fp32", 1, 0.25, "rf", record, {})
        with pytest.raises(EnvironmentProblem, match=r"refitted on its stored networks.*re-run"):
            load_predictor(lut, DEVICE.fingerprint, SETTING, "re-run calibrate")
        record["feature_set"] = "old/0"
        lut.save_calibration(DEVICE.fingerprint, "fp32", 1, 0.25, "rf", record, {})
        with pytest.raises(InputError, match="features"):
            load_predictor(lut, DEVICE.fingerprint, SETTING)
    with sqlite3.connect(lut_path) as db:  # a network the predictor was fitted on disappears
        db.execute("DELETE FROM measurements WHERE item = ?", (items[0],))
    with LatencyLUT(lut_path) as lut:
        record["feature_set"] = make_predictor("rf").record()["feature_set"]
        lut.save_calibration(DEVICE.fingerprint, "fp32", 1, 0.25, "rf", record, {})
        with pytest.raises(InputError, match="no longer in"):
            load_predictor(lut, DEVICE.fingerprint, SETTING)


def _damage_shape(name: str, state: dict) -> dict:
    """A copy of a fitted state with one array a row short (for rf, a column short)."""
    damaged = json.loads(json.dumps(state))
    if name == "gbr":
        damaged[name]["trees"][0]["left"] = damaged[name]["trees"][0]["left"][:-1]
    elif name == "rf":
        damaged[name]["inputs"] -= 1
    else:
        damaged[name]["mean"] = damaged[name]["mean"][:-1]
    return damaged


@pytest.mark.parametrize("name", ["ridge", "mlp", "gbr", "rf"])
def test_learned_predictors_load_from_their_stored_numbers_without_sklearn_or_torch(name, tmp_path):
    lut_path, _, items, feats, measured = _store(tmp_path)
    model = make_predictor(name, 1).fit(feats, measured)
    record = predictor_record(model, items, feats)
    assert set(record["state"]) == {"base", name}
    with LatencyLUT(lut_path) as lut:
        lut.save_calibration(DEVICE.fingerprint, "fp32", 1, 0.25, name, record, {})
        np.testing.assert_allclose(load_predictor(lut, DEVICE.fingerprint, SETTING).predict(feats), model.predict(feats),
                                   rtol=1e-12)
    # A fresh process (as `search tiers` is) loads and applies it with numpy alone.
    code = (
        "import sys; from gpunet_search.latency.lut import LatencyLUT; from gpunet_search.latency.pipeline import Setting\n"
        "from gpunet_search.latency.predictor_store import features_of, load_predictor\n"
        f"lut = LatencyLUT({str(lut_path)!r}, readonly=True)\n"
        f"p = load_predictor(lut, {DEVICE.fingerprint!r}, Setting(1, 'fp32', 0.25))\n"
        "print(p.name, 'sklearn' in sys.modules, 'torch' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == [name, "False", "False"]
    with LatencyLUT(lut_path) as lut:  # a damaged state, and weights that do not give the stored predictions
        lut.save_calibration(DEVICE.fingerprint, "fp32", 1, 0.25, name, record | {"state": {"base": {}}}, {})
        with pytest.raises(InputError, match="damaged"):
            load_predictor(lut, DEVICE.fingerprint, SETTING)
        truncated = _damage_shape(name, record["state"])  # arrays of the wrong shape
        lut.save_calibration(DEVICE.fingerprint, "fp32", 1, 0.25, name, record | {"state": truncated}, {})
        with pytest.raises(InputError, match="damaged"):
            load_predictor(lut, DEVICE.fingerprint, SETTING)
        record["check_ms"] = [v * 1.01 for v in record["check_ms"]]
        lut.save_calibration(DEVICE.fingerprint, "fp32", 1, 0.25, name, record, {})
        with pytest.raises(EnvironmentProblem, match="restored from its stored weights"):
            load_predictor(lut, DEVICE.fingerprint, SETTING)


def test_tiers_cli_uses_a_learned_predictor(tmp_path, capsys):
    lut_path, samples, items, feats, measured = _store(tmp_path)
    save_samples(samples, tmp_path / "s.npz")
    model = make_predictor("ridge").fit(feats, measured)
    with LatencyLUT(lut_path) as lut:
        lut.save_calibration(DEVICE.fingerprint, "fp32", 1, 0.25, "ridge", predictor_record(model, items, feats), {"formula": model.describe()})
    code = main(["search", "tiers", "--samples", str(tmp_path / "s.npz"), "--lut", str(lut_path), "--res-scale", "0.25",
                 "--edges", "0,1000", "--device", DEVICE.fingerprint, "--out-dir", str(tmp_path / "t")])
    assert code == 0
    summary = json.loads((tmp_path / "t" / "tiers.json").read_text())
    assert summary["calibration"]["model"] == "ridge" and summary["calibration"]["n_train"] == 40
    assert summary["estimate"] == "learned predictor (ridge)"
    with np.load(tmp_path / "t" / "tier_0-1000ms.npz") as data:
        assert np.allclose(data["estimate_ms"], model.predict(feats.take(data["rows"])))
    capsys.readouterr()
    assert main(["search", "lut", "stats", "--lut", str(lut_path), "--format", "json"]) == 0
    stats = json.loads(capsys.readouterr().out)
    assert stats["devices"][0]["calibrations"][0]["formula"].startswith("ridge")


def test_net_items_parse_back():
    item = net_item([224] + [1] * 40, "table1", 56, "retest")
    assert parse_net_item(item) == ("table1", 56, [224] + [1] * 40, "retest")
    shrunk = net_item([224] + [1] * 40, "table1", 48, width_mult=0.25, classes=10, precision="fp16")  # an evaluator proxy network
    assert shrunk == "net:table1:r48:w0.25:n10:fp16:" + "-".join(["224"] + ["1"] * 40)
    assert parse_net_item(shrunk) == ("table1", 48, [224] + [1] * 40, "")
    with pytest.raises(InputError, match="not a network item"):
        parse_net_item("irb:c8>16")


def test_adaptive_protocol_measures_until_rounds_agree(tmp_path):
    class Drifting:
        """Item 'a' settles at once (1.00, 1.01, 1.00); item 'b''s three lowest rounds agree from its 5th round."""

        def __init__(self) -> None:
            self.medians = {"net:a": [1.0, 1.01, 1.0, 9.0], "net:b": [2.0, 2.5, 3.0, 2.03, 2.02, 9.0]}
            self.calls: list[str] = []

        def prepare(self, item, workdir):
            return item

        def time(self, handle, *, warmup, runs, max_seconds):
            value = self.medians[handle][sum(c == handle for c in self.calls)]
            self.calls.append(handle)
            return np.full(runs, value)

        def close(self, handle):
            pass

    backend = Drifting()
    protocol = TimingProtocol(warmup=0, runs=5, rounds=3, spread_max=0.05, max_rounds=8)
    run_worker(tmp_path / "l.sqlite", ["net:a", "net:b"], DEVICE, backend, protocol, kind="net")
    assert backend.calls.count("net:a") == 3 and backend.calls.count("net:b") == 5
    with LatencyLUT(tmp_path / "l.sqlite") as lut:
        rows = {r.item: r for r in lut.rows()}
        assert rows["net:b"].rounds == 5 and rows["net:b"].median_ms == 2.0 and rows["net:b"].spread_ms == pytest.approx(0.03)
        assert rows["net:a"].rounds == 3
        assert lut.round_history(["net:a", "net:b"], DEVICE.fingerprint, kind="net") == {"net:a": [1.0, 1.01, 1.0], "net:b": [2.0, 2.5, 3.0, 2.03, 2.02]}
        assert lut.pending() == (0, 0)
    # The cap bounds an item that never settles.
    backend = Drifting()
    backend.medians["net:b"] = [1.0, 2.0, 3.0, 4.0, 5.0]
    run_worker(tmp_path / "m.sqlite", ["net:b"], DEVICE, backend, TimingProtocol(warmup=0, runs=5, rounds=3, spread_max=0.05, max_rounds=4), kind="net")
    assert backend.calls == ["net:b"] * 4
    with pytest.raises(InputError, match="max_rounds"):
        TimingProtocol(rounds=3, spread_max=0.05, max_rounds=2)
    with pytest.raises(InputError, match="spread_max"):
        TimingProtocol(spread_max=1.5)


def test_calibrate_cli_refuses_too_few_networks_before_measuring(tmp_path, capsys):
    save_samples(sample(10, "table1", seed=3), tmp_path / "s.npz")
    code = main(["search", "calibrate", "--samples", str(tmp_path / "s.npz"), "--lut", str(tmp_path / "lut.sqlite"),
                 "--nets", "6", "--res-scale", "0.125"])
    assert code == 1 and "use --nets 15" in capsys.readouterr().err
    assert not (tmp_path / "lut.sqlite").exists()
    assert main(["search", "calibrate", "--samples", str(tmp_path / "s.npz"), "--nets", "6", "--model", "linear",
                 "--max-rounds", "5", "--lut", str(tmp_path / "lut.sqlite")]) == 1
    assert "--spread-max" in capsys.readouterr().err and not (tmp_path / "lut.sqlite").exists()
    assert main(["search", "lut", "build", "--samples", str(tmp_path / "s.npz"), "--passes", "11",
                 "--lut", str(tmp_path / "lut.sqlite")]) == 1
    assert "--passes" in capsys.readouterr().err and not (tmp_path / "lut.sqlite").exists()



class HashTimer:
    """A fake timing backend: each item's latency from its hash (layers and networks alike)."""

    def prepare(self, item, workdir):
        return item

    def time(self, handle, *, warmup, runs, max_seconds):
        return np.full(runs, 1.0 + int(hashlib.sha1(handle.encode()).hexdigest()[:4], 16) / 65536)

    def close(self, handle):
        pass


def test_calibrate_fits_on_the_networks_stored_before_unless_told_not_to(tmp_path):
    setting, protocol, lut = Setting(1, "fp32", 0.125), TimingProtocol(warmup=0, runs=3, rounds=1), tmp_path / "lut.sqlite"
    first, second = sample(8, "table1", seed=3), sample(16, "table1", seed=4)
    second = replace(second, encodings=second.encodings[8:])  # no network of the first sample
    _, report = calibrate(lut, first, DEVICE, HashTimer(), protocol, setting, model="linear")
    assert (report["n_train"], report["n_test"]) == (4, 4)
    _, report = calibrate(lut, second, DEVICE, HashTimer(), protocol, setting, model="linear")
    assert (report["n_train"], report["n_test"]) == (4 + 8, 4)  # the first sample's 8 networks join the fit
    with LatencyLUT(lut) as store:
        assert store.calibration(DEVICE.fingerprint, "fp32", 1, 0.125)["metrics"]["n_train"] == 12  # what is stored
    _, report = calibrate(lut, second, DEVICE, HashTimer(), protocol, setting, model="linear", with_stored=False)
    assert (report["n_train"], report["n_test"]) == (4, 4)


def test_luts_written_before_the_round_history_still_open(tmp_path):
    lut_path = tmp_path / "old.sqlite"
    with LatencyLUT(lut_path) as lut:
        lut.register_device(DEVICE)
        lut.add_rows([Measurement("net", DEVICE.fingerprint, "fake", "fp32", 1, "net:x", None, 2.0, 0.1, 0.01, 3, 90, 5)])
    with sqlite3.connect(lut_path) as db:  # the file as the previous version wrote it
        db.execute("DROP TABLE round_history")
    with LatencyLUT(lut_path, readonly=True) as lut:
        assert lut.round_history(["net:x"], DEVICE.fingerprint, kind="net") == {}
        assert lut.lookup(["net:x"], DEVICE.fingerprint, kind="net").tolist() == [2.0]
    with LatencyLUT(lut_path) as lut:  # opened for writing, it gains the table
        assert lut.round_history(["net:x"], DEVICE.fingerprint, kind="net") == {}
    with sqlite3.connect(lut_path) as db:
        assert db.execute("SELECT COUNT(*) FROM round_history").fetchone() == (0,)


def test_chunked_prediction_equals_the_whole():
    from gpunet_search.latency.predictor_store import predict_networks

    _, index, latency, feats, measured = _synthetic(30)
    encodings = feats.values[:, -41:].astype(np.int64)
    for name in ("linear+weights", "gbr", "rf", "mlp"):
        model = make_predictor(name).fit(feats, measured)
        chunked = predict_networks(model, index, latency, encodings, chunk=7, workers=1)
        assert np.allclose(chunked, model.predict(feats)), name
        # chunks predicted by several threads: every row by one of them, so the same values to the bit
        assert np.array_equal(predict_networks(model, index, latency, encodings, chunk=7, workers=3), chunked), name


def test_a_later_pass_replaces_a_slow_first_session_and_resumes(tmp_path):
    class SlowFirstSession:
        """Every session of 'net:a' but its first runs at 1.0 ms; the first runs at 1.8 ms (a slow spell)."""

        def __init__(self) -> None:
            self.sessions: list[str] = []

        def prepare(self, item, workdir):
            self.sessions.append(item)
            return (item, len(self.sessions))

        def time(self, handle, *, warmup, runs, max_seconds):
            item, session = handle
            slow = item == "net:a" and self.sessions.index(item) + 1 == session
            return np.full(runs, 1.8 if slow else 1.0)

        def close(self, handle):
            pass

    from gpunet_search.latency.measure import measure_items

    backend = SlowFirstSession()
    path = tmp_path / "l.sqlite"
    one = TimingProtocol(warmup=0, runs=5, rounds=3)
    measure_items(path, ["net:a", "net:b"], DEVICE, backend, one, kind="net")
    with LatencyLUT(path) as lut:
        assert lut.lookup(["net:a"], DEVICE.fingerprint, kind="net")[0] == 1.8  # three rounds of one session agree
    result = measure_items(path, ["net:a", "net:b"], DEVICE, backend, replace(one, passes=2), kind="net")
    assert result["later_passes"] == 2 and backend.sessions == ["net:a", "net:b", "net:b", "net:a"]  # from the middle
    with LatencyLUT(path) as lut:
        rows = {r.item: r for r in lut.rows(kind="net")}
        assert rows["net:a"].median_ms == 1.0 and rows["net:a"].rounds == 6 and rows["net:a"].runs == 30
        assert lut.round_history(["net:a"], DEVICE.fingerprint, kind="net")["net:a"] == [1.8] * 3 + [1.0] * 3
        assert lut.passes_done(["net:a", "net:b", "net:c"], DEVICE.fingerprint, kind="net") == {"net:a": 2, "net:b": 2}
        with pytest.raises(InputError, match="no finished measurement"):
            lut.add_pass("net:c", DEVICE.fingerprint, 1, [(1.0, 0.0, 5, 1)], kind="net")
        with pytest.raises(InputError, match="already has pass 2"):
            lut.add_pass("net:a", DEVICE.fingerprint, 1, [(0.5, 0.0, 5, 1)], kind="net")
        assert lut.lookup(["net:a"], DEVICE.fingerprint, kind="net")[0] == 1.0  # the refused pass changed nothing
    # A pass already taken is not taken again.
    assert (
        measure_items(path, ["net:a", "net:b"], DEVICE, backend, replace(one, passes=2), kind="net")["later_passes"]
        == 0
    )
    assert len(backend.sessions) == 4
    with pytest.raises(InputError, match="passes"):
        TimingProtocol(passes=0)
