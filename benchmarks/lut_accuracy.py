"""How well is whole-network latency predicted, next to the noise floor of the machine? (issues 4 and 14)

On this machine with onnxruntime CPU (1 thread, ORT_ENABLE_ALL), at a reduced resolution so it runs
in minutes, for each of two seeds: draw N Sobol networks from the paper's Table 1 space, build the
per-layer LUT for them (interleaved rounds, min of the round medians, CV guard, ``--layer-passes``
independent passes), measure every network whole with the adaptive protocol (more rounds while the
lowest rounds disagree), split the networks in half (train, held-out) and measure the held-out half
whole again (the retest: the noise floor). Report, on the held-out half, Spearman, Kendall, MAPE,
+/-5 % / +/-10 % and RMSE of the raw sum, every calibration, every learned predictor (``ridge``,
``gbr``, ``rf``, ``mlp``) and ``auto`` (the one with the lowest cross-validated error on the
networks it is fitted on), beside the retest of the same networks. The predictors are fitted as
``calibrate`` fits them by default: on the seed's train half and every other network the LUT holds
at that resolution scale (the other seeds' networks; every seed is measured before any is analysed)
except the other seeds' held-out halves: no held-out network trains a model that is compared or
chosen; each earlier measuring run is brought to the level of the seed's own (``sessions``).
``predictors_this_seed_only`` gives the fits on the train half alone (``calibrate --sample-only``),
``predictors_pooled_unaligned`` a few on the pool without that alignment.
With two layer passes, every predictor is also evaluated (on the train half alone) on the LUT of the
first pass only (``one_layer_pass``), and the passes' layer values and network sums are compared.

The default predictor is chosen on the first seed (lowest held-out MAPE) and reported on the second.
Goal: at the noise floor: held-out MAPE <= the retest's, +/-10 % >= the retest's, Spearman within
0.01 of the retest's, on both seeds. The same goal is checked for ``calibrate``'s own default,
``auto`` (each seed's model picked by cross-validation on the networks it is fitted on). The
retest is given twice: with the fixed protocol (the first ``--rounds`` rounds of the same
measurements) and with the adaptive one; ``net_pass_spread`` says how far a network's passes (each a
fresh session at another time) disagree. The cost of tiering a million networks with each predictor
is timed beside the LUT sum's (``--raw``), as a user meets it: ``gpunet-hub search tiers`` in a fresh
process per run (``lut_throughput.million_tiering``; placeholder LUT rows). ``--full-nets K``
adds a small run at full resolution (x1.0) on K networks of each of ``--full-seeds`` (``--full-net-passes``
passes over them, by default ``--net-passes``); with two seeds, the x1.0 default is chosen on the first
and reported on the second. Every predictor is also scored against each held-out network's geometric
mean of measurement and retest (``held_out_vs_both``), next to the measurement's own error against it:
what is left of a predictor's error once the noise of the measurement it is scored against is set apart.

Run it alone (other engineers time on this machine too)::

    flock /tmp/gpunet-timing.lock python benchmarks/lut_accuracy.py --lut /tmp/lut-accuracy.sqlite

The measurements stay in the ``--lut`` file (with a ``.timing.json`` beside it recording how long
each step took and the load average around it), so re-running with the same file only re-analyses.
Writes ``benchmarks/results/lut_accuracy.json`` and ``lut_accuracy.png``; prints tables.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from gpunet_hub._io import atomic_path, atomic_write_text
from gpunet_search.latency.calibration import accuracy_metrics, raw_bias, split
from gpunet_search.latency.features import NetworkFeatures, network_features
from gpunet_search.latency.fingerprint import onnxruntime_cpu_device, software_versions
from gpunet_search.latency.lut import LatencyLUT
from gpunet_search.latency.measure import LayerTimer, TimingProtocol
from gpunet_search.latency.pipeline import Setting, build_lut, key_index, measure_networks, network_items
from gpunet_search.latency.predictor import PREDICTORS, cross_validate, make_predictor, select
from gpunet_search.latency.predictor_store import features_of, stored_training_set
from gpunet_search.latency.sampling import sample
from gpunet_search.latency.sessions import align_stored
from lut_throughput import million_tiering  # a sibling script: python puts benchmarks/ on the path

RESULTS = Path(__file__).parent / "results"
LOAD_LIMIT = 1.5  # above this 1-minute load average the machine was not quiet during a step
CANDIDATES = (*PREDICTORS, "auto")
UNALIGNED_CANDIDATES = ("linear+weights", "ridge", "gbr", "auto")


def _work_done(lut_path: Path, items: list[str], kind: str) -> tuple[int, int]:
    """(finished items, passes taken over them): a step that changes it measured something."""
    if not lut_path.exists():
        return 0, 0
    with LatencyLUT(lut_path, readonly=True) as lut:
        passes = lut.passes_done(items, onnxruntime_cpu_device(1).fingerprint, kind=kind)
    return len(passes), sum(passes.values())


def _timed(log_path: Path, step: str, action, work) -> Any:
    """Runs a measuring step and, when it measured anything (``work()`` changed), records its duration, the
    load average around it and what it added: under ``step`` the first time, then ``step:2``, ``step:3``
    (a later run adding passes), so every measurement behind a figure has its load recorded."""
    log = json.loads(log_path.read_text()) if log_path.exists() else {}
    work_before, load_before = work(), os.getloadavg()
    start = time.perf_counter()
    result = action()
    work_after = work()
    if work_after != work_before or not log.get(step):
        key = step if step not in log else f"{step}:{sum(k.split(':')[:2] == step.split(':') for k in log) + 1}"
        log[key] = {"seconds": round(time.perf_counter() - start, 1), "loadavg_before": load_before,
                    "loadavg_after": os.getloadavg(),
                    "added": {"items": work_after[0] - work_before[0], "passes": work_after[1] - work_before[1]}}
        atomic_write_text(log_path, json.dumps(log, indent=1) + "\n")
    return result


def _fixed_protocol_values(lut: LatencyLUT, items: list[str], device: str, rounds: int, fallback: np.ndarray) -> np.ndarray:
    """Each item's value under the fixed protocol: the min of its first ``rounds`` round medians."""
    history = lut.round_history(items, device, kind="net")
    return np.array([min(history[i][:rounds]) if i in history else f for i, f in zip(items, fallback, strict=True)])


