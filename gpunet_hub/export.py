"""ONNX export of hub models and of any ``nn.Module``.

Stable API (other packages, e.g. the search pipeline's per-layer latency LUT, call it):

``export_onnx(model_or_name, path, *, batch_size=1, opset=17, dynamic_batch=False, check=True,
input_size=None, precision="fp32", exporter="auto", input_name="input", output_name="output",
rtol=1e-3, atol=1e-4, seed=0) -> Path``

* ``model_or_name`` is a hub name or alias (the model is built with random weights, or pass a
  loaded module), or any ``nn.Module``. The input shape is ``(batch_size, *input_size)``;
  ``input_size`` defaults to the module's ``pretrained_cfg["input_size"]`` (hub models: the card
  resolution) and must be given for modules that have none.
* The module is exported in eval mode; its train/eval mode is restored afterwards.
* The file is written through a temporary file beside ``path`` and renamed only once the export
  (and the checks) succeeded, so a failed or interrupted export never leaves a partial file.
* ``onnx.checker`` always runs; with ``check=True`` onnxruntime (CPU) runs the file on a random
  input and the output must match PyTorch within ``atol + rtol * max|reference|``.

The exporter is torch's TorchScript-based exporter (``torch.onnx.export(..., dynamo=False)``): on
torch 2.9-2.14 the dynamo exporter emits opset 18 and fails to down-convert to 17 for these CNNs,
while the TorchScript exporter writes the requested opset directly. ``exporter="dynamo"`` selects the
new exporter (use ``opset >= 18`` with it); ``"auto"`` uses TorchScript while torch still has it.

``precision="fp16"`` exports a half-precision graph (FP16 inputs, weights and outputs): that is the
"FP16 must be in the ONNX graph" input TensorRT 11 needs, since it has no FP16 builder flag.
"""

from __future__ import annotations

import contextlib
import warnings
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from . import _validate
from ._io import atomic_path
from .errors import InputError, require

if TYPE_CHECKING:
    from torch import nn

PRECISIONS = ("fp32", "fp16")
EXPORTERS = ("auto", "torchscript", "dynamo")
#: Opsets the exporters write (torch's TorchScript exporter: 7 to 20; dynamo: 18 and later).
OPSET_RANGE = (7, 23)
MAX_BATCH = 4096


class ExportError(InputError):
    """The model could not be exported, or the exported file failed a check."""


def resolve_module(model_or_name: Any, *, seed: int = 0) -> nn.Module:
    """Returns the module to export: a hub model by name (random weights, fixed seed) or the module itself.

    Args:
        model_or_name: Hub name/alias or an ``nn.Module``.
        seed: Seed of the random initialisation for hub names (fixed so repeated exports are identical).

    Raises:
        UnknownModelError: For an unknown hub name.
        InputError: For anything else that is not a module.
    """
    import torch
    from torch import nn

    if isinstance(model_or_name, nn.Module):
        return model_or_name
    if isinstance(model_or_name, str):
        from ._factory import create_model

        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            return create_model(model_or_name, weights=None)
    raise InputError(
        f"export_onnx needs a model name or an nn.Module, got {type(model_or_name).__name__}", params=("model_or_name",)
    )


def resolve_input_size(module: nn.Module, input_size: Sequence[int] | None) -> tuple[int, ...]:
    """The per-sample input shape ``(C, H, W)``: explicit, else the module's ``pretrained_cfg``.

    Raises:
        InputError: When neither is available or the shape is not positive integers.
    """
    if input_size is None:
        cfg = getattr(module, "pretrained_cfg", None) or getattr(module, "default_cfg", None) or {}
        input_size = cfg.get("input_size") if isinstance(cfg, dict) else None
        if input_size is None:
            raise InputError(
                f"{type(module).__name__} has no pretrained_cfg['input_size']; pass input_size=(C, H, W) to export it"
            )
    return _input_shape(input_size)


def _input_shape(input_size: object) -> tuple[int, ...]:
    if isinstance(input_size, (str, bytes)) or not isinstance(input_size, Sequence) or not input_size:
        raise InputError(
            f"input_size must be a sequence of positive whole numbers such as (3, 224, 224), got {input_size!r}",
            params=("input_size",),
        )
    if len(input_size) > 8:
        raise InputError(f"input_size has {len(input_size)} dimensions; give (C, H, W)", params=("input_size",))
    return tuple(_validate.integer(v, "input_size", minimum=1, maximum=65536) for v in input_size)


