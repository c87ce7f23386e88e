"""Shared pieces of the evaluator tests: a tiny network and a proxy small enough to train in a second."""

from __future__ import annotations

from conftest import TINY_STANDARD

from gpunet_hub.arch import from_list
from gpunet_search.evaluate import EvalConfig, proxy_config


def tiny_arch():
    return from_list(TINY_STANDARD)


def tiny_config(**changes) -> EvalConfig:
    """2 epochs of 5 steps on 16 px digits, one thread, deterministic."""
    settings = dict(epochs=2, batch_size=32, lr_base_batch=32, train_subset=0.2, res_scale=0.25,
                    min_resolution=16, threads=1, eval_batch_size=512)
    return proxy_config(**(settings | changes))