def _layer_passes(lut: LatencyLUT, samples, setting: Setting, device: str) -> tuple[list, dict[str, Any] | None]:
    """Per pass, the features with each layer's value from that pass only, and how the passes' layer values
    agree (None for both when some layer has a single pass)."""
    index = setting.index(samples.encodings, "table1")
    items = [str(k) for k in index.keys]
    per_pass = lut.pass_values(items, device)
    if any(len(per_pass.get(i, [])) < 2 for i in items):
        return [], None
    first, second = (np.array([per_pass[i][p] for i in items]) for p in (0, 1))
    ratio = second / first
    agreement = {"keys": len(items), "share_over_10pct": float(np.mean(np.abs(np.log(ratio)) > np.log(1.1))),
                 "ratio_pass2_over_pass1_pct": dict(zip(("p1", "p5", "p50", "p95", "p99"),
                                                       np.percentile(ratio, [1, 5, 50, 95, 99]).round(3).tolist(), strict=True)),
                 "ratio_extremes": [float(ratio.min()), float(ratio.max())]}
    return [network_features(index, values, samples.encodings) for values in (first, second)], agreement


def _evaluate(names, features, measured, train, test, seed: int,
              both: np.ndarray | None = None) -> dict[str, dict[str, Any]]:
    """Each predictor fitted on ``train`` and scored on ``test``; with ``both`` (the held-out networks'
    geometric mean of measurement and retest) also against that (``held_out_vs_both``)."""
    out: dict[str, dict[str, Any]] = {}
    tr_x, tr_y, te_x = features.take(train), measured[train], features.take(test)
    cv = cross_validate(PREDICTORS, tr_x, tr_y, k=5, seed=seed)
    for name in names:
        chosen = select(cv) if name == "auto" else name
        start = time.perf_counter()
        model = make_predictor(chosen, seed).fit(tr_x, tr_y)
        fit_s = time.perf_counter() - start
        predicted = model.predict(te_x)
        out[name] = {"model": chosen, "describe": model.describe(), "fit_seconds": round(fit_s, 3),
                     "held_out": accuracy_metrics(predicted, measured[test]),
                     "cv_train": cv.get(chosen)}
        if both is not None:
            out[name]["held_out_vs_both"] = accuracy_metrics(predicted, both)
    return out


