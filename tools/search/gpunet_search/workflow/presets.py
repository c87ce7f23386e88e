"""Presets: named plans, as data. A preset is a mapping of plan fields; a plan file or ``--set`` refines it.

* ``smoke``: proves the machinery with the whole chain, aiming at under 2 minutes on 2 idle CPU
  cores: a tiny LUT (12 networks), 2 tiers, 2 trials of 1 epoch per tier on 15 % of ``digits`` at
  width x0.125, a quick bench. Its accuracies mean nothing.
* ``cpu-digits``: the embedded default on 2 CPU cores: 3 tiers, the evaluator's default proxy
  (``proxy_config()``, 7 epochs) for the search, a final training of 4x the proxy's epochs (the long
  run ``benchmarks/evaluator_fidelity.py`` ranks the proxy against), the bench on onnxruntime CPU,
  and GPUNet-0's architecture trained the same way as a reference. ``--dry-run`` prints its
  estimated hours on this machine.
"""

from __future__ import annotations

import copy
from typing import Any

from gpunet_hub.errors import InputError, did_you_mean

PRESETS: dict[str, dict[str, Any]] = {
    "smoke": {
        "name": "smoke",
        "proxy": {"train_subset": 0.15, "width_mult": 0.125, "eval_batch_size": 128},
        "latency": {
            "samples": 12,
            "warmup": 2,
            "runs": 5,
            "rounds": 1,
            "cv_max": 10.0,
            "calibration_nets": 8,
            "calibration_model": "linear",
            "tier_quantiles": [0.3, 0.7],
            "tier_width": "30%",
        },
        "search": {
            "trials": 2,
            "concurrent": 2,
            "epochs": 1,
            "early_stop": False,
            "searcher": {"n_init": 2, "pool_size": 64, "max_pool_candidates": 32, "gp_max_iter": 5, "leaf_size": 4},
        },
        "final": {"epochs": 1},
        "bench": {"warmup": 3, "min_runs": 10, "min_seconds": 0.1, "max_seconds": 10.0, "rounds": 2},
    },
    "cpu-digits": {
        "name": "digits_cpu",
        "latency": {
            "samples": 240,
            "warmup": 5,
            "runs": 40,
            "rounds": 3,
            "calibration_nets": 24,
            "tier_quantiles": [0.2, 0.5, 0.8],
            "tier_width": "10%",
        },
        "search": {"trials": 8, "concurrent": 2},
        "final": {"epochs": 28},
        "references": ["gpunet_0"],
    },
}


def preset_data(name: str) -> dict[str, Any]:
    """A copy of a preset's plan fields.

    Raises:
        InputError: An unknown preset, naming the known ones.
    """
    if name not in PRESETS:
        raise InputError(f"unknown preset {name!r}; choose one of {', '.join(PRESETS)}." + did_you_mean(name, PRESETS))
    return copy.deepcopy(PRESETS[name])


__all__ = ["PRESETS", "preset_data"]
