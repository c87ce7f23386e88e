"""Measuring LUT layers and whole networks with a protocol robust to machine noise.

One *timing* is ``warmup`` untimed runs then the median of ``runs`` timed runs (one session, fixed
threads). A timing whose robust CV (``1.4826 * MAD / median`` of the runs) exceeds ``cv_max`` is
redone up to ``retries`` times and the steadiest attempt kept. Items are measured in chunks: every
item of a chunk is exported and given a session once, then timed in ``rounds`` interleaved rounds
(round 1 over all items, then round 2, ...), so machine drift spreads across items; the stored value
is the **minimum over rounds of the per-round medians**, the spread is max - min of those medians.
With the adaptive protocol (``spread_max``), an item whose rounds disagree gets more rounds, until
its ``rounds`` lowest medians agree within the bound or a cap is reached; the stored spread is then
that of the ``rounds`` lowest medians and the row records how many rounds were taken. Every round's
median stays in the LUT's round history.

Export (``gpunet_hub.export.export_onnx``) and the sessions and timing loop are those of a
:mod:`gpunet_hub.measure` registry backend, the same ones ``gpunet-hub bench`` uses; this module only
builds the module to time and runs the protocol. Every round is committed to the LUT as soon as it is taken (see :mod:`.lut`), so a
killed build resumes where it stopped.
"""

from __future__ import annotations

import hashlib
import json
import multiprocessing
import os
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from typing import Protocol as TypingProtocol

import numpy as np

from gpunet_hub._io import utc_now
from gpunet_hub.errors import EnvironmentProblem, InputError
from gpunet_hub.measure.device import Device

from .fingerprint import software_versions
from .layer_keys import LayerKey, build_layer
from .lut import MAX_PASSES, LatencyLUT, Measurement, make_owner, settled_spread

ProgressFn = Callable[[int, int], None]


@dataclass(frozen=True)
class TimingProtocol:
    """The robust protocol's knobs.

    Attributes:
        warmup: Untimed runs before each timing.
        runs: Timed runs per timing (the timing's value is their median).
        rounds: Interleaved rounds; the stored value is the minimum of the round medians.
        cv_max: Robust CV above which a timing is redone.
        retries: Extra attempts for a timing above ``cv_max``.
        max_seconds: Cap on one timing's duration.
        spread_max: Adaptive protocol (``None``: off): while the ``rounds`` lowest round medians of an
            item differ by more than this share of the lowest, the item gets another round (interleaved
            with the other unsettled items of its chunk), up to :attr:`round_cap` rounds. Tightens the
            noise floor where the fixed rounds disagree and costs nothing where they agree.
        max_rounds: Cap on the rounds of the adaptive protocol (default ``3 * rounds``).
        passes: Independent passes over the items: after every item has its first measurement, each
            is measured again (``rounds`` rounds, a fresh session), starting halfway through the item
            list so an item's passes lie about one pass apart in time. The value is the minimum over
            every pass's rounds. The rounds of a chunk are seconds apart, so a slow spell of the
            machine, or an unlucky session, can slow all of them alike; a later pass cannot share it.
    """

    warmup: int = 10
    runs: int = 100
    rounds: int = 3
    cv_max: float = 0.10
    retries: int = 2
    max_seconds: float = 30.0
    spread_max: float | None = None
    max_rounds: int | None = None
    passes: int = 1

    def __post_init__(self) -> None:
        if self.runs < 3 or self.rounds < 1 or self.warmup < 0 or self.retries < 0 or self.cv_max <= 0:
            raise InputError(f"invalid timing protocol {self}: need runs >= 3, rounds >= 1, cv_max > 0")
        if self.spread_max is not None and not 0 < self.spread_max < 1:
            raise InputError(f"spread_max must be in (0, 1) (a relative spread), got {self.spread_max}")
        if self.max_rounds is not None and self.max_rounds < self.rounds:
            raise InputError(f"max_rounds ({self.max_rounds}) must be >= rounds ({self.rounds})")
        if not 1 <= self.passes <= MAX_PASSES:
            raise InputError(f"passes must be between 1 and {MAX_PASSES}, got {self.passes}")

    @property
    def round_cap(self) -> int:
        """The most rounds an item gets: ``rounds``, or up to ``max_rounds`` (default ``3 * rounds``) when adaptive."""
        if self.spread_max is None:
            return self.rounds
        return self.max_rounds if self.max_rounds is not None else 3 * self.rounds

    def settled(self, medians: Sequence[float]) -> bool:
        """Whether an item's round medians are enough: ``rounds`` of them, and (adaptive) the ``rounds``
        lowest within ``spread_max`` of each other (relative to the lowest)."""
        if len(medians) < self.rounds:
            return False
        if self.spread_max is None:
            return True
        return settled_spread(medians, self.rounds) <= self.spread_max


