"""Do the capped weight-bytes columns bring the predictors closer to the measurement? (issue 14)

A layer timed alone in a loop keeps the weights that fit its caches hot; inside a network the other
layers evict them, so each layer streams its weights again, at a cost per byte that depends on how
its size compares with the cache levels. The ``weights_mb_upto_*`` feature columns (each layer's
weight bytes capped at a few sizes, summed per network) let a model learn that cost. This script
measures nothing: it re-analyses a LUT that ``lut_accuracy.py`` measured, on its two seeds, and fits
every predictor twice on the same networks (the pool ``lut_accuracy`` fits on: the seed's train half
and every other network stored at that scale, except the other seed's held-out half): once with
every column, once with the capped-weight columns set to zero, a constant no model can use (ridge
gives it no weight, trees never split on it, the MLP standardises it to zero; the random forest
still draws it among its candidate columns). Both are scored on the held-out half beside the retest
of the same networks, with the issue's goal (MAPE <= the retest's, +/-10 % >= the retest's,
Spearman within 0.01), for every predictor, for ``auto`` (chosen by cross-validation on the networks
it is fitted on) and for the default chosen on the first seed (lowest held-out MAPE) and reported
on the second.

    flock /tmp/gpunet-timing.lock python benchmarks/lut_accuracy.py --seeds 39 40 --nets 64 --net-passes 3 --lut LUT
    python benchmarks/lut_features.py --seeds 39 40 --lut LUT

(the LUT of ``lut_features.json`` also held the rows of seeds 37 and 38 of an earlier run, imported
before measuring, so the fits pool 192 networks).

Writes ``benchmarks/results/lut_features.json``; prints a table. The rows of the LUT behind that file
(and ``lut_accuracy.json``) are ``results/lut_accuracy_measurements.json.gz`` (``gpunet-hub search lut
export``); to analyse them again without measuring::

    gunzip -c benchmarks/results/lut_accuracy_measurements.json.gz > rows.json
    gpunet-hub search lut import --file rows.json --lut LUT
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

import numpy as np

from gpunet_hub._io import atomic_write_text
from gpunet_search.latency.calibration import accuracy_metrics
from gpunet_search.latency.features import WEIGHT_COLUMNS, NetworkFeatures
from gpunet_search.latency.fingerprint import onnxruntime_cpu_device
from gpunet_search.latency.lut import LatencyLUT
from gpunet_search.latency.pipeline import Setting, network_items
from gpunet_search.latency.predictor_store import features_of
from lut_accuracy import CANDIDATES, _evaluate, _goals, _seed_samples, _with_stored, goal, held_out_items

RESULTS = Path(__file__).parent / "results"
VARIANTS = ("all_columns", "without_capped_weights")


def _without_capped(features: NetworkFeatures) -> NetworkFeatures:
    values = features.values.copy()
    values[:, [features.columns.index(c) for c in WEIGHT_COLUMNS]] = 0.0
    return NetworkFeatures(values, features.columns)


def analyse_seed(lut_path: Path, seed: int, setting: Setting, nets: int, held_out_elsewhere: frozenset[str]) -> dict[str, Any]:
    """Every predictor with and without the capped-weight columns on one seed's held-out half."""
    samples, train, test, held_out = _seed_samples(seed, nets)
    device = onnxruntime_cpu_device(1).fingerprint
    items, retest_items = network_items(samples, setting), network_items(held_out, setting, "retest")
    with LatencyLUT(lut_path, readonly=True) as lut:
        measured = lut.lookup(items, device, kind="net")
        retest = lut.lookup(retest_items, device, kind="net")
        if np.isnan(measured).any() or np.isnan(retest).any():
            raise SystemExit(f"{lut_path} lacks seed {seed}'s networks or retest at x{setting.res_scale:g} "
                             f"({nets} networks): run lut_accuracy.py on it first")
        features = features_of(lut, samples.encodings, "table1", setting, device)
        (pool_x, pool_y, rows), _ = _with_stored(lut, device, setting, items, features, measured, train, held_out_elsewhere)
    both = np.sqrt(measured[test] * retest)
    variants = {name: _evaluate(CANDIDATES, x, pool_y, rows, test, seed, both)
                for name, x in zip(VARIANTS, (pool_x, _without_capped(pool_x)), strict=True)}
    retest_metrics = accuracy_metrics(retest, measured[test])
    return {"seed": seed, "res_scale": setting.res_scale, "n_train": len(rows), "n_test": len(test),
            "retest_held_out": retest_metrics,
            "measurement_vs_both": accuracy_metrics(measured[test], both),
            **{name: {n: {"model": p["model"], "held_out": p["held_out"], "held_out_vs_both": p["held_out_vs_both"],
                          "goal": goal(p["held_out"], retest_metrics)} for n, p in preds.items()}
               for name, preds in variants.items()}}


