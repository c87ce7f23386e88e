"""Typed model-card records: what the hub knows about one model.

These are plain dataclasses built from the package's generated index, so reading them needs neither
torch nor huggingface_hub. Reading and writing the ``model_cards/<name>/`` folders is in
:mod:`gpunet_hub.hub.cards_io`.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from ..arch import ArchSpec, from_list
from ..pretrained import PretrainedCfg


@dataclass(frozen=True)
class LatencyRow:
    """One measured latency.

    Attributes:
        gpu: Hub GPU key (``GV100``) or, for local rows, the device label.
        batch: Batch size.
        precision: ``fp16``, ``fp32``, ...
        runtime: ``tensorrt``, ``onnxruntime-cpu``, ...
        runtime_version: Version of that runtime.
        stat: The statistic (``median`` or ``mean``).
        ms: Milliseconds.
        source: Where the number comes from.
    """

    gpu: str
    batch: int
    precision: str
    runtime: str
    runtime_version: str
    stat: str
    ms: float
    source: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class WeightsSource:
    """Where a model's released weights live.

    Attributes:
        url: Download URL (the NGC archive for the released models).
        filename: The checkpoint inside the archive.
        format: ``timm-checkpoint`` (``state_dict`` / ``state_dict_ema``) or ``state-dict``.
        sha256: Hash of the download when known.
        size: Size in bytes of the download when known.
        page: A human-readable page about the weights.
    """

    url: str
    filename: str
    format: str
    sha256: str | None = None
    size: int | None = None
    page: str | None = None


@dataclass(frozen=True)
class ModelCard:
    """Everything the hub records about one model.

    Attributes:
        name: Canonical timm-style name (``gpunet_0``).
        display_name: The release's name (``GPUNet-0``).
        aliases: Other accepted names (``GPUNet-0``, ``GV100/0.65ms``).
        top1: Top-1 accuracy (%) on the validation split of :attr:`dataset`, as reported by its source.
        top1_source: Where ``top1`` comes from.
        params: Parameter count of the network as built, with its own classifier (1000 classes for ImageNet).
        pretrained_cfg: Input size and preprocessing (with ``architecture`` set to ``name``).
        teacher: Distillation teacher (``None`` if trained without).
        tier: The latency tier of the search that produced it, e.g. ``{"gpu": "GV100", "latency": "0.65ms"}``:
            provenance, not a measurement.
        latency: Measured latency rows.
        weights: Where released weights live, if anywhere.
        arch: The architecture.
        encoding: The 41-integer encoding when the network is stage-uniform.
        space: Search space the encoding belongs to.
        top1_source_url: A link to ``top1_source``.
        dataset: The dataset ``top1`` was measured on and the weights were trained on (a Hugging Face
            dataset id such as ``imagenet-1k``, or ``digits`` for scikit-learn's digits).
        provenance: How a searched entry was made (search run, LUT and calibration fingerprints, tier,
            training recipe and proxy settings), as plain JSON data; ``None`` for released models.
    """

    name: str
    display_name: str
    aliases: tuple[str, ...]
    top1: float
    top1_source: str
    params: int
    pretrained_cfg: PretrainedCfg
    teacher: str | None
    tier: dict[str, str]
    latency: tuple[LatencyRow, ...]
    weights: WeightsSource | None
    arch: ArchSpec = field(repr=False)
    encoding: tuple[int, ...] | None = None
    space: str | None = None
    top1_source_url: str | None = None
    dataset: str = "imagenet-1k"
    provenance: dict[str, Any] | None = None

    @property
    def resolution(self) -> int:
        """Input resolution (from :attr:`pretrained_cfg`)."""
        return self.pretrained_cfg.resolution

    @property
    def crop_pct(self) -> float:
        """Evaluation centre-crop fraction (from :attr:`pretrained_cfg`)."""
        return self.pretrained_cfg.crop_pct

    @property
    def interpolation(self) -> str:
        """Resize interpolation (from :attr:`pretrained_cfg`)."""
        return self.pretrained_cfg.interpolation

    def latency_rows(self, gpu: str, *, batch_size: int = 1, precision: str = "fp16") -> list[LatencyRow]:
        """Rows measured on ``gpu`` (a hub key) at this batch size and precision."""
        return [r for r in self.latency if r.gpu == gpu and r.batch == batch_size and r.precision == precision]

    def to_dict(self) -> dict[str, Any]:
        """A JSON-able dict (the package index's record)."""
        return {
            "name": self.name,
            "display_name": self.display_name,
            "aliases": list(self.aliases),
            "top1": self.top1,
            "top1_source": self.top1_source,
            "params": self.params,
            "preprocessing": self.pretrained_cfg.to_preprocessing(),
            "teacher": self.teacher,
            "tier": dict(self.tier),
            "latency": [r.to_dict() for r in self.latency],
            "weights": asdict(self.weights) if self.weights else None,
            "arch": self.arch.to_list(),
            "encoding": list(self.encoding) if self.encoding else None,
            "space": self.space,
            "top1_source_url": self.top1_source_url,
            "dataset": self.dataset,
            "provenance": self.provenance,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ModelCard:
        """Inverse of :meth:`to_dict`."""
        arch = from_list(data["arch"])
        return cls(
            name=data["name"],
            display_name=data["display_name"],
            aliases=tuple(data["aliases"]),
            top1=float(data["top1"]),
            top1_source=data["top1_source"],
            params=int(data["params"]),
            pretrained_cfg=PretrainedCfg.from_preprocessing(
                data["preprocessing"], num_classes=arch.num_classes, architecture=data["name"]
            ),
            teacher=data.get("teacher"),
            tier=dict(data.get("tier") or {}),
            latency=tuple(LatencyRow(**row) for row in data.get("latency", [])),
            weights=WeightsSource(**data["weights"]) if data.get("weights") else None,
            arch=arch,
            encoding=tuple(data["encoding"]) if data.get("encoding") else None,
            space=data.get("space"),
            top1_source_url=data.get("top1_source_url"),
            dataset=data.get("dataset") or "imagenet-1k",
            provenance=data.get("provenance"),
        )
