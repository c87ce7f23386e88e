"""The one pretrained/preprocessing configuration of a model, like timm's ``PretrainedCfg``.

A :class:`PretrainedCfg` says how a model expects its input (size, resize interpolation, centre
crop, normalisation) and names its first conv and classifier. The same record is:

* the ``preprocessing`` block of a card's ``config.json`` and of the package index
  (:meth:`PretrainedCfg.to_preprocessing` / :meth:`PretrainedCfg.from_preprocessing`);
* ``ModelCard.pretrained_cfg``;
* the dict ``GPUNet.pretrained_cfg`` that ``timm.data.resolve_data_config(model=...)`` reads
  (:meth:`PretrainedCfg.to_dict`).

Torch-free: the hub reads it without building anything.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, replace
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .arch import ArchSpec

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
# The keys of the ``preprocessing`` block (config.json and the package index), in file order.
PREPROCESSING_KEYS = ("input_size", "interpolation", "mean", "std", "crop_pct", "crop_mode")


@dataclass(frozen=True)
class PretrainedCfg:
    """How a model's input is prepared, and where its first conv and classifier are.

    Attributes:
        input_size: Per-sample input shape ``(C, H, W)``.
        interpolation: Resize interpolation (the release evaluates with ``bicubic``).
        mean: Normalisation mean.
        std: Normalisation std.
        crop_pct: Evaluation centre-crop fraction.
        crop_mode: timm's crop mode (``center``).
        num_classes: Classifier width.
        first_conv: Module name of the first conv.
        classifier: Module name of the classifier.
        architecture: The hub name, when the config belongs to a hub model.
    """

    input_size: tuple[int, int, int]
    interpolation: str = "bicubic"
    mean: tuple[float, float, float] = IMAGENET_MEAN
    std: tuple[float, float, float] = IMAGENET_STD
    crop_pct: float = 1.0
    crop_mode: str = "center"
    num_classes: int = 1000
    first_conv: str = "stem.0.conv"
    classifier: str = "classifier"
    architecture: str | None = None

    @property
    def resolution(self) -> int:
        """The input's height (the hub's models are square)."""
        return int(self.input_size[-1])

    @classmethod
    def for_arch(cls, arch: ArchSpec, **overrides: Any) -> PretrainedCfg:
        """The release's evaluation preprocessing for an ArchSpec (bicubic, ImageNet mean/std)."""
        return cls(input_size=(3, arch.resolution, arch.resolution), num_classes=arch.num_classes).replace(**overrides)

    def replace(self, **changes: Any) -> PretrainedCfg:
        """A copy with ``changes`` applied."""
        return replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        """timm's dict form (what ``model.pretrained_cfg`` holds); ``architecture`` only when set."""
        data = asdict(self)
        if data["architecture"] is None:
            del data["architecture"]
        return data

    def to_preprocessing(self) -> dict[str, Any]:
        """The JSON ``preprocessing`` block of config.json and the package index."""
        data = asdict(self)
        return {key: list(data[key]) if isinstance(data[key], tuple) else data[key] for key in PREPROCESSING_KEYS}

    @classmethod
    def from_preprocessing(cls, data: Mapping[str, Any], **extra: Any) -> PretrainedCfg:
        """Inverse of :meth:`to_preprocessing` (``extra`` sets the other fields, e.g. ``architecture``).

        Raises:
            KeyError: When a preprocessing key is missing (callers name the file it came from).
        """
        return cls(
            input_size=tuple(int(v) for v in data["input_size"]),  # type: ignore[arg-type]
            interpolation=str(data["interpolation"]),
            mean=tuple(float(v) for v in data["mean"]),  # type: ignore[arg-type]
            std=tuple(float(v) for v in data["std"]),  # type: ignore[arg-type]
            crop_pct=float(data["crop_pct"]),
            crop_mode=str(data.get("crop_mode", "center")),
            **extra,
        )
