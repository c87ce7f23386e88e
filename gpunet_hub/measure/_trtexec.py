"""The ``trtexec`` backend: a command built per TensorRT version, statistics from ``--exportTimes``.

Facts this module relies on (from TensorRT's
``samples/common/sampleOptions.cpp``, ``sampleReporting.cpp`` and ``logging.h``):

* The first/last lines are ``&&&& RUNNING|PASSED|FAILED TensorRT.trtexec [TensorRT vNNNN] # argv``;
  8.x encodes ``major*1000 + minor*100 + patch`` (``v8601``), 10+ ``major*10000 + minor*100 + patch``
  (``v100200``), 11.1 appends a build tag (``[b106]``).
* Precision: 8.x and 10.x take ``--fp16`` (weak typing); 11.x removed it (strongly typed: FP16 must
  be in the ONNX graph). Workspace: 8.0-8.3 ``--workspace=N``; 8.4+ ``--memPoolSize=workspace:N``
  (``--workspace`` was removed in 10.0).
* Timing defaults: up to 10.x CUDA graphs, spin-wait off and data transfers on (opt in with
  ``--useCudaGraph --useSpinWait --noDataTransfers``); 11.x flips them (opt out with
  ``--noCudaGraph --noSpinWait --includeDataTransfers``).
* ``--iterations=1000 --duration=0 --warmUp=500`` times at least 1000 queries after 500 ms of warm-up.
* ``--exportTimes`` writes one JSON object per query (``computeMs`` = GPU compute time). Older 8.x
  builds also wrote the warm-up queries (and an ``endToEndMs`` key); those are dropped here with
  trtexec's own rule (``startComputeMs >= warmUp``).
* The console summary ``GPU Compute Time: min = ..., max = ..., mean = ..., median = ...,
  percentile(99%) = ...`` is parsed as a cross-check, with the ``GPU compute time is unstable``
  warning (printed on stderr, so both streams are captured).
"""

from __future__ import annotations

import json
import math
import os
import re
import shutil
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .._io import cache_dir
from ..errors import EnvironmentProblem, GPUNetHubError, InputError
from .registry import BackendInfo
from .stats import TimingPlan, TimingResult, summarize

if TYPE_CHECKING:
    from .registry import SessionConfig

TRTEXEC_ENV = "GPUNET_HUB_TRTEXEC"
NUMBER = r"([-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?|inf)"
_VERSION_RE = re.compile(r"\[TensorRT v(\d+)\]")
_VERSION_TEXT_RE = re.compile(r"TensorRT version:\s*(\d+)\.(\d+)\.(\d+)")
_STATUS_RE = re.compile(r"&&&& (RUNNING|PASSED|FAILED|WAIVED) TensorRT\.trtexec")
_METRIC_RE = re.compile(
    r"(?P<metric>Latency|End-to-End Host Latency|Enqueue Time|H2D Latency|GPU Compute Time|D2H Latency):\s*(?P<body>min.*)$"
)
_FIELD_RE = re.compile(r"(min|max|mean|median)\s*=?\s*" + NUMBER + r"\s*ms")
_PCT_RE = re.compile(r"percentile\(" + NUMBER + r"%\)\s*=?\s*" + NUMBER + r"\s*ms")
_THROUGHPUT_RE = re.compile(r"Throughput:\s*" + NUMBER + r"\s*qps")
_UNSTABLE_RE = re.compile(r"GPU compute time is unstable, with coefficient of variance = " + NUMBER + r"\s*%")
_WARMUP_RE = re.compile(r"Warmup completed (\d+) queries over " + NUMBER + r" ms")
_TRACE_RE = re.compile(r"Timing trace has (\d+) queries over " + NUMBER + r" s")


class TrtexecError(GPUNetHubError, RuntimeError):
    """trtexec ran but failed (its log tail is in the message)."""


@dataclass(frozen=True, order=True)
class TrtVersion:
    """A TensorRT version."""

    major: int
    minor: int
    patch: int = 0

    def __str__(self) -> str:
        return f"{self.major}.{self.minor}.{self.patch}"


