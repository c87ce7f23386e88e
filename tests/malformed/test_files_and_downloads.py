"""Malformed inputs for weights, downloads, the cache, export and bench (issue 9, files part).

Each table is a class of bad input; every case must raise a gpunet_hub.errors type naming the
argument (or, on the CLI, exit 1/2 with one stderr line), before any expensive work, leaving files
as they were.
"""

from __future__ import annotations

import http.server
import io
import json
import os
import signal
import subprocess
import sys
import threading
import time
import zipfile
from pathlib import Path

import pytest

import gpunet_hub
from gpunet_hub import _io
from gpunet_hub.cli import main
from gpunet_hub.errors import CheckpointError, EnvironmentProblem, InputError, WeightsUnavailableError
from gpunet_hub.hub.cards import WeightsSource
from gpunet_hub.measure import prepare, run
from gpunet_hub.weights import fetch_weights
from gpunet_hub.weights._download import download, safe_extract

CARD = gpunet_hub.model_card("gpunet_p0")


def card_with(url: str, **source: object):
    from dataclasses import replace

    return replace(CARD, weights=WeightsSource(url=url, filename="tiny.pth.tar", format="state-dict", **source))


class LocalServer:
    """Serves one response on 127.0.0.1: a payload, trickled or without a Content-Length."""

    def __init__(self, payload: bytes, *, length: bool = True, trickle_s: float = 0.0):
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                self.send_response(200)
                if length:
                    self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                for i in range(len(payload)) if trickle_s else [None]:
                    if outer.stop.is_set():
                        return
                    self.wfile.write(payload if i is None else payload[i : i + 1])
                    self.wfile.flush()
                    if trickle_s:
                        time.sleep(trickle_s)

            def log_message(self, *args):
                pass

        self.stop = threading.Event()
        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/weights.zip"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.stop.set()
        self.httpd.shutdown()
        self.httpd.server_close()


def files_under(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.is_file()) if folder.exists() else []


def names(line: str, flag: str) -> bool:
    """The line names the flag (``--max-seconds``), or its one-word parameter (``plot``) as prose."""
    return flag in line or flag.lstrip("-").replace("-", "_") in line


def one_error_line(capsys) -> str:
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1, err
    assert "Traceback" not in err
    return lines[0]


# --- downloads -----------------------------------------------------------------------------------


def test_trickling_server_hits_the_overall_deadline(tmp_path):
    dest = tmp_path / "w.zip"
    with LocalServer(b"x" * 10_000, trickle_s=0.05) as server:
        start = time.monotonic()
        with pytest.raises(WeightsUnavailableError, match="took longer than 1 s"):
            download(server.url, dest, deadline=1.0, timeout=5.0, progress=False)
        assert time.monotonic() - start < 8  # the deadline, plus at most one read's timeout
    assert files_under(tmp_path) == []


@pytest.mark.parametrize(
    ("payload", "length", "match"),
    [
        (b"<html><body>Sign in</body></html>", False, "web page"),  # no Content-Length: an error page
        (b"<!DOCTYPE html><html></html>", True, "web page"),
        (b"PK\x03\x04" + b"\0" * 40, True, "not a valid zip"),  # a truncated zip
        (b"", False, "not a valid zip"),
    ],
)
def test_a_download_that_is_not_a_zip_is_never_cached(isolated_cache, payload, length, match):
    with LocalServer(payload, length=length) as server, pytest.raises(CheckpointError, match=match):
        fetch_weights(card_with(server.url), "default", progress=False)
    assert files_under(isolated_cache) == []


def test_broken_cache_entries_are_removed_and_named(isolated_cache):
    card = card_with("http://127.0.0.1:9/never-contacted.zip")
    from gpunet_hub.weights.sources import _default  # the cache layout is the function's

    # A cached archive that is an HTML page: refused before use, removed, named.
    downloads = isolated_cache / "downloads"
    downloads.mkdir()
    key = __import__("hashlib").sha256(card.weights.url.encode()).hexdigest()[:12]
    archive = downloads / f"{card.name}-{key}.zip"
    archive.write_bytes(b"<html>oops</html>")
    with pytest.raises(CheckpointError) as info:
        _default(card, progress=False)
    assert str(archive) in str(info.value) and not archive.exists()
    # A cached safetensors file that is truncated: removed, named.
    converted = isolated_cache / "converted" / f"{card.name}-{key}.safetensors"
    converted.parent.mkdir(exist_ok=True)
    converted.write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00{\"a\":")
    with pytest.raises(CheckpointError) as info:
        fetch_weights(card, "default", progress=False)
    assert str(converted) in str(info.value) and not converted.exists()


