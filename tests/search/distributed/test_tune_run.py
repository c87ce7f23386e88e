"""The search on a real local Ray instance: budget, restore, a killed trial worker, a killed driver.

Every run asserts that no trial errored: Tune does not raise when a trainable fails on a worker.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from dataclasses import replace
from pathlib import Path

import pytest

from gpunet_hub.errors import InputError
from gpunet_search.distributed.evaluators import EvaluatorSpec
from gpunet_search.distributed.results import load_rows
from gpunet_search.distributed.runner import RunSettings, prepare, run

from .conftest import result_lines

pytestmark = pytest.mark.timeout(240)


def test_search_finishes_the_budget_then_restores_as_a_no_op(ray_session, tier_file, small_config, tmp_path) -> None:
    settings = RunSettings(tier=tier_file, evaluator=EvaluatorSpec("synthetic:ackley", epochs=3), trials=8, concurrent=2,
                           storage=str(tmp_path), min_runs=2, searcher=small_config)
    plan = prepare(settings)
    assert plan.name == "search-test-synthetic-ackley" and not plan.restoring
    outcome = run(plan)
    assert outcome.errors == {} and outcome.trials == 8
    rows, manifest = load_rows(plan.path)
    assert manifest["trials"] == 8 and len(rows) == 8
    assert {r.status for r in rows} <= {"done", "stopped"}
    assert len({r.arch_hash for r in rows}) == 8
    assert {p.name for p in Path(plan.path).iterdir() if p.is_dir()} == {r.arch_hash for r in rows}  # short trial folders
    stopped = [r for r in rows if r.status == "stopped"]
    assert stopped and all(1 < r.epochs < 3 for r in stopped)  # the median rule acted, never before its grace epoch
    assert all(r.best == pytest.approx(min(r.best, r.final)) for r in rows)  # minimised: best is the lowest value
    # The same call again restores the finished experiment and runs nothing more.
    again = prepare(settings)
    assert again.restoring
    assert run(again).errors == {} and len(load_rows(plan.path)[0]) == 8
    with pytest.raises(InputError, match="other settings"):
        prepare(replace(settings, trials=9))


def test_a_killed_trial_worker_resumes_from_its_checkpoint(ray_session, tier_file, small_config, tmp_path) -> None:
    settings = RunSettings(tier=tier_file, evaluator=EvaluatorSpec("synthetic:tier", epochs=4, sleep_s=6.0), trials=2, concurrent=2,
                           storage=str(tmp_path), early_stop=False, max_failures=2, searcher=small_config)
    plan = prepare(settings)
    killed: dict[str, int] = {}

    def killer() -> None:
        deadline = time.monotonic() + 120
        while not killed and time.monotonic() < deadline:
            for result_json in Path(plan.path).glob("*/result.json"):
                lines = result_lines(result_json)
                if lines and lines[-1]["epoch"] == 2:
                    killed[result_json.parent.name] = lines[-1]["pid"]
                    os.kill(lines[-1]["pid"], signal.SIGKILL)  # mid-epoch 3
                    return
            time.sleep(0.1)

    thread = threading.Thread(target=killer)
    thread.start()
    outcome = run(plan)
    thread.join()
    assert killed, "no trial reached epoch 2"
    assert outcome.errors == {}
    rows = {r.arch_hash: r for r in load_rows(plan.path)[0]}
    victim = rows[next(iter(killed))]
    assert victim.status == "done" and victim.epochs == 4 and victim.failures == 1
    lines = result_lines(Path(plan.path) / victim.arch_hash / "result.json")
    assert [line["epoch"] for line in lines] == [1, 2, 3, 4]  # no epoch lost, none run twice
    # Tune writes result.json behind the trial, so the kill can land after epoch 3 was reported:
    # the restarted process must resume after the last epoch the killed one reported, whichever it was.
    by_victim = [line["epoch"] for line in lines if line["pid"] == killed[victim.arch_hash]]
    assert by_victim == [1, 2, 3][: len(by_victim)] and len(by_victim) >= 2
    restarted = lines[len(by_victim) :]
    assert all(line["resumed_from"] == len(by_victim) and line["pid"] != killed[victim.arch_hash] for line in restarted)


def test_a_killed_driver_resumes_without_losing_or_repeating_trials(ray_session, tier_file, tmp_path) -> None:
    command = [sys.executable, "-m", "gpunet_search.distributed", "run", "--tier", str(tier_file), "--evaluator", "synthetic:tier",
               "--epochs", "2", "--sleep", "1", "--trials", "10", "--concurrent", "2", "--storage", str(tmp_path), "--address", ray_session]
    experiment = tmp_path / "search-test-synthetic-tier"
    env = dict(os.environ, RAY_AUTH_MODE="disabled")
    driver = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def completed() -> set[str]:
        return {p.parent.name for p in experiment.glob("*/result.json") if any(line["epoch"] == 2 for line in result_lines(p))}

    deadline = time.monotonic() + 150
    while len(completed()) < 4 and driver.poll() is None and time.monotonic() < deadline:
        time.sleep(0.2)
    assert driver.poll() is None, "the driver ended before it could be killed"
    driver.send_signal(signal.SIGKILL)  # ray.init(address=...) starts no Ray process of its own: nothing is orphaned
    driver.wait(10)
    before = completed()
    assert len(before) >= 4
    resumed = subprocess.run(command, env=env, capture_output=True, text=True, timeout=180)
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    assert "resuming" in resumed.stderr
    rows, _ = load_rows(str(experiment))
    assert len(rows) == 10  # exactly the budget
    assert {r.status for r in rows} <= {"done", "stopped"}  # no trial errored
    hashes = [r.arch_hash for r in rows]
    assert len(set(hashes)) == 10  # 0 duplicated
    assert before <= set(hashes)  # 0 lost
