"""Malformed input to the hub API and the hub's CLI commands: typed errors, named parameters, no change.

Each table lists bad inputs by class (wrong type, bool for a number, NaN/inf/negative, fractional
whole numbers, empty strings, unknown names, bad paths); every case must raise the given
gpunet_hub error type whose message names the parameter, before any model is built, and the CLI
must answer with one stderr line and exit 1 (input) or 2 (environment).
"""

from __future__ import annotations

import copy
import itertools
import json
import math

import pytest
from conftest import TINY_STANDARD
from rich.console import Console

import gpunet_hub
from gpunet_hub import (
    ArchSpec,
    ArchSpecError,
    EncodingError,
    EnvironmentProblem,
    InputError,
    LayerSpec,
    UnknownGPUError,
    UnknownModelError,
)
from gpunet_hub.arch import from_list
from gpunet_hub.cli import _output, main

NAN, INF = math.nan, math.inf
ENCODING = [
    320,
    32,
    3,
    0,
    2,
    32,
    3,
    5,
    0,
    0,
    2,
    64,
    3,
    5,
    0,
    0,
    3,
    256,
    3,
    5,
    0,
    1,
    3,
    0,
    0,
    0,
    0,
    0,
    0,
    704,
    3,
    5,
    1,
    0,
    2,
    0,
    0,
    0,
    0,
    0,
    0,
]


def _digit(index, value):
    vector = list(ENCODING)
    vector[index] = value
    return vector


def _layer(**changes):
    config = copy.deepcopy(TINY_STANDARD)
    config[5].update(changes)
    return config


def _select(**kw):
    args = {"gpu": "GV100", "max_latency_ms": 1.0, **kw}
    return lambda: gpunet_hub.select(args.pop("gpu"), args.pop("max_latency_ms"), **args)


