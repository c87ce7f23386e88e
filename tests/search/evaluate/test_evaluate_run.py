"""evaluate(): a tiny network trained end to end; callbacks, stopping, checkpoints and their errors."""

from __future__ import annotations

import pytest

from gpunet_hub.errors import CheckpointError, InputError
from gpunet_search.evaluate import MedianStoppingRule, Result, evaluate
from gpunet_search.evaluate.checkpoint import CHECKPOINT_NAME
from eval_tiny import tiny_arch, tiny_config


def test_tiny_run_returns_a_complete_result(tmp_path):
    reports = []
    result = evaluate(tiny_arch(), tiny_config(), out_dir=tmp_path, callback=reports.append)
    assert [r.record.epoch for r in reports] == [1, 2] and result.epochs_run == 2 and not result.stopped_early
    assert result.proxy and result.config["width_mult"] == 0.25 and result.resolution == 16 and result.num_classes == 10
    assert 1_000 < result.params < 100_000
    for r in result.curve:
        assert r.train_loss > 0 and 0 <= r.top1 <= r.top5 <= 100 and 0 <= r.top1_ema <= r.top5_ema <= 100
    assert result.score == max(r.top1_ema for r in result.curve) == result.top1_ema
    assert result.arch[-1]["num_classes"] == 10 and result.arch[1]["num_out_channels"] == 8
    assert Result.load(tmp_path / "result.json") == result
    assert (tmp_path / CHECKPOINT_NAME).exists()
    with pytest.raises(InputError, match="resume"):
        evaluate(tiny_arch(), tiny_config(), out_dir=tmp_path)
    # resuming a finished run trains nothing and gives the same result
    assert evaluate(tiny_arch(), tiny_config(), out_dir=tmp_path, resume=True) == result


def test_callback_and_median_rule_stop_the_run():
    stopped = evaluate(tiny_arch(), tiny_config(epochs=3), callback=lambda report: report.record.epoch == 1)
    assert stopped.epochs_run == 1 and stopped.stopped_early
    rule = MedianStoppingRule(grace_epochs=0, min_runs=1, curves={"strong": [100.0, 100.0, 100.0]})
    result = evaluate(tiny_arch(), tiny_config(epochs=3), stopper=rule, run_id="weak")
    assert result.epochs_run == 1 and result.stopped_early and len(rule.curves["weak"]) == 1


def test_corrupt_and_foreign_checkpoints_are_refused(tmp_path):
    evaluate(tiny_arch(), tiny_config(epochs=1), out_dir=tmp_path)
    with pytest.raises(CheckpointError, match="another run.*seed"):
        evaluate(tiny_arch(), tiny_config(epochs=1, seed=1), out_dir=tmp_path, resume=True)
    path = tmp_path / CHECKPOINT_NAME
    path.write_bytes(path.read_bytes()[:1000])
    with pytest.raises(CheckpointError, match="corrupt"):
        evaluate(tiny_arch(), tiny_config(epochs=1), out_dir=tmp_path, resume=True)
    import torch

    torch.save({"model": {}}, path)
    with pytest.raises(CheckpointError, match="not an evaluator checkpoint"):
        evaluate(tiny_arch(), tiny_config(epochs=1), out_dir=tmp_path, resume=True)