class ItemTimer(TypingProtocol):
    """What the LUT workers time: an item (layer key or network) made timeable, then timed.

    The timing itself is a :mod:`gpunet_hub.measure` registry backend's (:class:`LayerTimer`); this
    protocol only adds the step from an item to a model, so tests can drive the workers with fakes.
    """

    def prepare(self, item: str, workdir: Path) -> Any: ...

    def time(self, handle: Any, *, warmup: int, runs: int, max_seconds: float) -> np.ndarray: ...

    def close(self, handle: Any) -> None: ...


def robust_cv(times: np.ndarray) -> float:
    """``1.4826 * MAD / median``: the spread of the bulk of the runs, blind to rare spikes."""
    median = float(np.median(times))
    return float(1.4826 * np.median(np.abs(times - median)) / median) if median > 0 else 0.0


@dataclass(frozen=True)
class LayerTimer:
    """Times layers (items are layer keys) or whole networks (items from :func:`net_item`) on a
    backend of the :mod:`gpunet_hub.measure` registry, exactly as ``gpunet-hub bench`` times a model.

    Attributes:
        backend: Registry name (``onnxruntime-cpu``, ``tensorrt``, ...).
        threads: CPU intra-op threads of every session (1 is the steadiest on small machines).
        opset: ONNX opset of the exports.
    """

    backend: str = "onnxruntime-cpu"
    threads: int = 1
    opset: int = 17

    def device(self) -> Device:
        """The device record (and fingerprint) of this backend on this machine."""
        from gpunet_hub.measure.registry import device_for

        return device_for(self.backend, self.threads)

    def prepare(self, item: str, workdir: Path) -> Any:
        import torch

        from gpunet_hub.export import export_onnx
        from gpunet_hub.measure import SessionConfig, get_backend

        backend = get_backend(self.backend)
        with torch.random.fork_rng(devices=[]):  # fixed weights, without touching the caller's RNG
            torch.manual_seed(0)
            if item.startswith("net:"):
                module, batch, shape, precision = _net_module(item)
            else:
                key = LayerKey.parse(item)
                module, batch, shape, precision = build_layer(key), key.batch, (key.cin, key.h, key.w), key.precision
        config = SessionConfig(precision=precision, batch=batch, threads=self.threads, input_shape=(batch, *shape))
        if backend.info.takes_module:
            return backend.open(module.eval(), config)
        path = workdir / (hashlib.sha1(item.encode()).hexdigest()[:16] + ".onnx")
        export_onnx(
            module,
            path,
            batch_size=batch,
            input_size=shape,
            check=False,
            precision=backend.onnx_precision(precision),
            opset=self.opset,
        )
        return backend.open(path, config)

    def time(self, handle: Any, *, warmup: int, runs: int, max_seconds: float) -> np.ndarray:
        from gpunet_hub.measure import TimingPlan

        return np.asarray(handle.time(TimingPlan.fixed(warmup, runs, max_seconds)).times_ms)

    def close(self, handle: Any) -> None:
        handle.close()


def net_item(
    encoding: Sequence[int],
    space: str,
    resolution: int,
    tag: str = "",
    *,
    width_mult: float = 1.0,
    classes: int | None = None,
    precision: str = "fp32",
) -> str:
    """The LUT item naming a whole network: ``net:<space>:r<resolution>[:w<mult>][:n<classes>][:fp16]:<41 digits>[#tag]``.

    The optional fields describe the evaluator's proxy network (``scale_width``, the dataset's
    classifier width) and its precision; the plain form is the space's own network in fp32.
    """
    options = (f":w{width_mult:g}" if width_mult != 1.0 else "") + (f":n{int(classes)}" if classes is not None else "")
    options += f":{precision}" if precision != "fp32" else ""
    digits = "-".join(str(int(v)) for v in encoding)
    return f"net:{space}:r{int(resolution)}{options}:{digits}" + (f"#{tag}" if tag else "")