@contextlib.contextmanager
def _eval_mode(module: nn.Module) -> Iterator[None]:
    was_training = module.training
    module.eval()
    try:
        yield
    finally:
        module.train(was_training)


def check_export_args(
    path: object,
    *,
    batch_size: object = 1,
    opset: object = 17,
    precision: object = "fp32",
    exporter: object = "auto",
    path_param: str = "path",
) -> Path:
    """Validates the arguments of :func:`export_onnx` that are known before a model is built.

    The CLI calls this first, so a bad ``--out`` fails before the model is built and exported.

    Args:
        path: Destination file: not empty, not a folder, under a writable folder.
        batch_size: Whole number, 1 to :data:`MAX_BATCH`.
        opset: Whole number within :data:`OPSET_RANGE`.
        precision: One of :data:`PRECISIONS`.
        exporter: One of :data:`EXPORTERS`.
        path_param: How the caller names ``path`` (``out_path`` for the CLI's ``--out``).

    Returns:
        The destination as a :class:`~pathlib.Path`.

    Raises:
        InputError: Naming the argument.
    """
    target = _validate.output_file(path, path_param)  # type: ignore[arg-type]
    _validate.integer(batch_size, "batch_size", minimum=1, maximum=MAX_BATCH)
    _validate.integer(opset, "opset", minimum=OPSET_RANGE[0], maximum=OPSET_RANGE[1])
    _validate.choice(precision, "precision", PRECISIONS)
    _validate.choice(exporter, "exporter", EXPORTERS)
    return target


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def _pick_exporter(exporter: str) -> str:
    if exporter != "auto":
        return exporter
    import inspect

    import torch

    return "torchscript" if "dynamo" in inspect.signature(torch.onnx.export).parameters else "dynamo"


def _run_exporter(
    module: nn.Module,
    example: Any,
    tmp: Path,
    *,
    opset: int,
    dynamic_batch: bool,
    exporter: str,
    input_name: str,
    output_name: str,
) -> None:
    import torch

    kwargs: dict[str, Any] = {
        "input_names": [input_name],
        "output_names": [output_name],
        "opset_version": opset,
    }
    if exporter == "torchscript":
        if dynamic_batch:
            kwargs["dynamic_axes"] = {input_name: {0: "batch"}, output_name: {0: "batch"}}
        with warnings.catch_warnings():
            # The legacy exporter warns that it is deprecated on every call; the choice is documented.
            warnings.simplefilter("ignore", (DeprecationWarning, FutureWarning, UserWarning))
            torch.onnx.export(module, (example,), str(tmp), dynamo=False, do_constant_folding=True, **kwargs)
    else:
        if dynamic_batch:
            kwargs["dynamic_shapes"] = ({0: torch.export.Dim("batch", min=1, max=MAX_BATCH)},)
        program = torch.onnx.export(module, (example,), dynamo=True, external_data=False, verbose=False, **kwargs)
        if program is None:
            raise ExportError("torch.onnx.export(dynamo=True) returned no program")
        program.save(str(tmp), external_data=False)


def _numerical_check(
    path: Path, module: nn.Module, example: Any, *, input_name: str, rtol: float, atol: float
) -> float:
    import numpy as np
    import torch

    ort = require("onnxruntime", "onnx", "the ONNX numerical check")
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    with torch.inference_mode():
        reference = module(example).float().cpu().numpy()
    got = session.run(None, {input_name: example.cpu().numpy()})[0].astype(np.float32)
    if got.shape != reference.shape:
        raise ExportError(f"ONNX output shape {got.shape} differs from PyTorch's {reference.shape}")
    err = float(np.max(np.abs(got - reference))) if reference.size else 0.0
    scale = float(np.max(np.abs(reference))) if reference.size else 0.0
    if not np.isfinite(err) or err > atol + rtol * scale:
        raise ExportError(
            f"ONNX output differs from PyTorch: max |diff| = {err:.3g} > atol {atol:g} + rtol {rtol:g} x max|ref| {scale:.3g}"
        )
    return err


