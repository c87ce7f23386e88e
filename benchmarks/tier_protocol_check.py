"""Does stage 4's timing read the same as timing a network alone? (issue 12, tier fidelity)

Stage 4 of ``search regenerate`` measures candidates whole with the LUT protocol, 16 networks per
chunk, interleaved in one process. The bench times one network at a time. On a regenerate output
folder, this script times each tier's winner both ways, alternating (interleaved, alone,
interleaved, alone) so that a drift of the machine's speed hits both the same, and writes the ratio
to ``benchmarks/results/tier_protocol_check.json``. The interleaved chunk is each winner plus the
next 15 members of its tier, as in stage 4. Every timing goes into a fresh temporary LUT.

Run alone::

    flock /tmp/gpunet-timing.lock .venv/bin/python benchmarks/tier_protocol_check.py --out regenerated_cpu_digits
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
from pathlib import Path

import numpy as np

from gpunet_hub._io import atomic_write_text, utc_now
from gpunet_search.latency.pipeline import measure_networks
from gpunet_search.latency.sampling import load_samples
from gpunet_search.latency.tiers import member_row
from gpunet_search.workflow import make_plan, open_context

RESULTS = Path(__file__).parent / "results" / "tier_protocol_check.json"
CHUNK = 16


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True, help="A regenerate output folder (search stage done).")
    parser.add_argument("--preset", default="cpu-digits")
    parser.add_argument("--repeats", type=int, default=2, help="Pairs of (interleaved, alone) timings.")
    parser.add_argument("--results", type=Path, default=RESULTS)
    args = parser.parse_args()
    ctx = open_context(make_plan(args.preset), args.out)
    state = json.loads((args.out / "state.json").read_text())
    winners = state["stages"]["search"]["output"]["winners"]
    tier_files = {t["name"]: args.out / t["file"] for t in state["stages"]["tiers"]["output"]["tiers"]}
    samples = load_samples(args.out / "samples.npz")
    protocol, setting = ctx.plan.timing_protocol(), ctx.plan.setting()
    load_before = list(os.getloadavg())
    rows = []
    with tempfile.TemporaryDirectory(prefix="gpunet-protocol-") as tmp:
        for winner in winners:
            with np.load(tier_files[winner["tier"]], allow_pickle=False) as data:
                members = data["rows"].astype(np.int64)
                at_tiers = data["measured_ms"] if "measured_ms" in data else None
                encodings = data["encodings"]
            first = member_row(encodings, winner["vector"])
            if first is None:
                raise SystemExit(f"the {winner['tier']} winner is not in its tier file; re-run the tiers stage")
            others = [int(r) for r in members if r != members[first]][: CHUNK - 1]
            chunk = [int(members[first]), *others]
            interleaved, alone = [], []
            for repeat in range(args.repeats):
                lut_a = Path(tmp) / f"{winner['tier']}-{repeat}-interleaved.sqlite"
                interleaved.append(float(measure_networks(lut_a, samples.take(np.array(chunk)), ctx.device, ctx.timer,
                                                          protocol, setting, chunk=CHUNK)[0]))
                lut_b = Path(tmp) / f"{winner['tier']}-{repeat}-alone.sqlite"
                alone.append(float(measure_networks(lut_b, samples.take(np.array(chunk[:1])), ctx.device, ctx.timer,
                                                    protocol, setting, chunk=1)[0]))
            rows.append({
                "tier": winner["tier"],
                "arch_hash": winner["arch_hash"],
                "chunk_size": len(chunk),
                "at_stage4_ms": None if at_tiers is None else float(at_tiers[first]),
                "interleaved_ms": interleaved,
                "alone_ms": alone,
                "interleaved_over_alone": float(np.median(interleaved) / np.median(alone)),
            })
    report = {
        "benchmark": "tier_protocol_check",
        "date": utc_now(),
        "out": str(args.out),
        "protocol": {"warmup": protocol.warmup, "runs": protocol.runs, "rounds": protocol.rounds},
        "load_average_before": load_before,
        "load_average_after": list(os.getloadavg()),
        "rows": rows,
        "median_ratio": float(np.median([r["interleaved_over_alone"] for r in rows])),
    }
    atomic_write_text(args.results, json.dumps(report, indent=2) + "\n")
    print(json.dumps({r["tier"]: round(r["interleaved_over_alone"], 3) for r in rows} | {"median": report["median_ratio"]}))


if __name__ == "__main__":
    main()
