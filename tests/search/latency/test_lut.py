"""The SQLite LUT: storage, sharing, concurrent writers, crash and resume, one real ORT measurement."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest

from gpunet_hub.errors import EnvironmentProblem, InputError
from gpunet_hub.measure.device import Device
from gpunet_search.latency.layer_keys import LayerKey
from gpunet_search.latency.lut import LatencyLUT, Measurement
from gpunet_search.latency.measure import LayerTimer, TimingProtocol, measure_items, robust_cv, run_worker

DEVICE = Device(kind="cpu", name="Test CPU", label="Test CPU", threads=1, backend="fake", backend_version="0", provider="FakeProvider")
ITEMS = [str(LayerKey("irb", 16 + 8 * i, 24, 3, 1, 2.0, False, "relu", 8, 8)) for i in range(24)]

# A deterministic fake timing backend: latency from the item, optional sleep, every call logged.
FAKE = textwrap.dedent(
    """
    import hashlib, os, time
    import numpy as np

    class FakeBackend:
        def __init__(self, log, sleep=0.0):
            self.log, self.sleep = log, sleep

        def prepare(self, item, workdir):
            return item

        def time(self, handle, *, warmup, runs, max_seconds):
            time.sleep(self.sleep)
            with open(self.log, "a") as f:
                f.write(f"{os.getpid()} {handle}\\n")
            base = int(hashlib.sha1(handle.encode()).hexdigest()[:6], 16) / 1e6
            return np.full(runs, base) + np.linspace(0, base / 100, runs)

        def close(self, handle):
            pass
    """
)
WORKER = textwrap.dedent(
    """
    import json, sys
    from fake_backend import FakeBackend
    from gpunet_hub.measure.device import Device
    from gpunet_search.latency.measure import TimingProtocol, run_worker
    lut, log, sleep, chunk, items = sys.argv[1], sys.argv[2], float(sys.argv[3]), int(sys.argv[4]), json.loads(sys.argv[5])
    device = Device(kind="cpu", name="Test CPU", label="Test CPU", threads=1, backend="fake", backend_version="0", provider="FakeProvider")
    run_worker(lut, items, device, FakeBackend(log, sleep), TimingProtocol(warmup=0, runs=5, rounds=3), chunk=chunk)
    """
)


@pytest.fixture
def fake(tmp_path, monkeypatch):
    (tmp_path / "fake_backend.py").write_text(FAKE)
    monkeypatch.syspath_prepend(str(tmp_path))
    import importlib

    import fake_backend

    return importlib.reload(fake_backend)


def _spawn(tmp_path: Path, lut: Path, log: Path, items: list[str], sleep: float = 0.0, chunk: int = 4) -> subprocess.Popen:
    env = dict(os.environ, PYTHONPATH=str(tmp_path) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    return subprocess.Popen([sys.executable, "-c", WORKER, str(lut), str(log), str(sleep), str(chunk), json.dumps(items)], env=env)


def _row(item: str, ms: float = 1.0) -> Measurement:
    return Measurement("layer", DEVICE.fingerprint, "fake", "fp32", 1, item, None, ms, 0.0, 0.01, 3, 300, 10)


def test_store_lookup_export_import(tmp_path):
    with LatencyLUT(tmp_path / "a.sqlite") as lut:
        lut.register_device(DEVICE)
        assert lut.finish(_row(ITEMS[0], 2.0), "me") and not lut.finish(_row(ITEMS[0], 9.0), "me")
        assert lut.add_rows([_row(ITEMS[1], 3.0), _row(ITEMS[0], 9.0)]) == 1
        got = lut.lookup([ITEMS[0], ITEMS[1], ITEMS[2]], DEVICE.fingerprint)
        assert got[:2].tolist() == [2.0, 3.0] and np.isnan(got[2])
        assert lut.done(ITEMS, DEVICE.fingerprint) == {ITEMS[0], ITEMS[1]}
        assert lut.export_json(tmp_path / "lut.json") == 2
        lut.save_calibration(DEVICE.fingerprint, "fp32", 1, 1.0, "linear", {"a": 1.1, "b": 0.2, "c": 0.0}, {})
        assert lut.calibration(DEVICE.fingerprint, "fp32", 1, 1.0)["revision"] == 0
        assert lut.device(None)["device"] == "Test CPU"
        with pytest.raises(InputError, match="not in"):
            lut.device("ffff")
    with LatencyLUT(tmp_path / "b.sqlite") as other:
        other.register_device(DEVICE)
        other.finish(_row(ITEMS[0], 5.0), "me")
        assert other.import_json(tmp_path / "lut.json") == (1, 1)
        assert other.lookup([ITEMS[0]], DEVICE.fingerprint)[0] == 5.0  # existing rows win
        assert other.import_json(tmp_path / "lut.json", replace=True) == (2, 0)
        assert other.lookup([ITEMS[0]], DEVICE.fingerprint)[0] == 2.0 and other.revision(DEVICE.fingerprint) == 1
    with pytest.raises(InputError, match="no LUT"):
        LatencyLUT(tmp_path / "missing.sqlite", create=False)


def test_schema_version_is_checked(tmp_path):
    LatencyLUT(tmp_path / "a.sqlite").close()
    db = sqlite3.connect(tmp_path / "a.sqlite")
    db.execute("UPDATE meta SET value = '99' WHERE name = 'schema_version'")
    db.commit()
    db.close()
    with pytest.raises(EnvironmentProblem, match="schema 99"):
        LatencyLUT(tmp_path / "a.sqlite")


def test_protocol_min_of_round_medians_and_cv_guard(tmp_path):
    class Scripted:
        """Round medians 3, 2, 4 ms; the second round's first attempt is too noisy and is redone."""

        def __init__(self) -> None:
            self.calls = 0
            self.script = [np.full(20, 3.0), np.r_[np.full(10, 1.0), np.full(10, 9.0)], np.full(20, 2.0), np.full(20, 4.0)]

        def prepare(self, item, workdir):
            return item

        def time(self, handle, *, warmup, runs, max_seconds):
            self.calls += 1
            return self.script[self.calls - 1]

        def close(self, handle):
            pass

    backend = Scripted()
    run_worker(tmp_path / "l.sqlite", ITEMS[:1], DEVICE, backend, TimingProtocol(warmup=0, runs=20, rounds=3, cv_max=0.1))
    (row,) = LatencyLUT(tmp_path / "l.sqlite").rows()
    assert backend.calls == 4 and row.median_ms == 2.0 and row.spread_ms == 2.0 and row.remeasured == 1 and row.rounds == 3
    assert robust_cv(np.full(10, 1.0)) == 0.0


