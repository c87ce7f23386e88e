"""``bench`` as a library: pick the models, choose the backend, time, judge, save, plot, report.

:func:`run` does all of it and returns a :class:`BenchReport`; the CLI only renders that report.
:func:`prepare` and :func:`execute` are its two halves, for callers that want to say what will run
(the backend choice, the hub's pick) before the timing starts. :func:`bench_target` times one model.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from .. import _validate
from .._io import atomic_write_text, cache_dir, json_sha256
from ..errors import InputError, did_you_mean
from ..export import MAX_BATCH
from .device import Device
from .record import BenchRecord, save_records, to_csv, to_json
from .registry import BackendChoice, SessionConfig, choose_backend, default_precision, device_for, get_backend
from .stats import MAX_RUNS, MAX_SECONDS, TimingPlan
from .verdict import Verdict, verdict_for

OPSET = 17
STAGES = ("build", "export", "time")
#: Rows whose coefficient of variation exceeds this are flagged and not saved unless asked.
DEFAULT_MAX_CV = 0.10
MAX_THREADS = 1024


@dataclass(frozen=True)
class BenchConfig:
    """Settings shared by every model of one bench run.

    Attributes:
        backend: A registry backend name (see :func:`gpunet_hub.measure.registry.backends`).
        precision: ``fp16`` or ``fp32``.
        batch: Batch size.
        threads: CPU intra-op threads (onnxruntime-cpu, torch-cpu).
        plan: Warm-up and run counts.
        onnx_dir: Where exported ONNX files are kept (default: the user cache, ``onnx/``).
        cuda_graph: TensorRT/trtexec: launch through a CUDA graph.
    """

    backend: str
    precision: str
    batch: int = 1
    threads: int = 1
    plan: TimingPlan = field(default_factory=TimingPlan.cpu)
    onnx_dir: Path | None = None
    cuda_graph: bool = True


def export_cached(model: Any, key: str, input_size: tuple[int, ...], config: BenchConfig, fingerprint: str) -> Path:
    """Exports ``model`` to ONNX once per (key, fingerprint, batch, precision); later runs reuse the file.

    A cached file that no longer parses is removed and exported again.
    """
    from .. import __version__
    from ..export import export_onnx

    precision = get_backend(config.backend).onnx_precision(config.precision)
    digest = json_sha256(f"{__version__}|{fingerprint}|{input_size}", 12)
    folder = config.onnx_dir or cache_dir("onnx")
    path = Path(folder) / f"{key.replace(':', '-')}-b{config.batch}-{precision}-opset{OPSET}-{digest}.onnx"
    if path.exists() and not _readable_onnx(path):
        path.unlink(missing_ok=True)  # a damaged cache entry: rebuilt below
    if not path.exists():
        export_onnx(model, path, batch_size=config.batch, opset=OPSET, input_size=input_size, precision=precision)
    return path


def _readable_onnx(path: Path) -> bool:
    """Whether a cached export parses as an ONNX model (files are renamed complete; disks fail)."""
    import onnx

    try:
        onnx.load(str(path), load_external_data=False)
    except Exception:  # protobuf's DecodeError or an OSError: either way, export it again
        return False
    return True


@dataclass(frozen=True)
class Target:
    """A model to benchmark.

    Attributes:
        name: Display name (hub name, or ``timm:<name>``).
        kind: ``hub`` or ``baseline``.
        build: Returns the module (eval mode).
        input_size: Per-sample input shape.
        fingerprint: Identifies the architecture for the ONNX cache.
    """

    name: str
    kind: str
    build: Callable[[], Any]
    input_size: tuple[int, ...]
    fingerprint: str


def hub_target(name: str) -> Target:
    """A hub model (random weights: latency does not depend on them)."""
    from ..export import resolve_module
    from ..hub.index import model_card, resolve_name

    canonical = resolve_name(name)
    card = model_card(canonical)
    return Target(
        canonical, "hub", lambda: resolve_module(canonical), card.pretrained_cfg.input_size, card.arch.to_json()
    )


def baseline_target(name: str) -> Target:
    """A timm baseline from the paper's Table 3."""
    from ._baselines import create_baseline, get_baseline, input_size

    baseline = get_baseline(name)
    return Target(
        f"timm:{baseline.name}",
        "baseline",
        lambda: create_baseline(baseline.name),
        input_size(baseline.name),
        f"timm:{baseline.name}",
    )