def export_onnx(
    model_or_name: Any,
    path: str | Path,
    *,
    batch_size: int = 1,
    opset: int = 17,
    dynamic_batch: bool = False,
    check: bool = True,
    input_size: Sequence[int] | None = None,
    precision: str = "fp32",
    exporter: str = "auto",
    input_name: str = "input",
    output_name: str = "output",
    rtol: float = 1e-3,
    atol: float = 1e-4,
    seed: int = 0,
) -> Path:
    """Exports a hub model (by name) or any ``nn.Module`` to an ONNX file.

    Args:
        model_or_name: Hub model name/alias (built with seeded random weights) or an ``nn.Module``.
        path: Destination ``.onnx`` file (parent folders are created).
        batch_size: Batch dimension of the example input (the static batch unless ``dynamic_batch``).
        opset: ONNX opset version.
        dynamic_batch: Make the batch dimension symbolic (``batch``).
        check: Also compare onnxruntime's output with PyTorch's on a random input.
        input_size: Per-sample input shape ``(C, H, W)``; defaults to ``pretrained_cfg["input_size"]``.
        precision: ``fp32`` or ``fp16`` (a half-precision graph, for strongly typed TensorRT).
        exporter: ``auto``, ``torchscript`` or ``dynamo``.
        input_name: Name of the graph input.
        output_name: Name of the graph output.
        rtol: Relative tolerance of the numerical check (times the largest reference magnitude).
        atol: Absolute tolerance of the numerical check (FP16 exports use at least 1e-2 / 1e-2).
        seed: Seed for the random weights of hub names and for the check's random input.

    Returns:
        The path of the written file.

    Raises:
        InputError: Bad arguments, or a module without ``input_size``.
        ExportError: The exporter, ``onnx.checker`` or the numerical check failed.
        MissingDependencyError: ``onnx`` (or ``onnxruntime`` for the check) is not installed.
    """
    path = check_export_args(path, batch_size=batch_size, opset=opset, precision=precision, exporter=exporter)
    for flag, value in (("dynamic_batch", dynamic_batch), ("check", check)):
        if not isinstance(value, bool):
            raise InputError(f"{flag} must be True or False, got {value!r}", params=(flag,))
    if input_size is not None:
        input_size = _input_shape(input_size)
    rtol = _validate.number(rtol, "rtol", minimum=0)
    atol = _validate.number(atol, "atol", minimum=0)
    _validate.integer(seed, "seed", minimum=0, maximum=2**63 - 1)
    for param, name in (("input_name", input_name), ("output_name", output_name)):
        if not isinstance(name, str) or not name.strip():
            raise InputError(f"{param} must be a non-empty string, got {name!r}", params=(param,))
    import torch

    onnx = require("onnx", "onnx", "ONNX export")
    chosen = _pick_exporter(exporter)
    module = resolve_module(model_or_name, seed=seed)
    shape = (int(batch_size), *resolve_input_size(module, input_size))
    generator = torch.Generator().manual_seed(seed)
    example = torch.randn(shape, generator=generator)
    if precision == "fp16":
        rtol, atol = max(rtol, 1e-2), max(atol, 1e-2)
    with _eval_mode(module):
        if precision == "fp16":
            import copy

            module = copy.deepcopy(module).half().eval()
            example = example.half()
        with atomic_path(path) as tmp:
            try:
                _run_exporter(
                    module,
                    example,
                    tmp,
                    opset=opset,
                    dynamic_batch=dynamic_batch,
                    exporter=chosen,
                    input_name=input_name,
                    output_name=output_name,
                )
            except Exception as exc:  # the exporters raise many types; report one
                raise ExportError(f"ONNX export ({chosen} exporter, opset {opset}) failed: {_first_line(exc)}") from exc
            try:
                onnx.checker.check_model(str(tmp), full_check=True)
            except Exception as exc:
                raise ExportError(f"onnx.checker rejected the exported graph: {_first_line(exc)}") from exc
            if check:
                _numerical_check(tmp, module, example, input_name=input_name, rtol=rtol, atol=atol)
    return path


__all__ = ["ExportError", "check_export_args", "export_onnx", "resolve_input_size", "resolve_module"]
