"""Layer keys of the latency look-up table: one canonical, hashable key per layer configuration.

A key holds everything that decides a layer's latency: its type, in/out channels, kernel, stride,
expansion, SE, activation, input height/width, batch and precision (and, for the tail, the
classifier width). The same layer in two networks is the same key.

Input sizes follow the released padding exactly (``gpunet_hub.builder``): ``out = floor((H + 2p - k)
/ s) + 1`` with ``p = 0`` for stride-2 fused blocks (GPUNet-0 at 320 px: 160 -> 79) and ``p = ((s -
1) + (k - 1)) // 2`` otherwise; the head is k3 s2 p1.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from gpunet_hub.arch import ArchSpec, LayerSpec
from gpunet_hub.errors import InputError

if TYPE_CHECKING:
    from torch import nn

KEY_LAYER_TYPES = ("head", "head_large", "conv", "fused_irb", "irb", "tail")
PRECISIONS = ("fp32", "fp16")
_KEY_RE = re.compile(
    r"^(?P<t>[a-z_]+):c(?P<cin>\d+)>(?P<cout>\d+):k(?P<k>\d+):s(?P<s>\d+):e(?P<e>[0-9.]+):se(?P<se>[01]):"
    r"(?P<act>[a-z]+):(?P<h>\d+)x(?P<w>\d+):b(?P<b>\d+):(?P<p>fp\d+)(?::n(?P<n>\d+))?$"
)


@dataclass(frozen=True, order=True)
class LayerKey:
    """The LUT key of one layer.

    Attributes:
        layer_type: ``head``, ``head_large``, ``conv``, ``fused_irb``, ``irb`` or ``tail``.
        cin: Input channels.
        cout: Output channels (the tail's 1x1 conv width for ``tail``).
        kernel: Spatial kernel (3 for the head, 1 for the tail).
        stride: Stride of the layer's strided conv (2 for the head, 1 for the tail).
        expansion: Expansion ratio of (fused) inverted residuals, 0 otherwise.
        se: Squeeze-excite in the block.
        act: Activation the layer uses (``relu`` or ``swish``).
        h: Input height.
        w: Input width.
        batch: Batch size.
        precision: ``fp32`` or ``fp16``.
        classes: Classifier width of the tail, 0 otherwise.
    """

    layer_type: str
    cin: int
    cout: int
    kernel: int
    stride: int
    expansion: float
    se: bool
    act: str
    h: int
    w: int
    batch: int = 1
    precision: str = "fp32"
    classes: int = 0

    def __str__(self) -> str:
        text = (
            f"{self.layer_type}:c{self.cin}>{self.cout}:k{self.kernel}:s{self.stride}:e{self.expansion:g}:"
            f"se{int(self.se)}:{self.act}:{self.h}x{self.w}:b{self.batch}:{self.precision}"
        )
        return text + (f":n{self.classes}" if self.layer_type == "tail" else "")

    @classmethod
    def parse(cls, text: str) -> LayerKey:
        """Parses the canonical string form (``str(key)``).

        Raises:
            InputError: When the string is not a layer key.
        """
        match = _KEY_RE.match(text.strip())
        if not match or match["t"] not in KEY_LAYER_TYPES:
            raise InputError(
                f"not a layer key: {text!r} (expected e.g. 'irb:c96>112:k5:s2:e6:se1:swish:40x40:b1:fp32')"
            )
        g = match.groupdict()
        return cls(
            g["t"],
            int(g["cin"]),
            int(g["cout"]),
            int(g["k"]),
            int(g["s"]),
            float(g["e"]),
            g["se"] == "1",
            g["act"],
            int(g["h"]),
            int(g["w"]),
            int(g["b"]),
            g["p"],
            int(g["n"] or 0),
        )

    @property
    def input_shape(self) -> tuple[int, int, int, int]:
        """``(batch, cin, h, w)``."""
        return (self.batch, self.cin, self.h, self.w)

    @property
    def output_hw(self) -> tuple[int, int]:
        """Spatial size after the layer (the tail pools to 1x1 but its conv keeps the size)."""
        if self.layer_type == "tail":
            return (1, 1)
        pad = layer_padding(self.layer_type, self.kernel, self.stride)
        return (conv_out(self.h, self.kernel, self.stride, pad), conv_out(self.w, self.kernel, self.stride, pad))


def conv_out(size: int, kernel: int, stride: int, pad: int) -> int:
    """Output size of a convolution: ``floor((size + 2 * pad - kernel) / stride) + 1``."""
    return (size + 2 * pad - kernel) // stride + 1


def layer_padding(layer_type: str, kernel: int, stride: int) -> int:
    """The released padding: none for stride-2 fused blocks, ``((s-1)+(k-1))//2`` elsewhere."""
    if layer_type == "fused_irb" and stride == 2:
        return 0
    return ((stride - 1) + (kernel - 1)) // 2


def _check_precision(batch: int, precision: str) -> None:
    if precision not in PRECISIONS:
        raise InputError(f"precision must be one of {', '.join(PRECISIONS)}, got {precision!r}")
    if batch < 1:
        raise InputError(f"batch must be >= 1, got {batch}")


def arch_layer_keys(
    arch: ArchSpec, *, batch: int = 1, precision: str = "fp32", resolution: int | None = None
) -> list[LayerKey]:
    """The per-layer keys of a network, head to tail.

    Args:
        arch: A standard-family ArchSpec (what the 41-integer space decodes to).
        batch: Batch size of the measurement.
        precision: ``fp32`` or ``fp16``.
        resolution: Input size to use instead of ``arch.resolution`` (reduced-resolution LUTs).

    Raises:
        InputError: For distill-family networks (their blocks differ; the LUT covers the search space).
    """
    _check_precision(batch, precision)
    if arch.family != "standard":
        raise InputError("layer keys cover standard-family networks (the 41-integer search space), not GPUNet-D")
    h = w = int(resolution or arch.resolution)
    keys: list[LayerKey] = []
    for layer in arch.layers:
        key = _key_of(layer, h, w, batch, precision)
        pad = layer_padding(key.layer_type, key.kernel, key.stride)
        if min(h, w) + 2 * pad < key.kernel:
            raise InputError(
                f"layer {len(keys) + 1} ({key.layer_type}, kernel {key.kernel}) gets a {h}x{w} input at "
                f"resolution {resolution or arch.resolution}: smaller than its kernel; use a larger resolution"
            )
        keys.append(key)
        h, w = key.output_hw
    return keys


def _key_of(layer: LayerSpec, h: int, w: int, batch: int, precision: str) -> LayerKey:
    t = layer.layer_type
    cin, cout = layer.num_in_channels, layer.num_out_channels
    if t in ("head", "head_large"):
        return LayerKey(t, cin, cout, 3, 2, 0.0, False, layer.effective_act, h, w, batch, precision)
    if t == "tail":
        classes = int(layer.num_classes or 0)
        return LayerKey(t, cin, cout, 1, 1, 0.0, False, "relu", h, w, batch, precision, classes)
    block = t in ("fused_irb", "irb")
    return LayerKey(
        t,
        cin,
        cout,
        int(_required(layer, "kernel_size")),
        int(_required(layer, "stride")),
        float(_required(layer, "expansion")) if block else 0.0,
        bool(layer.use_se) and t != "conv",
        layer.effective_act,
        h,
        w,
        batch,
        precision,
    )


def _required(layer: LayerSpec, name: str) -> float:
    value = getattr(layer, name)
    if value is None:  # ArchSpec validation requires it for this layer type; a hand-made LayerSpec may not
        raise InputError(f"a {layer.layer_type} layer needs {name}, got None")
    return float(value)


def _make_divisible(v: np.ndarray, divisor: int = 8) -> np.ndarray:
    """timm's ``make_divisible`` (round to a multiple of 8, never below 90 % of ``v``), vectorised."""
    out = np.maximum(divisor, (v + divisor / 2).astype(np.int64) // divisor * divisor)
    return np.where(out < 0.9 * v, out + divisor, out)


def params_from_fields(
    layer_type: np.ndarray,
    cin: np.ndarray,
    cout: np.ndarray,
    kernel: np.ndarray,
    expansion: np.ndarray,
    se: np.ndarray,
    classes: np.ndarray | int,
) -> np.ndarray:
    """Parameter counts (conv/linear weights and biases, BN weight and bias) of layers, vectorised.

    ``layer_type`` holds indices into :data:`KEY_LAYER_TYPES`. The counts equal those of
    :func:`build_layer`'s modules (timm rounds the expanded width to a multiple of 8; SE reduces to
    ``round(mid * 0.25 / expansion)`` channels). They feed the ``+weights`` calibration: a lone layer
    is timed with its weights hot in cache, a whole network streams them from memory.
    """
    t = np.asarray(layer_type)
    cin, cout, kernel = (np.asarray(a, dtype=np.int64) for a in (cin, cout, kernel))
    e = np.maximum(np.asarray(expansion, dtype=np.float64), 1e-9)
    mid = _make_divisible(cin * e)
    rd = np.round(mid * (0.25 / e)).astype(np.int64)
    se_params = np.where(np.asarray(se, dtype=bool), 2 * mid * rd + rd + mid, 0)
    head = cin * cout * 9 + 2 * cout
    out = np.zeros(t.shape, dtype=np.int64)
    types = {name: t == i for i, name in enumerate(KEY_LAYER_TYPES)}
    out = np.where(types["head"], head, out)
    out = np.where(types["head_large"], head + 2 * (cout * cout * 9 + 2 * cout), out)
    out = np.where(types["conv"], cin * cout * kernel**2 + 2 * cout, out)
    out = np.where(types["fused_irb"], cin * mid * kernel**2 + 2 * mid + se_params + mid * cout + 2 * cout, out)
    out = np.where(
        types["irb"], cin * mid + 2 * mid + mid * kernel**2 + 2 * mid + se_params + mid * cout + 2 * cout, out
    )
    classes = np.asarray(classes, dtype=np.int64)
    return np.where(types["tail"], cin * cout + 2 * cout + cout * classes + classes, out)


def macs_activations_from_fields(
    layer_type: np.ndarray,
    cin: np.ndarray,
    cout: np.ndarray,
    kernel: np.ndarray,
    stride: np.ndarray,
    expansion: np.ndarray,
    h: np.ndarray,
    classes: np.ndarray | int,
) -> tuple[np.ndarray, np.ndarray]:
    """Multiply-adds and output activations (elements written, all convs of the layer) of layers, vectorised.

    Same conventions as :func:`params_from_fields` (square inputs, the released padding, timm's
    rounded expanded width; squeeze-excite and BN are left out: they are a small share of either).
    Features of the learned latency predictor, not a latency model of their own.
    """
    t = np.asarray(layer_type)
    cin, cout, kernel, stride, h = (np.asarray(a, dtype=np.int64) for a in (cin, cout, kernel, stride, h))
    e = np.maximum(np.asarray(expansion, dtype=np.float64), 1e-9)
    mid = _make_divisible(cin * e)
    types = {name: t == i for i, name in enumerate(KEY_LAYER_TYPES)}
    pad = np.where(types["fused_irb"] & (stride == 2), 0, ((stride - 1) + (kernel - 1)) // 2)
    out = np.where(types["tail"], h, (h + 2 * pad - kernel) // stride + 1)
    hw_in, hw_out = h * h, out * out
    classes = np.asarray(classes, dtype=np.int64)
    macs = np.select(
        [types["head"] | types["head_large"], types["conv"], types["fused_irb"], types["irb"], types["tail"]],
        [
            cin * cout * 9 * hw_out,
            cin * cout * kernel**2 * hw_out,
            (cin * kernel**2 + cout) * mid * hw_out,
            cin * mid * hw_in + mid * kernel**2 * hw_out + mid * cout * hw_out,
            cin * cout * hw_in + cout * classes,
        ],
    )
    acts = np.select(
        [types["fused_irb"], types["irb"], types["tail"]],
        [(mid + cout) * hw_out, mid * hw_in + (mid + cout) * hw_out, cout * hw_in + classes],
        cout * hw_out,
    )
    return macs.astype(np.float64), acts.astype(np.float64)


def layer_params(keys: Iterable[LayerKey]) -> np.ndarray:
    """Parameter count of each key's layer (see :func:`params_from_fields`)."""
    keys = list(keys)
    return params_from_fields(
        np.array([KEY_LAYER_TYPES.index(k.layer_type) for k in keys]),
        np.array([k.cin for k in keys]),
        np.array([k.cout for k in keys]),
        np.array([k.kernel for k in keys]),
        np.array([k.expansion for k in keys]),
        np.array([k.se for k in keys]),
        np.array([k.classes for k in keys]),
    )


def distinct_keys(key_lists: Iterable[Iterable[LayerKey]]) -> list[LayerKey]:
    """The distinct keys of several networks, in first-seen order."""
    return list(dict.fromkeys(k for keys in key_lists for k in keys))


def build_layer(key: LayerKey) -> nn.Module:
    """Builds the one layer a key describes, exactly as ``gpunet_hub.build_model`` builds it in a network.

    The layer is cut out of a minimal network built by the public builder (a head feeding it, a
    tail after it), so padding, BN eps and SE width are those of the full network; the tail is the
    network's conv_head + bn2 + avg pool + flatten + classifier.
    """
    from torch import nn

    from gpunet_hub.arch import ArchSpec
    from gpunet_hub.builder import build_model

    if key.layer_type in ("head", "head_large"):
        head = LayerSpec(key.layer_type, key.cin, key.cout, act=None if key.act == "swish" else key.act)
        arch = ArchSpec(key.h, "standard", (head, LayerSpec("tail", key.cout, 8, num_classes=1)))
        return build_model(arch, drop_path_rate=0.0).stem
    head = LayerSpec("head", 3, key.cin)
    if key.layer_type == "tail":
        tail = LayerSpec("tail", key.cin, key.cout, num_classes=key.classes)
        model = build_model(ArchSpec(key.h, "standard", (head, tail)), drop_path_rate=0.0)
        return nn.Sequential(model.conv_head, model.bn2, model.global_pool, model.flatten, model.classifier)
    block = key.layer_type != "conv"
    expansion = int(key.expansion) if float(key.expansion).is_integer() else key.expansion
    layer = LayerSpec(
        key.layer_type,
        key.cin,
        key.cout,
        stride=key.stride,
        kernel_size=key.kernel,
        expansion=expansion if block else None,
        act=key.act,
        use_se=key.se if block else None,
        stage=2 if block else 1,
    )
    arch = ArchSpec(key.h, "standard", (head, layer, LayerSpec("tail", key.cout, 8, num_classes=1)))
    return build_model(arch, drop_path_rate=0.0).blocks[0]
