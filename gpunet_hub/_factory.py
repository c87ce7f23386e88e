"""Model creation, timm style: :func:`build` (an architecture), :func:`create_model` (a hub name) and
:func:`load` (a name, or the best model for a GPU and budget, ready to run).

These import torch; everything they look up comes from the torch-free :mod:`gpunet_hub.hub`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from os import PathLike
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from .arch import check_num_classes
from .errors import EnvironmentProblem, InputError
from .hub.catalog import HubArg, catalog
from .hub.select import select

if TYPE_CHECKING:
    from torch import nn

    from .arch import ArchSpec
    from .builder import GPUNet


def build(
    encoding_or_archspec: Sequence[int] | ArchSpec | Sequence[Mapping[str, Any]] | str | Path,
    *,
    space: str = "release",
    num_classes: int | None = None,
    **kwargs: Any,
) -> GPUNet:
    """Builds a network from a 41-integer encoding, an ArchSpec, a release-format list or a JSON path.

    Args:
        encoding_or_archspec: The architecture.
        space: Search space used to decode an encoding.
        num_classes: Classifier width override.
        **kwargs: Passed to :func:`gpunet_hub.builder.build_model` (``drop_rate``, ``drop_path_rate``).

    Returns:
        The randomly initialised network.

    Raises:
        EncodingError: For an encoding outside ``space``.
        ArchSpecError: For a malformed layer list or file.
        InputError: For a malformed option.
    """
    from .arch import coerce
    from .builder import build_model
    from .space import decode

    _check_kwargs(kwargs)
    value = encoding_or_archspec
    if (
        isinstance(value, Sequence)
        and not isinstance(value, (str, bytes))
        and value
        and not isinstance(value[0], Mapping)
    ):
        spec = decode(cast("Sequence[int]", value), space)
    else:
        if isinstance(value, str) and not Path(value).expanduser().exists():
            _refuse_hub_name(value)
        spec = coerce(value)  # type: ignore[arg-type]
    return build_model(spec, num_classes=num_classes, **kwargs)


def _refuse_hub_name(value: str) -> None:
    """A hub name given to :func:`build` gets pointed at :func:`create_model`."""
    from .errors import UnknownModelError
    from .hub.index import resolve_name

    try:
        name = resolve_name(value)
    except (UnknownModelError, InputError):
        return
    raise InputError(
        f"build() takes an architecture (encoding, ArchSpec, layer list or JSON file); {value!r} is a hub model: "
        f"use gpunet_hub.create_model({name!r})",
        params=("encoding_or_archspec",),
    )


_MODEL_OPTIONS = ("drop_rate", "drop_path_rate")


def _check_kwargs(kwargs: Mapping[str, Any]) -> None:
    unknown = sorted(set(kwargs) - set(_MODEL_OPTIONS))
    if unknown:
        raise InputError(
            f"unknown option {unknown[0]!r}; the model options are {', '.join(_MODEL_OPTIONS)}",
            params=tuple(unknown),
        )


def check_weights_arg(weights: object) -> None:
    """Refuses a ``weights`` argument that cannot name a source, before anything is built or read.

    Raises:
        InputError: For an empty string, a wrong type, or a malformed ``hf-hub:`` repo id.
    """
    if weights is None or isinstance(weights, Path):
        return
    if not isinstance(weights, (str, PathLike)):
        raise InputError(
            f"weights must be 'default', 'hf-hub:org/repo', a local path or None, got {type(weights).__name__} "
            f"{weights!r}",
            params=("weights",),
        )
    text = str(weights)
    if not text.strip():
        raise InputError(
            "weights='' names no file; pass 'default', 'hf-hub:org/repo', a local path, or None for random init",
            params=("weights",),
        )
    if text.startswith("hf-hub:"):
        from huggingface_hub.utils import HFValidationError, validate_repo_id

        repo = text[len("hf-hub:") :]
        try:
            validate_repo_id(repo)
        except HFValidationError as exc:
            raise InputError(
                f"weights={text!r}: {repo!r} is not a Hub repo id ('org/name'): {exc}", params=("weights",)
            ) from None


def _check_device(device: Any) -> Any:
    """Parses ``device`` and checks the machine has it, before a model is built."""
    import torch

    try:
        parsed = torch.device(device)
    except (RuntimeError, TypeError, ValueError) as exc:
        raise InputError(
            f"device must be a torch device such as 'cpu' or 'cuda:0', got {device!r} ({exc})", params=("device",)
        ) from None
    if parsed.type == "cuda":
        count = torch.cuda.device_count() if torch.cuda.is_available() else 0
        if count == 0:
            raise EnvironmentProblem(
                f"device={device!r}: this machine has no CUDA GPU; use device='cpu'", params=("device",)
            )
        if parsed.index is not None and parsed.index >= count:
            raise EnvironmentProblem(
                f"device={device!r}: this machine has {count} CUDA device(s) (0..{count - 1})", params=("device",)
            )
    elif parsed.type == "mps" and not torch.backends.mps.is_available():
        raise EnvironmentProblem(
            f"device={device!r}: MPS is not available on this machine; use device='cpu'", params=("device",)
        )
    return parsed


def create_model(
    name: str,
    *,
    weights: str | Path | None = None,
    num_classes: int | None = None,
    hub: HubArg = None,
    **kwargs: Any,
) -> GPUNet:
    """Creates a hub model by name, timm style (train mode, like ``timm.create_model``).

    Args:
        name: Model name or alias.
        weights: ``None`` (random init), ``"default"``, ``"hf-hub:org/repo"`` or a local path.
        num_classes: Classifier width; a pretrained classifier of another width is re-initialised.
        hub: A hub folder or ``"hf-hub:org/repo"`` to take the model from instead of the packaged hub
            (plus ``GPUNET_HUB_PATH``); its ``"default"`` weights are its card folder's
            ``model.safetensors``, checked by size and hash.
        **kwargs: ``drop_rate`` and ``drop_path_rate``.

    Raises:
        UnknownModelError: For an unknown name.
        InputError: For malformed ``weights``, ``num_classes``, ``hub`` or options (checked before building).
    """
    from .builder import build_model, check_options

    cat = catalog(hub)
    card = cat.model_card(name)
    check_weights_arg(weights)
    if num_classes is not None:
        num_classes = check_num_classes(num_classes, allow_zero=True)
    _check_kwargs(kwargs)
    check_options(card.arch, kwargs.get("drop_rate", 0.0), kwargs.get("drop_path_rate"))
    model = build_model(card.arch, pretrained_cfg=card.pretrained_cfg, **kwargs)
    if weights is not None:
        from .weights.sources import load_weights

        load_weights(model, card, weights, folder=cat.card_folder(card.name))
    if num_classes is not None and num_classes != model.num_classes:
        model.reset_classifier(num_classes)
    return model


def load(
    name: str | None = None,
    *,
    gpu: str | None = None,
    max_latency_ms: float | None = None,
    weights: str | Path | None = "default",
    num_classes: int | None = None,
    device: Any = None,
    batch_size: int = 1,
    local_group: str | None = None,
    hub: HubArg = None,
) -> nn.Module:
    """Returns a ready-to-run model (eval mode): by name, or the best one for a GPU and budget.

    Args:
        name: Model name or alias; omit it to select by ``gpu`` and ``max_latency_ms``.
        gpu: GPU to select for (``GV100``, ``A100``, a device name, or ``local``).
        max_latency_ms: Latency budget in milliseconds (inclusive).
        weights: ``"default"`` (the card's source, downloaded and cached), ``None`` (random init,
            no I/O), ``"hf-hub:org/repo"``, or a local file or folder.
        num_classes: Classifier width; a pretrained classifier of another width is re-initialised.
        device: Where to put the model.
        batch_size: Batch size whose latency rows are used for selection.
        local_group: With ``gpu="local"``: the group of local rows to select from (default: the
            newest); see :func:`gpunet_hub.hub.local_table.groups`.
        hub: A hub folder or ``"hf-hub:org/repo"`` to select and load from instead of the packaged
            hub (plus ``GPUNET_HUB_PATH``); a hub measured on a CPU is selected by that CPU's label.

    Examples:
        >>> model = gpunet_hub.load(gpu="GV100", max_latency_ms=1.0, weights=None)  # GPUNet-P1
        >>> model = gpunet_hub.load("my_entry", hub="hf-hub:org/my-gpunets")  # a regenerated hub
    """
    cat = catalog(hub)
    check_weights_arg(weights)
    if num_classes is not None:
        num_classes = check_num_classes(num_classes, allow_zero=True)
    if device is not None:
        device = _check_device(device)
    if name is None:
        if gpu is None or max_latency_ms is None:
            raise InputError(
                "load() needs a model name, or both gpu= and max_latency_ms= to select one",
                params=("name", "gpu", "max_latency_ms"),
            )
        name = select(gpu, max_latency_ms, batch_size=batch_size, local_group=local_group, hub=cat)
    elif gpu is not None or max_latency_ms is not None:
        raise InputError(
            "pass either a model name or gpu= and max_latency_ms=, not both", params=("name", "gpu", "max_latency_ms")
        )
    model = create_model(name, weights=weights, num_classes=num_classes, hub=cat)
    if device is not None:
        model = model.to(device)
    return model.eval()
