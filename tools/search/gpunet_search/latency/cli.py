"""``gpunet-hub search sample | lut build/stats/export/import | calibrate | suggest | tiers`` (stage 1).

Errors are ``gpunet_hub.errors`` types (the top-level CLI prints them without a traceback: exit 1
for bad input, 2 for the environment). Long steps show a rich progress bar with counts and ETA; every
file is written atomically and carries the fingerprints of its inputs.
"""

from __future__ import annotations

import json
import signal
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.table import Table

from gpunet_hub import _validate
from gpunet_hub._io import atomic_write_text
from gpunet_hub.cli._output import OutputFormat, emit, note, print_json, print_wide, progress, warn
from gpunet_hub.errors import InputError

from .measure import ProgressFn

if TYPE_CHECKING:
    from .sampling import SampleSet

DEFAULT_LUT = Path("lut.sqlite")
DEFAULT_SAMPLES = Path("samples.npz")
DEFAULT_OUT_DIR = Path("tiers")
LutOption = Annotated[Path, typer.Option("--lut", help="The SQLite latency LUT.")]
SamplesOption = Annotated[
    Path, typer.Option("--samples", help="A sample file (search sample) or a tier file (search tiers).")
]
ResScaleOption = Annotated[
    float, typer.Option("--res-scale", help="Measure at round(resolution x this) (e.g. 0.25 for quick CPU LUTs).")
]
ThreadsOption = Annotated[
    int, typer.Option("--threads", help="onnxruntime intra-op threads (1 is the steadiest on small CPUs).")
]


@contextmanager
def _progress(*labels: str) -> Iterator[list[ProgressFn]]:
    """One progress display with a bar per label (the CLI's columns); yields their update callbacks."""
    with progress(transient=False) as bar:
        callbacks: list[ProgressFn] = []
        for label in labels:
            task = bar.add_task(label, total=None)

            def update(done: int, total: int, task: Any = task) -> None:
                bar.update(task, completed=done, total=total)

            callbacks.append(update)
        yield callbacks