def _pass_spread(per_pass: dict[str, list[float]]) -> dict[str, Any] | None:
    """How far a network's passes (each a fresh session, at another time) disagree: its largest pass value
    over its smallest, over the networks (and retests) with more than one pass."""
    ratios = np.array([max(v) / min(v) for v in per_pass.values() if len(v) > 1])
    if not len(ratios):
        return None
    return {"what": "per network (and retest), its largest pass value over its smallest; the network's value is the "
                    "smallest (each pass is a fresh session at another time, its value the min of its rounds)",
            "networks": len(ratios), "passes": sorted({len(v) for v in per_pass.values() if len(v) > 1}),
            "median": float(np.median(ratios)), "p90": float(np.percentile(ratios, 90)), "max": float(ratios.max()),
            "share_over_1.05": float(np.mean(ratios > 1.05))}


def _seed_samples(seed: int, nets: int):
    """A seed's networks and its held-out half (the half the retest and every predictor are compared on)."""
    samples = sample(nets, "table1", seed=seed)
    train, test = split(len(samples), 0.5, seed=0)
    return samples, train, test, dataclasses.replace(samples, encodings=samples.encodings[test])


def measure_seed(lut_path: Path, log_path: Path, seed: int, setting: Setting, nets: int, protocols):
    """Measures (or finds measured) one seed's layers, networks and the retest of its held-out half."""
    layer_protocol, net_protocol = protocols
    device, backend = onnxruntime_cpu_device(1), LayerTimer(threads=1)
    samples, _, _, held_out = _seed_samples(seed, nets)
    tag = f"x{setting.res_scale:g}-seed{seed}"
    layer_items = [str(k) for k in key_index(samples, setting).keys]
    net_items, retest_items = network_items(samples, setting), network_items(held_out, setting, "retest")
    built = _timed(log_path, f"{tag}:layers", lambda: build_lut(lut_path, samples, device, backend, layer_protocol, setting),
                   lambda: _work_done(lut_path, layer_items, "layer"))
    measured = _timed(log_path, f"{tag}:networks", lambda: measure_networks(lut_path, samples, device, backend, net_protocol, setting),
                      lambda: _work_done(lut_path, net_items, "net"))
    retest = _timed(log_path, f"{tag}:retest", lambda: measure_networks(lut_path, held_out, device, backend, net_protocol, setting, tag="retest"),
                    lambda: _work_done(lut_path, retest_items, "net"))
    return built, measured, retest


def _with_stored(lut: LatencyLUT, device: str, setting: Setting, items: list[str], features, measured, train,
                 held_out_elsewhere: frozenset[str], align: bool = True):
    """The seed's networks followed by every other network stored in the LUT at this setting (what
    ``calibrate`` fits on by default) except the held-out halves of the other seeds of this run, so that
    no held-out network trains a model that is compared or chosen: features, measured values (the stored
    ones brought to the level of this seed's measuring run, as ``calibrate`` does, unless ``align`` is
    False), the train rows (the seed's train half and all the others; the seed's rows keep their
    positions) and the alignment (None without stored networks)."""
    stored = stored_training_set(lut, device, "table1", setting, set(items) | held_out_elsewhere)
    if stored.features is None:
        return (features, measured, train), None
    rows = np.concatenate([train, np.arange(len(items), len(items) + len(stored.items))])
    all_features = NetworkFeatures(np.vstack([features.values, stored.features.values]))
    all_measured = np.concatenate([measured, stored.measured])
    alignment = None
    if align:
        alignment = align_stored(features.take(train), measured[train], stored)
        all_measured[rows] = all_measured[rows] / alignment.divisors
    return (all_features, all_measured, rows), alignment


def held_out_items(seed: int, setting: Setting, nets: int) -> frozenset[str]:
    """The LUT items of one seed's held-out networks."""
    return frozenset(network_items(_seed_samples(seed, nets)[3], setting))


