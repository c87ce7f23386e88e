"""``gpunet-hub search sample | lut build/stats/export/import | calibrate | tiers`` (pipeline stage 1).

Errors are ``gpunet_hub.errors`` types (the top-level CLI prints them without a traceback: exit 1
for bad input, 2 for the environment). Long steps show a rich progress bar with counts and ETA; every
file is written atomically and carries the fingerprints of its inputs.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Optional

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn
from rich.table import Table

from gpunet_hub._io import atomic_write_text
from gpunet_hub.errors import InputError

from .measure import ProgressFn

if TYPE_CHECKING:
    from .sampling import SampleSet

out = Console()
err = Console(stderr=True)

LUT_OPT = typer.Option(Path("lut.sqlite"), "--lut", help="The SQLite latency LUT.")
SAMPLES_OPT = typer.Option(..., "--samples", help="A sample file (search sample) or a tier file (search tiers).")
RES_OPT = typer.Option(1.0, "--res-scale", help="Measure at round(resolution x this) (e.g. 0.25 for quick CPU LUTs).")
THREADS_OPT = typer.Option(1, "--threads", help="onnxruntime intra-op threads (1 is the steadiest on small CPUs).")


@contextmanager
def _progress(*labels: str) -> Iterator[list[ProgressFn]]:
    """One rich progress display with a bar (count, elapsed, ETA) per label; yields their update callbacks."""
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(), TextColumn("ETA"), TimeRemainingColumn())
    with Progress(*columns, console=err, transient=False) as bar:
        callbacks = []
        for label in labels:
            task = bar.add_task(label, total=None)

            def update(done: int, total: int, task: int = task) -> None:
                bar.update(task, completed=done, total=total)

            callbacks.append(update)
        yield callbacks


def _protocol(warmup: int, runs: int, rounds: int, cv_max: float):  # noqa: ANN202 - TimingProtocol, imported lazily
    from .measure import TimingProtocol

    return TimingProtocol(warmup=warmup, runs=runs, rounds=rounds, cv_max=cv_max)


def _samples(path: Path, limit: int | None) -> SampleSet:
    from .sampling import load_samples

    if not path.is_file():
        raise InputError(f"--samples {path}: no such file; create one with `gpunet-hub search sample --out {path}`")
    if limit is not None and limit < 1:
        raise InputError(f"--limit must be >= 1, got {limit}")
    return load_samples(path).head(limit)


def _existing_lut(path: Path) -> None:
    if not path.is_file():
        raise InputError(f"--lut {path}: no such file; build one with `gpunet-hub search lut build --lut {path} --samples ...`")


def sample_cmd(
    n: int = typer.Option(1_000_000, "--n", help="Sobol points to draw."),
    space: str = typer.Option("table1", "--space", help="Search space: table1 (paper Table 1) or release."),
    seed: int = typer.Option(0, "--seed", help="Scrambling seed."),
    scramble: bool = typer.Option(True, "--scramble/--no-scramble", help="Owen scrambling."),
    output: Path = typer.Option(Path("samples.npz"), "--out", help="Output .npz."),
) -> None:
    """Draw N networks evenly from the 41-integer space (scrambled Sobol), deduplicated."""
    from .sampling import sample, save_samples

    start = time.perf_counter()
    samples = sample(n, space, seed=seed, scramble=scramble)
    save_samples(samples, output)
    out.print(f"{len(samples):,} networks ({samples.meta['duplicates_dropped']} duplicates dropped) of space "
              f"{samples.space!r} (fingerprint {samples.space_fingerprint}) -> {output}  [{time.perf_counter() - start:.2f} s]")


def lut_build(
    samples_path: Path = SAMPLES_OPT,
    lut: Path = LUT_OPT,
    limit: Optional[int] = typer.Option(None, "--limit", help="Only the first N networks (a Sobol prefix)."),
    res_scale: float = RES_OPT,
    batch: int = typer.Option(1, "--batch"),
    precision: str = typer.Option("fp32", "--precision"),
    threads: int = THREADS_OPT,
    workers: int = typer.Option(1, "--workers", min=1, help="Parallel measuring processes (one per GPU; on a small CPU they distort timings)."),
    warmup: int = typer.Option(10, "--warmup"),
    runs: int = typer.Option(100, "--runs", help="Timed runs per round (the round's value is their median)."),
    rounds: int = typer.Option(3, "--rounds", help="Interleaved rounds (the stored value is the min of the round medians)."),
    cv_max: float = typer.Option(0.10, "--cv-max", help="Re-time a round whose robust CV exceeds this."),
    chunk: int = typer.Option(32, "--chunk", help="Layers exported and interleaved together."),
    dry_run: bool = typer.Option(False, "--dry-run", help="Only count the keys to measure."),
) -> None:
    """Measure every layer key of the networks that the LUT lacks (resumes; safe with concurrent builds)."""
    import os

    from .fingerprint import onnxruntime_cpu_device
    from .lut import LatencyLUT
    from .measure import OrtBackend
    from .pipeline import Setting, build_lut, key_index

    samples = _samples(samples_path, limit)
    setting = Setting(batch, precision, res_scale)
    device = onnxruntime_cpu_device(threads)
    if dry_run:
        index = key_index(samples, setting)
        with LatencyLUT(lut) as store:
            done = len(store.done((str(k) for k in index.keys), device.fingerprint))
        out.print(f"{len(samples):,} networks use {len(index.codes):,} distinct layer keys; {done:,} already in {lut}, "
                  f"{len(index.codes) - done:,} to measure on {device.label}")
        return
    cores = os.cpu_count() or 1
    if workers * threads > 1 and cores <= workers * threads:
        err.print(f"[yellow]warning:[/] {workers} worker(s) x {threads} thread(s) on {cores} CPU cores: parallel timings "
                  "compete for the cores and distort the LUT; use --workers 1 for figures you report")
    with _progress("layers") as (tick,):
        result = build_lut(lut, samples, device, OrtBackend(threads=threads), _protocol(warmup, runs, rounds, cv_max), setting,
                           workers=workers, chunk=chunk, progress=tick)
    out.print(f"{result['total']:,} layer keys for {result['networks']:,} networks: {result['already']:,} already measured, "
              f"{result['measured']:,} measured now in {result['seconds']:.1f} s on {device.label} (device {device.fingerprint}) -> {lut}")


def lut_stats(lut: Path = LUT_OPT, as_json: bool = typer.Option(False, "--json", help="Print JSON.")) -> None:
    """Devices, row counts, latency ranges, calibrations and unfinished work of a LUT."""
    from .calibration import Calibration
    from .lut import LatencyLUT

    _existing_lut(lut)
    with LatencyLUT(lut, create=False) as store:
        devices = store.devices()
        groups = store.counts()
        claims, rounds = store.pending()
        calib = {d: store.calibrations(d) for d in devices}
        layer_ms = {d: [r.median_ms for r in store.rows(d, kind="layer")] for d in devices}
    report = {"lut": str(lut), "lut_id": store.lut_id, "pending_claims": claims, "pending_rounds": rounds, "devices": []}
    for fp, info in devices.items():
        values = sorted(layer_ms[fp])
        report["devices"].append({
            "fingerprint": fp, "label": f"{info.get('backend')} {info.get('backend_version')} x{info.get('threads')} on {info.get('device')}",
            "revision": info.get("revision"),
            "rows": {f"{k} {p} b{b}": n for d, k, p, b, n in groups if d == fp},
            "layer_ms": {"min": values[0], "median": values[len(values) // 2], "max": values[-1]} if values else None,
            "calibrations": [{k: c[k] for k in ("model", "coef", "res_scale", "precision", "batch", "created")}
                             | {"held_out": c["metrics"].get("calibrated")} for c in calib[fp] if c],
        })
    if as_json:
        sys.stdout.write(json.dumps(report, indent=2) + "\n")
        return
    table = Table(title=f"LUT {lut} (id {store.lut_id})")
    for col in ("device", "what", "rows", "layer ms (min/median/max)", "calibration"):
        table.add_column(col)
    for d in report["devices"]:
        ms = d["layer_ms"]
        cal = "; ".join(
            f"res x{c['res_scale']:g}: {Calibration.from_record(c['model'], c['coef']).describe()}"
            + (f" (held-out MAPE {c['held_out']['mape']:.1%})" if c["held_out"] else "")
            for c in d["calibrations"]
        )
        table.add_row(f"{d['fingerprint']}\n{d['label']}", "\n".join(d["rows"]), "\n".join(f"{n:,}" for n in d["rows"].values()),
                      f"{ms['min']:.4f} / {ms['median']:.4f} / {ms['max']:.3f}" if ms else "-", cal or "none")
    out.print(table)
    if claims or rounds:
        out.print(f"unfinished work: {claims} claimed item(s), {rounds} committed round(s) (a running build, or a killed one: re-run to resume)")


def lut_export(lut: Path = LUT_OPT, output: Path = typer.Option(..., "--out", help="JSON file to write."),
               device: Optional[str] = typer.Option(None, "--device", help="Only this device fingerprint.")) -> None:
    """Export finished LUT rows (and their devices) as JSON for sharing."""
    from .lut import LatencyLUT

    _existing_lut(lut)
    with LatencyLUT(lut, create=False) as store:
        if device:
            store.device(device)
        count = store.export_json(output, device)
    out.print(f"{count:,} rows -> {output}")


def lut_import(lut: Path = LUT_OPT, source: Path = typer.Option(..., "--file", help="JSON written by lut export."),
               replace: bool = typer.Option(False, "--replace", help="Overwrite existing rows (makes calibrations stale).")) -> None:
    """Import rows exported from another LUT (existing rows win unless --replace)."""
    from .lut import LatencyLUT

    with LatencyLUT(lut) as store:
        added, skipped = store.import_json(source, replace=replace)
    out.print(f"{added:,} rows imported, {skipped:,} already present -> {lut}")


def calibrate_cmd(
    samples_path: Path = SAMPLES_OPT,
    lut: Path = LUT_OPT,
    nets: int = typer.Option(40, "--nets", help="Networks (the first N of the file) to measure whole."),
    res_scale: float = RES_OPT,
    model: str = typer.Option("linear+weights", "--model", help="linear+weights | linear | scale | linear+layers | linear+weights+layers."),
    train_fraction: float = typer.Option(0.5, "--train-fraction", help="Share of the networks the fit sees; the rest is held out."),
    seed: int = typer.Option(0, "--seed", help="Seed of the train/held-out split."),
    threads: int = THREADS_OPT,
    warmup: int = typer.Option(10, "--warmup"),
    runs: int = typer.Option(100, "--runs"),
    rounds: int = typer.Option(3, "--rounds"),
    cv_max: float = typer.Option(0.10, "--cv-max"),
    report_path: Optional[Path] = typer.Option(None, "--report", help="Also write the report as JSON."),
) -> None:
    """Measure networks whole, fit LUT-sum -> latency on a split, store the calibration for this device."""
    from .fingerprint import onnxruntime_cpu_device
    from .measure import OrtBackend
    from .pipeline import Setting, calibrate

    samples = _samples(samples_path, nets)
    if len(samples) < nets:
        raise InputError(f"{samples_path} has {len(samples)} networks, fewer than --nets {nets}")
    device = onnxruntime_cpu_device(threads)
    with _progress("layers", "networks") as (tick_layers, tick_nets):
        calibration, report = calibrate(lut, samples, device, OrtBackend(threads=threads), _protocol(warmup, runs, rounds, cv_max),
                                        Setting(1, "fp32", res_scale), model=model, train_fraction=train_fraction, seed=seed,
                                        progress_layers=tick_layers, progress_nets=tick_nets)
    table = Table(title=f"calibration {calibration.describe()} on {device.label} (device {device.fingerprint})")
    for col in ("estimate", "n", "Spearman", "Kendall", "MAPE", "+/-5%", "+/-10%", "RMSE ms"):
        table.add_column(col, justify="right")
    for name in ("raw", "calibrated"):
        m = report[name]
        table.add_row(f"{name} (held-out)", str(m["n"]), f"{m['spearman']:.3f}", f"{m['kendall']:.3f}", f"{m['mape']:.1%}",
                      f"{m['acc5']:.0%}", f"{m['acc10']:.0%}", f"{m['rmse_ms']:.3f}")
    out.print(table)
    bias = report["bias"]
    out.print(f"raw bias sum/measured: mean {bias['mean']:.3f} (min {bias['min']:.3f}, max {bias['max']:.3f}); stored in {lut}")
    if report_path:
        atomic_write_text(report_path, json.dumps(report, indent=2) + "\n")


def tiers_cmd(
    samples_path: Path = SAMPLES_OPT,
    lut: Path = LUT_OPT,
    tiers: Optional[str] = typer.Option(None, "--tiers", help="Tier centres in ms, e.g. 0.5,0.65,0.85,1.25,1.75."),
    width: str = typer.Option("10%", "--width", help="Half-width of centre tiers: 10% (relative) or 0.05 (ms)."),
    edges: Optional[str] = typer.Option(None, "--edges", help="Tier edges in ms instead of centres, e.g. 5,10,20,40."),
    out_dir: Path = typer.Option(Path("tiers"), "--out-dir", help="Folder for the tier files."),
    limit: Optional[int] = typer.Option(None, "--limit", help="Only the first N networks."),
    res_scale: float = RES_OPT,
    batch: int = typer.Option(1, "--batch"),
    precision: str = typer.Option("fp32", "--precision"),
    device: Optional[str] = typer.Option(None, "--device", help="Device fingerprint (default: this machine's, or the LUT's only one)."),
    threads: int = THREADS_OPT,
    raw: bool = typer.Option(False, "--raw", help="Bin uncalibrated LUT sums (labelled so in the files)."),
) -> None:
    """Estimate every network (calibrated LUT sum) and write one file per latency tier."""
    import numpy as np

    from .lut import LatencyLUT
    from .pipeline import Setting, key_index, load_calibration, lut_sums, pick_device, require_complete
    from .tiers import parse_tiers, write_tiers

    bins = parse_tiers(centres=tiers, width=width, edges=edges)
    setting = Setting(batch, precision, res_scale)
    start = time.perf_counter()
    samples = _samples(samples_path, limit)
    t_load = time.perf_counter()
    index = key_index(samples, setting)
    t_index = time.perf_counter()
    _existing_lut(lut)
    with LatencyLUT(lut, create=False) as store:
        fp = pick_device(store, device, threads)
        sums, latency = lut_sums(store, index, fp)
        build = f"gpunet-hub search lut build --lut {lut} --samples {samples_path}" + (f" --limit {limit}" if limit else "")
        require_complete(sums, latency, index, store, fp, f"measure them with `{build}` (it resumes where it stopped)")
        remedy = f"run or re-run `gpunet-hub search calibrate` with --lut {lut} first, or pass --raw for uncalibrated sums"
        calibration = None if raw else load_calibration(store, fp, setting, remedy)
        meta = {"samples_sha256": samples.sha256, "samples_file": str(samples_path), "limit": limit, "lut_id": store.lut_id,
                "lut_revision": store.revision(fp), "device": fp, "device_info": store.device(fp), **setting.to_dict(),
                "calibration": None if calibration is None else {"model": calibration.model, **calibration.coef()},
                "estimate": "raw LUT sum (uncalibrated)" if raw else "calibrated LUT sum"}
    estimates = sums if calibration is None else calibration.apply(sums, index.num_layers, index.params_m)
    t_est = time.perf_counter()
    summary = write_tiers(out_dir, bins, samples, estimates, sums, meta)
    table = Table(title=f"{len(samples):,} networks by {meta['estimate']} (device {fp}; ms, min {estimates.min():.3f}, "
                        f"median {float(np.median(estimates)):.3f}, max {estimates.max():.3f})")
    for col in ("tier", "from ms", "to ms", "networks", "file"):
        table.add_column(col, justify="right" if col in ("from ms", "to ms", "networks") else "left")
    for row in summary:
        table.add_row(row["name"], f"{row['lo_ms']:g}", f"{row['hi_ms']:g}", f"{row['count']:,}", row["file"])
    out.print(table)
    out.print(f"load {t_load - start:.2f} s, key index {t_index - t_load:.2f} s ({len(index.codes):,} keys), "
              f"lookup + estimate {t_est - t_index:.2f} s, total {time.perf_counter() - start:.2f} s")


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
    app.command("tiers")(tiers_cmd)
