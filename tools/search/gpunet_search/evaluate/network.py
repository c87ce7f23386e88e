"""The network an evaluation trains: a 41-int vector or an ArchSpec, then the proxy's width and resolution.

The width multiplier is the usual reduced-channel NAS proxy: every layer's output channels (head,
every stage, tail) are multiplied and rounded with timm's ``make_divisible`` (multiple of 8, never
more than 10 % below), and the next layer's input follows. Depth, kernels, expansions, SE, activations and strides are
untouched, so the proxy network has the candidate's shape at a fraction of its cost.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from timm.layers import make_divisible

from gpunet_hub.arch import ArchSpec, coerce
from gpunet_hub.errors import InputError
from gpunet_hub.space import SearchSpace, decode

CHANNEL_DIVISOR = 8

Network = ArchSpec | Sequence[int] | Sequence[Mapping[str, Any]] | str | Path


def resolve_network(network: Network, space: str | SearchSpace = "table1") -> ArchSpec:
    """Turns what a caller passes into an ArchSpec.

    Args:
        network: An ArchSpec, a release-format layer list, a path to a release JSON file, or a
            41-integer encoding (decoded under ``space``).
        space: The search space of an encoding (ignored for ArchSpecs).

    Raises:
        EncodingError / ArchSpecError: When the encoding or the layer list is malformed.
    """
    if isinstance(network, (ArchSpec, str, Path)):
        return coerce(network)
    items: list[Any] = list(network)
    if items and all(isinstance(v, Mapping) for v in items):
        return coerce(items)
    return decode(items, space)


def scale_width(spec: ArchSpec, mult: float) -> ArchSpec:
    """Multiplies every layer's output channels by ``mult`` (multiple of 8, at least 8).

    Args:
        spec: The architecture.
        mult: Width multiplier; 1 returns ``spec`` unchanged.

    Returns:
        The narrowed (or widened) ArchSpec, channels chained layer to layer.
    """
    if mult == 1.0:
        return spec
    if not mult > 0:
        raise InputError(f"width multiplier must be positive, got {mult!r}")
    layers = []
    channels_in = spec.layers[0].num_in_channels
    for layer in spec.layers:
        out = make_divisible(layer.num_out_channels * mult, CHANNEL_DIVISOR)
        layers.append(replace(layer, num_in_channels=channels_in, num_out_channels=out))
        channels_in = out
    return replace(spec, layers=tuple(layers))


def proxy_resolution(resolution: int, res_scale: float, min_resolution: int) -> int:
    """The input size of a run: ``round(resolution * res_scale)``, at least ``min_resolution``.

    The same rule as the latency LUT's reduced-resolution measurements, with the evaluator's floor.
    """
    from ..latency.estimate import scaled_resolution

    return scaled_resolution(resolution, res_scale, min_resolution)


__all__ = ["CHANNEL_DIVISOR", "Network", "proxy_resolution", "resolve_network", "scale_width"]
