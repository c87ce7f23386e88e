"""NVIDIA's module names (the released checkpoints' state-dict keys) <-> gpunet-hub's.

The release wraps every layer in one ``nn.Sequential`` named ``network`` whose children are named
from the JSON list position *i* (1-based, the ``data`` entry is 1), as the release's model code (NVIDIA
DeepLearningExamples, PyTorch/Classification/GPUNet) names them:

* standard family: ``head: {i}`` (``net.0`` conv, ``net.1`` BN), ``stage: {s} layer{i}`` (timm block
  names, identical to ours), ``" layer{i}"`` for the tail (``net.0`` conv, ``net.1`` BN, ``net.6`` Linear);
* distill family: ``head:`` (``PrologueD``: ``net.0``/``net.1``; ``PrologueLargeD``: ``net.0, 1, 3, 4, 6,
  7``), ``stage: {s} irb{i}`` (``body.0, 1, 3, 4, 6, 7``), ``stage: {s} fused_irb{i}`` (``body.0, 1, 3,
  4``), ``tail:`` (``net.0`` conv, ``net.1`` BN,
  ``net.4`` projection conv, ``net.8`` Linear).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..arch import ArchSpec
from ..errors import CheckpointError

NVIDIA_ROOT = "network."

_STEM = {"net.0": "stem.0.conv", "net.1": "stem.0.bn"}
_STEM_LARGE = _STEM | {"net.3": "stem.1.conv", "net.4": "stem.1.bn", "net.6": "stem.2.conv", "net.7": "stem.2.bn"}
_TAIL = {"net.0": "conv_head", "net.1": "bn2", "net.6": "classifier"}
_TAIL_DISTILL = {"net.0": "conv_head", "net.1": "bn2", "net.4": "head_proj.0", "net.8": "classifier"}
_DISTILL_FUSED = {"body.0": "conv_exp", "body.1": "bn1", "body.3": "conv_pwl", "body.4": "bn2"}
_DISTILL_IRB = {
    "body.0": "conv_pw",
    "body.1": "bn1",
    "body.3": "conv_dw",
    "body.4": "bn2",
    "body.6": "conv_pwl",
    "body.7": "bn3",
}


def module_map(arch: ArchSpec) -> dict[str, tuple[str, dict[str, str] | None]]:
    """NVIDIA's top-level child names -> (our module prefix, sub-module renames or None for identical)."""
    table: dict[str, tuple[str, dict[str, str] | None]] = {}
    layers = arch.layers
    for position, layer in enumerate(layers, start=2):  # position 1 is the data entry
        block = position - 3  # index into our `blocks`
        if arch.distill:
            if layer.layer_type in ("head", "head_large"):
                table["head:"] = ("", _STEM_LARGE if layer.layer_type == "head_large" else _STEM)
            elif layer.layer_type == "tail":
                table["tail:"] = ("", _TAIL_DISTILL)
            elif layer.layer_type == "irb":
                table[f"stage: {layer.stage} irb{position}"] = (f"blocks.{block}", _DISTILL_IRB)
            else:  # Fused_IRB: no released network has one, names as in the release's module file
                table[f"stage: {layer.stage} fused_irb{position}"] = (f"blocks.{block}", _DISTILL_FUSED)
        elif layer.layer_type == "head":
            table[f"head: {position}"] = ("", _STEM)
        elif layer.layer_type == "tail":
            table[f" layer{position}"] = ("", _TAIL)
        else:
            table[f"stage: {layer.stage} layer{position}"] = (f"blocks.{block}", None)
    return table


def is_nvidia_state_dict(state_dict: Mapping[str, Any]) -> bool:
    """True when the keys use the release's ``network.<name>`` layout."""
    return any(key.startswith(NVIDIA_ROOT) for key in state_dict)


def _convert_key(key: str, table: dict[str, tuple[str, dict[str, str] | None]]) -> str:
    rest = key[len(NVIDIA_ROOT) :]
    # Top-level names contain spaces and dots never, so the longest matching prefix is the child name.
    for child in sorted(table, key=len, reverse=True):
        if rest.startswith(child + "."):
            prefix, renames = table[child]
            tail = rest[len(child) + 1 :]
            if renames is not None:
                for old in sorted(renames, key=len, reverse=True):
                    if tail.startswith(old + "."):
                        tail = renames[old] + tail[len(old) :]
                        break
                else:
                    raise CheckpointError(f"checkpoint key {key!r}: unknown sub-module for {child!r}")
            return f"{prefix}.{tail}" if prefix else tail
    raise CheckpointError(
        f"checkpoint key {key!r} names no layer of this architecture (expected children such as "
        f"{', '.join(repr(c) for c in list(table)[:3])}); is it the checkpoint of another model?"
    )


def from_nvidia(state_dict: Mapping[str, Any], arch: ArchSpec) -> dict[str, Any]:
    """Renames a release state dict (``network.…`` keys) to gpunet-hub's module names.

    Raises:
        CheckpointError: When a key matches no layer of ``arch``.
    """
    table = module_map(arch)
    return {_convert_key(key, table): value for key, value in state_dict.items()}


def to_nvidia(state_dict: Mapping[str, Any], arch: ArchSpec) -> dict[str, Any]:
    """Renames gpunet-hub keys to the release's (to hand weights back to NVIDIA's code)."""
    reverse: dict[str, str] = {}
    for child, (prefix, renames) in module_map(arch).items():
        for old, new in (renames or {"": ""}).items():
            ours = ".".join(p for p in (prefix, new) if p)
            reverse[ours] = ".".join(p for p in (NVIDIA_ROOT + child, old) if p)
    converted = {}
    for key, value in state_dict.items():
        match = max((k for k in reverse if key.startswith(k + ".")), key=len, default=None)
        if match is None:
            raise CheckpointError(f"key {key!r} has no NVIDIA counterpart")
        converted[reverse[match] + key[len(match) :]] = value
    return converted