def test_concurrent_writers_measure_each_key_once(tmp_path, fake):
    lut, logs = tmp_path / "lut.sqlite", [tmp_path / f"log{i}.txt" for i in range(3)]
    LatencyLUT(lut).close()
    procs = [_spawn(tmp_path, lut, logs[i], ITEMS[i * 5:] + ITEMS[: i * 5], sleep=0.01, chunk=3) for i in range(3)]
    assert [p.wait(timeout=120) for p in procs] == [0, 0, 0]
    with LatencyLUT(lut) as store:
        rows = store.rows()
        assert sorted(r.item for r in rows) == sorted(ITEMS)  # all there, none twice (primary key)
        assert store.pending() == (0, 0)
    timed = [line.split() for log in logs if log.exists() for line in log.read_text().splitlines()]
    per_item = {item: sum(1 for _, i in timed if i == item) for item in ITEMS}
    assert set(per_item.values()) == {3}  # 3 rounds each, by exactly one worker in total
    assert len({pid for pid, _ in timed}) >= 2  # the work really was shared
    assert len({r.worker for r in rows}) >= 2


def test_killed_build_resumes_without_loss_or_duplicates(tmp_path, fake):
    lut, log = tmp_path / "lut.sqlite", tmp_path / "killed.txt"
    proc = _spawn(tmp_path, lut, log, ITEMS, sleep=0.05, chunk=4)
    deadline = time.time() + 60
    while time.time() < deadline:
        time.sleep(0.1)
        if lut.exists():
            with LatencyLUT(lut) as store:
                finished, (claims, rounds) = len(store.rows()), store.pending()
            if finished >= 4 and rounds >= 1:
                break
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    with LatencyLUT(lut) as store:
        before = {r.item: r.median_ms for r in store.rows()}
        claims, committed_rounds = store.pending()
    assert 4 <= len(before) < len(ITEMS) and claims >= 1 and committed_rounds >= 1
    resumed_log = tmp_path / "resumed.txt"
    backend = fake.FakeBackend(str(resumed_log))
    result = measure_items(lut, ITEMS, DEVICE, backend, TimingProtocol(warmup=0, runs=5, rounds=3), chunk=4)
    assert result["already"] == len(before) and result["missing"] == 0
    with LatencyLUT(lut) as store:
        rows = store.rows()
        assert sorted(r.item for r in rows) == sorted(ITEMS)
        assert {r.item: r.median_ms for r in rows if r.item in before} == before  # nothing lost or re-measured
        assert store.pending() == (0, 0)
    resumed = resumed_log.read_text().splitlines()
    assert not any(line.split()[1] in before for line in resumed)
    # The rounds committed before the kill are reused: only the missing ones were timed again.
    assert len(resumed) == 3 * (len(ITEMS) - len(before)) - committed_rounds


def test_real_onnxruntime_measurement(tmp_path):
    pytest.importorskip("onnxruntime")
    from gpunet_search.latency.fingerprint import onnxruntime_cpu_device

    device = onnxruntime_cpu_device(1)
    keys = [str(LayerKey("irb", 8, 16, 3, 2, 2.0, True, "swish", 16, 16)), str(LayerKey("tail", 16, 32, 1, 1, 0.0, False, "relu", 8, 8, classes=10))]
    seen = []
    result = measure_items(tmp_path / "l.sqlite", keys, device, LayerTimer(threads=1), TimingProtocol(warmup=2, runs=5, rounds=2),
                           progress=lambda done, total: seen.append((done, total)))
    assert result["measured"] == 2 and seen[-1] == (2, 2)
    with LatencyLUT(tmp_path / "l.sqlite") as store:
        rows = store.rows(device.fingerprint)
        assert len(rows) == 2 and all(0 < r.median_ms < 50 and r.rounds == 2 for r in rows)
        assert rows[0].backend == "onnxruntime-cpu" and "onnxruntime" in json.loads(rows[0].versions)


def test_parallel_workers_share_a_build(tmp_path):
    pytest.importorskip("onnxruntime")
    from gpunet_search.latency.fingerprint import onnxruntime_cpu_device

    device = onnxruntime_cpu_device(1)
    keys = [str(LayerKey("conv", c, c, 3, 1, 0.0, False, "relu", 6, 6)) for c in (8, 16, 24, 32)]
    result = measure_items(tmp_path / "l.sqlite", keys, device, LayerTimer(threads=1), TimingProtocol(warmup=1, runs=3, rounds=1),
                           workers=2, chunk=1)
    assert result["measured"] == 4 and result["missing"] == 0
    with LatencyLUT(tmp_path / "l.sqlite") as store:
        rows = store.rows(device.fingerprint)
        assert sorted(r.item for r in rows) == sorted(keys) and store.pending() == (0, 0)
