"""Sobol sampling of the 41-integer space: validity, coverage, determinism, dedup, files."""

from __future__ import annotations

import json

import numpy as np
import pytest

from gpunet_hub.cli import main
from gpunet_hub.errors import InputError
from gpunet_hub.space import BLOCK_STAGES, SearchSpace, check_many, get_space
from gpunet_search.latency.sampling import dedupe_rows, load_samples, sample, save_samples


def test_samples_are_valid_and_cover_every_digit_value():
    s = sample(4096, "table1", seed=3)
    space = get_space("table1")
    assert s.encodings.shape == (4096, 41) and s.encodings.dtype == np.int16
    assert check_many(s.encodings, space).all()
    for digit in space.digits:
        seen = set(np.unique(s.encodings[:, digit.index]).tolist())
        assert set(digit.values) <= seen | {0}, digit.name
    # Evenness: every resolution is drawn 4096/10 times within a few percent (Sobol is balanced).
    _, counts = np.unique(s.encodings[:, 0], return_counts=True)
    assert counts.min() >= 0.95 * 409.6 and counts.max() <= 1.05 * 409.6


def test_empty_stages_are_all_zero():
    s = sample(4096, "table1", seed=0)
    for stage in BLOCK_STAGES:
        first, layers = SearchSpace.stage_slice(stage).start, SearchSpace.digit_index(stage, "layers")
        empty = s.encodings[:, layers] == 0
        assert (s.encodings[empty, first:layers] == 0).all()
    # Table 1 allows 0 layers in stages 5 and 7 only: about 1/16 of the rows.
    assert 0.04 < (s.encodings[:, SearchSpace.digit_index(5, "layers")] == 0).mean() < 0.09


def test_seed_determinism_and_release_space():
    a, b, c = sample(500, seed=1), sample(500, seed=1), sample(500, seed=2)
    assert np.array_equal(a.encodings, b.encodings)
    assert not np.array_equal(a.encodings, c.encodings)
    r = sample(500, "release", seed=1)
    assert r.space == "release" and check_many(r.encodings, "release").all()


def test_map_to_space_edges():
    unit = np.zeros((2, 41))
    unit[1] = np.nextafter(1.0, 0)
    space = get_space("table1")
    out = space.from_unit(unit)
    assert out[1, 0] == space.digits[0].values[-1] and out[0, 0] == space.digits[0].values[0]
    with pytest.raises(InputError):
        space.from_unit(np.zeros((3, 40)))


def test_dedupe_rows_is_exact_and_keeps_first_occurrence():
    rows = np.array([[1, 2], [3, 4], [1, 2], [5, 6], [3, 4]], dtype=np.int16)
    assert dedupe_rows(rows).tolist() == [0, 1, 3]
    big = sample(2000, seed=4).encodings
    doubled = np.concatenate([big, big[::-1]])
    assert dedupe_rows(doubled).tolist() == list(range(len(big)))


def test_save_load_roundtrip_and_stale_space(tmp_path):
    s = sample(300, seed=5)
    path = save_samples(s, tmp_path / "s.npz")
    loaded = load_samples(path)
    assert np.array_equal(loaded.encodings, s.encodings) and loaded.space_fingerprint == s.space_fingerprint
    assert loaded.sha256 and loaded.meta["seed"] == 5
    assert len(loaded.head(10)) == 10 and np.array_equal(loaded.head(10).encodings, s.encodings[:10])
    # A file drawn under another definition of the space is refused.
    with np.load(path) as data:
        meta = json.loads(str(data["meta"]))
        enc = data["encodings"]
    meta["space_fingerprint"] = "0000000000000000"
    np.savez(tmp_path / "stale.npz", encodings=enc, meta=np.array(json.dumps(meta)))
    with pytest.raises(InputError, match="re-run"):
        load_samples(tmp_path / "stale.npz")
    with pytest.raises(InputError, match="no such sample file"):
        load_samples(tmp_path / "missing.npz")


def test_cli_sample(tmp_path, capsys):
    out = tmp_path / "s.npz"
    assert main(["search", "sample", "--n", "2000", "--seed", "7", "--out", str(out)]) == 0
    assert len(load_samples(out)) == 2000
    assert "2,000 networks" in capsys.readouterr().out
    assert main(["search", "sample", "--n", "0", "--out", str(out)]) == 1