def bench_target(
    target: Target, config: BenchConfig, *, device: Device | None = None, on_stage: Callable[[str], None] | None = None
) -> BenchRecord:
    """Exports (or reuses), opens and times one model; returns its record.

    Args:
        target: The model.
        config: Backend, precision, batch, threads and timing plan.
        device: The device (default: the backend's).
        on_stage: Called with each of :data:`STAGES` as the work progresses (progress bars).
    """
    backend = get_backend(config.backend)
    device = device or device_for(config.backend, config.threads)
    stage = on_stage or (lambda _: None)
    input_shape = (config.batch, *target.input_size)
    stage("build")
    module = target.build()
    model: Any = module
    if not backend.info.takes_module:
        stage("export")
        model = export_cached(module, target.name, target.input_size, config, target.fingerprint)
    stage("time")
    session = backend.open(
        model,
        SessionConfig(
            precision=config.precision,
            batch=config.batch,
            threads=config.threads,
            input_shape=input_shape,
            cuda_graph=config.cuda_graph,
        ),
    )
    try:
        timing = session.time(config.plan)
    finally:
        session.close()
    precision = timing.settings.get("precision", config.precision)
    return BenchRecord.from_timing(
        target.name, timing, kind=target.kind, input_shape=input_shape, precision=precision, device=device
    )


