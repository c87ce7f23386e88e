"""`search evaluate`: one network from --arch / --vector / --samples, JSON out, typed errors."""

from __future__ import annotations

import json

import pytest
import typer
from conftest import TINY_STANDARD
from typer.testing import CliRunner

from gpunet_hub.errors import InputError
from gpunet_search.evaluate import proxy_config
from gpunet_search.evaluate.cli import register


@pytest.fixture
def app():
    app = typer.Typer()
    register(app)
    app.command("noop", hidden=True)(lambda: None)  # keeps typer in sub-command mode
    return app


def test_evaluate_command_writes_json(app, tmp_path):
    arch = tmp_path / "tiny.json"
    arch.write_text(json.dumps(TINY_STANDARD))
    runner = CliRunner()
    result = runner.invoke(app, ["evaluate", "--arch", str(arch), "--epochs", "1", "--res-scale", "0.25", "--out", str(tmp_path / "run")])
    assert result.exit_code == 0, result.output
    assert "epoch   1/1" in result.output and "proxy scale" in result.output
    saved = json.loads((tmp_path / "run" / "result.json").read_text())
    # the tiny network at x0.25 is below the default proxy's floor, so the floor is what runs
    assert saved["epochs_run"] == 1 and saved["proxy"] and saved["resolution"] == proxy_config().min_resolution


def test_evaluate_command_errors_are_typed(app, tmp_path):
    runner = CliRunner()
    for args, match in ((["evaluate"], "exactly one"), (["evaluate", "--vector", "1,2,3"], "41 integers"),
                        (["evaluate", "--samples", str(tmp_path / "none.npz")], "--index"),
                        (["evaluate", "--arch", str(tmp_path / "none.json"), "--resume"], "--out")):
        result = runner.invoke(app, args)
        assert isinstance(result.exception, InputError) and match in str(result.exception), (args, result.exception)