def _net_item_parts(item: str) -> tuple[str, int, list[str], list[int], str]:
    """``(space, resolution, options, digits, tag)`` of a :func:`net_item` string.

    Raises:
        InputError: When the text is not a network item.
    """
    body, _, tag = str(item).partition("#")
    parts = body.split(":")
    try:
        if len(parts) < 4 or parts[0] != "net" or not parts[2].startswith("r"):
            raise ValueError(body)
        return parts[1], int(parts[2][1:]), parts[3:-1], [int(v) for v in parts[-1].split("-")], tag
    except ValueError:
        raise InputError(
            f"not a network item: {item!r} (expected 'net:<space>:r<resolution>[:options]:<digits>[#tag]')"
        ) from None


def parse_net_item(item: str) -> tuple[str, int, list[int], str]:
    """``(space, resolution, digits, tag)`` of a :func:`net_item` string (its options are left out).

    Raises:
        InputError: When the text is not a network item.
    """
    space, resolution, _, digits, tag = _net_item_parts(item)
    return space, resolution, digits, tag


def _net_module(item: str) -> tuple[Any, int, tuple[int, int, int], str]:
    from dataclasses import replace

    from gpunet_hub.builder import build_model
    from gpunet_hub.space import decode

    from ..evaluate.network import scale_width

    space, resolution, options, digits, _ = _net_item_parts(item)
    arch = replace(decode(digits, space), resolution=resolution)
    precision = "fp32"
    for option in options:
        if option.startswith("w"):
            arch = scale_width(arch, float(option[1:]))
        elif option.startswith("n"):
            arch = arch.with_num_classes(int(option[1:]))
        else:
            precision = option
    return build_model(arch), 1, (3, arch.resolution, arch.resolution), precision


def time_once(backend: ItemTimer, handle: Any, protocol: TimingProtocol) -> tuple[float, float, int, int]:
    """One guarded timing: ``(median_ms, robust_cv, runs, attempts)`` of the steadiest attempt."""
    best = (float("nan"), float("inf"), 0)
    attempts = 0
    while attempts <= protocol.retries:
        attempts += 1
        times = backend.time(handle, warmup=protocol.warmup, runs=protocol.runs, max_seconds=protocol.max_seconds)
        cv = robust_cv(times)
        if cv < best[1]:
            best = (float(np.median(times)), cv, len(times))
        if cv <= protocol.cv_max:
            break
    return best[0], best[1], best[2], attempts


def run_worker(
    lut_path: str | Path,
    items: Sequence[str],
    device: Device,
    backend: ItemTimer,
    protocol: TimingProtocol,
    *,
    kind: str = "layer",
    chunk: int = 32,
    codes: dict[str, int] | None = None,
    on_done: Callable[[int], None] | None = None,
    lease: float = 900.0,
) -> int:
    """Measures every unfinished item (claiming them first), chunk by chunk; returns how many it stored."""
    owner = make_owner()
    versions = json.dumps(software_versions(), sort_keys=True)
    stored = 0
    fp = device.fingerprint
    with _one_torch_thread(), LatencyLUT(lut_path) as lut:
        lut.register_device(device)
        candidates = iter(items)
        while True:
            batch = lut.claim(candidates, fp, owner, kind=kind, limit=chunk, lease=lease)
            if not batch:
                break
            try:
                stored += _measure_chunk(
                    lut, batch, device, backend, protocol, kind, owner, versions, codes or {}, on_done
                )
            finally:
                lut.release(batch, fp, owner, kind=kind)
    return stored


_TMP_PREFIX = "gpunet-lut-"  # + owner pid + "-": a killed build's exports are found and removed by the next run


@contextmanager
def _one_torch_thread() -> Iterator[None]:
    """Idle torch threads (left by the exports) must not compete with the timed session."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


@contextmanager
def _sessions(backend: ItemTimer, batch: Sequence[str]) -> Iterator[dict[str, Any]]:
    """A chunk's items made timeable (exported into a temporary folder), closed on the way out."""
    with tempfile.TemporaryDirectory(prefix=f"{_TMP_PREFIX}{os.getpid()}-") as tmp:
        handles = {item: backend.prepare(item, Path(tmp)) for item in batch}
        try:
            yield handles
        finally:
            for handle in handles.values():
                backend.close(handle)


