"""Does a searcher setting pay? Seed-by-seed comparison of ``search_synthetic`` runs against a reference.

Each input is the ``search_synthetic.json`` of one run of ``benchmarks/search_synthetic.py`` on the
same seeds and problems, made on the same machine (the searcher's runs are not reproducible bit for
bit across processors): the first with the default settings, the others with ``--set FIELD=VALUE``.
For each variant, problem and searcher (LA-MCTS+BO and its no-tree ablation), reports the median
final regret of the reference and the variant, the variant's wins / losses / ties and a two-sided
Wilcoxon signed-rank p-value. Writes ``OUT.json`` and ``OUT.md``::

    python benchmarks/search_synthetic.py --seeds 10 --methods lamcts_bo,bo,gp --out runs/reference
    python benchmarks/search_synthetic.py --seeds 10 --methods lamcts_bo,bo,gp --out runs/qlogei \\
        --set batch_acquisition=qlogei
    python benchmarks/search_settings_compare.py runs/reference runs/qlogei --out results/ablations
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

import numpy as np

from gpunet_hub._io import atomic_write_text
from gpunet_search.experiments.bench import SEARCHERS
from gpunet_search.experiments.report import paired, paired_cells


def _load(folder: Path) -> dict[str, Any]:
    path = folder / "search_synthetic.json" if folder.is_dir() else folder
    if not path.is_file():
        raise SystemExit(f"no search_synthetic.json at {folder}; pass the --out folder of a search_synthetic run")
    return json.loads(path.read_text())


def compare(reference: dict[str, Any], variant: dict[str, Any]) -> dict[str, Any]:
    """``{problem: {searcher: row}}`` of one variant against the reference."""
    rows: dict[str, Any] = {}
    for problem in variant["settings"]["problems"]:
        for method in SEARCHERS:
            ref = [dict(r, method="reference") for r in reference["runs"] if (r["problem"], r["method"]) == (problem, method)]
            var = [r for r in variant["runs"] if (r["problem"], r["method"]) == (problem, method)]
            if not ref or not var:
                continue
            seeds = {r["seed"] for r in ref} & {r["seed"] for r in var}
            rows.setdefault(problem, {})[method] = {
                "seeds": len(seeds),
                "reference_median": float(np.median([r["regret"][-1] for r in ref if r["seed"] in seeds])),
                "variant_median": float(np.median([r["regret"][-1] for r in var if r["seed"] in seeds])),
                "variant_vs_reference": paired(ref + var, problem, method, "reference"),
            }
    return rows


def markdown(result: dict[str, Any]) -> str:
    lines = ["| setting | problem | searcher | seeds | reference median | variant median | variant wins / losses / ties | Wilcoxon p |",
             "|---|---|---|---|---|---|---|---|"]
    for variant in result["variants"]:
        label = ", ".join(f"{k}={v}" for k, v in variant["config"].items()) or "(defaults)"
        for problem, searchers in variant["rows"].items():
            for method, r in searchers.items():
                lines.append(f"| {label} | {problem} | {method} | {r['seeds']} | {r['reference_median']:.4g} | "
                             f"{r['variant_median']:.4g} | {paired_cells(r['variant_vs_reference'])} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("reference", type=Path, help="search_synthetic output of the default settings")
    parser.add_argument("variants", type=Path, nargs="+", help="search_synthetic outputs with --set settings")
    parser.add_argument("--out", type=Path, required=True, help="folder for search_settings_compare.{json,md}")
    args = parser.parse_args(argv)
    reference = _load(args.reference)
    if reference["settings"].get("config"):
        parser.error(f"the reference was run with settings {reference['settings']['config']}; pass a default run")
    variants = []
    for folder in args.variants:
        variant = _load(folder)
        for key in ("budget", "batch", "n_init"):
            if variant["settings"][key] != reference["settings"][key]:
                parser.error(f"{folder}: {key} {variant['settings'][key]} differs from the reference's {reference['settings'][key]}")
        variants.append({"config": variant["settings"]["config"], "command": variant["meta"]["command"],
                         "rows": compare(reference, variant)})
    result = {"benchmark": "search_settings_compare", "reference_command": reference["meta"]["command"], "variants": variants}
    args.out.mkdir(parents=True, exist_ok=True)
    atomic_write_text(args.out / "search_settings_compare.json", json.dumps(result, indent=1) + "\n")
    commands = "\n".join(f"- `{c}`" for c in [result["reference_command"]] + [v["command"] for v in variants])
    table = markdown(result)
    atomic_write_text(args.out / "search_settings_compare.md",
                      f"# Searcher settings against the defaults, seed by seed\n\nRuns:\n\n{commands}\n\n{table}\n")
    print(table)
    print(f"\nwrote {args.out / 'search_settings_compare.json'}, {args.out / 'search_settings_compare.md'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