def run_seed(lut_path: Path, log_path: Path, seed: int, setting: Setting, nets: int, protocols, measurements,
             held_out_elsewhere: frozenset[str] = frozenset()) -> dict[str, Any]:
    """Evaluates every predictor on one seed's held-out half, given its :func:`measure_seed` results."""
    net_protocol = protocols[1]
    built, measured, retest = measurements
    samples, train, test, held_out = _seed_samples(seed, nets)
    tag = f"x{setting.res_scale:g}-seed{seed}"
    fp = onnxruntime_cpu_device(1).fingerprint
    with LatencyLUT(lut_path) as lut:
        features = features_of(lut, samples.encodings, "table1", setting, fp)
        items, retest_items = network_items(samples, setting), network_items(held_out, setting, "retest")
        fixed = _fixed_protocol_values(lut, items, fp, net_protocol.rounds, measured)
        fixed_retest = _fixed_protocol_values(lut, retest_items, fp, net_protocol.rounds, retest)
        pass_features, layer_agreement = _layer_passes(lut, samples, setting, fp)
        pooled, alignment = _with_stored(lut, fp, setting, items, features, measured, train, held_out_elsewhere)
        unaligned, _ = _with_stored(lut, fp, setting, items, features, measured, train, held_out_elsewhere, align=False)
        rows_by_item = {r.item: r for r in lut.rows(fp, kind="net")}
        layer_rows = list(lut.rows(fp, kind="layer"))
        net_passes = lut.pass_values(items + retest_items, fp, kind="net")
    rounds_taken = np.array([rows_by_item[i].rounds for i in items + retest_items])
    sums = features.column("lut_sum_ms")
    one_pass = None
    if pass_features:  # the same analysis on a LUT of the first pass alone
        first_pass, second_pass = pass_features
        one_pass = {
            "what": "every predictor again, with each layer's value from its first pass only (a one-pass LUT), "
                    "fitted on this seed's train half only (compare with predictors_this_seed_only)",
            "layer_values_pass2_vs_pass1": layer_agreement,
            "lut_sum_pass2_vs_pass1": accuracy_metrics(second_pass.column("lut_sum_ms"), first_pass.column("lut_sum_ms")),
            "held_out": {n: p["held_out"] for n, p in _evaluate(CANDIDATES, first_pass, measured, train, test, seed).items()},
        }
    retest_of = dict(zip(test.tolist(), zip(retest.tolist(), fixed_retest.tolist(), strict=True), strict=True))
    both = np.sqrt(measured[test] * retest)  # the best estimate of each held-out network's latency
    predictors = _evaluate(CANDIDATES, *pooled, test, seed, both)
    steps = json.loads(log_path.read_text())
    return {
        "seed": seed, "nets": len(samples), "res_scale": setting.res_scale, "n_train": len(pooled[2]), "n_test": len(test),
        "n_train_this_seed": len(train),
        "train": "this seed's train half and every other network stored in the LUT at this resolution scale "
                 "(other seeds' networks, measured before or after: what calibrate fits on by default) except the held-out "
                 "halves of the other seeds of this run: no held-out network trains anything; each earlier measuring "
                 "run brought to the level of this seed's (sessions)",
        "n_train_other_seeds": len(pooled[2]) - len(train),
        "resolutions": sorted({round(r * setting.res_scale) for r in samples.encodings[:, 0].tolist()}),
        "layer_keys": built["total"],
        "layer_spread_over_rounds_median": float(np.median([r.spread_ms / r.median_ms for r in layer_rows])),
        "steps": {k: v for k, v in steps.items() if k.startswith(tag)},
        "bias_sum_over_measured": raw_bias(sums, measured),
        "raw_held_out": accuracy_metrics(sums[test], measured[test]),
        "predictors": predictors,
        "predictors_this_seed_only": {n: {"model": p["model"], "held_out": p["held_out"]} for n, p in
                                      _evaluate(CANDIDATES, features, measured, train, test, seed).items()},
        "sessions": alignment.summary() if alignment else None,
        "predictors_pooled_unaligned": {
            "what": "the same pool without bringing the earlier measuring runs to this seed's level",
            **{n: {"model": p["model"], "held_out": p["held_out"]} for n, p in
               _evaluate(UNALIGNED_CANDIDATES, *unaligned, test, seed).items()}},
        "one_layer_pass": one_pass,
        "retest_held_out": accuracy_metrics(retest, measured[test]),
        "held_out_vs_both": {
            "what": "against the geometric mean of the measurement and the retest of each held-out network (its best "
                    "estimate): a predictor's held_out_vs_both, next to the measurement's own, separates its error "
                    "from the noise of the measurement it is scored against (each predictor's is in `predictors`)",
            "measurement": accuracy_metrics(measured[test], both)},
        # A whole step run slower or faster (a busy host: the load average inside this machine does not show it)
        # moves every retest alike; scatter alone keeps this near 1.
        "retest_over_measured_median": float(np.median(retest / measured[test])),
        "retest_held_out_fixed_protocol": accuracy_metrics(fixed_retest, fixed[test]),
        "net_pass_spread": _pass_spread(net_passes),
        "adaptive_rounds": {"min": int(rounds_taken.min()), "median": float(np.median(rounds_taken)),
                            "max": int(rounds_taken.max()), "mean": float(rounds_taken.mean()),
                            "share_extended": float((rounds_taken > net_protocol.rounds).mean())},
        "per_network": [{"encoding": e, "sum_ms": float(s), "measured_ms": float(m), "fixed_ms": float(f),
                         "held_out": i in retest_of, "retest_ms": retest_of.get(i, (None,))[0],
                         "fixed_retest_ms": retest_of.get(i, (None, None))[1]}
                        for i, (e, s, m, f) in enumerate(zip(samples.encodings.tolist(), sums, measured, fixed, strict=True))],
        "_arrays": (*pooled, test),
    }


