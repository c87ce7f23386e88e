"""Evaluators without Ray: synthetic curves with resume, the spec's checks, the train adapter's ordering."""

from __future__ import annotations

import json
from types import SimpleNamespace

import numpy as np
import pytest

from gpunet_hub.errors import CheckpointError, InputError
from gpunet_search.distributed import train_adapter
from gpunet_search.distributed.evaluators import EpochResult, EvaluatorSpec
from gpunet_search.distributed.tier import load_tier
from gpunet_search.experiments.synthetic import GridFunction


def test_synthetic_curve_ends_at_the_problem_value_and_resumes(tier_file, tmp_path) -> None:
    vector = load_tier(tier_file).vectors[0].tolist()
    evaluator = EvaluatorSpec("synthetic:ackley", epochs=4).build()
    emitted: list[EpochResult] = []
    evaluator.run(vector, tmp_path, False, emitted.append)
    assert [r.epoch for r in emitted] == [1, 2, 3, 4]
    assert emitted[-1].value == pytest.approx(GridFunction("ackley", 0)(np.array([vector]))[0])
    assert all(a.value > b.value for a, b in zip(emitted, emitted[1:]))  # minimised: falls towards the value
    assert emitted[-1].best == min(r.value for r in emitted)
    # A process killed after epoch 2 resumes at epoch 3 with the same values.
    (tmp_path / evaluator.STATE).write_text(json.dumps({"vector": vector, "epoch": 2}))
    resumed: list[EpochResult] = []
    evaluator.run(vector, tmp_path, True, resumed.append)
    assert resumed == emitted[2:]
    with pytest.raises(CheckpointError, match="belongs to network"):
        evaluator.run(load_tier(tier_file).vectors[1].tolist(), tmp_path, True, resumed.append)


def test_spec_checks_and_modes() -> None:
    assert EvaluatorSpec("synthetic:tier").mode == "max" and EvaluatorSpec("synthetic:levy").mode == "min"
    assert EvaluatorSpec("train").mode == "max" and EvaluatorSpec("synthetic:tier").epochs == 4
    spec = EvaluatorSpec("synthetic:rastrigin", epochs=3, sleep_s=1.5)
    assert EvaluatorSpec.from_dict(json.loads(json.dumps(spec.to_dict()))) == spec
    with pytest.raises(InputError, match="synthetic:ackley"):
        EvaluatorSpec("synthetic:acley")
    with pytest.raises(InputError, match="epochs"):
        EvaluatorSpec("train", epochs=0)


def test_train_adapter_emits_an_epoch_only_once_its_checkpoint_exists(tmp_path, monkeypatch) -> None:
    """The issue-10 evaluator calls back before writing an epoch's checkpoint; the adapter holds each epoch back."""

    def evaluate(vector, config, *, space, dataset, data_dir, out_dir, resume, callback):
        start = int((out_dir / "ckpt").read_text()) if resume else 0
        for epoch in range(start + 1, config.epochs + 1):
            record = SimpleNamespace(epoch=epoch, score=10.0 * epoch, train_loss=1.0 / epoch, top1=9.0 * epoch, top5=99.0,
                                     top1_ema=10.0 * epoch, top5_ema=None, lr=0.1)
            callback(SimpleNamespace(record=record, best_score=10.0 * epoch))
            (out_dir / "ckpt").write_text(str(epoch))

    fake = SimpleNamespace(evaluate=evaluate, proxy_config=lambda **changes: SimpleNamespace(epochs=3, **changes))
    monkeypatch.setattr(train_adapter, "evaluate_module", lambda: fake)
    seen: list[tuple[int, str]] = []
    evaluator = EvaluatorSpec("train", dataset="digits").build()
    evaluator.run([0] * 41, tmp_path, False, lambda r: seen.append((r.epoch, (tmp_path / "ckpt").read_text())))
    assert seen == [(1, "1"), (2, "2"), (3, "3")]
    (tmp_path / "ckpt").write_text("1")
    seen.clear()
    evaluator.run([0] * 41, tmp_path, True, lambda r: seen.append((r.epoch, (tmp_path / "ckpt").read_text())))
    assert seen == [(2, "2"), (3, "3")]
    with pytest.raises(InputError, match="ImageFolder"):
        EvaluatorSpec("train", dataset=str(tmp_path / "missing")).build()