@contextmanager
def _sigterm_as_interrupt() -> Iterator[None]:
    """Within the block a SIGTERM stops the command as Ctrl-C does (cleanups run, the LUT keeps its rounds)."""

    def interrupt(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    try:
        previous = signal.signal(signal.SIGTERM, interrupt)
    except ValueError:  # not the main thread: leave signals alone
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


SpreadMaxOption = Annotated[
    float | None,
    typer.Option(
        "--spread-max",
        help="Adaptive protocol: give an item more rounds until its --rounds lowest round medians agree within "
        "this share (e.g. 0.02), up to --max-rounds.",
    ),
]
MaxRoundsOption = Annotated[
    int | None, typer.Option("--max-rounds", help="Cap on the rounds of the adaptive protocol (default 3 x --rounds).")
]
PassesOption = Annotated[
    int,
    typer.Option(
        "--passes",
        help="Independent passes: every item is measured again in a fresh session, about one pass later, and "
        "keeps the minimum over all passes (2 narrows a LUT's error from slow spells of a shared machine and "
        "doubles the time).",
    ),
]


def _protocol(
    warmup: int,
    runs: int,
    rounds: int,
    cv_max: float,
    spread_max: float | None = None,
    max_rounds: int | None = None,
    passes: int = 1,
):
    from .lut import MAX_PASSES
    from .measure import TimingProtocol

    _validate.integer(warmup, "--warmup", minimum=0, maximum=100_000)
    _validate.integer(runs, "--runs", minimum=3, maximum=1_000_000)
    _validate.integer(rounds, "--rounds", minimum=1, maximum=1000)
    _validate.number(cv_max, "--cv-max", minimum=0, exclusive_minimum=True)
    if spread_max is not None:
        _validate.number(spread_max, "--spread-max", minimum=0, exclusive_minimum=True, maximum=0.99)
    if max_rounds is not None:
        _validate.integer(max_rounds, "--max-rounds", minimum=rounds, maximum=1000)
        if spread_max is None:
            raise InputError("--max-rounds caps the adaptive protocol: give --spread-max too", params=("--max-rounds",))
    _validate.integer(passes, "--passes", minimum=1, maximum=MAX_PASSES)
    return TimingProtocol(
        warmup=warmup,
        runs=runs,
        rounds=rounds,
        cv_max=cv_max,
        spread_max=spread_max,
        max_rounds=max_rounds,
        passes=passes,
    )


def _samples(path: Path, limit: int | None, flag: str = "--limit") -> SampleSet:
    from .sampling import load_samples

    if limit is not None:
        _validate.integer(limit, flag, minimum=1)
    if not path.exists():
        raise InputError(f"--samples {path}: no such file; create one with `gpunet-hub search sample --out {path}`")
    return load_samples(_validate.input_file(path, "--samples", "sample file")).head(limit)


def _existing_lut(path: Path) -> None:
    if not path.is_file():
        raise InputError(
            f"--lut {path}: no such file; build one with `gpunet-hub search lut build --lut {path} --samples ...`"
        )


def _lut_flags(res_scale: float, limit: int | None) -> str:
    """The ``--res-scale``/``--limit`` the user gave, to repeat in a suggested command."""
    return (f" --res-scale {res_scale:g}" if res_scale != 1.0 else "") + (f" --limit {limit}" if limit else "")


def sample_cmd(
    n: Annotated[int, typer.Option("--n", help="Sobol points to draw.")] = 1000000,
    space: Annotated[str, typer.Option("--space", help="Search space: table1 (paper Table 1) or release.")] = "table1",
    seed: Annotated[int, typer.Option("--seed", help="Scrambling seed.")] = 0,
    scramble: Annotated[bool, typer.Option("--scramble/--no-scramble", help="Owen scrambling.")] = True,
    output: Annotated[Path, typer.Option("--out", help="Output .npz.")] = DEFAULT_SAMPLES,
) -> None:
    """Draw N networks evenly from the 41-integer space (scrambled Sobol), deduplicated."""
    from .sampling import sample, save_samples

    _validate.integer(n, "--n", minimum=1, maximum=2**32)
    _validate.integer(seed, "--seed", minimum=0, maximum=2**32 - 1)
    output = _validate.output_file(output, "--out")
    _validate.writable_place(output, "--out")
    start = time.perf_counter()
    samples = sample(n, space, seed=seed, scramble=scramble)
    save_samples(samples, output)
    note(
        f"{len(samples):,} networks ({samples.meta['duplicates_dropped']} duplicates dropped) of space "
        f"{samples.space!r} (fingerprint {samples.space_fingerprint}) -> {output}  "
        f"[{time.perf_counter() - start:.2f} s]"
    )


def lut_build(
    samples_path: SamplesOption,
    lut: LutOption = DEFAULT_LUT,
    limit: Annotated[int | None, typer.Option("--limit", help="Only the first N networks (a Sobol prefix).")] = None,
    res_scale: ResScaleOption = 1.0,
    batch: Annotated[int, typer.Option("--batch")] = 1,
    precision: Annotated[str, typer.Option("--precision")] = "fp32",
    threads: ThreadsOption = 1,
    workers: Annotated[
        int,
        typer.Option(
            "--workers", min=1, help="Parallel measuring processes (one per GPU; on a small CPU they distort timings)."
        ),
    ] = 1,
    warmup: Annotated[int, typer.Option("--warmup")] = 10,
    runs: Annotated[
        int, typer.Option("--runs", help="Timed runs per round (the round's value is their median).")
    ] = 100,
    rounds: Annotated[
        int, typer.Option("--rounds", help="Interleaved rounds (the stored value is the min of the round medians).")
    ] = 3,
    cv_max: Annotated[float, typer.Option("--cv-max", help="Re-time a round whose robust CV exceeds this.")] = 0.1,
    spread_max: SpreadMaxOption = None,
    max_rounds: MaxRoundsOption = None,
    passes: PassesOption = 1,
    chunk: Annotated[int, typer.Option("--chunk", help="Layers exported and interleaved together.")] = 32,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Only count the keys to measure.")] = False,
) -> None:
    """Measure every layer key of the networks that the LUT lacks (resumes; safe with concurrent builds)."""
    import os

    from .fingerprint import onnxruntime_cpu_device
    from .lut import LatencyLUT
    from .measure import LayerTimer, clean_stale_tmp
    from .pipeline import Setting, build_lut, key_index

    setting = Setting(batch, precision, res_scale)
    protocol = _protocol(warmup, runs, rounds, cv_max, spread_max, max_rounds, passes)
    _validate.integer(threads, "--threads", minimum=1, maximum=1024)
    _validate.integer(workers, "--workers", minimum=1, maximum=64)
    _validate.integer(chunk, "--chunk", minimum=1, maximum=100_000)
    samples = _samples(samples_path, limit)
    _validate.writable_place(_validate.output_file(lut, "--lut"), "--lut")
    with LatencyLUT(lut) as store:  # refuses a damaged LUT or one of another schema before measuring
        lut_known = store.lut_id
    device = onnxruntime_cpu_device(threads)
    if dry_run:
        index = key_index(samples, setting)
        with LatencyLUT(lut, readonly=True) as store:
            done = len(store.done((str(k) for k in index.keys), device.fingerprint))
        note(
            f"{len(samples):,} networks use {len(index.codes):,} distinct layer keys; {done:,} already in {lut} "
            f"(id {lut_known}), {len(index.codes) - done:,} to measure on {device.setup_label}"
        )
        return
    clean_stale_tmp()
    cores = os.cpu_count() or 1
    if workers * threads > 1 and cores <= workers * threads:
        warn(
            f"{workers} worker(s) x {threads} thread(s) on {cores} CPU cores: parallel timings "
            "compete for the cores and distort the LUT; use --workers 1 for figures you report"
        )
    with _sigterm_as_interrupt(), _progress("layers") as (tick,):
        result = build_lut(
            lut,
            samples,
            device,
            LayerTimer(threads=threads),
            protocol,
            setting,
            workers=workers,
            chunk=chunk,
            progress=tick,
        )
    note(
        f"{result['total']:,} layer keys for {result['networks']:,} networks: {result['already']:,} already measured, "
        f"{result['measured']:,} measured now in {result['seconds']:.1f} s on {device.setup_label} (device "
        f"{device.fingerprint}) -> {lut}"
    )


def _device_label(info: dict[str, Any]) -> str:
    """The stored device record's own label (``setup_label``), or its fingerprinted fields for older LUTs."""
    from dataclasses import fields

    from gpunet_hub.measure.device import Device

    known = {f.name for f in fields(Device)}
    record = {k: v for k, v in info.items() if k in known}
    if {"kind", "name", "label"} <= set(record):
        return Device(**record).setup_label
    return f"{info.get('backend')} {info.get('backend_version')} on {info.get('device')}"


def lut_stats(
    lut: LutOption = DEFAULT_LUT,
    fmt: Annotated[
        OutputFormat, typer.Option("--format", help="table, json, csv (one row per device and group), or quiet.")
    ] = OutputFormat.table,
) -> None:
    """Devices, row counts, latency ranges, calibrations and unfinished work of a LUT (read-only)."""
    from .lut import LatencyLUT

    _existing_lut(lut)
    with LatencyLUT(lut, readonly=True) as store:
        devices = store.devices()
        groups = store.counts()
        claims, rounds = store.pending()
        calib = {d: store.calibrations(d) for d in devices}
        layer_ms = {d: [r.median_ms for r in store.rows(d, kind="layer")] for d in devices}
    report: dict[str, Any] = {
        "lut": str(lut),
        "lut_id": store.lut_id,
        "pending_claims": claims,
        "pending_rounds": rounds,
        "devices": [],
    }
    for fp, info in devices.items():
        values = sorted(layer_ms[fp])
        report["devices"].append(
            {
                "fingerprint": fp,
                "label": _device_label(info),
                "revision": info.get("revision"),
                "rows": {f"{k} {p} b{b}": n for d, k, p, b, n in groups if d == fp},
                "layer_ms": {"min": values[0], "median": values[len(values) // 2], "max": values[-1]}
                if values
                else None,
                "calibrations": [
                    {k: c[k] for k in ("model", "res_scale", "precision", "batch", "created")}
                    | {
                        "coef": {k: v for k, v in c["coef"].items() if k != "train_items"},
                        "formula": c["metrics"].get("formula") or _formula(c["model"], c["coef"]),
                        "held_out": c["metrics"].get("calibrated"),
                    }
                    for c in calib[fp]
                    if c
                ],
            }
        )
    if fmt is OutputFormat.json:
        print_json(report)
        return
    if fmt in (OutputFormat.csv, OutputFormat.quiet):
        rows = [
            {"device": d["fingerprint"], "label": d["label"], "what": what, "rows": n}
            for d in report["devices"]
            for what, n in d["rows"].items()
        ]
        emit(rows, fmt, f"LUT {lut}", key="device")
        return
    table = Table(title=f"LUT {lut} (id {store.lut_id})")
    for col in ("device", "what", "rows", "layer ms (min/median/max)", "calibration"):
        table.add_column(col)
    for d in report["devices"]:
        ms = d["layer_ms"]
        cal = "; ".join(
            f"res x{c['res_scale']:g}: {c['formula']}"
            + (f" (held-out MAPE {c['held_out']['mape']:.1%})" if c["held_out"] else "")
            for c in d["calibrations"]
        )
        table.add_row(
            f"{d['fingerprint']}\n{d['label']}",
            "\n".join(d["rows"]),
            "\n".join(f"{n:,}" for n in d["rows"].values()),
            f"{ms['min']:.4f} / {ms['median']:.4f} / {ms['max']:.3f}" if ms else "-",
            cal or "none",
        )
    print_wide(table)
    if claims or rounds:
        note(
            f"unfinished work: {claims} claimed item(s), {rounds} committed round(s) (a running build, or a "
            f"killed one: re-run to resume)"
        )


def _formula(model: str, coef: dict[str, Any]) -> str:
    """A stored predictor's description (calibrations written before reports carried one)."""
    from .calibration import MODELS, Calibration

    return Calibration.from_record(model, coef).describe() if model in MODELS else model


def lut_export(
    output: Annotated[Path, typer.Option("--out", help="JSON file to write.")],
    lut: LutOption = DEFAULT_LUT,
    device: Annotated[str | None, typer.Option("--device", help="Only this device fingerprint.")] = None,
) -> None:
    """Export finished LUT rows (and their devices) as JSON for sharing."""
    from .lut import LatencyLUT

    output = _validate.output_file(output, "--out")
    _validate.writable_place(output, "--out")
    _existing_lut(lut)
    with LatencyLUT(lut, readonly=True) as store:
        if device is not None:
            store.device(device)
        count = store.export_json(output, device)
    note(f"{count:,} rows -> {output}")


def lut_import(
    source: Annotated[Path, typer.Option("--file", help="JSON written by lut export.")],
    lut: LutOption = DEFAULT_LUT,
    replace: Annotated[
        bool, typer.Option("--replace", help="Overwrite existing rows (makes calibrations stale).")
    ] = False,
) -> None:
    """Import rows exported from another LUT (existing rows win unless --replace)."""
    from .lut import LatencyLUT, read_export

    source = _validate.input_file(source, "--file", "LUT export")
    devices, rows = read_export(source)  # a bad file is refused before the LUT is created or opened
    _validate.writable_place(_validate.output_file(lut, "--lut"), "--lut")
    with LatencyLUT(lut) as store:
        added, skipped = store.import_rows(devices, rows, replace=replace)
    note(f"{added:,} rows imported, {skipped:,} already present -> {lut}")


def calibrate_cmd(
    samples_path: SamplesOption,
    lut: LutOption = DEFAULT_LUT,
    nets: Annotated[int, typer.Option("--nets", help="Networks (the first N of the file) to measure whole.")] = 40,
    res_scale: ResScaleOption = 1.0,
    model: Annotated[
        str,
        typer.Option(
            "--model",
            help="auto (lowest cross-validated error on the train part) | linear+weights | linear | scale | "
            "linear+layers | linear+weights+layers | sum (the LUT sum as it is) | ridge | gbr | rf | mlp.",
        ),
    ] = "auto",
    train_fraction: Annotated[
        float, typer.Option("--train-fraction", help="Share of the networks the fit sees; the rest is held out.")
    ] = 0.5,
    seed: Annotated[int, typer.Option("--seed", help="Seed of the train/held-out split, folds and models.")] = 0,
    folds: Annotated[int, typer.Option("--folds", help="Cross-validation folds of --model auto.")] = 5,
    with_stored: Annotated[
        bool,
        typer.Option(
            "--with-stored/--sample-only",
            help="Also fit on the networks measured earlier in this LUT (same device and --res-scale; each earlier "
            "run brought to this run's level; the held-out part stays this sample's), or on this sample's train "
            "part alone.",
        ),
    ] = True,
    threads: ThreadsOption = 1,
    warmup: Annotated[int, typer.Option("--warmup")] = 10,
    runs: Annotated[int, typer.Option("--runs")] = 100,
    rounds: Annotated[int, typer.Option("--rounds")] = 3,
    cv_max: Annotated[float, typer.Option("--cv-max")] = 0.1,
    spread_max: SpreadMaxOption = None,
    max_rounds: MaxRoundsOption = None,
    passes: PassesOption = 1,
    report_path: Annotated[Path | None, typer.Option("--report", help="Also write the report as JSON.")] = None,
) -> None:
    """Measure networks whole, fit a latency predictor on a split, store it for this device."""
    from .fingerprint import onnxruntime_cpu_device
    from .lut import LatencyLUT
    from .measure import LayerTimer, clean_stale_tmp
    from .pipeline import Setting, calibrate, check_calibration_inputs
    from .predictor import PREDICTORS

    # Everything known at the start is checked before the first measurement.
    _validate.integer(nets, "--nets", minimum=1)
    _validate.choice(model, "--model", ("auto", *PREDICTORS))
    _validate.number(train_fraction, "--train-fraction", minimum=0, exclusive_minimum=True, maximum=1)
    _validate.integer(seed, "--seed", minimum=0)
    _validate.integer(folds, "--folds", minimum=2, maximum=100)
    _validate.integer(threads, "--threads", minimum=1, maximum=1024)
    setting = Setting(1, "fp32", res_scale)
    protocol = _protocol(warmup, runs, rounds, cv_max, spread_max, max_rounds, passes)
    if report_path is not None:
        report_path = _validate.output_file(report_path, "--report")
        _validate.writable_place(report_path, "--report")
    samples = _samples(samples_path, nets, "--nets")
    if len(samples) < nets:
        raise InputError(f"--samples {samples_path} has {len(samples)} networks, fewer than --nets {nets}")
    _validate.writable_place(_validate.output_file(lut, "--lut"), "--lut")
    if lut.exists():
        with LatencyLUT(lut, readonly=True):  # refuses a damaged LUT before measuring
            pass
    check_calibration_inputs(nets, model, train_fraction, seed, folds)  # enough networks, before creating the LUT
    device = onnxruntime_cpu_device(threads)
    clean_stale_tmp()
    with _sigterm_as_interrupt(), _progress("layers", "networks") as (tick_layers, tick_nets):
        predictor, report = calibrate(
            lut,
            samples,
            device,
            LayerTimer(threads=threads),
            protocol,
            setting,
            model=model,
            train_fraction=train_fraction,
            seed=seed,
            folds=folds,
            with_stored=with_stored,
            progress_layers=tick_layers,
            progress_nets=tick_nets,
        )
    table = Table(title=f"{predictor.describe()} on {device.setup_label} (device {device.fingerprint})")
    for col in ("estimate", "n", "Spearman", "Kendall", "MAPE", "+/-5%", "+/-10%", "RMSE ms"):
        table.add_column(col, justify="right")
    rows = [(f"{name} (cross-validated)", m) for name, m in ((report.get("selection") or {}).get("cv") or {}).items()]
    rows += [("raw LUT sum (held-out)", report["raw"]), (f"{report['model']} (held-out)", report["calibrated"])]
    for label, m in rows:
        table.add_row(
            label,
            str(m["n"]),
            f"{m['spearman']:.3f}",
            f"{m['kendall']:.3f}",
            f"{m['mape']:.1%}",
            f"{m['acc5']:.0%}",
            f"{m['acc10']:.0%}",
            f"{m['rmse_ms']:.3f}",
        )
    print_wide(table)
    for text in report["warnings"]:
        warn(text)
    bias = report["bias"]
    note(
        f"{report['model']} fitted on {report['n_train']} networks (requested {report['requested']}); raw bias "
        f"sum/measured: mean {bias['mean']:.3f} (min {bias['min']:.3f}, max {bias['max']:.3f}); stored in {lut}"
    )
    levels = (report.get("sessions") or {}).get("levels") or {}
    if levels:
        note(
            f"{len(levels)} earlier measuring runs aligned to this one: level {min(levels.values()):.3f} to "
            f"{max(levels.values()):.3f} of this run's"
        )
    if report_path is not None:
        atomic_write_text(report_path, json.dumps(report, indent=2) + "\n")


def suggest_cmd(
    samples_path: SamplesOption,
    output: Annotated[Path, typer.Option("--out", help="Sample file of the chosen networks (for calibrate).")],
    lut: LutOption = DEFAULT_LUT,
    n: Annotated[int, typer.Option("--n", help="How many networks to suggest.")] = 16,
    res_scale: ResScaleOption = 1.0,
    device: Annotated[
        str | None,
        typer.Option("--device", help="Device fingerprint (default: this machine's, or the LUT's only one)."),
    ] = None,
    threads: ThreadsOption = 1,
    seed: Annotated[int, typer.Option("--seed", help="Seed of the bootstrap refits.")] = 0,
) -> None:
    """Pick the N networks the stored predictor is least sure about, to measure next with calibrate."""
    from dataclasses import replace

    from .lut import LatencyLUT
    from .pipeline import Setting, pick_device, suggest_networks
    from .sampling import save_samples

    _validate.integer(n, "--n", minimum=1, maximum=100_000)
    _validate.integer(seed, "--seed", minimum=0)
    setting = Setting(1, "fp32", res_scale)
    output = _validate.output_file(output, "--out")
    _validate.writable_place(output, "--out")
    samples = _samples(samples_path, None)
    _existing_lut(lut)
    with LatencyLUT(lut, readonly=True) as store:
        fp = pick_device(store, device, threads)
        rows, spread = suggest_networks(store, fp, setting, samples, n, seed=seed)
    chosen = replace(
        samples, encodings=samples.encodings[rows], meta=samples.meta | {"suggested_from": str(samples_path)}
    )
    save_samples(chosen, output)
    note(
        f"{len(rows)} of {len(samples):,} networks, predicted with a spread of {spread.max():.1%} to {spread.min():.1%} "
        f"over bootstrap refits -> {output}; measure them with `gpunet-hub search calibrate --samples {output} "
        f"--nets {len(rows)} --lut {lut}" + (f" --res-scale {res_scale:g}`" if res_scale != 1 else "`")
    )


def tiers_cmd(
    samples_path: SamplesOption,
    lut: LutOption = DEFAULT_LUT,
    tiers: Annotated[
        str | None, typer.Option("--tiers", help="Tier centres in ms, e.g. 0.5,0.65,0.85,1.25,1.75.")
    ] = None,
    width: Annotated[
        str, typer.Option("--width", help="Half-width of centre tiers: 10% (relative) or 0.05 (ms).")
    ] = "10%",
    edges: Annotated[
        str | None, typer.Option("--edges", help="Tier edges in ms instead of centres, e.g. 5,10,20,40.")
    ] = None,
    out_dir: Annotated[Path, typer.Option("--out-dir", help="Folder for the tier files.")] = DEFAULT_OUT_DIR,
    limit: Annotated[int | None, typer.Option("--limit", help="Only the first N networks.")] = None,
    res_scale: ResScaleOption = 1.0,
    batch: Annotated[int, typer.Option("--batch")] = 1,
    precision: Annotated[str, typer.Option("--precision")] = "fp32",
    device: Annotated[
        str | None,
        typer.Option("--device", help="Device fingerprint (default: this machine's, or the LUT's only one)."),
    ] = None,
    threads: ThreadsOption = 1,
    raw: Annotated[bool, typer.Option("--raw", help="Bin uncalibrated LUT sums (labelled so in the files).")] = False,
) -> None:
    """Estimate every network (calibrated LUT sum) and write one file per latency tier."""
    import numpy as np

    from .lut import LatencyLUT
    from .pipeline import Setting, key_index, lut_sums, pick_device, require_complete
    from .predictor_store import load_predictor, predict_networks
    from .tiers import parse_tiers, write_tiers

    bins = parse_tiers(centres=tiers, width=width, edges=edges)
    setting = Setting(batch, precision, res_scale)
    _validate.integer(threads, "--threads", minimum=1, maximum=1024)
    out_dir = _validate.output_dir(out_dir, "--out-dir")
    _validate.writable_place(out_dir, "--out-dir")
    if device is not None and not device.strip():
        raise InputError("--device must name a device fingerprint (see `gpunet-hub search lut stats`)")
    start = time.perf_counter()
    samples = _samples(samples_path, limit)
    t_load = time.perf_counter()
    _existing_lut(lut)
    with LatencyLUT(lut, readonly=True) as store:
        index = key_index(samples, setting)
        t_index = time.perf_counter()
        fp = pick_device(store, device, threads)
        sums, latency = lut_sums(store, index, fp)
        build = f"gpunet-hub search lut build --lut {lut} --samples {samples_path}" + _lut_flags(res_scale, limit)
        require_complete(sums, latency, index, store, fp, f"measure them with `{build}` (it resumes where it stopped)")
        remedy = (
            f"run or re-run `gpunet-hub search calibrate --lut {lut} --samples {samples_path}"
            f"{_lut_flags(res_scale, None)}` first, or pass --raw for uncalibrated sums"
        )
        predictor = None if raw else load_predictor(store, fp, setting, remedy)
        record = None if raw else store.calibration(fp, setting.precision, setting.batch, setting.res_scale)
        meta = {
            "samples_sha256": samples.sha256,
            "samples_file": str(samples_path),
            "limit": limit,
            "lut_id": store.lut_id,
            "lut_revision": store.revision(fp),
            "device": fp,
            "device_info": store.device(fp),
            **setting.to_dict(),
            "calibration": None if predictor is None else _stored_predictor(predictor.name, record),
            "estimate": "raw LUT sum (uncalibrated)" if predictor is None else _estimate_label(predictor.name),
        }
    estimates = sums if predictor is None else predict_networks(predictor, index, latency, samples.encodings)
    t_est = time.perf_counter()
    summary = write_tiers(out_dir, bins, samples, estimates, sums, meta)
    table = Table(
        title=f"{len(samples):,} networks by {meta['estimate']} (device {fp}; ms, min {estimates.min():.3f}, "
        f"median {float(np.median(estimates)):.3f}, max {estimates.max():.3f})"
    )
    for col in ("tier", "from ms", "to ms", "networks", "file"):
        table.add_column(col, justify="right" if col in ("from ms", "to ms", "networks") else "left")
    for row in summary:
        table.add_row(row["name"], f"{row['lo_ms']:g}", f"{row['hi_ms']:g}", f"{row['count']:,}", row["file"])
    print_wide(table)
    note(
        f"load {t_load - start:.2f} s, key index {t_index - t_load:.2f} s ({len(index.codes):,} keys), "
        f"lookup + estimate {t_est - t_index:.2f} s, total {time.perf_counter() - start:.2f} s"
    )


def _stored_predictor(name: str, record: dict[str, Any] | None) -> dict[str, Any]:
    """What a tier file records of the predictor: a calibration's coefficients, a learned model's recipe."""
    from .calibration import MODELS, Calibration

    coef = dict((record or {}).get("coef") or {})
    if name in MODELS:
        return {"model": name, **Calibration.from_record(name, coef).coef()}
    items = coef.pop("train_items", None) or []
    return {"model": name, **coef, "n_train": len(items)}


def _estimate_label(name: str) -> str:
    from .calibration import MODELS

    return "calibrated LUT sum" if name in MODELS else f"learned predictor ({name})"


def register(app: typer.Typer) -> None:
    """Adds the stage-1 commands to ``gpunet-hub search``."""
    app.command("sample")(sample_cmd)
    lut_app = typer.Typer(help="The per-layer latency look-up table (SQLite).", no_args_is_help=True)
    lut_app.command("build")(lut_build)
    lut_app.command("stats")(lut_stats)
    lut_app.command("export")(lut_export)
    lut_app.command("import")(lut_import)
    app.add_typer(lut_app, name="lut")
    app.command("calibrate")(calibrate_cmd)
    app.command("suggest")(suggest_cmd)
    app.command("tiers")(tiers_cmd)
