"""A lost node: its trials resume on another node from their last epoch checkpoint."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from .node_loss import EPOCHS

pytestmark = pytest.mark.timeout(300)
ROOT = Path(__file__).parents[3]


def test_trials_of_a_removed_node_resume_on_the_other_node(tier_file, tmp_path) -> None:
    out = tmp_path / "node_loss.json"
    env = dict(os.environ, RAY_AUTH_MODE="disabled")
    command = [
        sys.executable,
        "-m",
        "tests.search.distributed.node_loss",
        str(tier_file),
        str(tmp_path / "runs"),
        str(out),
    ]
    done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=280)
    assert done.returncode == 0, done.stderr[-3000:]
    events = json.loads(out.read_text())
    if "skipped" in events:
        pytest.skip(events["skipped"])
    assert events["errors"] == {}
    assert len(events["trials"]) == 2
    moved = 0
    for lines in events["trials"].values():
        on_a = [line["epoch"] for line in lines if line["node_id"] == events["node_a"]]
        on_b = [line["epoch"] for line in lines if line["node_id"] == events["node_b"]]
        assert on_a == list(range(1, len(on_a) + 1)) and on_a[0] == 1
        if not on_b:  # it had reported its last epoch before node A went
            assert on_a[-1] == EPOCHS
            continue
        moved += 1
        resumed = lines[-1]["resumed_from"]
        assert resumed >= 2  # from its checkpoint on node A, not from scratch
        assert on_b == list(range(resumed + 1, EPOCHS + 1))  # then every remaining epoch once, on node B
        # None lost; at most the epoch in flight when the node went (reported, its checkpoint not yet
        # registered) runs again.
        assert resumed <= on_a[-1] <= resumed + 1
    assert moved >= 1, events["before_loss"]
