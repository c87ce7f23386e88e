"""The regenerate plan: every setting the nine stages read, as frozen dataclasses loaded from YAML.

A plan comes from a preset (:mod:`.presets`), a YAML file and ``section.field=value`` overrides, in
that order. Unknown sections or fields are refused with close matches. The evaluator's proxy
(:func:`gpunet_search.evaluate.proxy_config` plus :attr:`Plan.proxy`) decides the network that is
trained: its resolution scale and floor and its width multiplier are applied before the layer keys,
so the LUT, the tiers, the search, the final training and the bench all see the same network.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from gpunet_hub import _validate
from gpunet_hub.errors import InputError, did_you_mean

if TYPE_CHECKING:
    from ..evaluate import EvalConfig
    from ..latency.measure import TimingProtocol
    from ..latency.pipeline import Setting

DIGITS_CLASSES = 10


@dataclass(frozen=True)
class LatencyPlan:
    """Stages 1-4: samples, LUT, calibration, tiers.

    Attributes:
        samples: Sobol networks drawn (deduplicated); every one is estimated and tiered.
        sample_seed: Scrambling seed.
        backend: Measuring backend of the ``gpunet_hub.measure`` registry (``onnxruntime-cpu``,
            ``tensorrt``, ...): the LUT layers, the calibration networks and the bench.
        threads: CPU intra-op threads of the backend.
        precision: ``auto`` (fp16 on GPU backends, fp32 on CPU), ``fp16`` or ``fp32``.
        batch: Batch size of every measurement.
        warmup: Untimed runs per LUT round.
        runs: Timed runs per LUT round.
        rounds: Interleaved rounds per item (the LUT keeps the minimum of the round medians).
        cv_max: Robust CV above which a LUT item is measured again.
        passes: Independent passes over every measured item (fresh sessions, about a pass apart in
            time; the value is the minimum over all): 2 narrows a LUT's error from slow spells of a
            shared machine and doubles the measuring time.
        calibration_nets: Networks (first of the sample file) measured whole for the calibration.
        calibration_model: Calibration model (:data:`gpunet_search.latency.calibration.MODELS`).
        tier_quantiles: Tier centres as quantiles of the calibrated estimates (device independent).
        tier_centres_ms: Explicit tier centres in ms (instead of quantiles).
        tier_width: Half-width of each tier: ``10%`` (relative) or ``0.05`` (ms).
        verify_tiers: Measure whole every network whose estimate lies near a tier, and draw the tiers'
            members from those measurements (the LUT estimate only chooses whom to measure), so the
            searched networks are in their tier on this device and not only in the estimate. Costs one
            whole-network measurement per candidate (the calibration's rate).
        verify_margin: Networks measured whole: estimates within the tier widened by this fraction
            of its bounds (``0.5``: from half its lower bound to 1.5 times its upper bound).
        tier_guard: A verified member's measurement must lie in the tier even when off by this
            fraction (the retest noise of a whole-network measurement), so the bench of the trained
            network lands in the tier too.
    """

    samples: int = 2000
    sample_seed: int = 0
    backend: str = "onnxruntime-cpu"
    threads: int = 1
    precision: str = "auto"
    batch: int = 1
    warmup: int = 10
    runs: int = 100
    rounds: int = 3
    cv_max: float = 0.1
    passes: int = 1
    calibration_nets: int = 24
    calibration_model: str = "linear+weights"
    tier_quantiles: tuple[float, ...] = (0.2, 0.5, 0.8)
    tier_centres_ms: tuple[float, ...] | None = None
    tier_width: str = "10%"
    verify_tiers: bool = True
    verify_margin: float = 0.5
    tier_guard: float = 0.03


@dataclass(frozen=True)
class SearchPlan:
    """Stage 5: one distributed search (Ray Tune) per tier.

    Attributes:
        trials: Trials per tier.
        concurrent: Trials at once.
        epochs: Epochs per trial (``None``: the proxy's).
        early_stop: The median stopping rule.
        address: Ray cluster to join (``None``: Ray on this machine).
        storage: Experiment storage shared by every node (``None``: ``<out>/search``).
        cpus_per_trial: CPUs per trial.
        gpus_per_trial: GPUs per trial (one trial per GPU: 1).
        searcher: Fields of :class:`gpunet_search.search.searcher.SearcherConfig` to override.
    """

    trials: int = 8
    concurrent: int = 2
    epochs: int | None = None
    early_stop: bool = True
    address: str | None = None
    storage: str | None = None
    cpus_per_trial: float = 1.0
    gpus_per_trial: float = 0.0
    searcher: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class FinalPlan:
    """Stage 6: the final, longer training of each tier's winner (and of the reference networks).

    Attributes:
        epochs: Epochs of the final training (the search's proxy runs fewer); the proxy's warm-up and
            decay period stretch with them (:meth:`EvalConfig.with_epochs`).
        proxy: Further ``proxy_config`` fields for the final training only (e.g. ``drop``); the
            network-shaping fields (``res_scale``, ``min_resolution``, ``width_mult``) are refused here.
    """

    epochs: int = 12
    proxy: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class BenchPlan:
    """Stage 7: the bench verification (``gpunet-hub bench``'s timing plan; ``None``: the backend's).

    Attributes:
        warmup: Untimed runs.
        min_runs: Timed runs (at least).
        min_seconds: Timed duration (at least).
        max_seconds: Stop timing a network after this long.
        rounds: Bench runs per network, interleaved across the networks; the card keeps the run
            with the lowest median. One run on a shared machine can land in a burst of other work;
            the lowest of a few interleaved medians is the statistic the LUT's whole-network
            measurements use too, so the tier check compares like with like.
    """

    warmup: int | None = None
    min_runs: int | None = None
    min_seconds: float | None = None
    max_seconds: float | None = None
    rounds: int = 3


@dataclass(frozen=True)
class Plan:
    """Everything ``gpunet-hub search regenerate`` reads.

    Attributes:
        name: Prefix of the entries' names (``<name>_<tier>``) and of the experiments.
        space: Search space of the samples.
        dataset: Training data (``digits`` is embedded).
        num_classes: Classes of ``dataset`` (known for ``digits``; required for other datasets).
        seed: Seed of the search and of every training run.
        proxy: ``proxy_config`` fields to override for the search and the final training (the
            network-shaping ones also shape the LUT's keys).
        references: Hub networks shrunk, trained and benched the same way (comparable points).
        latency: Stages 1-4.
        search: Stage 5.
        final: Stage 6.
        bench: Stage 7.
    """

    name: str = "digits"
    space: str = "table1"
    dataset: str = "digits"
    num_classes: int | None = None
    seed: int = 0
    proxy: dict[str, Any] = field(default_factory=dict)
    references: tuple[str, ...] = ()
    latency: LatencyPlan = field(default_factory=LatencyPlan)
    search: SearchPlan = field(default_factory=SearchPlan)
    final: FinalPlan = field(default_factory=FinalPlan)
    bench: BenchPlan = field(default_factory=BenchPlan)

    def validate(self) -> Plan:
        """Checks every field before any work; returns ``self``.

        Raises:
            InputError: Naming the field, its value and what is allowed.
        """
        from gpunet_hub.space import get_space

        from ..latency.calibration import MODELS
        from ..latency.tiers import parse_tiers

        if not self.name.replace("_", "").isalnum() or not self.name[:1].isalpha():
            raise InputError(f"plan name {self.name!r} must start with a letter and hold letters, digits and '_'")
        get_space(self.space)
        lat, search = self.latency, self.search
        _validate.integer(lat.samples, "latency.samples", minimum=4, maximum=10_000_000)
        _validate.integer(lat.sample_seed, "latency.sample_seed", minimum=0)
        _validate.integer(lat.threads, "latency.threads", minimum=1, maximum=1024)
        _validate.choice(lat.precision, "latency.precision", ("auto", "fp16", "fp32"))
        _validate.integer(lat.calibration_nets, "latency.calibration_nets", minimum=4)
        if lat.calibration_nets > lat.samples:
            raise InputError(
                f"latency.calibration_nets ({lat.calibration_nets}) exceeds latency.samples ({lat.samples})"
            )
        _validate.choice(lat.calibration_model, "latency.calibration_model", MODELS)
        if lat.tier_centres_ms is None:
            if not lat.tier_quantiles or not all(0 < q < 1 for q in lat.tier_quantiles):
                raise InputError(f"latency.tier_quantiles must be fractions in (0, 1), got {lat.tier_quantiles}")
            parse_tiers(centres="1", width=lat.tier_width)  # checks the width
        else:
            parse_tiers(centres=",".join(f"{c:g}" for c in lat.tier_centres_ms), width=lat.tier_width)
        for label, flag in (("latency.verify_tiers", lat.verify_tiers), ("search.early_stop", search.early_stop)):
            if not isinstance(flag, bool):
                raise InputError(f"{label} must be true or false, got {flag!r}")
        _validate.number(lat.verify_margin, "latency.verify_margin", minimum=0, maximum=10)
        _validate.number(lat.tier_guard, "latency.tier_guard", minimum=0, maximum=0.5)
        self.timing_protocol()
        _validate.integer(search.trials, "search.trials", minimum=1, maximum=100_000)
        _validate.integer(search.concurrent, "search.concurrent", minimum=1, maximum=10_000)
        if search.epochs is not None:
            _validate.integer(search.epochs, "search.epochs", minimum=1)
        _validate.integer(self.final.epochs, "final.epochs", minimum=1, maximum=10_000)
        _validate.integer(self.bench.rounds, "bench.rounds", minimum=1, maximum=100)
        shaping = sorted(set(self.final.proxy) & {"res_scale", "min_resolution", "width_mult"})
        if shaping:
            raise InputError(
                f"final.proxy sets {shaping}: the final network must be the searched one; set them in proxy"
            )
        from ..evaluate import proxy_config

        proxy_config(**self.proxy)  # the proxy itself, before the search and final epochs replace its own
        self.eval_config()
        self.eval_config(final=True)
        self.classes()
        if len(set(self.references)) != len(self.references):
            raise InputError(f"references lists a network twice: {list(self.references)}")
        return self

    def classes(self) -> int:
        """The dataset's number of classes.

        Raises:
            InputError: A dataset other than ``digits`` without ``num_classes``.
        """
        if self.num_classes is not None:
            return _validate.integer(self.num_classes, "num_classes", minimum=2)
        if self.dataset == "digits":
            return DIGITS_CLASSES
        raise InputError(f"dataset {self.dataset!r}: set num_classes in the plan (the LUT's tail keys need it)")

    def eval_config(self, *, final: bool = False) -> EvalConfig:
        """The search proxy (``final=False``) or the final training's recipe, validated."""
        from ..evaluate import proxy_config

        changes: dict[str, Any] = {**self.proxy, "seed": self.seed}
        if final:
            return proxy_config(**changes, **self.final.proxy).with_epochs(self.final.epochs)
        config = proxy_config(**changes)
        return config.with_epochs(self.search.epochs) if self.search.epochs is not None else config

    def precision(self) -> str:
        """The measuring precision (``auto`` resolved for the backend)."""
        from gpunet_hub.measure.registry import default_precision

        return default_precision(self.latency.backend) if self.latency.precision == "auto" else self.latency.precision

    def setting(self) -> Setting:
        """The LUT's keys: the proxy's resolution scale and floor, width multiplier and classes."""
        from ..latency.pipeline import Setting

        config = self.eval_config()
        return Setting(
            batch=self.latency.batch,
            precision=self.precision(),
            res_scale=config.res_scale,
            min_resolution=config.min_resolution,
            width_mult=config.width_mult,
            classes=self.classes(),
        )

    def timing_protocol(self) -> TimingProtocol:
        """The LUT's measuring protocol."""
        from ..latency.lut import MAX_PASSES
        from ..latency.measure import TimingProtocol

        lat = self.latency
        _validate.integer(lat.warmup, "latency.warmup", minimum=0, maximum=100_000)
        _validate.integer(lat.runs, "latency.runs", minimum=3, maximum=1_000_000)
        _validate.integer(lat.rounds, "latency.rounds", minimum=1, maximum=1000)
        _validate.number(lat.cv_max, "latency.cv_max", minimum=0, exclusive_minimum=True)
        _validate.integer(lat.passes, "latency.passes", minimum=1, maximum=MAX_PASSES)
        return TimingProtocol(warmup=lat.warmup, runs=lat.runs, rounds=lat.rounds, cv_max=lat.cv_max, passes=lat.passes)

    def scales(self) -> dict[str, Any]:
        """Every scale that makes the networks differ from the space's own (plan, provenance, report)."""
        config = self.eval_config()
        return {
            "res_scale": config.res_scale,
            "min_resolution": config.min_resolution,
            "width_mult": config.width_mult,
            "train_subset": config.train_subset,
            "num_classes": self.classes(),
        }

    def to_dict(self) -> dict[str, Any]:
        """The plan as plain data (YAML/JSON)."""
        return dataclasses.asdict(self)


def _build(cls: type, data: dict[str, Any], where: str) -> Any:
    if not isinstance(data, dict):
        raise InputError(f"plan section {where or 'top level'} must be a mapping, got {type(data).__name__}")
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - set(fields))
    if unknown:
        label = f"{where}.{unknown[0]}" if where else unknown[0]
        raise InputError(f"plan has no field {label!r}." + did_you_mean(unknown[0], fields))
    values: dict[str, Any] = {}
    for name, value in data.items():
        nested = _SECTIONS.get(name) if cls is Plan else None
        if nested is not None:
            values[name] = _build(nested, value or {}, name)
        elif isinstance(value, list):
            values[name] = tuple(value)
        else:
            values[name] = value
    return cls(**values)


_SECTIONS: dict[str, type] = {"latency": LatencyPlan, "search": SearchPlan, "final": FinalPlan, "bench": BenchPlan}


def merge(base: dict[str, Any], changes: dict[str, Any]) -> dict[str, Any]:
    """``base`` with ``changes`` applied (mappings merge key by key, other values replace)."""
    out = dict(base)
    for key, value in changes.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = merge(out[key], value)
        else:
            out[key] = value
    return out


def parse_override(text: str) -> dict[str, Any]:
    """``section.field=value`` (value in YAML) as a nested mapping.

    Raises:
        InputError: Not of that form, or a value that is not YAML.
    """
    import yaml

    key, sep, raw = text.partition("=")
    if not sep or not key.strip():
        raise InputError(f"--set {text!r}: expected FIELD=VALUE or SECTION.FIELD=VALUE, e.g. search.trials=4")
    try:
        value = yaml.safe_load(raw)
    except yaml.YAMLError as exc:
        raise InputError(f"--set {text!r}: the value is not YAML ({' '.join(str(exc).split())[:120]})") from None
    parts = key.strip().split(".")
    nested: dict[str, Any] = {parts[-1]: value}
    for part in reversed(parts[:-1]):
        nested = {part: nested}
    return nested


def read_plan_file(path: str | Path) -> dict[str, Any]:
    """A YAML plan file as a mapping.

    Raises:
        InputError: Missing, unreadable, not YAML, or not a mapping.
    """
    import yaml

    path = _validate.input_file(path, "--plan", "plan file")
    try:
        data = yaml.safe_load(path.read_text())
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise InputError(f"--plan {path}: not a readable YAML file ({' '.join(str(exc).split())[:160]})") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise InputError(f"--plan {path}: expected a mapping of plan fields, got {type(data).__name__}")
    return data


def make_plan(
    preset: str | None = None, plan_file: str | Path | None = None, overrides: list[dict[str, Any]] | None = None
) -> Plan:
    """Builds and validates a plan: the preset, then the file, then each override.

    Raises:
        InputError: Unknown preset or field, bad values.
    """
    from .presets import preset_data

    data: dict[str, Any] = preset_data(preset) if preset else {}
    if plan_file is not None:
        data = merge(data, read_plan_file(plan_file))
    for change in overrides or []:
        data = merge(data, change)
    try:
        plan = _build(Plan, data, "")
    except TypeError as exc:
        raise InputError(f"plan: {exc}") from None
    return plan.validate()


__all__ = ["BenchPlan", "FinalPlan", "LatencyPlan", "Plan", "SearchPlan", "make_plan", "merge", "parse_override"]
