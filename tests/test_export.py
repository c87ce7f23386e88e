"""ONNX export: any nn.Module or hub name, temp file + rename, onnx.checker, numerical check."""

from __future__ import annotations

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch
from conftest import TINY_DISTILL, TINY_STANDARD

import gpunet_hub
from gpunet_hub.errors import InputError
from gpunet_hub._io import file_sha256
from gpunet_hub.export import ExportError, export_onnx


@pytest.fixture(scope="module")
def tiny():
    return gpunet_hub.build(TINY_STANDARD)


def _run(path, x):
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return session.run(None, {session.get_inputs()[0].name: x})[0]


def test_export_tiny_model_matches_pytorch_and_restores_train_mode(tiny, tmp_path):
    tiny.train()
    path = export_onnx(tiny, tmp_path / "m.onnx", input_size=(3, 64, 64))
    assert tiny.training  # the caller's mode is restored
    model = onnx.load(str(path))
    assert model.opset_import[0].version == 17
    dims = [d.dim_value for d in model.graph.input[0].type.tensor_type.shape.dim]
    assert dims == [1, 3, 64, 64]
    x = np.random.default_rng(1).standard_normal((1, 3, 64, 64)).astype(np.float32)
    with torch.inference_mode():
        ref = tiny.eval()(torch.from_numpy(x)).numpy()
    np.testing.assert_allclose(_run(path, x), ref, rtol=1e-3, atol=1e-4)
    assert not list(tmp_path.glob(".m.onnx.*"))  # no temp file left behind


def test_default_input_size_comes_from_pretrained_cfg(tmp_path):
    model = gpunet_hub.build(TINY_DISTILL)
    path = export_onnx(model, tmp_path / "d.onnx", batch_size=2)
    dims = [d.dim_value for d in onnx.load(str(path)).graph.input[0].type.tensor_type.shape.dim]
    assert dims == [2, 3, 64, 64]


def test_dynamic_batch_runs_at_other_batch_sizes(tiny, tmp_path):
    path = export_onnx(tiny, tmp_path / "dyn.onnx", input_size=(3, 64, 64), dynamic_batch=True)
    dim0 = onnx.load(str(path)).graph.input[0].type.tensor_type.shape.dim[0]
    assert dim0.dim_param == "batch"
    out = _run(path, np.zeros((3, 3, 64, 64), np.float32))
    assert out.shape == (3, 10)


def test_fp16_export_has_half_io(tiny, tmp_path):
    path = export_onnx(tiny, tmp_path / "h.onnx", input_size=(3, 64, 64), precision="fp16")
    graph = onnx.load(str(path)).graph
    assert graph.input[0].type.tensor_type.elem_type == onnx.TensorProto.FLOAT16
    assert next(tiny.parameters()).dtype == torch.float32  # the caller's module is untouched


def test_plain_module_needs_input_size(tmp_path):
    conv = torch.nn.Conv2d(4, 8, 3)
    with pytest.raises(InputError, match="input_size"):
        export_onnx(conv, tmp_path / "c.onnx")
    path = export_onnx(conv, tmp_path / "c.onnx", input_size=(4, 12, 12), check=False)
    assert [d.dim_value for d in onnx.load(str(path)).graph.output[0].type.tensor_type.shape.dim] == [1, 8, 10, 10]


class _Mismatch(torch.nn.Module):
    """Exports as x + 1 but returns x + 2 in eager mode under inference_mode: the check must notice."""

    def forward(self, x):
        if torch.is_inference_mode_enabled():
            return x + 2
        return x + 1


def test_numerical_check_failure_leaves_no_file(tmp_path):
    target = tmp_path / "bad.onnx"
    with pytest.raises(ExportError, match="differs from PyTorch"):
        export_onnx(_Mismatch(), target, input_size=(2, 4))
    assert not target.exists()
    assert list(tmp_path.iterdir()) == []


def test_bad_arguments(tiny, tmp_path):
    with pytest.raises(InputError):
        export_onnx(tiny, tmp_path / "x.onnx", input_size=(3, 64, 64), precision="int8")
    with pytest.raises(InputError):
        export_onnx(tiny, tmp_path / "x.onnx", input_size=(3, 64, 64), batch_size=0)
    with pytest.raises(InputError):
        export_onnx(42, tmp_path / "x.onnx")
    with pytest.raises(gpunet_hub.UnknownModelError):
        export_onnx("gpunet_9", tmp_path / "x.onnx")


def test_hub_name_exports_are_reproducible(tmp_path):
    a = export_onnx("gpunet_p0", tmp_path / "a.onnx", check=False)
    b = gpunet_hub.export_onnx("GPUNet-P0", tmp_path / "b.onnx", check=False)
    assert file_sha256(a) == file_sha256(b)  # seeded random weights: same graph, same bytes


@pytest.mark.slow
@pytest.mark.parametrize("name", gpunet_hub.list_models())
def test_full_size_export_passes_checker_and_numerical_check(name, tmp_path):
    card = gpunet_hub.model_card(name)
    path = export_onnx(name, tmp_path / f"{name}.onnx")
    dims = [d.dim_value for d in onnx.load(str(path)).graph.input[0].type.tensor_type.shape.dim]
    assert dims == [1, 3, card.resolution, card.resolution]