def _defaults(reports: list[dict[str, Any]]) -> dict[str, Any]:
    """Per variant, the predictor with the lowest held-out MAPE on the first seed and its goal on every seed
    (``lut_accuracy``'s rule), and ``auto``'s goal on every seed."""
    out = {}
    for variant in VARIANTS:
        name, goals, auto_goals = _goals([{"seed": r["seed"], "predictors": r[variant],
                                           "retest_held_out": r["retest_held_out"]} for r in reports])
        out[variant] = {"model": name, "chosen_on": f"seed {reports[0]['seed']}", "goal": goals, "auto_goal": auto_goals}
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--lut", type=Path, required=True, help="A LUT measured by lut_accuracy.py.")
    parser.add_argument("--seeds", type=int, nargs=2, required=True, help="Its two seeds: selection, then report.")
    parser.add_argument("--nets", type=int, default=64, help="Networks per seed (as given to lut_accuracy.py).")
    parser.add_argument("--res-scale", type=float, default=0.25)
    parser.add_argument("--out", type=Path, default=RESULTS / "lut_features.json")
    args = parser.parse_args(argv)
    if not args.lut.is_file():
        raise SystemExit(f"no LUT at {args.lut}: measure one with lut_accuracy.py first")
    setting = Setting(1, "fp32", args.res_scale)
    held = {s: held_out_items(s, setting, args.nets) for s in args.seeds}
    reports = [analyse_seed(args.lut, s, setting, args.nets, frozenset().union(*(v for k, v in held.items() if k != s)))
               for s in args.seeds]
    result = {"benchmark": "lut_features", "lut_protocol": "lut_accuracy.py's (its results file has the protocol)",
              "capped_columns": list(WEIGHT_COLUMNS), "variants": list(VARIANTS), "seeds": reports, "defaults": _defaults(reports)}
    atomic_write_text(args.out, json.dumps(result, indent=1) + "\n")

    for rep in reports:
        print(f"\nseed {rep['seed']}: {rep['n_train']} train / {rep['n_test']} held-out at x{rep['res_scale']:g}; "
              f"retest MAPE {rep['retest_held_out']['mape']:.1%}, +/-10 % {rep['retest_held_out']['acc10']:.0%}, "
              f"Spearman {rep['retest_held_out']['spearman']:.3f}")
        print(f"{'held-out MAPE / +/-10 % / Spearman':<22} {'all columns':>26} {'without capped weights':>26}")
        for name in CANDIDATES:
            cells = []
            for variant in VARIANTS:
                p = rep[variant][name]
                label = f"({p['model']}) " if name == "auto" else ""
                m = p["held_out"]
                cells.append(f"{label}{m['mape']:.1%} / {m['acc10']:.0%} / {m['spearman']:.3f}")
            print(f"{name:<22} {cells[0]:>26} {cells[1]:>26}")
    for variant, d in result["defaults"].items():
        print(f"{variant}: default {d['model']} (chosen on {d['chosen_on']}): " +
              "; ".join(f"{s} {'PASS' if all(g.values()) else 'FAIL'}" for s, g in d["goal"].items()) +
              " | auto: " + "; ".join(f"{s} {'PASS' if all(g.values()) else 'FAIL'}" for s, g in d["auto_goal"].items()))
    print(f"-> {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
