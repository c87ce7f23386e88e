"""The hub's models in timm's registry: ``import gpunet_hub.timm`` and ``timm.create_model`` knows them.

Importing this module (it imports torch and timm; ``import gpunet_hub`` alone does not) registers
one timm entry point per hub model, with its pretrained config (input size, interpolation, crop,
mean/std, classifier) taken from the model card, so that ``timm.create_model``,
``timm.list_models("gpunet*")``, ``timm.data.resolve_data_config`` and scripts built on them
(timm's ``train.py`` / ``validate.py`` with ``--model gpunet_0``) work::

    import gpunet_hub.timm  # noqa: F401  (registers gpunet_0 ... gpunet_d2)
    import timm

    model = timm.create_model("gpunet_0", pretrained=True)  # NVIDIA's released weights

``pretrained=True`` loads the card's released weights through :func:`gpunet_hub.create_model`
(downloaded once into the user cache and converted). timm's usual overrides of the weights work:
``pretrained_cfg_overlay=dict(file="/path/model.safetensors")`` (a local file, or the NGC ``.zip``)
and ``pretrained_cfg_overlay=dict(hf_hub_id="org/repo")``; ``checkpoint_path=`` loads a checkpoint
after creation, as timm does for any model.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from timm.models import generate_default_cfgs, register_model

from . import _factory
from .errors import InputError
from .hub.cards import ModelCard
from .hub.index import cards

# Keyword arguments timm's create_model (and its train.py) pass that the hub's models take.
_MODEL_KWARGS = ("num_classes", "drop_rate", "drop_path_rate")
# Keyword arguments timm passes for every model; accepted when they ask for what GPUNet is.
_FIXED_KWARGS = {"in_chans": 3, "global_pool": "avg"}
_PLACEMENT_KWARGS = ("device", "dtype")
_TIMM_CFG_FIELDS = ("input_size", "interpolation", "mean", "std", "crop_pct", "crop_mode", "first_conv", "classifier")


def timm_cfg(card: ModelCard) -> dict[str, Any]:
    """timm's pretrained-config dict of a hub model (what ``timm.models.get_pretrained_cfg`` returns).

    ``url`` is the released archive (so ``timm.list_models(pretrained=True)`` lists the model); the
    entry point, not timm's loader, reads it.
    """
    cfg = card.pretrained_cfg.to_dict()
    data = {key: cfg[key] for key in _TIMM_CFG_FIELDS}
    data["num_classes"] = card.arch.num_classes
    if card.weights is not None:
        data["url"] = card.weights.url
        data["origin_url"] = card.weights.page or card.weights.url
    data["description"] = f"{card.display_name}: {card.top1} % top-1 ({card.top1_source})"
    return data


def _weights_for(name: str, pretrained: bool, pretrained_cfg: Any, overlay: Mapping[str, Any] | None) -> Any:
    """The ``weights`` argument of :func:`gpunet_hub.create_model` for timm's pretrained arguments."""
    if not pretrained:
        return None
    settings: dict[str, Any] = {}
    if pretrained_cfg is not None:
        settings.update(pretrained_cfg if isinstance(pretrained_cfg, Mapping) else vars(pretrained_cfg))
    settings.update(overlay or {})
    if settings.get("file"):
        return str(settings["file"])
    if settings.get("hf_hub_id"):
        return f"hf-hub:{settings['hf_hub_id']}"
    return "default"


def _check_kwargs(name: str, kwargs: Mapping[str, Any]) -> None:
    for key, fixed in _FIXED_KWARGS.items():
        if key in kwargs and kwargs[key] not in (fixed, None, ""):
            raise InputError(f"{name} takes {key}={fixed!r} only, got {key}={kwargs[key]!r}", params=(key,))
    allowed = (*_MODEL_KWARGS, *_FIXED_KWARGS, *_PLACEMENT_KWARGS, "cache_dir", "pretrained_model_args")
    unknown = sorted(set(kwargs) - set(allowed))
    if unknown:
        raise InputError(
            f"{name} does not take {', '.join(unknown)}; its options are {', '.join(_MODEL_KWARGS)}",
            params=tuple(unknown),
        )


def _entrypoint(name: str) -> Callable[..., Any]:
    def create(
        pretrained: bool = False,
        pretrained_cfg: Any = None,
        pretrained_cfg_overlay: Mapping[str, Any] | None = None,
        **kwargs: Any,
    ) -> Any:
        if not isinstance(pretrained, bool):
            raise InputError(f"pretrained must be True or False, got {pretrained!r}", params=("pretrained",))
        if pretrained_cfg_overlay is not None and not isinstance(pretrained_cfg_overlay, Mapping):
            raise InputError(
                f"pretrained_cfg_overlay must be a dict, got {type(pretrained_cfg_overlay).__name__}",
                params=("pretrained_cfg_overlay",),
            )
        _check_kwargs(name, kwargs)
        options = {key: kwargs[key] for key in _MODEL_KWARGS if kwargs.get(key) is not None}
        weights = _weights_for(name, pretrained, pretrained_cfg, pretrained_cfg_overlay)
        model = _factory.create_model(name, weights=weights, **options)
        if pretrained_cfg_overlay:
            known = set(model.pretrained_cfg)
            model.pretrained_cfg.update({k: v for k, v in pretrained_cfg_overlay.items() if k in known})
        placement = {key: kwargs[key] for key in _PLACEMENT_KWARGS if kwargs.get(key) is not None}
        return model.to(**placement) if placement else model

    create.__name__ = create.__qualname__ = name
    create.__module__ = __name__
    create.__doc__ = f"timm entry point of the hub model {name} (see :mod:`gpunet_hub.timm`)."
    return create


# timm's registry reads a module-level ``default_cfgs`` of the registering module; built once here.
default_cfgs = generate_default_cfgs({name: timm_cfg(card) for name, card in cards().items()})


def register() -> list[str]:
    """Registers every hub model in timm's registry (done on import; repeating it is a no-op).

    Returns:
        The registered names.
    """
    from timm.models import is_model, model_entrypoint

    names = sorted(cards())
    for name in names:
        if is_model(name) and model_entrypoint(name).__module__ == __name__:
            continue
        fn = _entrypoint(name)
        globals()[name] = fn
        register_model(fn)
    return names


MODEL_NAMES = register()

__all__ = ["MODEL_NAMES", "register", "timm_cfg"]
