"""The synthetic benchmark's runs and targets: every method spends the budget from the same starts."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys

import numpy as np
import pytest

from gpunet_search.experiments.bench import BenchSettings, _Problem, run_one
from gpunet_search.experiments.report import summarise, targets

SMALL = {"budget": 12, "batch": 2, "n_init": 8, "tier_pool_bits": 10}


@pytest.mark.parametrize(("problem_name", "method"), [("ackley", "tpe"), ("ackley", "bo"), ("tier", "gp")])
def test_model_based_methods_spend_the_budget_from_the_shared_starts(problem_name: str, method: str) -> None:
    settings = BenchSettings(problems=(problem_name,), methods=(method,), seeds=(1,), **SMALL)
    record = run_one(problem_name, method, 1, settings)
    problem = _Problem(problem_name, 1, settings.tier_pool_bits)
    init = problem.sobol(settings.budget, 1)[: settings.n_init]
    assert len(record["losses"]) == settings.budget
    np.testing.assert_allclose(record["losses"][: settings.n_init], problem.loss(init))
    regret = np.array(record["regret"])
    assert np.all(np.diff(regret) <= 0) and regret[-1] >= 0
    assert record["seconds_per_proposal"] > 0 and record["duplicates"] == 0
    if problem_name == "tier":  # proposals outside the tier are snapped to tier pool members
        assert record["infeasible"] == 0
        assert len(record["rank"]) == settings.budget and min(record["rank"]) >= 1


def test_smac_runs_when_installed() -> None:
    if importlib.util.find_spec("smac") is None:
        pytest.skip("SMAC3 is the optional 'bench-search' extra")
    # In a fresh interpreter: SMAC imports dask.distributed, and in the test process the package
    # tests/search/distributed (tests/search is on sys.path) shadows the `distributed` it needs.
    code = (
        "import json; from gpunet_search.experiments.bench import BenchSettings, run_one; "
        f"s = BenchSettings(problems=('ackley',), methods=('smac',), seeds=(0,), **{SMALL!r}); "
        "r = run_one('ackley', 'smac', 0, s); print(json.dumps([len(r['losses']), r['duplicates']]))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300, check=True)
    assert json.loads(out.stdout.strip().splitlines()[-1]) == [SMALL["budget"], 0]


def _record(problem: str, method: str, seed: int, final_regret: float, rank: int | None = None) -> dict:
    record = {
        "problem": problem,
        "method": method,
        "seed": seed,
        "losses": [final_regret + 1, final_regret],
        "regret": [final_regret + 1, final_regret],
        "duplicates": 0,
        "infeasible": 0,
        "snapped": 0,
        "seconds_per_proposal": 0.1,
    }
    if rank is not None:
        record["rank"] = [rank + 3, rank]
    return record


def test_targets_compare_with_every_baseline_and_count_tier_ties_as_not_worse() -> None:
    settings = BenchSettings(
        problems=("ackley", "tier"), methods=("lamcts_bo", "gp", "random"), seeds=(0, 1, 2), budget=2, n_init=1, batch=1
    )
    records = []
    for seed in range(3):
        records += [
            _record("ackley", "lamcts_bo", seed, 1.0),
            _record("ackley", "gp", seed, 2.0),
            _record("ackley", "random", seed, 0.5),
        ]
        records += [
            _record("tier", "lamcts_bo", seed, 0.0, 1),
            _record("tier", "gp", seed, 0.0, 1),
            _record("tier", "random", seed, 0.3, 4),
        ]
    result = targets(summarise(records, settings), settings, records)
    ackley = result["functions"]["ackley"]
    assert ackley["best_baseline"] == "random" and not ackley["below_every_baseline"]
    assert result["tier"]["not_worse_than"] == {"gp": True, "random": True} and result["tier"]["target_met"]
    worse = {1, 2}  # on two of three seeds the searcher misses the optimum GPSampler finds
    records = [
        _record("tier", "lamcts_bo", r["seed"], 0.2, 3)
        if r["problem"] == "tier" and r["method"] == "lamcts_bo" and r["seed"] in worse
        else r
        for r in records
    ]
    result = targets(summarise(records, settings), settings, records)
    assert result["tier"]["not_worse_than"]["gp"] is False and not result["tier"]["target_met"]


def test_a_missing_baseline_library_is_an_environment_problem(monkeypatch: pytest.MonkeyPatch) -> None:
    import importlib.util

    from gpunet_hub.errors import EnvironmentProblem

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "smac" else real(name, *a))
    with pytest.raises(EnvironmentProblem, match=r"gpunet-hub\[bench-search\]"):
        BenchSettings(methods=("lamcts_bo", "smac")).validate()


def test_targets_are_not_met_when_no_baseline_was_run() -> None:
    settings = BenchSettings(
        problems=("ackley", "tier"), methods=("lamcts_bo",), seeds=(0,), budget=2, n_init=1, batch=1
    )
    records = [_record("ackley", "lamcts_bo", 0, 1.0), _record("tier", "lamcts_bo", 0, 0.0, 1)]
    result = targets(summarise(records, settings), settings, records)
    assert not result["functions"]["ackley"]["below_every_baseline"]
    assert result["tier"]["not_worse_than"] == {} and not result["tier"]["target_met"]


def test_baseline_runs_are_reused_from_the_cache_and_searcher_runs_never_are(tmp_path) -> None:
    from gpunet_search.experiments.bench import run_all

    settings = BenchSettings(problems=("ackley",), methods=("random", "bo"), seeds=(0,), **SMALL)
    first = run_all(settings, workers=1, cache=tmp_path)
    cached = sorted(p.name for p in tmp_path.iterdir())
    assert len(cached) == 1 and cached[0].startswith("ackley-random-0-")
    marked = tmp_path / cached[0]
    marked.write_text(marked.read_text().replace('"wall_seconds"', '"from_cache": true, "wall_seconds"'))
    second = run_all(settings, workers=1, cache=tmp_path)
    by_method = {r["method"]: r for r in second}
    assert by_method["random"].get("from_cache") and "from_cache" not in by_method["bo"]
    assert by_method["random"]["losses"] == next(r for r in first if r["method"] == "random")["losses"]
