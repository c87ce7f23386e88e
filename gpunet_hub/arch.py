"""ArchSpec: the canonical architecture representation, in the release's layer-list schema.

A GPUNet release file is a JSON list whose entry 0 is ``{"layer_type": "data", "img_resolution": R,
"distill": bool}`` followed by one dict per layer. :class:`ArchSpec` parses, validates and writes that
format back byte-for-byte equivalent (same keys, same values), so every other representation (the
41-integer encoding, ONNX, LUT layer keys) can be derived from it.
"""

from __future__ import annotations

import json
import math
import numbers
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from .errors import ArchSpecError, did_you_mean

LAYER_TYPES = ("head", "head_large", "conv", "fused_irb", "irb", "tail")
ACTIVATIONS = ("relu", "swish")
FAMILIES = ("standard", "distill")

# Keys each layer type needs, per family, and the order the release writes them in.
_REQUIRED: dict[str, tuple[str, ...]] = {
    "head": ("num_in_channels", "num_out_channels"),
    "head_large": ("num_in_channels", "num_out_channels"),
    "conv": ("num_in_channels", "num_out_channels", "stride", "kernel_size", "act"),
    "fused_irb": ("num_in_channels", "num_out_channels", "stride", "expansion", "kernel_size"),
    "irb": ("num_in_channels", "num_out_channels", "stride", "expansion", "kernel_size"),
    "tail": ("num_in_channels", "num_out_channels", "num_classes"),
}
_STANDARD_BLOCK_KEYS = ("act", "use_se")  # fused_irb / irb in the standard family
_DISTILL_BLOCK_KEYS = ("groups",)  # fused_irb / irb in the distill family
_KEY_ORDER = (
    "layer_type",
    "num_in_channels",
    "num_out_channels",
    "stride",
    "expansion",
    "kernel_size",
    "groups",
    "act",
    "use_se",
    "num_classes",
    "stage",
)
# Keys present in the released files that the release's builder ignores; kept verbatim.
_IGNORED_RELEASE_KEYS = ("stage:",)
_INT_KEYS = ("num_in_channels", "num_out_channels", "stride", "kernel_size", "groups", "num_classes", "stage")
# Bounds that keep a malformed value from asking torch for terabytes (the releases use <= 1984 channels).
MAX_CHANNELS = 1 << 16
MAX_NUM_CLASSES = 1_000_000
MAX_RESOLUTION = 8192
MAX_EXPANSION = 64


def check_num_classes(value: object, *, allow_zero: bool = False) -> int:
    """A classifier width: a whole number in ``1..MAX_NUM_CLASSES`` (``0``, no classifier, where allowed).

    Raises:
        InputError: For a bool, a float such as ``2.5``, a string, or a value out of range.
    """
    from ._validate import integer

    return integer(value, "num_classes", minimum=0 if allow_zero else 1, maximum=MAX_NUM_CLASSES)


@dataclass(frozen=True)
class LayerSpec:
    """One layer of an ArchSpec, with the release's key names.

    Attributes:
        layer_type: One of ``head``, ``head_large``, ``conv``, ``fused_irb``, ``irb``, ``tail``.
        num_in_channels: Input channels.
        num_out_channels: Output channels.
        stride: Spatial stride (1 or 2); ``None`` for head/tail, whose stride is fixed.
        kernel_size: Kernel size of the spatial conv; ``None`` for head/tail.
        expansion: Expansion ratio of (fused) inverted residual blocks; may be non-integer.
        act: ``relu`` or ``swish``; ``None`` where the release omits it (head defaults to swish).
        use_se: Squeeze-excite flag of standard-family blocks.
        groups: Group count of distill-family blocks (1 in all releases).
        num_classes: Classifier width, tail only.
        stage: Stage number as written in the release (provenance; not used to build).
        extra: Keys the release writes that no builder reads (the stray ``"stage:"`` key of the
            GPUNet-D2 tail), kept so the file round-trips.
    """

    layer_type: str
    num_in_channels: int
    num_out_channels: int
    stride: int | None = None
    kernel_size: int | None = None
    expansion: float | None = None
    act: str | None = None
    use_se: bool | None = None
    groups: int | None = None
    num_classes: int | None = None
    stage: int | None = None
    extra: tuple[tuple[str, Any], ...] = ()

    def block_params(self) -> tuple[int, int, float]:
        """``(kernel_size, stride, expansion)`` of a body block (``conv`` layers have expansion 1).

        Raises:
            ArchSpecError: When the layer lacks one of them (head and tail layers do).
        """
        if self.kernel_size is None or self.stride is None:
            raise ArchSpecError(f"{self.layer_type} layer has no kernel_size/stride; only body blocks have them")
        return self.kernel_size, self.stride, 1.0 if self.expansion is None else float(self.expansion)

    @property
    def effective_act(self) -> str:
        """The activation the network uses (the release's head defaults to swish)."""
        if self.layer_type == "tail":
            return "relu"
        return self.act or ("swish" if self.layer_type == "head" else "relu")

    def to_dict(self) -> dict[str, Any]:
        """Returns the release-format dict: only the keys that are set, in the release's order."""
        out: dict[str, Any] = {}
        for key in _KEY_ORDER:
            value = getattr(self, key)
            if value is not None:
                out[key] = value
        out.update(self.extra)
        return out


