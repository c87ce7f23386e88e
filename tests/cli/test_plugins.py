"""Plugins: gpunet_hub never imports gpunet_search; the search commands arrive by entry point."""

from __future__ import annotations

import subprocess
import sys
from importlib.metadata import EntryPoint

import pytest

from gpunet_hub.cli import _plugins, main

SEARCH = EntryPoint("search", "gpunet_search.cli:app", _plugins.GROUP)
BROKEN = EntryPoint("broken", "gpunet_no_such_module.cli:app", _plugins.GROUP)


def test_importing_the_cli_leaves_the_pipeline_out():
    code = "import sys, gpunet_hub.cli; print('gpunet_search' in sys.modules, 'torch' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.split() == ["False", "False"]


def test_the_search_commands_register_without_torch():
    # Every `gpunet-hub search ...` call builds the whole command tree; `tiers` or `lut stats` must not
    # pay the seconds torch and timm take to import (only training and export need them).
    code = "import sys, gpunet_search.cli; print('torch' in sys.modules, 'timm' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.split() == ["False", "False"]


def test_the_project_registers_search_as_an_entry_point():
    assert SEARCH.value in [ep.value for ep in _plugins.discover() if ep.name == "search"]


def test_search_help_through_the_entry_point(monkeypatch, capsys):
    monkeypatch.setattr(_plugins, "discover", lambda: [SEARCH])
    assert main(["search", "--help"]) == 0
    out = capsys.readouterr().out
    assert "bench-synthetic" in out and "Maintainer pipeline" in out
    assert main(["--help"]) == 0
    assert "search" in capsys.readouterr().out


def test_other_commands_do_not_load_plugins(monkeypatch, capsys):
    loaded = []
    monkeypatch.setattr(_plugins, "discover", lambda: [SEARCH])
    monkeypatch.setattr(_plugins, "load", lambda ep: loaded.append(ep.name))
    assert main(["list", "--format", "quiet"]) == 0
    assert loaded == [] and "gpunet_0" in capsys.readouterr().out


def test_a_broken_plugin_is_one_line_and_the_rest_still_works(monkeypatch, capsys):
    monkeypatch.setattr(_plugins, "discover", lambda: [BROKEN])
    assert main(["broken", "run", "--fast"]) == 2
    err = capsys.readouterr().err
    assert "'broken' commands (gpunet_no_such_module.cli:app) could not be loaded" in err
    assert "ModuleNotFoundError" in err and "Traceback" not in err and len(err.strip().splitlines()) == 1
    assert main(["pick", "--gpu", "GV100", "--max-latency-ms", "1.0", "--format", "quiet"]) == 0
    assert capsys.readouterr().out.strip() == "gpunet_p1"


def test_a_plugin_cannot_replace_a_builtin_command(monkeypatch, capsys):
    monkeypatch.setattr(_plugins, "discover", lambda: [EntryPoint("list", BROKEN.value, _plugins.GROUP)])
    assert main(["list", "--format", "quiet"]) == 0
    assert "gpunet_0" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("argv", "flag_text", "python_text"),
    [
        (["list", "--max-latency-ms", "1"], "--max-latency-ms needs a gpu to measure against, e.g. --gpu GV100", "max_latency_ms"),
        (["bench", "--max-latency-ms", "1"], "--gpu and --max-latency-ms go together", "max_latency_ms"),
        (["bench", "gpunet_0", "--batch-size", "0"], "--batch-size must be >= 1", "batch_size"),
        (["pick", "--gpu", "GV100", "--max-latency-ms", "0"], "--max-latency-ms must be > 0", "max_latency_ms"),
    ],
)
def test_cli_errors_say_flags_where_the_library_says_parameters(argv, flag_text, python_text, capsys):
    assert main(argv) == 1
    err = " ".join(capsys.readouterr().err.split())
    assert flag_text in err and python_text not in err


def test_weights_errors_name_the_flag_on_the_cli_and_the_argument_in_python(tmp_path, capsys):
    import gpunet_hub
    from gpunet_hub import InputError

    missing = tmp_path / "nope.pth.tar"
    with pytest.raises(InputError, match=r"weights= takes a \.safetensors"):
        gpunet_hub.create_model("gpunet_0", weights=missing)
    assert main(["export", "gpunet_0", "--out", str(tmp_path / "m.onnx"), "--weights", str(missing)]) == 1
    assert "--weights takes a .safetensors" in " ".join(capsys.readouterr().err.split())
