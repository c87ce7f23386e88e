"""A run killed mid-epoch (a real SIGKILLed process) and resumed ends bit-identical to an uninterrupted run."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import torch

from gpunet_search.evaluate import evaluate
from gpunet_search.evaluate.checkpoint import CHECKPOINT_NAME
from eval_tiny import tiny_arch, tiny_config

HERE = Path(__file__).parent
# The child trains 3 epochs of 5 steps; in epoch 2, after 2 steps, it marks the moment and hangs,
# so the parent kills it mid-epoch (epoch 1's checkpoint is on disk).
CHILD = textwrap.dedent(
    """
    import sys, time
    from pathlib import Path
    sys.path[:0] = [{here!r}, {tests!r}]
    from gpunet_search.evaluate import evaluate, train
    from eval_tiny import tiny_arch, tiny_config

    out, marker = Path(sys.argv[1]), Path(sys.argv[2])
    original = train.Trainer.step

    def step(self, images, targets):
        if self.num_updates == 5 + 2:  # epoch 2, two steps in
            marker.write_text("mid-epoch 2")
            time.sleep(600)
        return original(self, images, targets)

    train.Trainer.step = step
    evaluate(tiny_arch(), tiny_config(epochs=3), out_dir=out)
    """
)


def test_killed_run_resumes_bit_identical(tmp_path):
    config = tiny_config(epochs=3)
    reference_dir = tmp_path / "reference"
    reference = evaluate(tiny_arch(), config, out_dir=reference_dir)

    run_dir, marker = tmp_path / "killed", tmp_path / "marker"
    script = tmp_path / "child.py"
    script.write_text(CHILD.format(here=str(HERE), tests=str(HERE.parent.parent)))
    child = subprocess.Popen([sys.executable, str(script), str(run_dir), str(marker)], env=os.environ | {"PYTHONHASHSEED": "1"})
    try:
        deadline = time.monotonic() + 240
        while not marker.exists():
            assert child.poll() is None, "the child exited before reaching epoch 2"
            assert time.monotonic() < deadline, "the child did not reach epoch 2 in time"
            time.sleep(0.05)
        child.send_signal(signal.SIGKILL)
    finally:
        child.wait(timeout=60)
    assert child.returncode == -signal.SIGKILL
    saved = torch.load(run_dir / CHECKPOINT_NAME, weights_only=True)
    assert len(saved["curve"]) == 1 and not (run_dir / "result.json").exists()

    resumed = evaluate(tiny_arch(), config, out_dir=run_dir, resume=True)
    assert [r.top1 for r in resumed.curve] == [r.top1 for r in reference.curve]
    assert [r.train_loss for r in resumed.curve] == [r.train_loss for r in reference.curve]
    assert (resumed.top1, resumed.top1_ema, resumed.best_epoch) == (reference.top1, reference.top1_ema, reference.best_epoch)
    a = torch.load(run_dir / CHECKPOINT_NAME, weights_only=True)["trainer"]
    b = torch.load(reference_dir / CHECKPOINT_NAME, weights_only=True)["trainer"]
    for part in ("model", "ema"):
        assert a[part].keys() == b[part].keys()
        assert all(torch.equal(a[part][k], b[part][k]) for k in a[part])