# (id, call, error type, the parameter the message must name)
API_CASES = [
    # select / list_models: wrong types, bools, NaN/inf/negative/zero budgets, bad batch and precision
    ("select-gpu-int", _select(gpu=123), InputError, "gpu"),
    ("select-gpu-none", _select(gpu=None), InputError, "gpu"),
    ("select-gpu-list", _select(gpu=["GV100"]), InputError, "gpu"),
    ("select-gpu-empty", _select(gpu=""), UnknownGPUError, "GPU"),
    ("select-gpu-unknown", _select(gpu="GV10"), UnknownGPUError, "GV100"),
    ("select-budget-str", _select(max_latency_ms="1.0"), InputError, "max_latency_ms"),
    ("select-budget-bool", _select(max_latency_ms=True), InputError, "max_latency_ms"),
    ("select-budget-nan", _select(max_latency_ms=NAN), InputError, "max_latency_ms"),
    ("select-budget-inf", _select(max_latency_ms=INF), InputError, "max_latency_ms"),
    ("select-budget-negative", _select(max_latency_ms=-1), InputError, "max_latency_ms"),
    ("select-budget-zero", _select(max_latency_ms=0), InputError, "max_latency_ms"),
    ("select-budget-none", _select(max_latency_ms=None), InputError, "max_latency_ms"),
    ("select-budget-huge-int", _select(max_latency_ms=10**400), InputError, "max_latency_ms"),
    ("select-batch-zero", _select(batch_size=0), InputError, "batch_size"),
    ("select-batch-fraction", _select(batch_size=1.5), InputError, "batch_size"),
    ("select-batch-bool", _select(batch_size=True), InputError, "batch_size"),
    ("select-batch-str", _select(batch_size="1"), InputError, "batch_size"),
    ("select-precision-unknown", _select(precision="fp7"), InputError, "fp7"),
    ("select-precision-int", _select(precision=16), InputError, "precision"),
    ("select-group-on-hub-gpu", _select(local_group="x"), InputError, "local_group"),
    ("list-filter-int", lambda: gpunet_hub.list_models(5), InputError, "filter"),
    ("list-budget-nan", lambda: gpunet_hub.list_models(gpu="GV100", max_latency_ms=NAN), InputError, "max_latency_ms"),
    (
        "list-budget-negative",
        lambda: gpunet_hub.list_models(gpu="GV100", max_latency_ms=-1),
        InputError,
        "max_latency_ms",
    ),
    ("list-budget-no-gpu", lambda: gpunet_hub.list_models(max_latency_ms=1.0), InputError, "gpu"),
    ("list-gpu-int", lambda: gpunet_hub.list_models(gpu=7), InputError, "gpu"),
    # names
    ("card-none", lambda: gpunet_hub.model_card(None), InputError, "name"),
    ("card-int", lambda: gpunet_hub.model_card(123), InputError, "name"),
    ("card-empty", lambda: gpunet_hub.model_card(""), UnknownModelError, "unknown model"),
    ("card-unknown", lambda: gpunet_hub.model_card("gpunet_3"), UnknownModelError, "gpunet_0"),
    # decode / encode: inf, NaN, fractional, bool and text digits, wrong lengths and types
    ("decode-inf-digit", lambda: gpunet_hub.decode(_digit(3, INF)), EncodingError, "digit 3"),
    ("decode-nan-digit", lambda: gpunet_hub.decode(_digit(0, NAN)), EncodingError, "digit 0"),
    ("decode-fraction-digit", lambda: gpunet_hub.decode(_digit(1, 32.5)), EncodingError, "digit 1"),
    ("decode-bool-digit", lambda: gpunet_hub.decode(_digit(3, True)), EncodingError, "digit 3"),
    ("decode-text-digit", lambda: gpunet_hub.decode(_digit(0, "320")), EncodingError, "digit 0"),
    ("decode-short", lambda: gpunet_hub.decode(ENCODING[:40]), EncodingError, "41"),
    ("decode-endless", lambda: gpunet_hub.decode(itertools.count()), EncodingError, "41"),
    ("decode-none", lambda: gpunet_hub.decode(None), EncodingError, "41"),
    ("decode-text", lambda: gpunet_hub.decode("320,32"), EncodingError, "41"),
    ("decode-classes-zero", lambda: gpunet_hub.decode(ENCODING, num_classes=0), InputError, "num_classes"),
    ("decode-classes-fraction", lambda: gpunet_hub.decode(ENCODING, num_classes=2.5), InputError, "num_classes"),
    ("decode-classes-bool", lambda: gpunet_hub.decode(ENCODING, num_classes=True), InputError, "num_classes"),
    ("decode-space-int", lambda: gpunet_hub.decode(ENCODING, 1), EncodingError, "space"),
    ("decode-space-unknown", lambda: gpunet_hub.decode(ENCODING, "relase"), EncodingError, "release"),
    ("encode-not-archspec", lambda: gpunet_hub.encode("gpunet_0"), EncodingError, "ArchSpec"),
    # ArchSpec: resolution, NaN/inf/text expansion, wrong value types, constructed directly or parsed
    (
        "arch-resolution-negative",
        lambda: ArchSpec(-5, "standard", from_list(TINY_STANDARD).layers),
        ArchSpecError,
        "resolution",
    ),
    (
        "arch-resolution-text",
        lambda: ArchSpec("64", "standard", from_list(TINY_STANDARD).layers),
        ArchSpecError,
        "resolution",
    ),
    (
        "arch-layers-list",
        lambda: ArchSpec(64, "standard", list(from_list(TINY_STANDARD).layers)),
        ArchSpecError,
        "layers",
    ),
    ("arch-family", lambda: ArchSpec(64, "wide", from_list(TINY_STANDARD).layers), ArchSpecError, "family"),
    ("arch-expansion-nan", lambda: from_list(_layer(expansion=NAN)), ArchSpecError, "expansion"),
    ("arch-expansion-inf", lambda: from_list(_layer(expansion=INF)), ArchSpecError, "expansion"),
    ("arch-expansion-text", lambda: from_list(_layer(expansion="3")), ArchSpecError, "expansion"),
    ("arch-kernel-float", lambda: from_list(_layer(kernel_size=5.0)), ArchSpecError, "kernel_size"),
    ("arch-channels-bool", lambda: from_list(_layer(num_out_channels=True)), ArchSpecError, "num_out_channels"),
    ("arch-act-int", lambda: from_list(_layer(act=1)), ArchSpecError, "act"),
    ("arch-direct-expansion-nan", lambda: ArchSpec(64, "standard", _direct(expansion=NAN)), ArchSpecError, "expansion"),
    ("arch-direct-stride-text", lambda: ArchSpec(64, "standard", _direct(stride="2")), ArchSpecError, "stride"),
    ("arch-layer-not-layerspec", lambda: ArchSpec(64, "standard", ("head", "tail")), ArchSpecError, "LayerSpec"),
    ("arch-channels-huge", lambda: from_list(_layer(num_out_channels=10**9)), ArchSpecError, "num_out_channels"),
    (
        "arch-resolution-huge",
        lambda: ArchSpec(10**6, "standard", from_list(TINY_STANDARD).layers),
        ArchSpecError,
        "resolution",
    ),
    ("arch-expansion-huge", lambda: from_list(_layer(expansion=1e6)), ArchSpecError, "expansion"),
    ("arch-not-a-list", lambda: from_list({"layer_type": "data"}), ArchSpecError, "list"),
    # build / create_model / load: every option checked before a module is built
    ("build-drop-rate-high", lambda: gpunet_hub.build(TINY_STANDARD, drop_rate=2.0), InputError, "drop_rate"),
    ("build-drop-rate-one", lambda: gpunet_hub.build(TINY_STANDARD, drop_rate=1.0), InputError, "drop_rate"),
    ("build-drop-rate-nan", lambda: gpunet_hub.build(TINY_STANDARD, drop_rate=NAN), InputError, "drop_rate"),
    ("build-drop-rate-text", lambda: gpunet_hub.build(TINY_STANDARD, drop_rate="0.1"), InputError, "drop_rate"),
    (
        "build-drop-path-negative",
        lambda: gpunet_hub.build(TINY_STANDARD, drop_path_rate=-0.1),
        InputError,
        "drop_path_rate",
    ),
    ("build-classes-negative", lambda: gpunet_hub.build(TINY_STANDARD, num_classes=-1), InputError, "num_classes"),
    ("build-classes-fraction", lambda: gpunet_hub.build(TINY_STANDARD, num_classes=2.5), InputError, "num_classes"),
    ("build-unknown-option", lambda: gpunet_hub.build(TINY_STANDARD, bn_eps=1e-3), InputError, "bn_eps"),
    ("build-hub-name", lambda: gpunet_hub.build("gpunet_0"), InputError, "create_model"),
    ("build-inf-digit", lambda: gpunet_hub.build(_digit(0, INF)), EncodingError, "digit 0"),
    ("build-none", lambda: gpunet_hub.build(None), ArchSpecError, "list"),
    ("build-empty-path", lambda: gpunet_hub.build(""), ArchSpecError, "path"),
    ("create-drop-rate", lambda: gpunet_hub.create_model("gpunet_0", drop_rate=2.0), InputError, "drop_rate"),
    ("create-classes-bool", lambda: gpunet_hub.create_model("gpunet_0", num_classes=True), InputError, "num_classes"),
    ("load-weights-empty", lambda: gpunet_hub.load("gpunet_0", weights=""), InputError, "weights"),
    ("load-weights-blank", lambda: gpunet_hub.load("gpunet_0", weights="  "), InputError, "weights"),
    ("load-weights-int", lambda: gpunet_hub.load("gpunet_0", weights=5), InputError, "weights"),
    ("load-weights-bad-hf-id", lambda: gpunet_hub.load("gpunet_0", weights="hf-hub:a b/c"), InputError, "weights"),
    ("load-weights-empty-hf-id", lambda: gpunet_hub.load("gpunet_0", weights="hf-hub:"), InputError, "weights"),
    (
        "load-classes-negative",
        lambda: gpunet_hub.load("gpunet_0", num_classes=-1, weights=None),
        InputError,
        "num_classes",
    ),
    (
        "load-classes-huge",
        lambda: gpunet_hub.load("gpunet_0", num_classes=2**63, weights=None),
        InputError,
        "num_classes",
    ),
    (
        "load-classes-fraction",
        lambda: gpunet_hub.load("gpunet_0", num_classes=1.5, weights=None),
        InputError,
        "num_classes",
    ),
    ("load-device-unknown", lambda: gpunet_hub.load("gpunet_0", device="gpu0", weights=None), InputError, "device"),
    ("load-device-type", lambda: gpunet_hub.load("gpunet_0", device=3.5, weights=None), InputError, "device"),
    ("load-name-and-gpu", lambda: gpunet_hub.load("gpunet_0", gpu="GV100", max_latency_ms=1.0), InputError, "gpu"),
    ("load-nothing", lambda: gpunet_hub.load(), InputError, "max_latency_ms"),
    (
        "load-budget-bool",
        lambda: gpunet_hub.load(gpu="GV100", max_latency_ms=True, weights=None),
        InputError,
        "max_latency_ms",
    ),
    ("load-name-int", lambda: gpunet_hub.load(5, weights=None), InputError, "name"),
]


