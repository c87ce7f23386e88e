"""Stage 9: the Pareto plot (bench latency vs top-1) and ``report.md`` of a regenerate run.

The report gives tier fidelity (the share of entries whose bench latency lies in their tier), the
signed error of the LUT estimate per entry, the accuracy per tier, the time per stage, every scale
that shrank the networks, and what is and is not comparable on the plot.
"""

from __future__ import annotations

import os
from typing import Any

from gpunet_hub._io import atomic_path, atomic_write_text

from .cards import entry_name
from .context import Context

REPORT_FILE = "report.md"
PLOT_FILE = "pareto.png"


def plot_pareto(ctx: Context, rows: list[dict[str, Any]], trained: dict[str, dict[str, Any]], path: Any) -> None:
    """Bench latency vs top-1: the tiers as bands, the entries, and the references trained the same way."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.5))
    entries = [r for r in rows if r["kind"] == "entry"]
    for number, row in enumerate(entries):
        ax.axvspan(row["lo_ms"], row["hi_ms"], color=f"C{number}", alpha=0.12, lw=0)
        ax.scatter(
            row["ms"],
            trained[row["key"]]["top1"],
            color=f"C{number}",
            s=50,
            zorder=3,
            label=f"tier {row['tier']} entry" + ("" if row["in_tier"] else " (outside its tier)"),
        )
        if row.get("lut_ms") is not None:
            ax.scatter(row["lut_ms"], trained[row["key"]]["top1"], color=f"C{number}", marker="x", s=30, zorder=3)
    for row in rows:
        if row["kind"] == "reference":
            name = row["key"].removeprefix("ref-")
            ax.scatter(
                row["ms"],
                trained[row["key"]]["top1"],
                marker="s",
                color="black",
                s=40,
                zorder=3,
                label=f"{name} architecture, same proxy and recipe",
            )
    device = ctx.device
    ax.set_xlabel(
        f"bench latency, median ms ({device.backend}, {ctx.plan.precision()}, batch "
        f"{ctx.plan.latency.batch}; x: LUT estimate)"
    )
    ax.set_ylabel(f"top-1 % on {ctx.plan.dataset} (validation)")
    ax.set_title(f"{ctx.plan.name}: {device.label}", fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, loc="lower right")
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=120, format="png")
    plt.close(fig)


def _load() -> str:
    return " / ".join(f"{v:.1f}" for v in os.getloadavg()) + " (1/5/15 min)"


def _stage_table(ctx: Context, titles: dict[str, str], seconds: dict[str, float]) -> list[str]:
    lines = ["| stage | seconds |", "|---|---:|"]
    lines += [f"| {titles[name]} | {seconds.get(name, 0.0):.1f} |" for name in titles]
    lines.append(f"| total | {sum(seconds.values()):.1f} |")
    return lines


def write_report(
    ctx: Context, done: dict[str, dict[str, Any]], titles: dict[str, str], seconds: dict[str, float]
) -> dict[str, Any]:
    """Writes ``pareto.png`` and ``report.md``; returns the figures the report states."""
    plan, bench = ctx.plan, done["bench"]
    rows = bench["rows"]
    trained = {t["key"]: t for t in done["final"]["trained"]}
    winners = {w["tier"]: w for w in done["search"]["winners"]}
    plot_pareto(ctx, rows, trained, ctx.path(PLOT_FILE))
    entries = [r for r in rows if r["kind"] == "entry"]
    references = [r for r in rows if r["kind"] == "reference"]
    fidelity = bench["tier_fidelity"]
    scales = plan.scales()
    device = ctx.device
    lines = [
        f"# Regenerated hub: {plan.name}",
        "",
        (
            f"Device: {device.setup_label} (fingerprint {device.fingerprint}); precision {plan.precision()}, "
            f"batch {plan.latency.batch}. Dataset: {plan.dataset} ({scales['num_classes']} classes)."
        ),
        "",
        (
            "Every network here (LUT keys, tiers, search, final training, export, bench) is the proxy-scale "
            f"network: width x{scales['width_mult']:g}, resolution x{scales['res_scale']:g} with a "
            f"{scales['min_resolution']} px floor, training subset {scales['train_subset']:g}, a "
            f"{scales['num_classes']}-class head."
        ),
        "",
        f"**Tier fidelity: {sum(r['in_tier'] for r in entries)}/{len(entries)} entries"
        + (f" ({fidelity:.0%})" if fidelity is not None else "")
        + " have a bench latency inside their tier.**",
        "",
        (
            "| entry | tier (ms) | LUT estimate ms | measured at tiers ms | bench ms | LUT error | in tier | top-1 % "
            "| search top-1 % | params |"
        ),
        "|---|---|---:|---:|---:|---:|---|---:|---:|---:|",
    ]
    for row in entries:
        item, winner = trained[row["key"]], winners[row["tier"]]
        at_tiers = row.get("tier_measured_ms")
        lines.append(
            f"| {entry_name(plan.name, row['tier'])} | {row['lo_ms']:.4g}-{row['hi_ms']:.4g} | {row['lut_ms']:.4g} | "
            f"{'-' if at_tiers is None else f'{at_tiers:.4g}'} | {row['ms']:.4g} | {row['lut_error']:+.1%} | "
            f"{'yes' if row['in_tier'] else 'no'} | {item['top1']:.2f} | {winner['search_top1']:.2f} | "
            f"{item['params']:,} |"
        )
    lines += [
        "",
        (
            "LUT error is (calibrated LUT estimate - bench) / bench. Measured at tiers is the same network timed "
            "whole in stage 4 (LUT protocol), which put it in its tier; a gap between it and the bench is how far "
            "this machine's speed moved between the two stages. Top-1 is the shipped weights' (last epoch, "
            f"{plan.final.epochs} epochs of the final recipe); search top-1 is the best epoch of the winner's "
            "proxy trial."
        ),
        "",
        _membership_text(done["tiers"]),
        "",
        "## Accuracy per tier",
        "",
        "| tier | trials | stopped early | winner search top-1 % | final top-1 % |",
        "|---|---:|---:|---:|---:|",
    ]
    for tier, winner in winners.items():
        final = trained[f"tier-{tier}"]
        lines.append(
            f"| {tier} | {winner['trials']} | {winner['stopped_early']} | {winner['search_top1']:.2f} | "
            f"{final['top1']:.2f} |"
        )
    lines += ["", "## Comparability", ""]
    if references:
        lines.append(
            "Reference points are released architectures shrunk, trained and benched exactly as the entries "
            "(same proxy, recipe, data and device), so their latency and accuracy are comparable with the entries': "
            + ", ".join(
                f"{r['key'].removeprefix('ref-')} {r['ms']:.4g} ms, {trained[r['key']]['top1']:.2f} %"
                for r in references
            )
            + "."
        )
    lines += [
        (
            f"Accuracies here are {plan.dataset} accuracies at proxy scale. The ImageNet top-1 of the released "
            "GPUNets (and of timm baselines) is not comparable with them and is not plotted; neither are their "
            "full-scale latencies, which come from other networks (full width and resolution) and, for the "
            "released cards, another device."
        ),
        "",
        f"![Pareto plot]({PLOT_FILE})",
        "",
        "## Time per stage",
        "",
        *_stage_table(ctx, titles, seconds),
        "",
        (
            f"Load average when the report was written: {_load()} on {os.cpu_count()} logical CPUs (other work "
            "on the machine slows every stage and every timing)."
        ),
        "",
        "## Calibration",
        "",
        (
            f"{done['calibrate']['formula']}: held-out MAPE {done['calibrate']['held_out_mape']:.1%}, "
            f"Kendall tau {done['calibrate']['held_out_kendall']:.2f} ({plan.latency.calibration_nets} networks, "
            "half held out); the raw LUT sum is "
            f"{done['calibrate']['raw_bias_mean']:.2f}x the measured latency on average."
        ),
        "",
    ]
    atomic_write_text(ctx.path(REPORT_FILE), "\n".join(lines))
    return {
        "file": REPORT_FILE,
        "plot": PLOT_FILE,
        "tier_fidelity": fidelity,
        "lut_error": {r["tier"]: r["lut_error"] for r in entries},
        "top1": {r["tier"]: trained[r["key"]]["top1"] for r in entries},
    }


def _membership_text(tiers: dict[str, Any]) -> str:
    """How the tiers' members were drawn: from the estimate, or from whole-network measurements."""
    check = tiers.get("verification")
    if tiers.get("membership") != "measured" or not check:
        return "Tier members are the sampled networks whose calibrated LUT estimate lies in the tier."
    error = check["estimate_error_mape"]
    return (
        f"Tier members are sampled networks measured whole on this device ({check['measured']} networks, those "
        f"estimated within {check['margin']:.0%} of a tier's bounds) whose measurement lies in the tier with a "
        f"{check['guard']:.0%} guard from both bounds; the LUT estimate only chose whom to measure"
        + (f" (its mean absolute error on them: {error:.1%})." if error is not None else ".")
    )


__all__ = ["PLOT_FILE", "REPORT_FILE", "plot_pareto", "write_report"]