@dataclass(frozen=True)
class BenchRequest:
    """What to benchmark and how (every field has the CLI's default).

    Attributes:
        models: Hub models (names or aliases).
        all_models: Every hub model.
        gpu: With ``max_latency_ms``: bench the hub's pick for this GPU and budget.
        max_latency_ms: The budget of the hub's pick.
        compare: timm baselines measured with the same settings.
        backend: ``auto`` or a registry backend name.
        precision: ``auto`` (fp16 on GPU backends, fp32 on CPU), ``fp16`` or ``fp32``.
        batch_size: Batch size.
        threads: CPU intra-op threads (1 is the most stable).
        warmup: Warm-up runs (at least); ``None``: the backend's plan.
        warmup_seconds: Warm-up duration (at least).
        min_runs: Timed runs (at least; default 1000 on GPU, 50 on CPU).
        min_seconds: Timed duration (at least; default 2 s on CPU).
        max_seconds: Stop timing a model after this long.
        tolerance: Relative tolerance of the verdict against the hub.
        save: Save the figures to the local latency table.
        plot: Write a latency vs top-1 plot (PNG) here.
        output: Also write the full JSON (with per-run times) here.
        max_cv: Coefficient of variation (a fraction) above which a row is flagged as unstable.
        save_unstable: Save flagged rows too (by default ``save`` skips them).
    """

    models: tuple[str, ...] = ()
    all_models: bool = False
    gpu: str | None = None
    max_latency_ms: float | None = None
    compare: tuple[str, ...] = ()
    backend: str = "auto"
    precision: str = "auto"
    batch_size: int = 1
    threads: int = 1
    warmup: int | None = None
    warmup_seconds: float | None = None
    min_runs: int | None = None
    min_seconds: float | None = None
    max_seconds: float | None = None
    tolerance: float = 0.10
    save: bool = False
    plot: Path | None = None
    output: Path | None = None
    max_cv: float = DEFAULT_MAX_CV
    save_unstable: bool = False

    def validate(self) -> None:
        """Checks every argument before any work (nothing is built or timed before this passes).

        Raises:
            InputError: Naming the argument.
            MissingDependencyError: ``plot`` without matplotlib.
        """
        for param in ("models", "compare"):
            names = getattr(self, param)
            if not isinstance(names, tuple) or not all(isinstance(n, str) and n.strip() for n in names):
                raise InputError(
                    f"{param} must be a sequence of model names, e.g. ('gpunet_0',), got {names!r}", params=(param,)
                )
        for param in ("all_models", "save", "save_unstable"):
            if not isinstance(getattr(self, param), bool):
                raise InputError(f"{param} must be True or False, got {getattr(self, param)!r}", params=(param,))
        for param in ("gpu", "backend"):
            value = getattr(self, param)
            if value is not None and (not isinstance(value, str) or not value.strip()):
                raise InputError(f"{param} must be a non-empty name, got {value!r}", params=(param,))
        if self.max_latency_ms is not None:
            _validate.number(self.max_latency_ms, "max_latency_ms", minimum=0, exclusive_minimum=True)
        _validate.choice(self.precision, "precision", ("auto", "fp16", "fp32"))
        _validate.integer(self.batch_size, "batch_size", minimum=1, maximum=MAX_BATCH)
        _validate.integer(self.threads, "threads", minimum=1, maximum=MAX_THREADS)
        if self.warmup is not None:
            _validate.integer(self.warmup, "warmup", minimum=0, maximum=MAX_RUNS)
        if self.min_runs is not None:
            _validate.integer(self.min_runs, "min_runs", minimum=1, maximum=MAX_RUNS)
        for param in ("warmup_seconds", "min_seconds"):
            if getattr(self, param) is not None:
                _validate.number(getattr(self, param), param, minimum=0, maximum=MAX_SECONDS)
        if self.max_seconds is not None:
            _validate.number(self.max_seconds, "max_seconds", minimum=0, exclusive_minimum=True, maximum=MAX_SECONDS)
        tolerance = _validate.number(self.tolerance, "tolerance", minimum=0, exclusive_minimum=True, maximum=10)
        if tolerance >= 10:
            raise InputError(
                f"tolerance must be a positive fraction (0.1 = 10%), got {self.tolerance}", params=("tolerance",)
            )
        _validate.number(self.max_cv, "max_cv", minimum=0, exclusive_minimum=True, maximum=10)
        if self.output is not None:
            _validate.output_file(self.output, "output")
        if self.plot is not None:
            from ._plot import check_plot_path

            check_plot_path(self.plot, "plot")
        if (
            self.plot is not None
            and self.output is not None
            and Path(self.plot).resolve() == Path(self.output).resolve()
        ):
            raise InputError("plot and output name the same file; give each its own", params=("plot", "output"))
        if (self.gpu is None) != (self.max_latency_ms is None):
            raise InputError(
                "gpu= and max_latency_ms= go together: they pick the hub's best model within the budget",
                params=("gpu", "max_latency_ms"),
            )


@dataclass(frozen=True)
class HubPick:
    """The model the hub selects for a GPU and budget, and the row it selected on.

    Attributes:
        name: The model.
        gpu: The GPU asked for.
        max_latency_ms: The budget.
        top1: The model's top-1.
        row: The latency row used.
    """

    name: str
    gpu: str
    max_latency_ms: float
    top1: float
    row: Any

    def describe(self) -> str:
        """One sentence: which model and from which row."""
        r = self.row
        return (
            f"the hub picks {self.name} for {self.gpu} within {self.max_latency_ms:g} ms: {self.top1} % top-1, "
            f"{r.ms:g} ms {r.stat} ({r.runtime} {r.runtime_version} {r.precision}, batch {r.batch}) on {r.gpu}"
        )