def _direct(**changes):
    layers = list(from_list(TINY_STANDARD).layers)
    fields = {k: getattr(layers[4], k) for k in LayerSpec.__dataclass_fields__}
    layers[4] = LayerSpec(**{**fields, **changes})
    return tuple(layers)


@pytest.mark.parametrize(("call", "error", "named"), [c[1:] for c in API_CASES], ids=[c[0] for c in API_CASES])
def test_api_refuses_malformed_input_with_a_typed_error(call, error, named):
    with pytest.raises(error) as info:
        call()
    assert named in str(info.value) or named in info.value.params


def test_load_refuses_a_missing_gpu_as_the_environment(monkeypatch):
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(EnvironmentProblem, match="no CUDA GPU") as info:
        gpunet_hub.load("gpunet_0", device="cuda", weights=None)
    assert info.value.params == ("device",)


def test_a_failed_call_leaves_the_model_and_the_spec_as_they_were():
    model = gpunet_hub.build(TINY_STANDARD)
    classifier, cfg = model.classifier, dict(model.pretrained_cfg)
    for bad in (-1, 2.5, True, "10", None):
        with pytest.raises(InputError, match="num_classes"):
            model.reset_classifier(bad)
    assert model.classifier is classifier and model.num_classes == 10 and model.pretrained_cfg == cfg
    spec = from_list(TINY_STANDARD)
    with pytest.raises(InputError):
        spec.with_num_classes(0)
    assert spec.num_classes == 10 and spec.to_list() == TINY_STANDARD