def clean_stale_tmp(root: str | Path | None = None) -> int:
    """Removes the temporary export folders of builds whose process is gone (killed with SIGKILL).

    Args:
        root: Where to look (default: the system temp folder).

    Returns:
        How many folders were removed.
    """
    import shutil

    from .lut import _pid_alive

    removed = 0
    base = Path(root or tempfile.gettempdir())
    for folder in sorted(base.glob(f"{_TMP_PREFIX}*-*"))[:10_000]:
        pid = folder.name[len(_TMP_PREFIX) :].split("-", 1)[0]
        if folder.is_dir() and pid.isdigit() and not _pid_alive(int(pid)):
            shutil.rmtree(folder, ignore_errors=True)
            removed += not folder.exists()
    return removed


def _measure_chunk(
    lut: LatencyLUT,
    batch: list[str],
    device: Device,
    backend: ItemTimer,
    protocol: TimingProtocol,
    kind: str,
    owner: str,
    versions: str,
    codes: dict[str, int],
    on_done: Callable[[int], None] | None,
) -> int:
    fp = device.fingerprint
    taken = lut.partial_rounds(batch, fp, kind=kind)
    stored = 0
    with _sessions(backend, batch) as handles:
        for rnd in range(protocol.round_cap):  # bounded: an unsettled item stops at round_cap rounds
            for item in batch:
                if rnd in taken[item]:
                    continue
                if rnd >= protocol.rounds and protocol.settled([r[0] for r in taken[item].values()]):
                    continue
                median, cv, runs, attempts = time_once(backend, handles[item], protocol)
                lut.add_round(item, fp, rnd, median, cv, runs, attempts, owner, kind=kind)
                taken[item][rnd] = (median, cv, runs, attempts)
    for item in batch:
        rounds = [taken[item][r] for r in sorted(taken[item])]
        medians = [r[0] for r in rounds]
        key_parts = _precision_batch(item)
        row = Measurement(
            kind=kind,
            device=fp,
            backend=device.backend or "unknown",
            precision=key_parts[0],
            batch=key_parts[1],
            item=item,
            code=codes.get(item),
            median_ms=min(medians),
            spread_ms=settled_spread(medians, protocol.rounds) * min(medians),
            cv=float(np.median([r[1] for r in rounds])),
            rounds=len(rounds),
            runs=int(sum(r[2] for r in rounds)),
            warmup=protocol.warmup,
            remeasured=int(sum(r[3] - 1 for r in rounds)),
            versions=versions,
            measured_at=utc_now(),
            worker=owner,
        )
        stored += int(lut.finish(row, owner))
        if on_done:
            on_done(1)
    return stored


def _precision_batch(item: str) -> tuple[str, int]:
    if item.startswith("net:"):
        return "fp32", 1
    key = LayerKey.parse(item)
    return key.precision, key.batch


def _worker_entry(*args: Any, **kwargs: Any) -> None:
    run_worker(*args, **kwargs)


def measure_items(
    lut_path: str | Path,
    items: Sequence[str],
    device: Device,
    backend: ItemTimer,
    protocol: TimingProtocol,
    *,
    kind: str = "layer",
    workers: int = 1,
    chunk: int = 32,
    codes: dict[str, int] | None = None,
    progress: ProgressFn | None = None,
) -> dict[str, Any]:
    """Measures the items missing from the LUT, in this process or in ``workers`` processes.

    Args:
        lut_path: The SQLite LUT.
        items: Layer keys (``str(LayerKey)``) or network items (:func:`net_item`).
        device: Where the timings run (its fingerprint keys the rows).
        backend: The timing backend (picklable when ``workers > 1``).
        protocol: The robust protocol.
        kind: ``layer`` or ``net``.
        workers: Processes measuring in parallel (one per GPU on a multi-GPU node; on a 2-core CPU
            parallel timing distorts the numbers: use 1 for figures you report).
        chunk: Items claimed, exported and interleaved together.
        codes: Packed codes of layer items (stored for the fast estimate path).
        progress: Called with ``(done, total)`` as items finish.

    Returns:
        ``{"total", "already", "measured", "seconds"}``.
    """
    if workers < 1:
        raise InputError(f"workers must be >= 1, got {workers}")
    items = list(dict.fromkeys(str(i) for i in items))
    start = time.perf_counter()
    with LatencyLUT(lut_path) as lut:
        lut.register_device(device)
        done = lut.done(items, device.fingerprint, kind=kind)
    todo = [i for i in items if i not in done]
    already = len(done)
    count = [already]

    def tick(n: int) -> None:
        count[0] += n
        if progress:
            progress(count[0], len(items))

    if progress:
        progress(already, len(items))
    if workers == 1:
        run_worker(lut_path, todo, device, backend, protocol, kind=kind, chunk=chunk, codes=codes, on_done=tick)
    else:
        _run_pool(lut_path, todo, device, backend, protocol, kind, workers, chunk, codes, progress, len(items))
    remeasured = 0
    for pass_index in range(1, protocol.passes):
        remeasured += run_pass(lut_path, items, device, backend, protocol, pass_index, kind=kind, chunk=chunk)
    with LatencyLUT(lut_path) as lut:
        finished = len(lut.done(items, device.fingerprint, kind=kind))
    return {
        "total": len(items),
        "already": already,
        "measured": finished - already,
        "missing": len(items) - finished,
        "later_passes": remeasured,
        "seconds": round(time.perf_counter() - start, 2),
    }


