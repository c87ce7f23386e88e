"""Shared fixtures of the distributed-search tests: a tier file, a small model, one Ray session."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("ray.tune")
pytest.importorskip("botorch")

from gpunet_hub.space import get_space
from gpunet_search.search.grid import LevelGrid
from gpunet_search.latency.sampling import SampleSet
from gpunet_search.search.searcher import SearcherConfig
from gpunet_search.latency.tiers import Tier, write_tiers

SMALL = SearcherConfig(n_init=4, pool_size=256, max_pool_candidates=128, n_local_centres=2, n_local_per_centre=8, gp_max_iter=5, leaf_size=6)


def make_tier(folder: Path, n: int = 128, seed: int = 3) -> Path:
    """A tier file of ``n`` Sobol networks with made-up estimates (the LUT is not under test here)."""
    grid = LevelGrid("table1")
    vectors = grid.to_vectors(grid.sobol(n, seed=seed))
    _, first = np.unique(vectors, axis=0, return_index=True)
    vectors = vectors[np.sort(first)]
    samples = SampleSet(vectors.astype(np.int16), "table1", get_space("table1").fingerprint(), {})
    estimates = np.random.default_rng(seed).uniform(1.0, 2.0, len(vectors))
    write_tiers(folder, [Tier(0.0, 10.0, "test")], samples, estimates, estimates, {"estimate": "made-up test estimate"})
    return folder / "tier_test.npz"


@pytest.fixture(scope="session")
def small_config() -> SearcherConfig:
    """Model parameters that fit a 128-network tier and ask fast."""
    return SMALL


@pytest.fixture(scope="session")
def tier_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_tier(tmp_path_factory.mktemp("tier"))


@pytest.fixture(scope="session")
def ray_session():
    """One local Ray instance for every Tune test (start/stop costs seconds); no token file in ~/.ray."""
    import ray

    os.environ["RAY_AUTH_MODE"] = "disabled"
    ray.init(address="local", num_cpus=4, num_gpus=0, include_dashboard=False, log_to_driver=False, object_store_memory=80 * 1024**2)
    yield ray.get_runtime_context().gcs_address
    ray.shutdown()


def result_lines(result_json: Path) -> list[dict]:
    """The JSON lines a trial has reported so far (``[]`` while the file is being written)."""
    try:
        return [json.loads(line) for line in result_json.read_text().splitlines() if line.strip()]
    except (OSError, json.JSONDecodeError):  # being written right now: read it again on the next poll
        return []