def decode_version_tag(number: int) -> TrtVersion:
    """Decodes the number in ``[TensorRT vNNNN]`` (8.x: 4 digits; 10 and later: 6 digits)."""
    if number >= 100000:
        return TrtVersion(number // 10000, (number // 100) % 100, number % 100)
    return TrtVersion(number // 1000, (number // 100) % 10, number % 100)


def parse_version(text: str) -> TrtVersion | None:
    """The TensorRT version a trtexec log names (``&&&&`` tag, else ``TensorRT version: x.y.z``)."""
    tag = _VERSION_RE.search(text)
    if tag:
        return decode_version_tag(int(tag.group(1)))
    line = _VERSION_TEXT_RE.search(text)
    if line:
        return TrtVersion(int(line.group(1)), int(line.group(2)), int(line.group(3)))
    return None


def version_from_help(text: str) -> TrtVersion | None:
    """The version from ``trtexec --help``: its tag, else guessed from the options it lists."""
    version = parse_version(text)
    if version is not None:
        return version
    if "--workspace" in text:
        return TrtVersion(8, 0, 0)
    if "--fp16" in text:
        return TrtVersion(10, 0, 0)
    if "--noCudaGraph" in text or "--includeDataTransfers" in text:
        return TrtVersion(11, 0, 0)
    return None


@dataclass(frozen=True)
class MetricSummary:
    """One ``<metric>: min = ..., ...`` line of the performance summary (ms)."""

    min: float
    max: float
    mean: float
    median: float
    percentiles: dict[float, float] = field(default_factory=dict)


@dataclass(frozen=True)
class ConsoleSummary:
    """What the console log says.

    Attributes:
        version: TensorRT version (from the ``&&&&`` tag), if present.
        status: ``PASSED``/``FAILED`` from the last ``&&&&`` line, else ``RUNNING`` or ``None``.
        metrics: Summary lines by metric name (``GPU Compute Time``, ``Latency``...).
        throughput_qps: Queries per second.
        unstable_cv_percent: The CV in the instability warning, if it was printed.
        warmup_queries: Queries run during warm-up.
        timed_queries: Queries in the timing trace.
    """

    version: TrtVersion | None
    status: str | None
    metrics: dict[str, MetricSummary]
    throughput_qps: float | None
    unstable_cv_percent: float | None
    warmup_queries: int | None
    timed_queries: int | None

    @property
    def gpu_compute(self) -> MetricSummary | None:
        return self.metrics.get("GPU Compute Time")


def _num(text: str) -> float:
    return math.inf if text == "inf" else float(text)


def parse_console(text: str) -> ConsoleSummary:
    """Parses a trtexec console log (stdout and stderr together; timestamps optional)."""
    metrics: dict[str, MetricSummary] = {}
    for line in text.splitlines():
        match = _METRIC_RE.search(line)
        if not match:
            continue
        body = match.group("body")
        fields = {m.group(1): _num(m.group(2)) for m in _FIELD_RE.finditer(body)}
        if not {"min", "max", "mean", "median"} <= set(fields):
            continue
        pcts = {_num(m.group(1)): _num(m.group(2)) for m in _PCT_RE.finditer(body)}
        metrics[match.group("metric")] = MetricSummary(
            fields["min"], fields["max"], fields["mean"], fields["median"], pcts
        )
    statuses = _STATUS_RE.findall(text)
    throughput = _THROUGHPUT_RE.search(text)
    unstable = _UNSTABLE_RE.search(text)
    warm = _WARMUP_RE.search(text)
    trace = _TRACE_RE.search(text)
    return ConsoleSummary(
        version=parse_version(text),
        status=statuses[-1] if statuses else None,
        metrics=metrics,
        throughput_qps=_num(throughput.group(1)) if throughput else None,
        unstable_cv_percent=_num(unstable.group(1)) if unstable else None,
        warmup_queries=int(warm.group(1)) if warm else None,
        timed_queries=int(trace.group(1)) if trace else None,
    )


def parse_times(data: str | list[dict[str, Any]], *, warmup_ms: float | None = None) -> list[float]:
    """Per-query GPU compute times (ms) from ``--exportTimes`` JSON.

    Args:
        data: The JSON text, or the parsed list.
        warmup_ms: The ``--warmUp`` used: queries that started computing before it are warm-ups
            (older 8.x builds exported them too; newer ones already leave them out).

    Raises:
        InputError: When the JSON is not a list of query records with ``computeMs``.
    """
    entries = json.loads(data) if isinstance(data, str) else data
    if not isinstance(entries, list):
        raise InputError("trtexec --exportTimes JSON must be a list of per-query objects")
    times = []
    for entry in entries:
        if not isinstance(entry, dict) or "computeMs" not in entry:
            raise InputError(f"not a trtexec timing record (no computeMs): {str(entry)[:80]}")
        if warmup_ms is not None and float(entry.get("startComputeMs", math.inf)) < warmup_ms:
            continue
        times.append(float(entry["computeMs"]))
    return times


@dataclass(frozen=True)
class TrtexecOptions:
    """What to ask trtexec for.

    Attributes:
        precision: ``fp16`` or ``fp32``.
        iterations: ``--iterations`` (at least this many timed queries).
        warmup_ms: ``--warmUp`` in ms.
        duration_s: ``--duration`` in s (0: stop after ``iterations``).
        workspace_mib: Builder workspace in MiB.
        cuda_graph: Launch through a CUDA graph.
        data_transfers: Include H2D/D2H copies in each query.
        spin_wait: Spin-wait synchronisation (more stable timing).
        timing_cache: ``--timingCacheFile`` path, if any.
        shapes: ``--shapes`` value for dynamic inputs (``input:1x3x224x224``), if any.
    """

    precision: str = "fp16"
    iterations: int = 1000
    warmup_ms: int = 500
    duration_s: int = 0
    workspace_mib: int = 4096
    cuda_graph: bool = True
    data_transfers: bool = False
    spin_wait: bool = True
    timing_cache: str | None = None
    shapes: str | None = None


def build_command(
    binary: str, version: TrtVersion, onnx_path: str | Path, times_path: str | Path, options: TrtexecOptions
) -> tuple[list[str], dict[str, Any]]:
    """The trtexec argv for this TensorRT version, and the effective settings it gives.

    Raises:
        InputError: For an unknown precision.
    """
    if options.precision not in ("fp16", "fp32"):
        raise InputError(f"trtexec precision must be fp16 or fp32, got {options.precision!r}")
    argv = [binary, f"--onnx={onnx_path}"]
    major = version.major
    if major < 11:
        if options.precision == "fp16":
            argv.append("--fp16")
        typing = "weak"
    else:
        typing = "strong"  # FP16 comes from the ONNX graph itself
    if major == 8 and version.minor < 4:
        argv.append(f"--workspace={options.workspace_mib}")
    else:
        argv.append(f"--memPoolSize=workspace:{options.workspace_mib}")
    if options.shapes:
        argv.append(f"--shapes={options.shapes}")
    if options.timing_cache:
        argv.append(f"--timingCacheFile={options.timing_cache}")
    argv += [
        f"--warmUp={options.warmup_ms}",
        f"--iterations={options.iterations}",
        f"--duration={options.duration_s}",
    ]
    if major < 11:
        argv += ["--useCudaGraph"] if options.cuda_graph else []
        argv += [] if options.data_transfers else ["--noDataTransfers"]
        argv += ["--useSpinWait"] if options.spin_wait else []
    else:
        argv += [] if options.cuda_graph else ["--noCudaGraph"]
        argv += ["--includeDataTransfers"] if options.data_transfers else []
        argv += [] if options.spin_wait else ["--noSpinWait"]
    argv.append(f"--exportTimes={times_path}")
    settings = {
        "precision": options.precision,
        "typing": typing,
        "cuda_graph": options.cuda_graph,
        "data_transfers": options.data_transfers,
        "spin_wait": options.spin_wait,
        "workspace_mib": options.workspace_mib,
        "iterations": options.iterations,
        "warmup_ms": options.warmup_ms,
        "duration_s": options.duration_s,
        "statistic_source": "exportTimes computeMs (GPU compute time)",
    }
    return argv, settings


def find_trtexec() -> str | None:
    """The trtexec binary: ``$GPUNET_HUB_TRTEXEC``, else ``trtexec`` on PATH."""
    explicit = os.environ.get(TRTEXEC_ENV)
    if explicit:
        return explicit if Path(explicit).is_file() else shutil.which(explicit)
    return shutil.which("trtexec")


def available() -> tuple[bool, str]:
    """Whether the backend can run here, and why not."""
    if find_trtexec() is None:
        return False, "no trtexec binary on PATH (pip's tensorrt wheels do not ship it; set $GPUNET_HUB_TRTEXEC)"
    from .device import cuda_available

    if not cuda_available():
        return False, "trtexec found, but no CUDA GPU is visible"
    return True, "trtexec found"


def detect_version(binary: str) -> TrtVersion:
    """Runs ``trtexec --help`` and reads the version.

    Raises:
        EnvironmentProblem: When the binary cannot run or prints no recognisable version.
    """
    try:
        proc = subprocess.run([binary, "--help"], capture_output=True, text=True, timeout=60, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise EnvironmentProblem(f"cannot run {binary} --help: {exc}") from exc
    version = version_from_help(proc.stdout + proc.stderr)
    if version is None:
        raise EnvironmentProblem(f"{binary} --help printed no TensorRT version")
    return version


def onnx_is_fp16(onnx_path: str | Path) -> bool:
    """Whether the ONNX graph's first input is FP16 (TensorRT 11 needs FP16 in the graph)."""
    from ..errors import require

    onnx = require("onnx", "onnx", "checking the ONNX input type")
    model = onnx.load(str(onnx_path), load_external_data=False)
    return bool(model.graph.input) and model.graph.input[0].type.tensor_type.elem_type == onnx.TensorProto.FLOAT16


def check_precision(onnx_path: str | Path, version: TrtVersion, precision: str) -> None:
    """Refuses FP16 on TensorRT 11+ (strongly typed, no ``--fp16``) unless the ONNX graph is FP16.

    Raises:
        InputError: Naming the export that fixes it.
    """
    if version.major >= 11 and precision == "fp16" and not onnx_is_fp16(onnx_path):
        raise InputError(
            f"TensorRT {version} has no --fp16 (strongly typed only): export an FP16 ONNX graph "
            "(export_onnx(..., precision='fp16')) and time that",
            params=("precision",),
        )


def run(
    onnx_path: str | Path,
    options: TrtexecOptions | None = None,
    *,
    binary: str | None = None,
    version: TrtVersion | None = None,
    timeout_s: float = 3600,
) -> TimingResult:
    """Builds and times an engine with trtexec.

    Raises:
        EnvironmentProblem: No trtexec binary.
        InputError: FP16 on TensorRT 11 with an FP32 ONNX file.
        TrtexecError: trtexec failed (non-zero exit or ``&&&& FAILED``).
    """
    options = options or TrtexecOptions()
    binary = binary or find_trtexec()
    if binary is None:
        raise EnvironmentProblem(available()[1])
    version = version or detect_version(binary)
    check_precision(onnx_path, version, options.precision)
    with tempfile.TemporaryDirectory(prefix="gpunet-trtexec-") as tmp:
        times_path = Path(tmp) / "times.json"
        argv, settings = build_command(binary, version, onnx_path, times_path, options)
        try:
            proc = subprocess.run(argv, capture_output=True, text=True, timeout=timeout_s, check=False)
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise TrtexecError(f"trtexec did not complete: {exc}") from exc
        log = proc.stdout + "\n" + proc.stderr
        console = parse_console(log)
        if proc.returncode != 0 or console.status == "FAILED" or not times_path.exists():
            tail = "\n".join(log.strip().splitlines()[-15:])
            raise TrtexecError(f"trtexec failed (exit {proc.returncode}): {' '.join(argv)}\n{tail}")
        times = parse_times(times_path.read_text(), warmup_ms=float(options.warmup_ms))
    return _result(times, console, version, settings)


def _result(times: list[float], console: ConsoleSummary, version: TrtVersion, settings: dict[str, Any]) -> TimingResult:
    """Combines the JSON statistics with the console cross-check and warnings."""
    notes = []
    if console.unstable_cv_percent is not None:
        notes.append(f"trtexec: GPU compute time is unstable (CV {console.unstable_cv_percent:g}%)")
    gpu = console.gpu_compute
    if gpu is not None and times:
        ours = summarize(times).median
        # The console prints 6 significant digits; beyond rounding the two must agree.
        if abs(ours - gpu.median) > max(1e-3, 1e-3 * gpu.median):
            notes.append(f"median from exportTimes ({ours:.6g} ms) differs from the console's ({gpu.median:.6g} ms)")
        settings = settings | {"console_median_ms": gpu.median, "console_mean_ms": gpu.mean}
    if console.unstable_cv_percent is not None:
        settings = settings | {"trtexec_unstable_cv_percent": console.unstable_cv_percent}
    return TimingResult(
        times_ms=tuple(times),
        backend="trtexec",
        backend_version=str(version),
        warmup_runs=console.warmup_queries or 0,
        settings=settings,
        notes=tuple(notes),
    )


def result_from_outputs(
    log: str, times_json: str, *, settings: dict[str, Any] | None = None, warmup_ms: float | None = None
) -> TimingResult:
    """A :class:`TimingResult` from a recorded trtexec log and ``--exportTimes`` JSON (replays, tests).

    Raises:
        InputError: When the log names no TensorRT version.
    """
    console = parse_console(log)
    if console.version is None:
        raise InputError("the trtexec log names no TensorRT version ([TensorRT vNNNN] tag)")
    return _result(parse_times(times_json, warmup_ms=warmup_ms), console, console.version, dict(settings or {}))


class TrtexecSession:
    """An ONNX file ready for trtexec: each :meth:`time` runs trtexec once (engine build + timing).

    Args:
        onnx_path: The ONNX file.
        precision: ``fp16`` or ``fp32``.
        cuda_graph: Launch through a CUDA graph.
        binary: The trtexec binary (default: :func:`find_trtexec`).
        version: Its TensorRT version (default: detected).
        timing_cache: ``--timingCacheFile`` (default: one in the user cache).

    Raises:
        EnvironmentProblem: No trtexec binary.
        InputError: FP16 on TensorRT 11 with an FP32 ONNX file.
    """

    def __init__(
        self,
        onnx_path: str | Path,
        *,
        precision: str = "fp16",
        cuda_graph: bool = True,
        binary: str | None = None,
        version: TrtVersion | None = None,
        timing_cache: str | None = None,
    ) -> None:
        binary = binary or find_trtexec()
        if binary is None:
            raise EnvironmentProblem(available()[1])
        self.binary, self.onnx_path = binary, Path(onnx_path)
        self.version = version or detect_version(binary)
        check_precision(onnx_path, self.version, precision)
        self.precision, self.cuda_graph = precision, cuda_graph
        self.timing_cache = timing_cache or str(cache_dir("tensorrt") / "trtexec-timing.cache")

    def time(self, plan: TimingPlan) -> TimingResult:
        """Runs trtexec with ``--iterations`` = ``plan.min_runs`` after ``plan.warmup_seconds`` of warm-up."""
        options = TrtexecOptions(
            precision=self.precision,
            iterations=max(plan.min_runs, 1),
            warmup_ms=int(max(plan.warmup_seconds * 1000, 1)),
            cuda_graph=self.cuda_graph,
            timing_cache=self.timing_cache,
        )
        return run(self.onnx_path, options, binary=self.binary, version=self.version)

    def close(self) -> None:
        """Nothing to free: every timing is its own trtexec process."""


def _major() -> int | None:
    try:
        binary = find_trtexec()
        return detect_version(binary).major if binary else None
    except EnvironmentProblem:
        return None


@dataclass(frozen=True)
class TrtexecBackend:
    """The ``trtexec`` binary as a registry backend."""

    info: BackendInfo = field(default=BackendInfo("trtexec", "tensorrt", gpu=True), init=False)

    def available(self) -> tuple[bool, str]:
        return available()

    def version(self) -> str:
        binary = find_trtexec()
        if binary is None:
            raise EnvironmentProblem(available()[1])
        return str(detect_version(binary))

    def onnx_precision(self, precision: str) -> str:
        from ._tensorrt import graph_precision

        return graph_precision(precision, _major())

    def open(self, model: str | Path, config: SessionConfig) -> TrtexecSession:
        return TrtexecSession(model, precision=config.precision, cuda_graph=config.cuda_graph)
