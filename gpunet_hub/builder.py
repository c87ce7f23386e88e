"""ArchSpec -> ``nn.Module``, from timm's EfficientNet blocks.

The networks are the released networks, module for module (NVIDIA DeepLearningExamples,
PyTorch/Classification/GPUNet; its architecture files are in ``tools/release/configs``):

* standard family (GPUNet-0/1/2/P0/P1): timm ``ConvBnAct`` / ``EdgeResidual`` / ``InvertedResidual``
  with BN eps 1e-3, SE width ``round(mid * 0.25 / expansion)``, and the release's padding, including
  **no padding on stride-2 fused blocks** (the release passed ``pad_type="same"`` through a path that
  dropped the dynamic padding, so GPUNet-0 at 320 px has maps 160, 79, 39, 20, 10);
* distill family (GPUNet-D1/D2): ReLU, BN eps 1e-5 (1e-3 in fused blocks), no SE,
  ``mid = in * expansion`` exactly. timm's blocks round ``mid`` to a multiple of 8, so the small
  :class:`ExactInvertedResidual` / :class:`ExactEdgeResidual` stand in only where that rounding
  would change the width (D1's 33, 99, 201, ... channels).
"""

from __future__ import annotations

from functools import partial
from typing import Any

import torch
from timm.layers import BatchNormAct2d, ConvNormAct, SelectAdaptivePool2d, create_conv2d, make_divisible
from timm.models._efficientnet_blocks import ConvBnAct, EdgeResidual, InvertedResidual, SqueezeExcite
from torch import nn

from ._validate import number
from .arch import ArchSpec, LayerSpec, check_num_classes
from .errors import InputError
from .pretrained import PretrainedCfg

DISTILL_TAIL_HIDDEN = 1152  # hard-coded in the release's EpilogueD
DROP_RATE = 0.2  # classifier dropout, hard-wired in the release
DROP_PATH_RATE = 0.2  # base stochastic-depth rate of the standard family, hard-wired in the release

_ACTS: dict[str, type[nn.Module]] = {"relu": nn.ReLU, "swish": nn.SiLU}


def _norm(eps: float) -> Any:
    return partial(nn.BatchNorm2d, eps=eps)


class _ExactBlock(nn.Module):
    """Shared forward of the exact-width blocks: body, then identity add when shapes allow."""

    has_skip: bool
    drop_path: nn.Module

    def body(self, x: torch.Tensor) -> torch.Tensor:  # pragma: no cover - abstract
        raise NotImplementedError

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.body(x)
        return self.drop_path(out) + x if self.has_skip else out


class ExactInvertedResidual(_ExactBlock):
    """timm's ``InvertedResidual`` (same module names) with ``mid = in * expansion``, no rounding."""

    def __init__(self, in_chs: int, out_chs: int, kernel_size: int, stride: int, mid_chs: int, eps: float) -> None:
        super().__init__()
        norm_act = partial(BatchNormAct2d, eps=eps, act_layer=nn.ReLU)
        self.conv_pw = create_conv2d(in_chs, mid_chs, 1)
        self.bn1 = norm_act(mid_chs, inplace=True)
        self.conv_dw = create_conv2d(mid_chs, mid_chs, kernel_size, stride=stride, depthwise=True)
        self.bn2 = norm_act(mid_chs, inplace=True)
        self.se = nn.Identity()
        self.conv_pwl = create_conv2d(mid_chs, out_chs, 1)
        self.bn3 = norm_act(out_chs, apply_act=False)
        self.has_skip = in_chs == out_chs and stride == 1
        self.drop_path = nn.Identity()

    def body(self, x: torch.Tensor) -> torch.Tensor:
        x = self.bn2(self.conv_dw(self.bn1(self.conv_pw(x))))
        return self.bn3(self.conv_pwl(self.se(x)))


class ExactEdgeResidual(_ExactBlock):
    """timm's ``EdgeResidual`` (same module names) with ``mid = in * expansion``, no rounding."""

    def __init__(self, in_chs: int, out_chs: int, kernel_size: int, stride: int, mid_chs: int, eps: float) -> None:
        super().__init__()
        norm_act = partial(BatchNormAct2d, eps=eps, act_layer=nn.ReLU)
        self.conv_exp = create_conv2d(in_chs, mid_chs, kernel_size, stride=stride)
        self.bn1 = norm_act(mid_chs, inplace=True)
        self.se = nn.Identity()
        self.conv_pwl = create_conv2d(mid_chs, out_chs, 1)
        self.bn2 = norm_act(out_chs, apply_act=False)
        self.has_skip = in_chs == out_chs and stride == 1
        self.drop_path = nn.Identity()

    def body(self, x: torch.Tensor) -> torch.Tensor:
        return self.bn2(self.conv_pwl(self.se(self.bn1(self.conv_exp(x)))))


def _se_layer(layer: LayerSpec) -> Any:
    if not layer.use_se:
        return None
    # The release sizes SE from the block input: round(mid * (0.25 / expansion)).
    return partial(SqueezeExcite, rd_ratio=0.25 / layer.block_params()[2])


