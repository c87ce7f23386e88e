"""Stage 8: one model card per tier entry, with its weights, written into a hub folder with its index.

Cards go through the hub's one card writer (:func:`gpunet_hub.hub.cards_io.write_hub`). Each card is
honest about what it is: its dataset (``digits`` is not ImageNet), the proxy scale it was trained at,
the measured latency row with its whole environment, and the provenance of every input (search
experiment, LUT and calibration fingerprints, tier, recipes).
"""

from __future__ import annotations

import shutil
from typing import Any

from gpunet_hub.hub.cards import LatencyRow, ModelCard
from gpunet_hub.hub.cards_io import DATASET_NAMES, HubEntry, write_hub
from gpunet_hub.pretrained import PretrainedCfg

from ..evaluate.result import RESULT_NAME
from .context import Context
from .final import trained_arch

HUB_DIR = "hub"
RESULT_FILE = "training_result.json"
"""The final training's result, beside each card: the source its top-1 links to."""
WORKFLOW = "gpunet-hub search regenerate"


def entry_name(plan_name: str, tier: str) -> str:
    """The hub name of a tier's entry, timm style: ``digits_cpu_1p25ms``."""
    return f"{plan_name}_{tier.replace('.', 'p').replace('-', '_')}".lower()


def latency_row(bench_row: dict[str, Any]) -> LatencyRow:
    """The card's measured row: the bench record's device, runtime and version, precision, batch, statistic."""
    record = bench_row["record"]
    settings = record.get("settings", {})
    threads = settings.get("threads", record["device"].get("threads"))
    runs = record["stats_ms"].get("n")
    rounds = len(bench_row.get("round_medians_ms", [None]))
    chosen = f", the lowest median of {rounds} interleaved bench runs" if rounds > 1 else ""
    return LatencyRow(
        gpu=record["device"]["label"],
        batch=int(record["batch"]),
        precision=record["precision"],
        runtime=record["backend"],
        runtime_version=str(record["backend_version"]),
        stat="median",
        ms=round(float(record["stats_ms"]["median"]), 4),
        source=(
            f"{WORKFLOW} bench, {record['date']}: {runs} timed runs after {record['warmup_runs']} warm-up, "
            f"{threads} thread(s){chosen}, device {record['device'].get('fingerprint', '')}"
        ),
    )


def _prose(card: ModelCard, item: dict[str, Any], bench_row: dict[str, Any], scales: dict[str, Any]) -> str:
    dataset = DATASET_NAMES.get(card.dataset, card.dataset)
    row = card.latency[0]
    verdict = "inside" if bench_row["in_tier"] else "outside"
    return f"""# {card.display_name}

A GPUNet-style network found by `{WORKFLOW}` for the **{item["tier"]}** latency tier on
**{row.gpu}** ({row.runtime} {row.runtime_version}, {row.precision}, batch {row.batch}).

**Trained on {dataset}, not on ImageNet.** Its top-1 ({card.top1:.2f} %) is measured on the validation
split of that dataset and cannot be compared with ImageNet accuracies of the released GPUNets.
It is a proxy-scale network: width x{scales["width_mult"]:g}, input {card.resolution} px
(resolution x{scales["res_scale"]:g}, floor {scales["min_resolution"]} px), {scales["num_classes"]} classes,
{item["epochs"]} epochs of the final recipe (weights: {item["weights_kind"]}, last epoch).

| measured | value |
|---|---|
| bench latency ({row.stat}) | {row.ms:.4f} ms |
| tier | {bench_row["lo_ms"]:.4g} - {bench_row["hi_ms"]:.4g} ms ({verdict}) |
| LUT estimate | {bench_row["lut_ms"]:.4g} ms (signed error {bench_row["lut_error"]:+.1%}) |
| parameters | {card.params:,} |

The provenance block of the front matter records the search experiment, the LUT and calibration
fingerprints, the training recipe and the full bench environment.
"""


def run_cards(ctx: Context, done: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """Stage 8: writes a card, config.json and safetensors weights per entry, then the hub index."""
    plan = ctx.plan
    scales = plan.scales()
    winners = {w["tier"]: w for w in done["search"]["winners"]}
    bench = {r["key"]: r for r in done["bench"]["rows"]}
    calibration = done["calibrate"]
    entries = []
    for item in done["final"]["trained"]:
        if item["kind"] != "entry":
            continue
        winner, bench_row = winners[item["tier"]], bench[item["key"]]
        name = entry_name(plan.name, item["tier"])
        row = latency_row(bench_row)
        arch = trained_arch(item)
        config = item["config"]
        provenance = {
            "workflow": WORKFLOW,
            "plan": plan.name,
            "search": {
                "experiment": winner["experiment"],
                "storage": winner["storage"],
                "trials": winner["trials"],
                "arch_hash": winner["arch_hash"],
                "space": plan.space,
                "vector": winner["vector"],
                "search_top1": winner["search_top1"],
                "proxy": plan.eval_config().to_dict(),
            },
            "lut": {
                "fingerprint": ctx.fingerprints["lut"],
                "device": ctx.device.fingerprint,
                "setting": plan.setting().to_dict(),
            },
            "calibration": {"fingerprint": ctx.fingerprints["calibrate"], "formula": calibration["formula"]},
            "tier": {
                "name": item["tier"],
                "lo_ms": winner["lo_ms"],
                "hi_ms": winner["hi_ms"],
                "lut_estimate_ms": winner["lut_ms"],
                "bench_ms": bench_row["ms"],
                "in_tier": bench_row["in_tier"],
                "members_by": done["tiers"].get("membership", "estimate"),
                "verification": done["tiers"].get("verification"),
            },
            "training": {"recipe": config, "epochs": item["epochs"], "weights": item["weights_kind"]},
            "scales": scales,
            "dataset": item["dataset"],
            "bench": bench_row["record"],
            "fingerprints": dict(ctx.fingerprints),
        }
        card = ModelCard(
            name=name,
            display_name=f"{plan.name} {item['tier']} ({plan.dataset})",
            aliases=(),
            top1=round(float(item["top1"]), 2),
            top1_source=f"{WORKFLOW}: final training, {plan.dataset} validation split (proxy scale)",
            top1_source_url=RESULT_FILE,
            params=int(item["params"]),
            pretrained_cfg=PretrainedCfg.for_arch(
                arch,
                interpolation=config["interpolation"],
                crop_pct=config["crop_pct"],
                architecture=name,
            ),
            teacher=None,
            tier={"gpu": row.gpu, "latency": item["tier"]},
            latency=(row,),
            weights=None,
            arch=arch,
            dataset=plan.dataset,
            provenance=provenance,
        )
        entries.append(HubEntry(card, _prose(card, item, bench_row, scales), ctx.path(item["weights"])))
    index = write_hub(ctx.path(HUB_DIR), entries)
    for entry in entries:
        item = next(t for t in done["final"]["trained"] if entry_name(plan.name, str(t["tier"])) == entry.card.name)
        shutil.copyfile(ctx.path(item["dir"], RESULT_NAME), ctx.path(HUB_DIR, entry.card.name, RESULT_FILE))
    return {"dir": HUB_DIR, "index": ctx.relative(index), "entries": [e.card.name for e in entries]}


__all__ = ["HUB_DIR", "entry_name", "latency_row", "run_cards"]
