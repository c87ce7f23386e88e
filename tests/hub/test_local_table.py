"""The local latency table: atomic merged writes and selection with gpu='local'."""

from __future__ import annotations

import json
import multiprocessing

import pytest

import gpunet_hub
from gpunet_hub.hub import local_table
from gpunet_hub.measure.device import cpu_device
from gpunet_hub.measure.record import BenchRecord, save_records
from gpunet_hub.measure.stats import summarize


def rec(model: str, ms: float, *, date: str = "2025-01-01T00:00:00+00:00", batch: int = 1, precision: str = "fp32", threads: int = 1):
    return BenchRecord(
        model=model, kind="hub", input_shape=(batch, 3, 224, 224), batch=batch, precision=precision, backend="onnxruntime-cpu",
        backend_version="1.32.0", device=cpu_device(threads), stats=summarize([ms]), settings={"threads": threads}, date=date,
    )


def test_save_merge_and_select(isolated_cache):
    save_records([rec("gpunet_0", 50.0), rec("gpunet_p0", 40.0), rec("gpunet_2", 150.0)])
    save_records([rec("gpunet_1", 70.0)])  # a second run merges
    path = local_table.table_path()
    assert path.parent == isolated_cache
    rows = local_table.local_latency_rows()
    assert set(rows) == {"gpunet_0", "gpunet_p0", "gpunet_2", "gpunet_1"}
    assert rows["gpunet_0"].gpu.startswith("CPU: ") and rows["gpunet_0"].runtime == "onnxruntime-cpu"
    # top-1: gpunet_2 82.2 > gpunet_1 80.5 > gpunet_p0 80.3 > gpunet_0 78.9
    assert gpunet_hub.select(gpu="local", max_latency_ms=100) == "gpunet_1"
    assert gpunet_hub.select(gpu="local", max_latency_ms=45) == "gpunet_p0"
    assert gpunet_hub.list_models(gpu="local", max_latency_ms=60) == ["gpunet_0", "gpunet_p0"]
    model = gpunet_hub.load(gpu="local", max_latency_ms=200, weights=None)
    assert model.pretrained_cfg["input_size"] == (3, 384, 384)  # gpunet_2
    with pytest.raises(gpunet_hub.NoModelWithinBudgetError):
        gpunet_hub.select(gpu="local", max_latency_ms=10)


def test_new_measurement_replaces_the_same_key_and_latest_wins(isolated_cache):
    save_records([rec("gpunet_0", 50.0, date="2025-01-01T00:00:00+00:00")])
    save_records([rec("gpunet_0", 45.0, date="2025-01-02T00:00:00+00:00")])
    entries = local_table.entries()
    assert len(entries) == 1 and entries[0]["ms"] == 45.0
    # another thread count is another device label: both kept, the latest is used for selection
    save_records([rec("gpunet_0", 30.0, date="2025-01-03T00:00:00+00:00", threads=2)])
    assert len(local_table.entries()) == 2
    assert local_table.local_latency_rows()["gpunet_0"].ms == 30.0
    # batch and precision filter
    save_records([rec("gpunet_0", 99.0, batch=8, date="2025-01-04T00:00:00+00:00")])
    assert local_table.local_latency_rows(batch_size=1)["gpunet_0"].ms == 30.0
    assert local_table.local_latency_rows(batch_size=8)["gpunet_0"].ms == 99.0
    assert local_table.local_latency_rows(precision="fp16") == {}


def _writer(args):
    cache, index = args
    import os

    os.environ["GPUNET_HUB_CACHE"] = cache
    from gpunet_hub.measure.record import save_records as save

    for j in range(10):
        save([rec(f"model_{index}_{j}", float(j))])


def test_concurrent_runs_merge_without_losing_rows(isolated_cache):
    ctx = multiprocessing.get_context("spawn")
    with ctx.Pool(3) as pool:
        pool.map(_writer, [(str(isolated_cache), i) for i in range(3)])
    assert len(local_table.entries()) == 30
    json.loads(local_table.table_path().read_text())  # valid JSON, no torn write
    assert not list(isolated_cache.glob(".local_latency.json.*"))


def test_corrupt_table_is_reported(isolated_cache):
    local_table.table_path().write_text("{not json")
    with pytest.raises(gpunet_hub.InputError, match="corrupt"):
        local_table.local_latency_rows()


def test_empty_table_selects_nothing():
    with pytest.raises(gpunet_hub.NoModelWithinBudgetError, match="bench --all --save"):
        gpunet_hub.select(gpu="local", max_latency_ms=100)


def test_rows_of_two_groups_are_never_ranked_together(isolated_cache, capsys):
    # Two devices (thread counts): gpunet_2 was measured only on the older one.
    save_records([rec("gpunet_0", 50.0, threads=1), rec("gpunet_2", 60.0, threads=1)])
    save_records([rec("gpunet_0", 30.0, date="2025-01-02T00:00:00+00:00", threads=2)])
    newest, older = local_table.groups()
    assert (newest.models, older.models) == (("gpunet_0",), ("gpunet_0", "gpunet_2"))
    assert "2 threads" in newest.device and newest.backend == "onnxruntime-cpu" and newest.batch == 1
    # The newest group by default: gpunet_2 (more accurate, within budget) is in the other group.
    assert gpunet_hub.select(gpu="local", max_latency_ms=100) == "gpunet_0"
    assert gpunet_hub.select(gpu="local", max_latency_ms=100, local_group=older.name) == "gpunet_2"
    assert gpunet_hub.list_models(gpu="local", local_group=older.name) == ["gpunet_0", "gpunet_2"]
    with pytest.raises(gpunet_hub.NoModelWithinBudgetError, match=f"local group '{newest.name}'"):
        gpunet_hub.select(gpu="local", max_latency_ms=10)
    with pytest.raises(gpunet_hub.InputError, match="no local group 'nope'.*local groups: "):
        gpunet_hub.select(gpu="local", max_latency_ms=100, local_group="nope")
    with pytest.raises(gpunet_hub.InputError, match="needs gpu='local'"):
        gpunet_hub.select(gpu="GV100", max_latency_ms=1.0, local_group=older.name)

    from gpunet_hub.cli import main

    assert main(["list", "--gpu", "local", "--local-group", older.name, "--format", "json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert {r["local_group"] for r in rows} == {older.name} and [r["name"] for r in rows] == ["gpunet_0", "gpunet_2"]
    assert main(["pick", "--gpu", "local", "--max-latency-ms", "100"]) == 0
    printed = capsys.readouterr()  # off a terminal the title is context on stderr, the rows on stdout
    assert f"local group '{newest.name}'" in " ".join(printed.err.split())
    assert newest.name in printed.out.split()


@pytest.mark.parametrize("bad", [[{"model": "gpunet_0"}], ["gpunet_0"], [{**dict.fromkeys(local_table._KEY, "x"), "ms": object()}]])
def test_a_bad_row_leaves_the_table_as_it_was(isolated_cache, bad):
    save_records([rec("gpunet_0", 50.0)])
    before = local_table.table_path().read_bytes()
    with pytest.raises(gpunet_hub.InputError, match="row 0"):
        local_table.save_entries(bad)
    assert local_table.table_path().read_bytes() == before