def _standard_block(layer: LayerSpec, drop_path_rate: float) -> nn.Module:
    act = _ACTS[layer.effective_act]
    norm = _norm(1e-3)
    kernel, stride, expansion = layer.block_params()
    if layer.layer_type == "conv":
        return ConvBnAct(
            layer.num_in_channels,
            layer.num_out_channels,
            kernel,
            stride=stride,
            act_layer=act,
            norm_layer=norm,
            drop_path_rate=drop_path_rate,
        )
    if layer.layer_type == "fused_irb":
        return EdgeResidual(
            layer.num_in_channels,
            layer.num_out_channels,
            exp_kernel_size=kernel,
            stride=stride,
            # Released padding: symmetric at stride 1, none at stride 2 (see module docstring);
            # timm passes an int pad_type through to the conv's padding.
            pad_type=0 if stride == 2 else "",  # type: ignore[arg-type]
            exp_ratio=expansion,
            act_layer=act,
            norm_layer=norm,
            se_layer=_se_layer(layer),
            drop_path_rate=drop_path_rate,
        )
    return InvertedResidual(
        layer.num_in_channels,
        layer.num_out_channels,
        dw_kernel_size=kernel,
        stride=stride,
        exp_ratio=expansion,
        act_layer=act,
        norm_layer=norm,
        se_layer=_se_layer(layer),
        drop_path_rate=drop_path_rate,
    )


def _distill_block(layer: LayerSpec) -> nn.Module:
    fused = layer.layer_type == "fused_irb"
    eps = 1e-3 if fused else 1e-5
    kernel, stride, expansion = layer.block_params()
    mid = layer.num_in_channels * int(expansion)
    cin, cout = layer.num_in_channels, layer.num_out_channels
    if make_divisible(mid) != mid:
        return (ExactEdgeResidual if fused else ExactInvertedResidual)(cin, cout, kernel, stride, mid_chs=mid, eps=eps)
    common: dict[str, Any] = {
        "stride": stride,
        "exp_ratio": int(expansion),
        "act_layer": nn.ReLU,
        "norm_layer": _norm(eps),
    }
    if fused:
        return EdgeResidual(cin, cout, exp_kernel_size=kernel, **common)
    return InvertedResidual(cin, cout, dw_kernel_size=kernel, **common)


def _stem(layer: LayerSpec, distill: bool) -> nn.Sequential:
    # The distill family's PrologueD/PrologueLargeD use ReLU whatever the JSON says.
    act = nn.ReLU if distill else _ACTS[layer.effective_act]
    eps = 1e-5 if distill else 1e-3
    conv = partial(ConvNormAct, kernel_size=3, norm_layer=_norm(eps), act_layer=act)
    out = layer.num_out_channels
    stem = [conv(layer.num_in_channels, out, stride=2)]
    if layer.layer_type == "head_large":
        stem += [conv(out, out, stride=1), conv(out, out, stride=1)]
    return nn.Sequential(*stem)