def run_pass(
    lut_path: str | Path,
    items: Sequence[str],
    device: Device,
    backend: ItemTimer,
    protocol: TimingProtocol,
    pass_index: int,
    *,
    kind: str = "layer",
    chunk: int = 32,
) -> int:
    """Measures pass ``pass_index`` (1 = the second) of the finished items that lack it; returns how many.

    The items are taken from the middle of the list onwards, then the first half, so that each item's
    new pass comes about one pass after its previous one. Each chunk gets fresh sessions and
    ``protocol.rounds`` interleaved rounds; an item's pass is committed when its chunk ends, so a
    killed pass resumes at the chunk in progress. Runs in this process (after any worker pool).
    """
    fp = device.fingerprint
    with _one_torch_thread(), LatencyLUT(lut_path) as lut:
        have = lut.passes_done(items, fp, kind=kind)
        order = list(items[len(items) // 2 :]) + list(items[: len(items) // 2])
        todo = [i for i in order if have.get(i, pass_index + 1) == pass_index]  # finished, this pass not taken
        for start in range(0, len(todo), chunk):
            batch = todo[start : start + chunk]
            taken: dict[str, list[tuple[float, float, int, int]]] = {item: [] for item in batch}
            with _sessions(backend, batch) as handles:
                for _ in range(protocol.rounds):
                    for item in batch:
                        taken[item].append(time_once(backend, handles[item], protocol))
            for item in batch:
                lut.add_pass(item, fp, pass_index, taken[item], kind=kind, settle=protocol.rounds)
    return len(todo)


def _done_set(lut_path: str | Path, items: Iterable[str], device: Device, kind: str) -> set[str]:
    with LatencyLUT(lut_path) as lut:
        return lut.done(items, device.fingerprint, kind=kind)


def _run_pool(
    lut_path: str | Path,
    todo: list[str],
    device: Device,
    backend: ItemTimer,
    protocol: TimingProtocol,
    kind: str,
    workers: int,
    chunk: int,
    codes: dict[str, int] | None,
    progress: ProgressFn | None,
    total: int,
) -> None:
    context = multiprocessing.get_context("spawn")
    procs = []
    for w in range(workers):
        # Stagger the starting points so the workers do not queue on the same claims.
        order = todo[w * len(todo) // workers :] + todo[: w * len(todo) // workers]
        proc = context.Process(
            target=_worker_entry,
            args=(lut_path, order, device, backend, protocol),
            kwargs={"kind": kind, "chunk": chunk, "codes": codes},
            daemon=True,
        )
        proc.start()
        procs.append(proc)
    while any(p.is_alive() for p in procs):
        time.sleep(1.0)
        if progress:
            progress(total - len(todo) + len(_done_set(lut_path, todo, device, kind)), total)
    failed = [p.exitcode for p in procs if p.exitcode != 0]
    if failed:
        raise EnvironmentProblem(
            f"{len(failed)} of {workers} measuring workers died (exit codes {failed}); the rounds they "
            f"committed are kept, "
            "so measuring the same items again resumes where they stopped"
        )
