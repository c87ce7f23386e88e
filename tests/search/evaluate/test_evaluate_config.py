"""EvalConfig holds Table 5 as data; the proxy says it is one; results round-trip through JSON."""

from __future__ import annotations

import pytest

from gpunet_hub.errors import InputError
from gpunet_search.evaluate import EpochRecord, EvalConfig, Result, proxy_config


def test_defaults_are_table5():
    c = EvalConfig()
    table5 = {"sched": "step", "decay_epochs": 2.4, "decay_rate": 0.97, "opt": "rmsproptf", "batch_size": 192,
              "epochs": 450, "opt_eps": 1e-3, "warmup_lr": 1e-6, "weight_decay": 1e-5, "drop": 0.3, "drop_path": 0.2,
              "ema": True, "ema_decay": 0.9999, "auto_augment": "rand-m9-mstd0.5", "remode": "pixel", "reprob": 0.2,
              "lr": 0.06, "amp": True, "crop_pct": 1.0}
    assert {k: c.to_dict()[k] for k in table5} == table5
    assert c.is_full_scale and not c.proxy


def test_lr_scales_with_batch_and_proxy_is_flagged():
    assert EvalConfig(batch_size=96).lr == pytest.approx(0.03)
    p = proxy_config()
    assert p.proxy and not p.is_full_scale
    assert proxy_config(seed=3).seed == 3
    with pytest.raises(InputError, match="proxy"):
        EvalConfig(width_mult=0.5).validate()
    for bad in ({"epochs": 0}, {"drop": 1.5}, {"train_subset": 2.0}, {"width_mult": -1.0}, {"ema_decay": 1.0}):
        with pytest.raises(InputError):
            p.replace(**bad)
    with pytest.raises(InputError, match="did you mean|no field"):
        p.replace(epoch=3)


def test_with_epochs_stretches_the_schedule():
    p = proxy_config()
    long = p.with_epochs(4 * p.epochs)
    assert (long.epochs, long.decay_epochs, long.warmup_epochs) == (4 * p.epochs, 4 * p.decay_epochs, 4 * p.warmup_epochs)
    assert long.lr == p.lr and long.replace(epochs=p.epochs, decay_epochs=p.decay_epochs, warmup_epochs=p.warmup_epochs) == p
    # the same number of decays over the run: the last epoch ends at the same fraction of the peak rate
    assert long.epochs / long.decay_epochs == p.epochs / p.decay_epochs
    for bad in (0, -3, 2.5, True):
        with pytest.raises(InputError, match="epochs"):
            p.with_epochs(bad)


def test_config_and_result_round_trip(tmp_path):
    c = proxy_config(seed=5)
    assert EvalConfig.from_dict(c.to_dict()) == c
    assert c.fingerprint() == c.replace(threads=1).fingerprint() != c.replace(seed=6).fingerprint()
    curve = [EpochRecord(1, 2.0, 40.0, 80.0, 35.0, 79.0, 0.01, 1.0), EpochRecord(2, 1.5, 50.0, 90.0, 55.0, 91.0, 0.01, 1.0),
             EpochRecord(3, 1.4, 48.0, 92.0, 52.0, 90.0, 0.01, 1.0)]
    r = Result.from_curve(curve, stopped_early=False, seconds=3.0, params=10, resolution=16, num_classes=10,
                          dataset={"name": "digits"}, arch=[], config=c.to_dict(), proxy=True)
    assert (r.best_epoch, r.score, r.top1, r.top5, r.top1_ema, r.top5_ema) == (2, 55.0, 50.0, 92.0, 55.0, 91.0)
    assert Result.load(r.save(tmp_path / "r.json")) == r
    with pytest.raises(InputError, match="format"):
        Result.from_dict({"format": "something-else"})