# (argv, exit code, the flag or text the one error line must contain)
CLI_CASES = [
    (["pick", "--gpu", "V100", "--max-latency-ms", "nan"], 1, "--max-latency-ms"),
    (["pick", "--gpu", "V100", "--max-latency-ms", "inf"], 1, "--max-latency-ms"),
    (["pick", "--gpu", "V100", "--max-latency-ms", "-1"], 1, "--max-latency-ms"),
    (["pick", "--gpu", "V100", "--max-latency-ms", "0"], 1, "--max-latency-ms"),
    (["pick", "--gpu", "V100", "--max-latency-ms", "fast"], 1, "--max-latency-ms"),
    (["pick", "--gpu", "V100", "--max-latency-ms", "1", "--batch-size", "0"], 1, "--batch-size"),
    (["pick", "--gpu", "V100", "--max-latency-ms", "1", "--batch-size", "1.5"], 1, "--batch-size"),
    (["pick", "--gpu", "", "--max-latency-ms", "1"], 1, "unknown GPU"),
    (["pick", "--gpu", "GV10", "--max-latency-ms", "1"], 1, "GV100"),
    (["pick", "--gpu", "V100", "--max-latency-ms", "1", "--local-group", "x"], 1, "--local-group"),
    (["pick", "--max-latency-ms", "1"], 1, "--gpu"),
    (["list", "--max-latency-ms", "1"], 1, "--gpu"),
    (["list", "--gpu", "GV100", "--max-latency-ms", "nan"], 1, "--max-latency-ms"),
    (["list", "--gpu", "nope"], 1, "unknown GPU"),
    (["list", "--format", "xml"], 1, "--format"),
    (["card", "gpunet_3"], 1, "gpunet_0"),
    (["card", ""], 1, "unknown model"),
    (["card", "gpunet_0", "--format", "csv"], 1, "--format"),
    (["card", "gpunet_0", "--format", "quiet"], 1, "--format"),
    (["gpus", "--format", "yaml"], 1, "--format"),
    (["download", "gpunet_3"], 1, "unknown model"),
    (["download", "gpunet_0", "--file", ""], 1, "--file"),
    (["download", "gpunet_0", "--file", "/nonexistent/x.zip"], 1, "--file"),
    (["nonsense"], 1, "nonsense"),
]