class GPUNet(nn.Module):
    """A GPUNet built from an ArchSpec, with timm's model surface.

    Attributes:
        arch: The ArchSpec it was built from.
        stem: The head conv(s).
        blocks: The body layers, one module per ArchSpec layer.
        conv_head, bn2: The tail's 1x1 conv and BN + ReLU.
        global_pool: Average pooling.
        head_proj: The distill family's post-pool 1x1 conv (``Identity`` otherwise).
        classifier: The final Linear.
        num_features: Channels of ``forward_features`` output.
        head_hidden_size: Width of the pre-logits vector.
        pretrained_cfg: Data configuration (timm's dict form of :class:`~gpunet_hub.pretrained.PretrainedCfg`)
            that ``timm.data.resolve_data_config(model=...)`` reads.
    """

    def __init__(
        self,
        arch: ArchSpec,
        *,
        drop_rate: float = DROP_RATE,
        drop_path_rate: float | None = None,
        pretrained_cfg: PretrainedCfg | None = None,
    ) -> None:
        drop_rate, drop_path_rate = check_options(arch, drop_rate, drop_path_rate, pretrained_cfg)
        super().__init__()
        self.arch = arch
        self.drop_rate = drop_rate
        layers = arch.layers
        head, body, tail = layers[0], layers[1:-1], layers[-1]
        eps = 1e-5 if arch.distill else 1e-3
        self.stem = _stem(head, arch.distill)
        if arch.distill:
            blocks = [_distill_block(layer) for layer in body]
        else:
            # The release's rate for JSON entry j (data = 0) is base * j / (len(json) - 1).
            base = DROP_PATH_RATE if drop_path_rate is None else drop_path_rate
            blocks = [_standard_block(layer, base * j / len(layers)) for j, layer in enumerate(body, start=2)]
        self.blocks = nn.Sequential(*blocks)
        hidden = DISTILL_TAIL_HIDDEN if arch.distill else tail.num_out_channels
        self.conv_head = create_conv2d(tail.num_in_channels, hidden, 1)
        self.bn2 = BatchNormAct2d(hidden, eps=eps, act_layer=nn.ReLU, inplace=True)
        self.global_pool = SelectAdaptivePool2d(pool_type="avg", flatten=False)
        if arch.distill:
            self.head_proj: nn.Module = nn.Sequential(
                nn.Conv2d(hidden, tail.num_out_channels, 1, bias=False), nn.ReLU(inplace=True)
            )
        else:
            self.head_proj = nn.Identity()
        self.flatten = nn.Flatten(1)
        self.head_drop = nn.Dropout(drop_rate)
        self.num_features = hidden
        self.head_hidden_size = tail.num_out_channels
        self.num_classes = tail.num_classes
        self.classifier: nn.Module = (
            nn.Linear(self.head_hidden_size, self.num_classes) if self.num_classes else nn.Identity()
        )
        cfg = pretrained_cfg or PretrainedCfg.for_arch(arch)
        self.pretrained_cfg: dict[str, Any] = cfg.replace(num_classes=self.num_classes).to_dict()

    @property
    def default_cfg(self) -> dict[str, Any]:
        """Alias of ``pretrained_cfg`` kept by timm for older callers."""
        return self.pretrained_cfg

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        x = self.blocks(self.stem(x))
        return self.bn2(self.conv_head(x))

    def forward_head(self, x: torch.Tensor, pre_logits: bool = False) -> torch.Tensor:
        x = self.flatten(self.head_proj(self.global_pool(x)))
        x = self.head_drop(x)
        return x if pre_logits else self.classifier(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_head(self.forward_features(x))

    def get_classifier(self) -> nn.Module:
        return self.classifier

    def reset_classifier(self, num_classes: int, global_pool: str | None = None) -> None:
        """Replaces the classifier with a fresh ``num_classes``-way Linear (``0``: identity)."""
        if global_pool is not None and global_pool != "avg":
            raise InputError(f"GPUNet pools by average only; got global_pool={global_pool!r}", params=("global_pool",))
        num_classes = check_num_classes(num_classes, allow_zero=True)
        self.num_classes = num_classes
        self.pretrained_cfg["num_classes"] = num_classes
        self.classifier = nn.Linear(self.head_hidden_size, num_classes) if num_classes else nn.Identity()


def check_options(
    arch: object, drop_rate: object, drop_path_rate: object, pretrained_cfg: object = None
) -> tuple[float, float | None]:
    """Checks a network's construction options before any module is built.

    Returns:
        ``(drop_rate, drop_path_rate)`` as floats (``drop_path_rate`` may stay ``None``).

    Raises:
        InputError: For an ``arch`` that is not an ArchSpec, a rate outside ``[0, 1)``, NaN, a bool
            or a string, or a ``pretrained_cfg`` that is not a PretrainedCfg.
    """
    if not isinstance(arch, ArchSpec):
        raise InputError(
            f"arch must be an ArchSpec (gpunet_hub.arch.coerce reads lists and JSON files), got {type(arch).__name__}",
            params=("arch",),
        )
    rate = number(drop_rate, "drop_rate", minimum=0.0, maximum=1.0)
    if rate == 1.0:
        raise InputError("drop_rate must be < 1 (1 drops every feature), got 1", params=("drop_rate",))
    path_rate = None
    if drop_path_rate is not None:
        path_rate = number(drop_path_rate, "drop_path_rate", minimum=0.0, maximum=1.0)
        if path_rate == 1.0:
            raise InputError("drop_path_rate must be < 1, got 1", params=("drop_path_rate",))
    if pretrained_cfg is not None and not isinstance(pretrained_cfg, PretrainedCfg):
        raise InputError(
            f"pretrained_cfg must be a gpunet_hub.pretrained.PretrainedCfg, got {type(pretrained_cfg).__name__}",
            params=("pretrained_cfg",),
        )
    return rate, path_rate


def build_model(
    arch: ArchSpec,
    *,
    num_classes: int | None = None,
    drop_rate: float = DROP_RATE,
    drop_path_rate: float | None = None,
    pretrained_cfg: PretrainedCfg | None = None,
) -> GPUNet:
    """Builds the network an ArchSpec describes (random init, train mode like any nn.Module).

    Args:
        arch: The architecture.
        num_classes: Overrides the tail's classifier width.
        drop_rate: Classifier dropout (release: 0.2).
        drop_path_rate: Base stochastic-depth rate of the standard family (release: 0.2, scaled
            by depth); the distill family has none.
        pretrained_cfg: The preprocessing (e.g. a card's); default: the release's for ``arch``.

    Raises:
        InputError: For a malformed option (see :func:`check_options`) or ``num_classes`` that is
            not a whole number >= 0 (``0``: no classifier, timm's convention).
    """
    check_options(arch, drop_rate, drop_path_rate, pretrained_cfg)
    if num_classes is not None:
        num_classes = check_num_classes(num_classes, allow_zero=True)
    if num_classes:
        arch = arch.with_num_classes(num_classes)
    model = GPUNet(arch, drop_rate=drop_rate, drop_path_rate=drop_path_rate, pretrained_cfg=pretrained_cfg)
    if num_classes == 0:
        model.reset_classifier(0)
    return model


__all__ = ["ExactEdgeResidual", "ExactInvertedResidual", "GPUNet", "build_model", "check_options"]