@dataclass(frozen=True)
class ArchSpec:
    """An architecture as an ordered list of layers plus its input resolution and builder family.

    Attributes:
        resolution: Input height and width the network was designed for.
        family: ``standard`` (GPUNet-0/1/2/P0/P1) or ``distill`` (GPUNet-D1/D2): the release's
            ``distill`` flag, which selects module classes, not a training mode.
        layers: The layers after the ``data`` entry, head first, tail last.
    """

    resolution: int
    family: str
    layers: tuple[LayerSpec, ...] = field(default_factory=tuple)

    def __post_init__(self) -> None:
        validate(self)

    @property
    def distill(self) -> bool:
        return self.family == "distill"

    @property
    def num_classes(self) -> int:
        return self.layers[-1].num_classes or 0

    def with_num_classes(self, num_classes: int) -> ArchSpec:
        """Returns a copy whose tail has ``num_classes`` outputs (a whole number >= 1)."""
        tail = replace(self.layers[-1], num_classes=check_num_classes(num_classes))
        return replace(self, layers=(*self.layers[:-1], tail))

    def to_list(self) -> list[dict[str, Any]]:
        """Returns the release's JSON list (data entry first)."""
        data = {"layer_type": "data", "img_resolution": self.resolution, "distill": self.distill}
        return [data] + [layer.to_dict() for layer in self.layers]

    def to_json(self, indent: int | None = 4) -> str:
        return json.dumps(self.to_list(), indent=indent)

    def save(self, path: str | Path) -> Path:
        """Writes the release-format JSON atomically."""
        from ._io import atomic_write_text

        return atomic_write_text(Path(path), self.to_json() + "\n")


def from_list(config: Sequence[Mapping[str, Any]]) -> ArchSpec:
    """Parses a release-format layer list.

    Args:
        config: The JSON list: a ``data`` entry followed by layer dicts.

    Returns:
        The validated ArchSpec.

    Raises:
        ArchSpecError: When an entry is missing a key, has an unknown type or a bad value; the
            message names the entry index (as in the JSON list) and the key.
    """
    if not isinstance(config, Sequence) or isinstance(config, (str, bytes)) or not config:
        raise ArchSpecError("an ArchSpec is a non-empty JSON list whose entry 0 is the 'data' entry")
    data = config[0]
    if not isinstance(data, Mapping) or data.get("layer_type") != "data":
        raise ArchSpecError(
            f"entry 0 must be {{'layer_type': 'data', 'img_resolution': R, 'distill': bool}}, got {data!r}"
        )
    for key in ("img_resolution", "distill"):
        if key not in data:
            raise ArchSpecError(f"entry 0 (data): missing key '{key}'")
    resolution = data["img_resolution"]
    if not _is_int(resolution) or resolution <= 0:
        raise ArchSpecError(f"entry 0 (data): 'img_resolution' must be a positive integer, got {resolution!r}")
    if not isinstance(data["distill"], bool):
        raise ArchSpecError(f"entry 0 (data): 'distill' must be true or false, got {data['distill']!r}")
    family = "distill" if data["distill"] else "standard"
    layers = tuple(_parse_layer(i, entry, family) for i, entry in enumerate(config[1:], start=1))
    return ArchSpec(resolution=int(resolution), family=family, layers=layers)