@dataclass(frozen=True)
class BenchJob:
    """A validated bench run, ready to execute (see :func:`prepare`).

    Attributes:
        request: What was asked.
        targets: The models, hub models first, then baselines.
        choice: The backend and why the better ones are unavailable.
        config: Backend, precision, batch, threads and timing plan.
        device: Where it runs.
        pick: The hub's pick, when ``gpu`` and ``max_latency_ms`` were given.
    """

    request: BenchRequest
    targets: tuple[Target, ...]
    choice: BackendChoice
    config: BenchConfig
    device: Device
    pick: HubPick | None = None


def _hub_names(request: BenchRequest) -> tuple[list[str], HubPick | None]:
    from ..hub import candidates, list_models, model_card, resolve_name, select

    names: list[str] = list_models() if request.all_models else []
    pick = None
    if request.gpu is not None and request.max_latency_ms is not None:
        picked = select(request.gpu, request.max_latency_ms, batch_size=request.batch_size)
        row = next(c.row for c in candidates(request.gpu, batch_size=request.batch_size) if c.name == picked)
        pick = HubPick(picked, request.gpu, request.max_latency_ms, model_card(picked).top1, row)
        names.append(picked)
    names += [resolve_name(n) for n in request.models]
    if not names:
        raise InputError(
            "name a model in models, or set all_models=True, or give gpu='GV100' and max_latency_ms=1.0",
            params=("models", "all_models", "gpu", "max_latency_ms"),
        )
    return list(dict.fromkeys(names)), pick


def prepare(request: BenchRequest) -> BenchJob:
    """Validates a request, resolves its models and chooses the backend; nothing is timed yet.

    Raises:
        InputError: Bad arguments, unknown models or baselines.
        EnvironmentProblem: The backend is unavailable.
    """
    if not isinstance(request, BenchRequest):
        raise InputError(f"prepare() takes a BenchRequest, got {type(request).__name__}", params=("request",))
    request.validate()
    names, pick = _hub_names(request)
    targets = [hub_target(n) for n in names] + [baseline_target(b) for b in request.compare]
    choice = choose_backend(request.backend)
    backend = choice.backend
    precision = default_precision(choice.name) if request.precision == "auto" else request.precision
    plan = (TimingPlan.gpu() if backend.info.gpu else TimingPlan.cpu()).with_overrides(
        warmup_runs=request.warmup,
        warmup_seconds=request.warmup_seconds,
        min_runs=request.min_runs,
        min_seconds=request.min_seconds,
        max_seconds=request.max_seconds,
    )
    config = BenchConfig(
        backend=choice.name, precision=precision, batch=request.batch_size, threads=request.threads, plan=plan
    )
    return BenchJob(request, tuple(targets), choice, config, device_for(choice.name, request.threads), pick)


@dataclass(frozen=True)
class BenchReport:
    """Everything one bench run measured and concluded.

    Attributes:
        job: What ran.
        records: One record per model.
        verdicts: The hub models' verdicts, by model.
        saved_to: The local latency table, when saved.
        plot: The plot, when drawn.
        baseline_source: Where the baselines' accuracies come from, when baselines ran.
        unstable: Models whose CV exceeded the request's ``max_cv``.
        unsaved: Unstable models left out of the local table (``save`` without ``save_unstable``).
    """

    job: BenchJob
    records: tuple[BenchRecord, ...]
    verdicts: Mapping[str, Verdict]
    saved_to: Path | None = None
    plot: Path | None = None
    baseline_source: str | None = None
    unstable: tuple[str, ...] = ()
    unsaved: tuple[str, ...] = ()

    @property
    def device(self) -> Device:
        return self.job.device

    def summary(self) -> dict[str, Any]:
        """The run's context, next to the records in the JSON output."""
        choice = self.job.choice
        return {
            "device": self.device.to_dict(),
            "backend_choice": {"backend": choice.name, "explanation": choice.explain()},
            "timing_plan": self.job.config.plan.to_dict(),
            "verdicts": [v.to_dict() for v in self.verdicts.values()],
            "saved_to": str(self.saved_to) if self.saved_to else None,
            "plot": str(self.plot) if self.plot else None,
            "baseline_accuracy_source": self.baseline_source,
            "max_cv": self.job.request.max_cv,
            "unstable": list(self.unstable),
            "unsaved": list(self.unsaved),
        }

    def to_json(self, *, include_times: bool = False) -> str:
        """Records and context as JSON (per-run times only with ``include_times``)."""
        return to_json(self.records, include_times=include_times, extra=self.summary())

    def to_csv(self) -> str:
        """One CSV row per record."""
        return to_csv(self.records)


