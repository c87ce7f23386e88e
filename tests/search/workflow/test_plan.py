"""Plans, presets and fingerprints without running a stage; the CLI's answers to bad input."""

from __future__ import annotations

import numpy as np
import pytest

from gpunet_hub.cli import main
from gpunet_hub.errors import InputError
from gpunet_hub.measure import get_backend
from gpunet_hub.space import decode
from gpunet_search.evaluate import proxy_config, proxy_resolution, scale_width
from gpunet_search.latency.layer_keys import arch_layer_keys
from gpunet_search.latency.pipeline import key_index
from gpunet_search.latency.sampling import sample
from gpunet_search.workflow import PRESETS, STAGE_NAMES, make_plan
from gpunet_search.workflow.fingerprints import State, fingerprint


def test_cpu_digits_searches_three_tiers_with_the_default_proxy():
    plan = make_plan("cpu-digits")
    assert len(plan.latency.tier_quantiles) >= 3
    assert plan.eval_config() == proxy_config(seed=plan.seed)
    # the final training is the proxy's schedule stretched to its epochs, as the fidelity benchmark's long run
    assert plan.eval_config(final=True) == proxy_config(seed=plan.seed).with_epochs(plan.final.epochs)
    assert plan.setting().width_mult == proxy_config().width_mult


def test_presets_are_plan_data_that_a_file_and_overrides_refine(tmp_path):
    path = tmp_path / "plan.yaml"
    path.write_text("search:\n  trials: 3\nlatency:\n  tier_quantiles: [0.25, 0.75]\n")
    plan = make_plan("smoke", path, [{"search": {"concurrent": 1}}])
    assert (plan.search.trials, plan.search.concurrent, plan.latency.tier_quantiles) == (3, 1, (0.25, 0.75))
    assert plan.latency.samples == PRESETS["smoke"]["latency"]["samples"]


@pytest.mark.parametrize(
    ("changes", "match"),
    [
        ({"search": {"trails": 3}}, "trials"),
        ({"latency": {"calibration_nets": 10_000}}, "exceeds latency.samples"),
        ({"final": {"proxy": {"width_mult": 0.5}}}, "must be the searched one"),
        ({"proxy": {"epochs": 0}}, "epochs"),
        ({"dataset": "/data/imagenet"}, "num_classes"),
        ({"latency": {"verify_tiers": "yes"}}, "verify_tiers must be true or false"),
        ({"latency": {"tier_guard": 0.9}}, "tier_guard"),
        ({"bench": {"rounds": 0}}, "bench.rounds"),
        ({"latency": {"passes": 0}}, "latency.passes"),
    ],
)
def test_bad_plans_are_refused_before_any_work(changes, match):
    with pytest.raises(InputError, match=match):
        make_plan("smoke", overrides=[changes])


def test_lut_keys_are_those_of_the_trained_network():
    plan = make_plan("smoke")
    config, samples = plan.eval_config(), sample(16, plan.space, seed=2)
    index = key_index(samples, plan.setting())
    for row in range(len(samples)):
        spec = decode(samples.encodings[row].tolist(), plan.space)
        trained = scale_width(spec.with_num_classes(plan.classes()), config.width_mult)
        resolution = proxy_resolution(spec.resolution, config.res_scale, config.min_resolution)
        assert index.network_keys(row) == arch_layer_keys(trained, resolution=resolution)


def test_a_gpu_backend_measures_in_fp16():
    plan = make_plan("smoke", overrides=[{"latency": {"backend": "tensorrt"}}])
    assert plan.precision() == "fp16" and plan.setting().precision == "fp16"


def test_state_file_keeps_interrupted_time_and_refuses_a_foreign_file(tmp_path):
    state = State(tmp_path)
    state.interrupted("sample", fingerprint("a"), 10.0)
    state.finish("sample", fingerprint("a"), {"networks": 3}, 1.5)
    assert State(tmp_path).stages["sample"].seconds == 11.5
    assert State(tmp_path).status("sample", fingerprint("a")) == "done"
    assert State(tmp_path).status("sample", fingerprint("b")) == "stale"
    assert State(tmp_path).status("lut", fingerprint("a")) == "todo"
    (tmp_path / "state.json").write_text('{"format": "other"}')
    with pytest.raises(InputError, match="not a regenerate state file"):
        State(tmp_path)


@pytest.mark.parametrize(
    "argv",
    [
        ["--preset", "smok"],
        ["--preset", "smoke", "--set", "search.trails=3"],
        ["--preset", "smoke", "--set", "oops"],
        ["--preset", "smoke", "--until", "nowhere"],
        ["--plan", "missing.yaml"],
        [],
    ],
)
def test_cli_bad_input_is_one_line_and_exit_1(argv, tmp_path, capsys):
    out = tmp_path / "out"
    assert main(["search", "regenerate", "--out", str(out), *argv]) == 1
    assert len(capsys.readouterr().err.strip().splitlines()) == 1
    assert not out.exists()


@pytest.mark.skipif(get_backend("tensorrt").available()[0], reason="a usable TensorRT is present")
def test_cli_gpu_backend_without_a_gpu_is_exit_2(tmp_path, capsys):
    argv = ["search", "regenerate", "--preset", "smoke", "--backend", "tensorrt", "--out", str(tmp_path), "--dry-run"]
    assert main(argv) == 2
    assert "tensorrt" in capsys.readouterr().err


@pytest.mark.skipif(not get_backend("tensorrt").available()[0], reason="needs a GPU with TensorRT")
def test_gpu_smoke_measures_the_lut_with_tensorrt(tmp_path):
    from gpunet_search.workflow import open_context, run

    ctx = open_context(make_plan("smoke", overrides=[{"latency": {"backend": "tensorrt"}}]), tmp_path)
    runs = run(ctx, until="tiers")
    assert [r.name for r in runs] == list(STAGE_NAMES[:4])
    assert np.isfinite(runs[-1].output["estimate_ms"]["median"])


def test_stage_names_are_the_nine_of_the_issue():
    assert STAGE_NAMES == ("sample", "lut", "calibrate", "tiers", "search", "final", "bench", "cards", "report")
