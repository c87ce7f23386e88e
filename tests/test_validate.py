"""The boundary checks every command and public function shares."""

from __future__ import annotations

import math

import pytest

from gpunet_hub import _validate as check
from gpunet_hub.errors import InputError


@pytest.mark.parametrize("value", [True, "1.0", None, math.nan, math.inf, -math.inf, [1]])
def test_number_refuses_what_is_not_a_finite_number(value):
    with pytest.raises(InputError, match="max_latency_ms") as info:
        check.number(value, "max_latency_ms", minimum=0, exclusive_minimum=True)
    assert info.value.params == ("max_latency_ms",)


def test_number_bounds():
    assert check.number(2, "x", minimum=0, maximum=2) == 2.0
    with pytest.raises(InputError, match="must be > 0"):
        check.number(0, "x", minimum=0, exclusive_minimum=True)
    with pytest.raises(InputError, match="must be <= 1"):
        check.number(1.5, "x", maximum=1)


@pytest.mark.parametrize("value", [1.5, 2.0, "2", True, None])
def test_integer_refuses_non_integers(value):
    with pytest.raises(InputError, match="whole number"):
        check.integer(value, "n")


def test_integer_bounds():
    assert check.integer(3, "n", minimum=1) == 3
    with pytest.raises(InputError, match="n must be >= 1, got 0"):
        check.integer(0, "n", minimum=1)


def test_choice_suggests_close_names():
    with pytest.raises(InputError, match="fp16") as info:
        check.choice("fp61", "precision", ["fp32", "fp16"])
    assert "Did you mean" in str(info.value)


def test_output_file_refuses_folders_empty_names_and_paths_under_files(tmp_path):
    (tmp_path / "afile").write_text("x")
    for bad, words in [("", "must name a file"), (tmp_path, "is a folder"), (tmp_path / "afile" / "x.onnx", "which is a file")]:
        with pytest.raises(InputError, match=words):
            check.output_file(bad, "out")
    assert check.output_file(tmp_path / "new" / "x.onnx", "out") == tmp_path / "new" / "x.onnx"
    assert not (tmp_path / "new").exists()  # checking creates nothing


def test_output_dir_and_input_file(tmp_path):
    (tmp_path / "afile").write_text("x")
    (tmp_path / "empty").write_bytes(b"")
    with pytest.raises(InputError, match="is a file, not a folder"):
        check.output_dir(tmp_path / "afile", "out_dir")
    assert check.output_dir(tmp_path / "sub", "out_dir") == tmp_path / "sub"
    for bad, words in [(tmp_path / "missing", "no such"), (tmp_path, "is a folder"), (tmp_path / "empty", "empty")]:
        with pytest.raises(InputError, match=words):
            check.input_file(bad, "samples")
    assert check.input_file(tmp_path / "afile", "samples") == tmp_path / "afile"
