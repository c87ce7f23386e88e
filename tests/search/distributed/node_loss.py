"""A search on a 2-node ``ray.cluster_utils.Cluster`` that loses its worker node mid-search.

Run in its own process by ``test_node_loss.py`` (a Cluster is a Ray instance of its own, apart from
the test session's): ``python -m tests.search.distributed.node_loss TIER STORAGE OUT``. A CPU-less
head runs the driver; node A runs both trials; once each has reported epoch 2, node A is removed
without warning (a preempted spot instance) and node B joins as its replacement. Writes what happened to ``OUT``.
"""

from __future__ import annotations

import json
import os
import sys
import threading
import time
from pathlib import Path

from gpunet_search.distributed.evaluators import EvaluatorSpec
from gpunet_search.distributed.runner import RunSettings, prepare, run

from .conftest import SMALL, result_lines

EPOCHS = 10


def _epochs(experiment: Path) -> dict[str, list[dict]]:
    return {path.parent.name: result_lines(path) for path in experiment.glob("*/result.json")}


def main(tier: str, storage: str, out: str) -> None:
    os.environ["RAY_AUTH_MODE"] = "disabled"
    from ray.cluster_utils import Cluster

    import ray

    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 0, "object_store_memory": 80 * 1024**2})
    node_a = cluster.add_node(num_cpus=2, object_store_memory=80 * 1024**2)
    events: dict[str, object] = {}
    try:
        settings = RunSettings(
            tier=Path(tier),
            evaluator=EvaluatorSpec("synthetic:tier", epochs=EPOCHS, sleep_s=2.0),
            trials=2,
            concurrent=2,
            storage=storage,
            address=cluster.address,
            early_stop=False,
            max_failures=2,
            searcher=SMALL,
        )
        plan = prepare(settings)
        outcome: dict[str, object] = {}
        driver = threading.Thread(target=lambda: outcome.update(result=run(plan)), daemon=True)
        driver.start()
        deadline = time.monotonic() + 150
        while time.monotonic() < deadline:
            lines = _epochs(Path(plan.path))
            if len(lines) == 2 and all(trial and trial[-1]["epoch"] >= 2 for trial in lines.values()):
                break
            time.sleep(0.2)
        before = {name: trial[-1]["epoch"] if trial else 0 for name, trial in _epochs(Path(plan.path)).items()}
        if len(before) != 2 or min(before.values()) < 2:
            raise SystemExit(f"the two trials did not both reach epoch 2 on node A within 150 s (a busy machine?): {before}")
        events["before_loss"] = before
        if ray.get_runtime_context().get_node_id() == node_a.node_id:
            # All nodes share one IP here, and Ray attached the driver to node A's raylet: removing
            # node A would kill the driver, which is not the scenario under test.
            events["skipped"] = "Ray attached the driver to the worker node's raylet; it cannot be removed"
            return
        events["node_a"] = node_a.node_id
        cluster.remove_node(node_a, allow_graceful=False)
        node_b = cluster.add_node(num_cpus=2, object_store_memory=80 * 1024**2)  # the replacement instance
        events["node_b"] = node_b.node_id
        driver.join(timeout=180)
        result = outcome.get("result")
        events["errors"] = getattr(result, "errors", "the driver did not finish")
        events["trials"] = {
            name: [
                {"epoch": line["epoch"], "node_id": line["node_id"], "resumed_from": line["resumed_from"]}
                for line in trial
            ]
            for name, trial in _epochs(Path(plan.path)).items()
        }
    finally:
        ray.shutdown()
        cluster.shutdown()
        Path(out).write_text(json.dumps(events, indent=1))


if __name__ == "__main__":
    main(*sys.argv[1:4])