ProgressFn = Callable[[str, str, int, int], None]


def execute(job: BenchJob, progress: ProgressFn | None = None) -> BenchReport:
    """Times every target of a prepared job, then judges, saves, plots and writes as requested.

    Args:
        job: From :func:`prepare`.
        progress: Called with ``(stage, model, done, total)``; ``stage`` is one of :data:`STAGES`.
    """
    from ..hub.index import model_card

    request, config = job.request, job.config
    records: list[BenchRecord] = []
    total = len(job.targets)
    for target in job.targets:

        def stage(name: str, t: Target = target) -> None:
            if progress:
                progress(name, t.name, len(records), total)

        records.append(bench_target(target, config, device=job.device, on_stage=stage))
    if progress:
        progress("done", "", total, total)
    verdicts = {
        r.model: verdict_for(r, model_card(r.model), tolerance=request.tolerance) for r in records if r.kind == "hub"
    }
    # NaN (no spread measurable) is not "above the threshold"; only a measured excess flags a row
    unstable = tuple(r.model for r in records if r.stats.cv > request.max_cv)
    unsaved = () if not request.save or request.save_unstable else unstable
    to_save = [r for r in records if r.model not in unsaved]
    saved = save_records(to_save) if request.save and to_save else None
    plot = None
    if request.plot is not None:
        from ._plot import plot_latency_accuracy

        title = f"latency on {job.device.label}, {config.backend} {config.precision}, batch {config.batch}"
        plot = plot_latency_accuracy(request.plot, records, title)
    baseline_source = None
    if request.compare:
        from ._baselines import source

        baseline_source = source()
    report = BenchReport(job, tuple(records), verdicts, saved, plot, baseline_source, unstable, unsaved)
    if request.output is not None:
        atomic_write_text(request.output, report.to_json(include_times=True))
    return report


def run(request: BenchRequest | None = None, *, progress: ProgressFn | None = None, **fields: Any) -> BenchReport:
    """Benchmarks hub models (and baselines) on this machine and compares them with the hub.

    Args:
        request: The full request; ``fields`` override its attributes (or build one from the
            defaults), e.g. ``run(models=("gpunet_0",), save=True)``.
        progress: See :func:`execute`.

    Returns:
        The report: records, verdicts and where things were written.

    Examples:
        >>> report = gpunet_hub.measure.run(models=("gpunet_p0",), min_runs=20)
        >>> report.records[0].stats.median
    """
    known = {f.name for f in dataclasses.fields(BenchRequest)}
    unknown = sorted(set(fields) - known)
    if unknown:
        hint = did_you_mean(unknown[0], known)
        raise InputError(f"run() got unknown argument(s) {', '.join(unknown)}.{hint}", params=tuple(unknown))
    if request is not None and not isinstance(request, BenchRequest):
        raise InputError(f"request must be a BenchRequest, got {type(request).__name__}", params=("request",))
    fields = {k: tuple(v) if k in ("models", "compare") and isinstance(v, list) else v for k, v in fields.items()}
    return execute(prepare(replace(request or BenchRequest(), **fields)), progress)


__all__ = [
    "BenchConfig",
    "BenchJob",
    "BenchReport",
    "BenchRequest",
    "HubPick",
    "Target",
    "baseline_target",
    "bench_target",
    "execute",
    "export_cached",
    "hub_target",
    "prepare",
    "run",
]