def goal(pred: dict[str, float], retest: dict[str, float]) -> dict[str, bool]:
    """The issue's goal: at the noise floor of this machine (held-out, against the retest of the same networks)."""
    return {"mape <= retest": pred["mape"] <= retest["mape"], "acc10 >= retest": pred["acc10"] >= retest["acc10"],
            "spearman >= retest - 0.01": pred["spearman"] >= retest["spearman"] - 0.01}


def _goals(reports: list[dict[str, Any]]) -> tuple[str, dict[str, dict[str, bool]], dict[str, dict[str, bool]]]:
    """The default predictor (lowest held-out MAPE on the first seed), its goal on every seed, and the goal of
    ``calibrate``'s own default, ``auto`` (its model picked per seed by cross-validation on the networks it is
    fitted on), on every seed."""
    first = reports[0]["predictors"]
    default = min(PREDICTORS, key=lambda n: (first[n]["held_out"]["mape"], PREDICTORS.index(n)))
    return (default,
            {f"seed {r['seed']}": goal(r["predictors"][default]["held_out"], r["retest_held_out"]) for r in reports},
            {f"seed {r['seed']}": goal(r["predictors"]["auto"]["held_out"], r["retest_held_out"]) for r in reports})


def _full_goals(reports: list[dict[str, Any]]) -> dict[str, Any]:
    """The goals at full resolution (:func:`_goals` on the x1.0 seeds; with one seed, chosen and reported on it)."""
    default, goals, auto_goals = _goals(reports)
    return {"default_predictor": {"model": default, "chosen_on": f"seed {reports[0]['seed']}, lowest held-out MAPE",
                                  "reported_on": ", ".join(f"seed {r['seed']}" for r in reports[1:]) or None,
                                  "goal": goals},
            "calibrate_default": {"model": "auto", "chose": {f"seed {r['seed']}": r["predictors"]["auto"]["model"]
                                                               for r in reports},
                                  "goal": auto_goals}}


def _stored(report: dict[str, Any]) -> dict[str, Any]:
    """A seed's report as the results file holds it (without the arrays kept for the plot)."""
    return {k: v for k, v in report.items() if k != "_arrays"}


def _row(name: str, m: dict) -> str:
    return (f"{name:<46} {m['n']:>4} {m['spearman']:>8.3f} {m['kendall']:>8.3f} {m['mape']:>7.1%} "
            f"{m['acc5']:>7.0%} {m['acc10']:>7.0%} {m['rmse_ms']:>8.3f}")