def load(path: str | Path) -> ArchSpec:
    """Reads a release-format JSON file."""
    path = Path(path)
    try:
        config = json.loads(path.read_text())
    except FileNotFoundError:
        raise ArchSpecError(f"no architecture file at {path}") from None
    except IsADirectoryError:
        raise ArchSpecError(f"{path} is a folder; name a release-format .json file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ArchSpecError(f"cannot read the architecture file {path}: {exc}") from None
    except json.JSONDecodeError as exc:
        raise ArchSpecError(f"{path} is not valid JSON: {exc}") from None
    return from_list(config)


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _parse_layer(index: int, entry: Any, family: str) -> LayerSpec:
    where = f"entry {index}"
    if not isinstance(entry, Mapping):
        raise ArchSpecError(f"{where}: a layer must be a JSON object, got {entry!r}")
    layer_type = entry.get("layer_type")
    if layer_type is None:
        raise ArchSpecError(f"{where}: missing key 'layer_type'")
    if layer_type not in LAYER_TYPES:
        raise ArchSpecError(
            f"{where}: unknown layer_type {layer_type!r}; known types: {', '.join(LAYER_TYPES)}."
            + did_you_mean(str(layer_type), LAYER_TYPES)
        )
    where = f"entry {index} ({layer_type})"
    required = list(_REQUIRED[layer_type])
    if layer_type in ("irb", "fused_irb"):
        required += _STANDARD_BLOCK_KEYS if family == "standard" else _DISTILL_BLOCK_KEYS
    for key in required:
        if key not in entry:
            raise ArchSpecError(f"{where}: missing key '{key}'")
    known = {f.name for f in fields(LayerSpec)} - {"extra"}
    unknown = sorted(set(entry) - known - set(_IGNORED_RELEASE_KEYS))
    if unknown:
        raise ArchSpecError(
            f"{where}: unknown key '{unknown[0]}'; known keys: {', '.join(sorted(known))}."
            + did_you_mean(unknown[0], known)
        )
    values = {k: entry[k] for k in entry if k in known}
    values["extra"] = tuple((k, entry[k]) for k in entry if k in _IGNORED_RELEASE_KEYS)
    layer = LayerSpec(**values)
    _check_types(layer, where)  # here too, so the message names the JSON entry
    return layer


def _check_types(layer: LayerSpec, where: str) -> None:
    """Refuses wrong value types (bool for an integer, NaN or infinite expansion, a non-string act)."""
    if not isinstance(layer, LayerSpec):
        raise ArchSpecError(f"{where}: a layer must be a LayerSpec, got {type(layer).__name__} {layer!r}")
    if layer.layer_type not in LAYER_TYPES:
        raise ArchSpecError(
            f"{where}: unknown layer_type {layer.layer_type!r}; known types: {', '.join(LAYER_TYPES)}."
            + did_you_mean(str(layer.layer_type), LAYER_TYPES)
        )
    for key in _INT_KEYS:
        value = getattr(layer, key)
        if value is not None and not _is_int(value):
            raise ArchSpecError(f"{where}: '{key}' must be an integer, got {value!r}")
    for key in ("num_in_channels", "num_out_channels"):
        if getattr(layer, key) is None:
            raise ArchSpecError(f"{where}: '{key}' must be an integer, got None")
    expansion = layer.expansion
    if expansion is not None and (
        isinstance(expansion, bool) or not isinstance(expansion, numbers.Real) or not math.isfinite(expansion)
    ):
        raise ArchSpecError(f"{where}: 'expansion' must be a finite number, got {expansion!r}")
    if layer.use_se is not None and not isinstance(layer.use_se, bool):
        raise ArchSpecError(f"{where}: 'use_se' must be true or false, got {layer.use_se!r}")
    if layer.act is not None and not isinstance(layer.act, str):
        raise ArchSpecError(f"{where}: 'act' must be one of {', '.join(ACTIVATIONS)}, got {layer.act!r}")


def validate(spec: ArchSpec) -> None:
    """Checks the structural rules the builders rely on.

    Raises:
        ArchSpecError: Naming the layer (by its entry index in the release JSON) and key.
    """
    if not isinstance(spec.family, str) or spec.family not in FAMILIES:
        raise ArchSpecError(f"family must be one of {FAMILIES}, got {spec.family!r}")
    if not _is_int(spec.resolution) or not 0 < spec.resolution <= MAX_RESOLUTION:
        raise ArchSpecError(f"resolution must be an integer in 1..{MAX_RESOLUTION}, got {spec.resolution!r}")
    if not isinstance(spec.layers, tuple):
        raise ArchSpecError(f"layers must be a tuple of LayerSpec, got {type(spec.layers).__name__}")
    layers = spec.layers
    for index, layer in enumerate(layers, start=1):
        _check_types(layer, f"entry {index}")
    if len(layers) < 2:
        raise ArchSpecError("an ArchSpec needs at least a head and a tail layer")
    first, last = layers[0], layers[-1]
    heads = ("head", "head_large") if spec.distill else ("head",)
    if first.layer_type not in heads:
        raise ArchSpecError(f"entry 1: the first layer must be one of {heads}, got {first.layer_type!r}")
    if last.layer_type != "tail":
        raise ArchSpecError(f"entry {len(layers)}: the last layer must be 'tail', got {last.layer_type!r}")
    for index, layer in enumerate(layers, start=1):
        where = f"entry {index} ({layer.layer_type})"
        if layer.layer_type in ("head", "head_large", "tail") and index not in (1, len(layers)):
            raise ArchSpecError(f"{where}: '{layer.layer_type}' may only be the first or last layer")
        if layer.layer_type == "head_large" and not spec.distill:
            raise ArchSpecError(f"{where}: 'head_large' exists only in the distill family (data.distill = true)")
        for key in ("num_in_channels", "num_out_channels", "num_classes", "groups"):
            value = getattr(layer, key)
            if value is not None and value <= 0:
                raise ArchSpecError(f"{where}: '{key}' must be positive, got {value}")
        for key, bound in (
            ("num_in_channels", MAX_CHANNELS),
            ("num_out_channels", MAX_CHANNELS),
            ("num_classes", MAX_NUM_CLASSES),
        ):
            value = getattr(layer, key)
            if value is not None and value > bound:
                raise ArchSpecError(f"{where}: '{key}' must be <= {bound}, got {value}")
        if layer.expansion is not None and layer.expansion > MAX_EXPANSION:
            raise ArchSpecError(f"{where}: 'expansion' must be <= {MAX_EXPANSION}, got {layer.expansion}")
        if layer.stride is not None and layer.stride not in (1, 2):
            raise ArchSpecError(f"{where}: 'stride' must be 1 or 2, got {layer.stride}")
        if layer.kernel_size is not None and (layer.kernel_size <= 0 or layer.kernel_size % 2 == 0):
            raise ArchSpecError(f"{where}: 'kernel_size' must be a positive odd integer, got {layer.kernel_size}")
        if layer.expansion is not None and layer.expansion <= 0:
            raise ArchSpecError(f"{where}: 'expansion' must be positive, got {layer.expansion}")
        if layer.act is not None and layer.act not in ACTIVATIONS:
            raise ArchSpecError(
                f"{where}: 'act' must be one of {', '.join(ACTIVATIONS)}, got {layer.act!r}."
                + did_you_mean(str(layer.act), ACTIVATIONS)
            )
        if spec.distill and layer.layer_type in ("irb", "fused_irb"):
            if layer.expansion is not None and float(layer.expansion) != int(layer.expansion):
                raise ArchSpecError(
                    f"{where}: the distill family uses mid = in * expansion exactly, so 'expansion' must be "
                    f"a whole number, got {layer.expansion}"
                )
            if layer.use_se:
                raise ArchSpecError(f"{where}: the distill family has no squeeze-excite; set use_se false or drop it")
        if index > 1:
            prev = layers[index - 2]
            if layer.num_in_channels != prev.num_out_channels:
                raise ArchSpecError(
                    f"{where}: 'num_in_channels' is {layer.num_in_channels} but entry {index - 1} "
                    f"({prev.layer_type}) outputs {prev.num_out_channels} channels"
                )


def coerce(arch: ArchSpec | Sequence[Mapping[str, Any]] | str | Path) -> ArchSpec:
    """Accepts an ArchSpec, a release-format list, or a path to a JSON file."""
    if isinstance(arch, ArchSpec):
        return arch
    if isinstance(arch, (str, Path)):
        if not str(arch).strip():
            raise ArchSpecError("the architecture path is empty; name a release-format .json file")
        return load(arch)
    return from_list(arch)


def stages(spec: ArchSpec) -> dict[int, list[tuple[int, LayerSpec]]]:
    """Groups body layers (not head/tail) by their ``stage`` value, keeping entry indices."""
    grouped: dict[int, list[tuple[int, LayerSpec]]] = {}
    for index, layer in enumerate(spec.layers, start=1):
        if layer.layer_type in ("head", "head_large", "tail"):
            continue
        grouped.setdefault(layer.stage if layer.stage is not None else -1, []).append((index, layer))
    return grouped
