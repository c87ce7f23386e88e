"""The latency vs top-1 plot of a bench run (matplotlib, the ``bench`` extra)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from .. import _validate
from ..errors import InputError, require
from .record import BenchRecord


def check_plot_path(path: object, param: str = "plot") -> Path:
    """Validates a plot destination before any timing: writable, and a format matplotlib writes.

    Raises:
        InputError: For an unwritable path or an unknown extension.
        MissingDependencyError: When matplotlib (the ``bench`` extra) is missing.
    """
    target = _validate.output_file(path, param)  # type: ignore[arg-type]
    require("matplotlib", "bench", "the latency plot")
    from matplotlib.backend_bases import FigureCanvasBase

    formats = sorted(FigureCanvasBase.get_supported_filetypes())
    if target.suffix.lstrip(".").lower() not in formats:
        raise InputError(
            f"{param} {str(target)!r}: matplotlib cannot write {target.suffix or 'a file without extension'}; "
            f"end the name with one of {', '.join('.' + f for f in formats)} (e.g. .png)",
            params=(param,),
        )
    return target


def plot_latency_accuracy(path: Path, records: Sequence[BenchRecord], title: str) -> Path:
    """Draws measured median latency against top-1 (hub models and baselines) into a PNG."""
    from ..hub.index import model_card
    from ._baselines import get_baseline

    matplotlib = require("matplotlib", "bench", "the latency plot")
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 5.5))
    for kind, marker, color in (("hub", "o", "tab:green"), ("baseline", "s", "tab:gray")):
        pts = []
        for r in records:
            if r.kind != kind:
                continue
            top1 = model_card(r.model).top1 if kind == "hub" else get_baseline(r.model.split(":", 1)[1]).top1
            pts.append((r.stats.median, top1, r.model.removeprefix("timm:")))
        if not pts:
            continue
        pts.sort()
        ax.scatter(
            [p[0] for p in pts],
            [p[1] for p in pts],
            marker=marker,
            color=color,
            label="GPUNet (hub)" if kind == "hub" else "timm baselines",
        )
        for x, y, label in pts:
            ax.annotate(label, (x, y), textcoords="offset points", xytext=(4, 4), fontsize=8)
    ax.set_xlabel("measured median latency (ms)")
    ax.set_ylabel("ImageNet top-1 (%)")
    ax.set_title(title, fontsize=9)
    ax.grid(alpha=0.3)
    ax.legend(loc="lower right")
    fig.text(
        0.01,
        0.01,
        "top-1: GPUNet model cards; baselines from the GPUNet paper, Table 3 (timm architectures timed with random weights)",
        fontsize=6,
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120, bbox_inches="tight")
    plt.close(fig)
    return path