def test_zip_bomb_is_refused_and_leaves_nothing(tmp_path):
    archive = tmp_path / "bomb.zip"
    with zipfile.ZipFile(archive, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("tiny.pth.tar", b"\0" * (8 << 20))  # 8 MiB of zeros, a few KiB compressed
    assert archive.stat().st_size < 100_000
    dest = tmp_path / "out"
    dest.mkdir()
    with pytest.raises(CheckpointError, match="more than 1048576 bytes"):
        safe_extract(archive, None, dest, max_bytes=1 << 20)
    assert list(dest.iterdir()) == []


def test_a_header_that_understates_the_size_is_caught_while_copying(tmp_path):
    archive = tmp_path / "liar.zip"
    with zipfile.ZipFile(archive, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("tiny.pth.tar", b"\0" * (3 << 20))
    data = bytearray(archive.read_bytes())
    # Patch the central directory's uncompressed size (offset 24 of the 46-byte record) to 1 KiB.
    central = data.rfind(b"PK\x01\x02")
    data[central + 24 : central + 28] = (1024).to_bytes(4, "little")
    archive.write_bytes(bytes(data))
    dest = tmp_path / "out"
    dest.mkdir()
    with pytest.raises(CheckpointError):
        safe_extract(archive, None, dest, max_bytes=1 << 20)
    assert list(dest.iterdir()) == []


@pytest.mark.parametrize(
    "weights",
    ["hf-hub:", "hf-hub:model-only", "hf-hub:a/b/c", "hf-hub:../etc", "hf-hub:org/na me", "hf-hub:org/" + "x" * 200],
)
def test_malformed_hf_hub_ids_are_bad_input(weights):
    start = time.monotonic()
    with pytest.raises(InputError) as info:
        fetch_weights(CARD, weights)
    assert not isinstance(info.value, EnvironmentProblem) and info.value.params == ("weights",)
    assert time.monotonic() - start < 2


def test_well_formed_hf_hub_id_without_network_fails_fast_saying_offline(monkeypatch):
    import huggingface_hub.constants

    monkeypatch.setattr(huggingface_hub.constants, "ENDPOINT", "http://127.0.0.1:9")  # nothing listens
    start = time.monotonic()
    with pytest.raises(WeightsUnavailableError, match="offline"):
        fetch_weights(CARD, "hf-hub:someone/gpunet-p0")
    assert time.monotonic() - start < 5


@pytest.mark.parametrize("weights", ["", "   ", 123, 1.5, True, ["a.pth"], b"x.pth"])
def test_weights_of_the_wrong_kind_are_bad_input(weights):
    with pytest.raises(InputError) as info:
        fetch_weights(CARD, weights)
    assert "weights" in str(info.value)


# --- temp files, signals -------------------------------------------------------------------------


def test_temp_files_of_dead_writers_are_swept_and_live_ones_kept(tmp_path):
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    target = tmp_path / "model.onnx"
    orphan = tmp_path / f".model.onnx.{int(dead.stdout)}.abc123.tmp"
    live = tmp_path / f".model.onnx.{os.getpid()}.def456.tmp"
    other = tmp_path / f".other.onnx.{int(dead.stdout)}.abc123.tmp"
    for p in (orphan, live, other):
        p.write_bytes(b"partial")
    _io.atomic_write_text(target, "done")
    assert target.read_text() == "done"
    assert not orphan.exists() and live.exists() and other.exists()  # only this target's, only the dead's


def test_a_killed_writer_is_cleaned_up_by_the_next_write(tmp_path):
    target = tmp_path / "big.onnx"
    code = (
        "import sys, time; from gpunet_hub._io import atomic_path\n"
        f"with atomic_path({str(target)!r}) as tmp:\n"
        "    tmp.write_bytes(b'x' * 1000); print('ready', flush=True); time.sleep(60)\n"
    )
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().strip() == "ready"
        proc.kill()  # SIGKILL: no cleanup can run
        proc.wait(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert len(list(tmp_path.glob(".big.onnx.*.tmp"))) == 1
    _io.atomic_write_text(target, "ok")
    assert [p.name for p in tmp_path.iterdir()] == ["big.onnx"]


def test_sigterm_is_handled_as_an_interrupt_and_removes_the_temp_file(tmp_path):
    target = tmp_path / "t.onnx"
    with pytest.raises(KeyboardInterrupt), _io.sigterm_as_interrupt(), _io.atomic_path(target) as tmp:
        tmp.write_bytes(b"partial")
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(5)  # interrupted before this ends
    assert list(tmp_path.iterdir()) == []
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL  # the previous handler is back


# --- export ------------------------------------------------------------------------------------------


@pytest.fixture
def no_export(monkeypatch):
    """Fails the test if a model is built or exported: validation must come first."""

    def forbidden(*args, **kwargs):
        raise AssertionError("expensive work started before the arguments were validated")

    monkeypatch.setattr("gpunet_hub.export.resolve_module", forbidden)
    monkeypatch.setattr("gpunet_hub._factory.create_model", forbidden)


def bad_paths(tmp_path: Path) -> list[tuple[str, str]]:
    a_file = tmp_path / "file.txt"
    a_file.write_text("keep me")
    return [("", "empty"), (str(tmp_path), "folder"), (str(a_file / "x.onnx"), "under a file")]


@pytest.mark.parametrize(
    ("kwargs", "param"),
    [
        ({"batch_size": 0}, "batch_size"),
        ({"batch_size": True}, "batch_size"),
        ({"batch_size": 1.5}, "batch_size"),
        ({"batch_size": 10**9}, "batch_size"),
        ({"opset": "17"}, "opset"),
        ({"opset": 99}, "opset"),
        ({"precision": "fp7"}, "precision"),
        ({"precision": None}, "precision"),
        ({"exporter": "magic"}, "exporter"),
        ({"input_size": (3, -1, 4)}, "input_size"),
        ({"input_size": "3x224x224"}, "input_size"),
        ({"input_size": (3, 2.5, 4)}, "input_size"),
        ({"rtol": float("nan")}, "rtol"),
        ({"atol": -1}, "atol"),
        ({"seed": -1}, "seed"),
        ({"check": "yes"}, "check"),
        ({"input_name": ""}, "input_name"),
    ],
)
def test_export_onnx_refuses_bad_arguments_before_building(no_export, tmp_path, kwargs, param):
    with pytest.raises(InputError) as info:
        gpunet_hub.export_onnx("gpunet_p0", tmp_path / "m.onnx", **kwargs)
    assert param in info.value.params
    assert list(tmp_path.iterdir()) == []


def test_export_cli_refuses_bad_out_paths_before_exporting(no_export, tmp_path, capsys):
    for out, why in bad_paths(tmp_path):
        assert main(["export", "gpunet_p0", "--out", out]) == 1, why
        assert names(one_error_line(capsys), "--out"), why
    for flag, value in (("--batch-size", "0"), ("--opset", "99"), ("--precision", "fp7")):
        assert main(["export", "gpunet_p0", "--out", str(tmp_path / "m.onnx"), flag, value]) == 1
        assert names(one_error_line(capsys), flag)
    assert (tmp_path / "file.txt").read_text() == "keep me" and not (tmp_path / "m.onnx").exists()


# --- bench ------------------------------------------------------------------------------------------


@pytest.fixture
def no_timing(monkeypatch):
    def forbidden(*args, **kwargs):
        raise AssertionError("timing started before the arguments were validated")

    monkeypatch.setattr("gpunet_hub.measure._run.bench_target", forbidden)


@pytest.mark.parametrize(
    ("argv", "flag"),
    [
        (["--max-seconds", "-1"], "--max-seconds"),
        (["--max-seconds", "0"], "--max-seconds"),
        (["--max-seconds", "nan"], "--max-seconds"),
        (["--max-seconds", "inf"], "--max-seconds"),
        (["--warmup-seconds", "inf"], "--warmup-seconds"),
        (["--warmup-seconds", "nan"], "--warmup-seconds"),
        (["--warmup-seconds", "-1"], "--warmup-seconds"),
        (["--min-seconds", "1e12"], "--min-seconds"),
        (["--min-runs", "0"], "--min-runs"),
        (["--warmup", "-3"], "--warmup"),
        (["--threads", "0"], "--threads"),
        (["--batch-size", "0"], "--batch-size"),
        (["--tolerance", "nan"], "--tolerance"),
        (["--max-cv", "0"], "--max-cv"),
        (["--max-cv", "inf"], "--max-cv"),
        (["--max-latency-ms", "-1", "--gpu", "GV100"], "--max-latency-ms"),
        (["--plot", "pareto.xyz"], "--plot"),
        (["--plot", ""], "--plot"),
        (["--output", ""], "--output"),
    ],
)
def test_bench_refuses_bad_arguments_before_timing(no_timing, tmp_path, monkeypatch, capsys, argv, flag):
    monkeypatch.chdir(tmp_path)
    assert main(["bench", "gpunet_p0", *argv]) == 1
    assert names(one_error_line(capsys), flag)
    assert list(tmp_path.iterdir()) == []


def test_bench_refuses_unwritable_outputs_before_timing(no_timing, tmp_path, capsys):
    for flag in ("--output", "--plot"):
        for path, why in bad_paths(tmp_path):
            assert main(["bench", "gpunet_p0", flag, path.replace(".onnx", ".png")]) == 1, (flag, why)
            assert names(one_error_line(capsys), flag), (flag, why)
    assert (tmp_path / "file.txt").read_text() == "keep me"


@pytest.mark.parametrize(
    ("fields", "param"),
    [
        ({"models": "gpunet_0"}, "models"),
        ({"models": ("gpunet_0",), "batch_size": True}, "batch_size"),
        ({"models": ("gpunet_0",), "warmup": 1.5}, "warmup"),
        ({"models": ("gpunet_0",), "max_seconds": float("nan")}, "max_seconds"),
        ({"models": ("gpunet_0",), "warmup_seconds": float("inf")}, "warmup_seconds"),
        ({"models": ("gpunet_0",), "save": "yes"}, "save"),
        ({"models": ("gpunet_0",), "precision": 16}, "precision"),
        ({"models": ("gpunet_0",), "compare": (None,)}, "compare"),
        ({"models": ("gpunet_0",), "bogus": 1}, "bogus"),
        ({"models": 42}, "models"),
    ],
)
def test_bench_api_refuses_bad_fields(no_timing, fields, param):
    with pytest.raises(InputError) as info:
        run(**fields)
    assert param in info.value.params


@pytest.mark.parametrize(
    ("fields", "param"),
    [
        ({"warmup_seconds": float("inf")}, "warmup_seconds"),  # would warm up forever
        ({"min_seconds": float("nan")}, "min_seconds"),
        ({"max_seconds": -1.0}, "max_seconds"),
        ({"min_runs": 2.5}, "min_runs"),
        ({"warmup_runs": True}, "warmup_runs"),
        ({"max_runs": 0}, "max_runs"),
    ],
)
def test_timing_plans_are_bounded(fields, param):
    from gpunet_hub.measure import TimingPlan

    with pytest.raises(InputError) as info:
        TimingPlan(**fields)
    assert param in info.value.params


@pytest.mark.parametrize("name", [123, None, ["onnxruntime-cpu"], "onnxrt-cpu"])
def test_unknown_backends_are_bad_input(name):
    from gpunet_hub.measure import get_backend

    with pytest.raises(InputError, match="unknown backend"):
        get_backend(name)


def test_prepare_refuses_what_is_not_a_request():
    with pytest.raises(InputError, match="BenchRequest"):
        prepare({"models": ("gpunet_0",)})


def test_unstable_rows_are_flagged_and_not_saved_unless_asked(isolated_cache, monkeypatch):
    from gpunet_hub.measure.device import cpu_device
    from gpunet_hub.measure.record import BenchRecord
    from gpunet_hub.measure.stats import TimingResult

    def timed(target, config, *, device=None, on_stage=None):  # steady vs noisy runs, no real timing
        times = (1.0, 1.0, 1.0) if target.name == "gpunet_p0" else (0.123456789, 0.5, 0.9)
        timing = TimingResult(times, "onnxruntime-cpu", "test", settings={"threads": 1})
        return BenchRecord.from_timing(
            target.name, timing, kind=target.kind, input_shape=(1, *target.input_size), precision="fp32",
            device=cpu_device(1),
        )

    monkeypatch.setattr("gpunet_hub.measure._run.bench_target", timed)
    report = run(models=("gpunet_p0", "gpunet_p1"), save=True, backend="onnxruntime-cpu")
    assert report.unstable == ("gpunet_p1",) and report.unsaved == ("gpunet_p1",)
    (row,) = json.loads(report.saved_to.read_text())["rows"]
    assert row["model"] == "gpunet_p0"
    report = run(models=("gpunet_p1",), save=True, save_unstable=True, backend="onnxruntime-cpu")
    assert report.unsaved == ()
    saved = {r["model"]: r for r in json.loads(report.saved_to.read_text())["rows"]}
    assert saved["gpunet_p1"]["mean_ms"] == 0.5078  # 0.507818929... to four significant figures
    assert saved["gpunet_p1"]["ms"] == 0.5


# --- cache -------------------------------------------------------------------------------------------


def test_cache_info_and_clear_free_only_what_can_be_rebuilt(isolated_cache, capsys):
    (isolated_cache / "onnx").mkdir()
    (isolated_cache / "onnx" / "a.onnx").write_bytes(b"x" * 2048)
    (isolated_cache / "converted").mkdir()
    (isolated_cache / "converted" / "w.safetensors").write_bytes(b"y" * 1024)
    table = isolated_cache / "local_latency.json"
    table.write_text("{}")
    assert main(["cache", "info", "--format", "csv"]) == 0
    listing = capsys.readouterr().out
    assert "onnx,1,2048" in listing and "converted,1,1024" in listing
    assert main(["cache", "clear", "nothing-such"]) == 1
    assert "nothing-such" in one_error_line(capsys)
    assert (isolated_cache / "onnx" / "a.onnx").exists()  # a bad call deletes nothing
    assert main(["cache", "clear", "onnx"]) == 0
    assert not (isolated_cache / "onnx").exists() and (isolated_cache / "converted" / "w.safetensors").exists()
    assert main(["cache", "clear"]) == 0
    assert files_under(isolated_cache) == [table]  # measurements are never cleared


def test_a_successful_download_keeps_only_the_safetensors(isolated_cache):
    import torch

    buffer, state = io.BytesIO(), io.BytesIO()
    torch.save({"stem.0.conv.weight": torch.zeros(2, 3)}, state)  # fetching converts; loading checks keys
    with zipfile.ZipFile(buffer, "w") as zf:
        zf.writestr("tiny.pth.tar", state.getvalue())
    with LocalServer(buffer.getvalue(), length=False) as server:
        path = fetch_weights(card_with(server.url), "default", progress=False)
    assert files_under(isolated_cache) == [path] and path.suffix == ".safetensors"


def test_a_damaged_onnx_cache_entry_is_exported_again(tmp_path):
    import onnx
    import torch

    from gpunet_hub.measure._run import BenchConfig, export_cached

    config = BenchConfig(backend="onnxruntime-cpu", precision="fp32", onnx_dir=tmp_path)
    conv = torch.nn.Conv2d(3, 4, 3)
    path = export_cached(conv, "conv", (3, 8, 8), config, "conv-3-4")
    path.write_bytes(path.read_bytes()[:40])  # a truncated cache entry
    assert export_cached(conv, "conv", (3, 8, 8), config, "conv-3-4") == path
    onnx.checker.check_model(str(path))