def _print_seed(report: dict[str, Any], role: str) -> None:
    print(f"\nseed {report['seed']} ({role}): {report['nets']} nets, res x{report['res_scale']:g}, "
          f"{report['n_train']} train / {report['n_test']} held-out, {report['layer_keys']} layer keys")
    for step, v in report["steps"].items():
        added = f" (added {v['added']['items']} items, {v['added']['passes']} passes)" if "added" in v else ""
        print(f"  {step}: {v['seconds']:.0f} s{added}, load {v['loadavg_before'][0]:.2f} -> {v['loadavg_after'][0]:.2f}")
    levels = (report.get("sessions") or {}).get("levels") or {}
    if levels:
        print("  earlier measuring runs, level over this seed's: " + ", ".join(f"{v:.3f}" for v in levels.values()))
    print(f"{'held-out':<46} {'n':>4} {'Spearman':>8} {'Kendall':>8} {'MAPE':>7} {'+/-5%':>7} {'+/-10%':>7} {'RMSE ms':>8}")
    print(_row("raw LUT sum", report["raw_held_out"]))
    for name, p in report["predictors"].items():
        print(_row(name + (f" (-> {p['model']})" if name == "auto" else ""), p["held_out"]))
    for name, p in report["predictors_pooled_unaligned"].items():
        if name != "what":
            print(_row(f"{name} (-> {p['model']}), pool not aligned" if name == "auto" else
                       f"{name}, pool not aligned", p["held_out"]))
    for name, p in report["predictors_this_seed_only"].items():
        print(_row(f"{name} (-> {p['model']}), this seed's train half only" if name == "auto" else
                   f"{name}, this seed's train half only", p["held_out"]))
    if report.get("one_layer_pass"):
        one = report["one_layer_pass"]
        print(_row("LUT sums: second layer pass vs first", one["lut_sum_pass2_vs_pass1"]))
        for name, metrics in one["held_out"].items():
            print(_row(f"{name}, first layer pass only", metrics))
    print(_row("retest, adaptive protocol", report["retest_held_out"]))
    print(f"  (retest / first measurement, median: {report['retest_over_measured_median']:.3f})")
    print(_row("retest, fixed protocol (first rounds)", report["retest_held_out_fixed_protocol"]))
    auto = report["predictors"]["auto"]
    print(_row("measurement vs the mean of measurement and retest", report["held_out_vs_both"]["measurement"]))
    print(_row(f"auto (-> {auto['model']}) vs the mean of measurement and retest", auto["held_out_vs_both"]))
    spread = report.get("net_pass_spread")
    if spread:
        print(f"  passes of a network ({spread['passes']}), largest over smallest: median {spread['median']:.3f}, "
              f"p90 {spread['p90']:.3f}, max {spread['max']:.3f}, {spread['share_over_1.05']:.0%} over 1.05")


def _print_goals(goals: dict[str, dict[str, bool]], chose: dict[str, str] | None = None) -> None:
    for seed, checks in goals.items():
        label = f"{seed} (-> {chose[seed]})" if chose else seed
        print(f"  {label}: " + ", ".join(f"{'PASS' if ok else 'FAIL'} {name}" for name, ok in checks.items()))