@pytest.mark.parametrize(("argv", "code", "named"), CLI_CASES, ids=[" ".join(c[0]) or "empty" for c in CLI_CASES])
def test_cli_answers_one_line_and_exit_code(argv, code, named, capsys):
    assert main(argv) == code
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error:"), captured.err
    assert named in lines[0]
    assert "Traceback" not in captured.err + captured.out


@pytest.mark.parametrize("kind", ["folder", "garbage", "empty"])
def test_download_file_refuses_what_is_not_weights(kind, tmp_path, capsys):
    path = tmp_path / "weights.pth.tar"
    if kind == "folder":
        path.mkdir()
    else:
        path.write_bytes(b"" if kind == "empty" else b"<html>not a checkpoint</html>")
    assert main(["download", "gpunet_0", "--file", str(path)]) == 1
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and str(path) in lines[0]


def test_pick_at_80_columns_never_cuts_the_name_or_the_latency(monkeypatch, capsys):
    # Piped: plain text that fits 80 columns.
    monkeypatch.setattr(_output, "out", Console(width=80, force_terminal=False))
    assert main(["pick", "--gpu", "V100", "--max-latency-ms", "1.0"]) == 0
    printed = capsys.readouterr()
    assert "gpunet_p1" in printed.out.split() and "0.96" in printed.out.split()
    assert all(len(line) <= 80 for line in printed.out.splitlines()) and "┃" not in printed.out
    assert "--format csv" in printed.err  # says what it left out
    # A terminal 80 columns wide: a rich table, name and latency whole.
    monkeypatch.setattr(_output, "out", Console(width=80, force_terminal=True, color_system=None))
    assert main(["pick", "--gpu", "V100", "--max-latency-ms", "1.0"]) == 0
    table = capsys.readouterr().out
    assert "gpunet_p1" in table and "0.96" in table and "…" not in table
    assert all(len(line) <= 80 for line in table.splitlines())


def test_list_at_40_columns_keeps_every_name_and_figure(monkeypatch, capsys):
    monkeypatch.setattr(_output, "out", Console(width=40, force_terminal=True, color_system=None))
    assert main(["list", "--gpu", "GV100"]) == 0
    table = capsys.readouterr().out
    for name in gpunet_hub.list_models(gpu="GV100"):
        assert name in table
    assert "0.63" in table and "…" not in table


def test_cli_formats_aliases_version_and_escaped_hint(capsys):
    assert main(["gpus", "--format", "json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert isinstance(rows[0]["aliases"], list) and "V100" in rows[0]["aliases"]
    assert main(["--version"]) == 0
    assert capsys.readouterr().out.strip() == f"gpunet-hub {gpunet_hub.__version__}"
    error = gpunet_hub.MissingDependencyError("bench needs x. Install it with: pip install 'gpunet-hub[bench]'")
    assert _output.fail(error) == 2
    assert "pip install 'gpunet-hub[bench]'" in capsys.readouterr().err


CARD_DAMAGE = {
    "config-not-json": lambda d: (d / "config.json").write_text("{"),
    "readme-bad-yaml": lambda d: (d / "README.md").write_text("---\na: [\n---\nprose"),
    "top1-text": lambda d: (d / "README.md").write_text(
        (d / "README.md").read_text().replace("value: 78.9", "value: x")
    ),
    "arch-negative": lambda d: (d / "config.json").write_text(
        (d / "config.json").read_text().replace('"img_resolution": 320', '"img_resolution": -1')
    ),
    "config-missing": lambda d: (d / "config.json").unlink(),
}


@pytest.mark.parametrize("damage", list(CARD_DAMAGE))
def test_a_damaged_card_folder_is_named_in_a_typed_error(damage, tmp_path):
    import shutil

    from gpunet_hub.hub.cards_io import REPO_CARDS, read_card

    folder = tmp_path / "gpunet_0"
    shutil.copytree(REPO_CARDS / "gpunet_0", folder)
    CARD_DAMAGE[damage](folder)
    with pytest.raises(InputError) as info:
        read_card(folder)
    assert str(folder) in str(info.value) and "\n" not in str(info.value)
