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
    assert events["errors"] == {}
    assert len(events["trials"]) == 2
    moved = 0
    for name, lines in events["trials"].items():
        assert [line["epoch"] for line in lines] == list(range(1, EPOCHS + 1))  # none lost, none repeated
        assert lines[0]["node_id"] == events["node_a"]
        resumed = lines[-1]["resumed_from"]
        if resumed:  # it was running on node A when node A went: it went on from its checkpoint on node B
            moved += 1
            assert resumed >= events["before_loss"][name] >= 2
            assert all(
                line["node_id"] == (events["node_b"] if line["epoch"] > resumed else events["node_a"]) for line in lines
            )
        else:  # it had reported its last epoch before node A went
            assert all(line["node_id"] == events["node_a"] for line in lines)
    assert moved >= 1, events["before_loss"]