def _plot(path: Path, seeds: list[dict[str, Any]], default: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(seeds), figsize=(6 * len(seeds), 5), squeeze=False)
    for ax, rep in zip(axes[0], seeds, strict=False):
        features, measured, train, test = rep["_arrays"]
        sums = features.column("lut_sum_ms")
        model = make_predictor(default, rep["seed"]).fit(features.take(train), measured[train])
        pred = model.predict(features.take(test))
        retest = np.array([p["retest_ms"] for p in rep["per_network"] if p["held_out"]])
        y = measured[test]
        for label, values, marker in (("raw LUT sum", sums[test], "x"), (f"{default}", pred, "o"), ("retest", retest, "+")):
            ax.scatter(y, values / y, s=16, marker=marker, label=label)
        ax.axhline(1.0, color="k", lw=0.8)
        for band in (0.9, 1.1):
            ax.axhline(band, color="grey", lw=0.8, ls=":")
        ax.set_xscale("log")
        ax.set_xlabel("measured whole network (ms)")
        ax.set_ylabel("prediction / measured")
        ax.set_title(f"seed {rep['seed']}: {rep['n_test']} held-out nets, res x{rep['res_scale']:g}", fontsize=9)
        ax.legend(fontsize=8)
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=110)
    plt.close(fig)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--nets", type=int, default=64, help="Sobol networks per seed (half held out; >= 64 for the issue).")
    parser.add_argument("--res-scale", type=float, default=0.25, help="Resolution scale (Table 1's 224-512 -> 56-128 px).")
    parser.add_argument("--seeds", type=int, nargs=2, default=[11, 12], help="Selection seed, then report seed.")
    parser.add_argument("--runs", type=int, default=100, help="Timed runs per round of a layer.")
    parser.add_argument("--net-runs", type=int, default=30, help="Timed runs per round of a whole network.")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--spread-max", type=float, default=0.02, help="Adaptive protocol bound for whole networks.")
    parser.add_argument("--max-rounds", type=int, default=6)
    parser.add_argument("--layer-passes", type=int, default=2, help="Independent passes over the LUT's layers.")
    parser.add_argument("--net-passes", type=int, default=1, help="Independent passes over the whole networks.")
    parser.add_argument("--full-net-passes", type=int, default=None,
                        help="Passes over the x1.0 networks (default: --net-passes; each pass at x1.0 takes minutes).")
    parser.add_argument("--full-nets", type=int, default=0, help="Also K networks at full resolution (x1.0).")
    parser.add_argument("--full-seeds", "--full-seed", type=int, nargs="+", default=None,
                        help="Seeds of the x1.0 networks (default: the selection seed); with two, the x1.0 default is "
                             "chosen on the first and reported on the second, as at --res-scale.")
    parser.add_argument("--full-runs", type=int, default=10, help="Timed runs per round at x1.0 (layers and networks).")
    parser.add_argument("--million", type=int, default=1_000_000, help="Networks of the cost measurement.")
    parser.add_argument("--lut", type=Path, default=None, help="LUT file (default: a fresh temporary one).")
    parser.add_argument("--out", type=Path, default=RESULTS / "lut_accuracy.json")
    args = parser.parse_args(argv)

    load_before = os.getloadavg()
    lut_path = args.lut or Path(tempfile.mkdtemp(prefix="lut-accuracy-")) / "lut.sqlite"
    log_path = lut_path.with_name(lut_path.name + ".timing.json")
    layer_protocol = TimingProtocol(warmup=10, runs=args.runs, rounds=args.rounds, cv_max=0.10, passes=args.layer_passes)
    net_protocol = TimingProtocol(warmup=5, runs=args.net_runs, rounds=args.rounds, cv_max=0.10,
                                  spread_max=args.spread_max, max_rounds=args.max_rounds, passes=args.net_passes)
    setting = Setting(1, "fp32", args.res_scale)
    # Every seed is measured before any is analysed, so each fit sees the same stored networks.
    measurements = {s: measure_seed(lut_path, log_path, s, setting, args.nets, (layer_protocol, net_protocol))
                    for s in args.seeds}
    held_out = {s: held_out_items(s, setting, args.nets) for s in args.seeds}
    select_rep, report_rep = (run_seed(lut_path, log_path, s, setting, args.nets, (layer_protocol, net_protocol),
                                       measurements[s],
                                       frozenset().union(*(v for k, v in held_out.items() if k != s)))
                              for s in args.seeds)
    # `calibrate`'s own default is `auto` (the lowest cross-validated MAPE on the networks it is given),
    # so the goal is also checked for that rule, not only for the model the first seed picked.
    default, goals, auto_goals = _goals([select_rep, report_rep])
    full: list[dict[str, Any]] = []
    if args.full_nets:
        full_setting = Setting(1, "fp32", 1.0)
        full_protocols = (TimingProtocol(warmup=3, runs=args.full_runs, rounds=args.rounds, cv_max=0.10,
                                         passes=args.layer_passes),
                          TimingProtocol(warmup=2, runs=args.full_runs, rounds=args.rounds, cv_max=0.10,
                                         spread_max=args.spread_max, max_rounds=args.max_rounds,
                                         passes=args.net_passes if args.full_net_passes is None else args.full_net_passes))
        full_seeds = list(dict.fromkeys(args.full_seeds or [args.seeds[0]]))
        full_measured = {s: measure_seed(lut_path, log_path, s, full_setting, args.full_nets, full_protocols)
                         for s in full_seeds}
        full_held = {s: held_out_items(s, full_setting, args.full_nets) for s in full_seeds}
        full = [run_seed(lut_path, log_path, s, full_setting, args.full_nets, full_protocols, full_measured[s],
                         frozenset().union(*(v for k, v in full_held.items() if k != s))) for s in full_seeds]
    # The cost of tiering a million networks, as a user meets it: the `search tiers` command in a fresh
    # process per run, with each predictor stored in a LUT of placeholder rows (lut_throughput.py).
    cost = million_tiering(args.million, predictors=PREDICTORS, calibration_nets=2 * report_rep["n_train"],
                           repeats=3)
    used = {f"x{r['res_scale']:g}-seed{r['seed']}" for r in (select_rep, report_rep, *full)}
    steps = {k: v for k, v in json.loads(log_path.read_text()).items() if k.split(":")[0] in used}
    busy = sorted(k for k, v in steps.items() if max(v["loadavg_before"][0], v["loadavg_after"][0]) > LOAD_LIMIT)
    device = onnxruntime_cpu_device(1)
    result = {
        "benchmark": "lut_accuracy",
        "device": device.to_dict(),
        "versions": software_versions(),
        "space": "table1",
        "protocol": {"layers": {"warmup": layer_protocol.warmup, "runs": layer_protocol.runs, "rounds": layer_protocol.rounds,
                                "passes": layer_protocol.passes},
                     "networks": {"warmup": net_protocol.warmup, "runs": net_protocol.runs, "rounds": net_protocol.rounds,
                                  "spread_max": net_protocol.spread_max, "max_rounds": net_protocol.round_cap,
                                  "passes": net_protocol.passes},
                     "cv_max": 0.10, "cv": "robust (1.4826 MAD / median)", "value": "min over rounds of the per-round median",
                     "adaptive": "a network gets more rounds while its `rounds` lowest round medians differ by more than "
                                 "spread_max; the fixed-protocol figures are the first `rounds` rounds of the same measurements",
                     "split": "split(n, 0.5, seed=0): half train, half held-out"},
        "loadavg_before": load_before,
        "loadavg_after": os.getloadavg(),
        "quiet": not busy,
        "busy_steps": {k: steps[k] for k in busy},
        "busy_note": (f"the 1-minute load average exceeded {LOAD_LIMIT} around {len(busy)} measuring step(s) "
                      "(2 shared cores; other engineers' training): their figures carry that noise") if busy else None,
        "issue_protocol": {"held-out networks >= 32 per seed": min(select_rep["n_test"], report_rep["n_test"]) >= 32,
                           "model chosen on one seed, reported on another": args.seeds[0] != args.seeds[1],
                           "quiet machine (load average <= 1.5 around every step)": not busy,
                           "full resolution part": bool(full)},
        "default_predictor": {"model": default, "chosen_on": f"seed {args.seeds[0]}, lowest held-out MAPE",
                              "reported_on": f"seed {args.seeds[1]}", "goal": goals},
        "calibrate_default": {"model": "auto", "what": "calibrate --model auto: each seed's predictor is the lowest "
                                                        "cross-validated MAPE on the networks it is fitted on",
                              "chose": {f"seed {r['seed']}": r["predictors"]["auto"]["model"] for r in (select_rep, report_rep)},
                              "goal": auto_goals},
        "seeds": {f"{r['seed']}": _stored(r) for r in (select_rep, report_rep)},
        "full_resolution": None if not full else _stored(full[0])
        | {"net_passes": full_protocols[1].passes},
        "full_resolution_report": None if len(full) < 2 else _stored(full[1]),
        "full_resolution_goals": None if not full else _full_goals(full),
        "cost_per_million": cost,
    }
    atomic_write_text(args.out, json.dumps(result, indent=1) + "\n")
    panels = {(r["seed"], r["res_scale"]): r for r in (select_rep, report_rep, *full)}  # one panel per data set
    _plot(args.out.with_suffix(".png"), list(panels.values()), default)

    print(f"lut_accuracy on {device.setup_label}; load average {load_before[0]:.2f} -> {os.getloadavg()[0]:.2f}")
    _print_seed(select_rep, "selection")
    _print_seed(report_rep, "report")
    for role, rep in zip(("full resolution, selection", "full resolution, report"), full, strict=False):
        _print_seed(rep, role)
    print(f"\ndefault predictor: {default} (chosen on seed {args.seeds[0]})")
    _print_goals(goals)
    print("calibrate's default (auto, chosen per seed by cross-validation on the networks it is fitted on):")
    _print_goals(auto_goals, result["calibrate_default"]["chose"])
    if full:
        x1 = result["full_resolution_goals"]
        print(f"at x1.0: default predictor {x1['default_predictor']['model']} "
              f"(chosen on {x1['default_predictor']['chosen_on']})")
        _print_goals(x1["default_predictor"]["goal"])
        print("at x1.0, calibrate's default (auto):")
        _print_goals(x1["calibrate_default"]["goal"], x1["calibrate_default"]["chose"])
    print(f"tiering {cost['networks']:,} networks (`search tiers`, a fresh process per run, median of {cost['repeats']} s): " +
          ", ".join(f"{k} {v['wall_s_median']}" for k, v in cost["variants"].items()) +
          f" (target < {cost['target_s']:g} s: {'PASS' if cost['passed'] else 'FAIL'})")
    if busy:
        print(f"NOTE: {result['busy_note']}: {', '.join(busy)}")
    missing = [name for name, ok in result["issue_protocol"].items() if not ok]
    if missing:
        print("NOT the issue's full protocol: " + "; ".join(missing))
    print(f"-> {args.out}, {args.out.with_suffix('.png')}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
