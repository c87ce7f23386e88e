"""trtexec: version detection, the command per TensorRT version, and parsers on recorded output.

Fixtures and their public sources: tests/measure/fixtures/trtexec/README.md.
"""

from __future__ import annotations

import os
import stat
import sys
from pathlib import Path

import pytest

from gpunet_hub.measure import _trtexec as trtexec
from gpunet_hub.measure._trtexec import TrtexecOptions, TrtVersion, build_command, parse_console, parse_times
from gpunet_hub.errors import InputError

FIXTURES = Path(__file__).parent / "fixtures" / "trtexec"


def read(name: str) -> str:
    return (FIXTURES / name).read_text()


def test_version_tags_8x_10x_11x():
    assert trtexec.parse_version(read("trt8.4_meta-tegra-952.log")) == TrtVersion(8, 4, 0)
    assert trtexec.parse_version(read("trt10.2_issue4036_header.log")) == TrtVersion(10, 2, 0)
    # Constructed: the 11.1 tag format of TensorRT's samples/common/logging.h at 11.1.
    assert trtexec.parse_version("&&&& RUNNING TensorRT.trtexec [TensorRT v110100] [b106] # trtexec --onnx=m.onnx") == TrtVersion(11, 1, 0)
    assert trtexec.decode_version_tag(8601) == TrtVersion(8, 6, 1)
    assert trtexec.parse_version("[I] TensorRT version: 8.6.3") == TrtVersion(8, 6, 3)
    assert trtexec.parse_version("no version here") is None


def test_version_from_help_options_when_untagged():
    assert trtexec.version_from_help("  --workspace=N  Set workspace size in MiB.\n  --fp16") == TrtVersion(8, 0, 0)
    assert trtexec.version_from_help("  --fp16  Enable fp16 precision\n  --memPoolSize=") == TrtVersion(10, 0, 0)
    assert trtexec.version_from_help("  --noCudaGraph  Disable CUDA graph") == TrtVersion(11, 0, 0)


def test_console_8_4_single_percentile_format():
    summary = parse_console(read("trt8.4_meta-tegra-952.log"))
    assert summary.status == "PASSED"
    gpu = summary.gpu_compute
    assert (gpu.min, gpu.max, gpu.mean, gpu.median) == (0.375977, 0.403564, 0.388221, 0.388443)
    assert gpu.percentiles == {99.0: 0.393188}
    assert summary.throughput_qps == 41087.7
    assert summary.unstable_cv_percent is None
    assert set(summary.metrics) == {"Latency", "Enqueue Time", "H2D Latency", "GPU Compute Time", "D2H Latency"}


def test_console_multi_percentile_format():
    summary = parse_console(read("trt_summary_issue4177.log"))
    gpu = summary.gpu_compute
    assert gpu.median == 7.14139 and gpu.mean == 7.58404
    assert gpu.percentiles == {90.0: 10.2881, 95.0: 10.8175, 99.0: 12.9485}
    assert summary.metrics["H2D Latency"].median == 0.00814819
    assert summary.status is None and summary.version is None


def test_console_flattened_paste_with_instability_warning():
    summary = parse_console(read("trt_flattened_unstable_yolo-on-jetson-4.log"))
    assert summary.unstable_cv_percent == 5.55763
    assert summary.gpu_compute.median == 3.71753
    assert summary.gpu_compute.percentiles == {99.0: 3.87793}
    assert summary.metrics["Latency"].max == 6.19507  # "max 6.19507 ms" lost its "="


def test_exponent_and_inf_numbers():
    line = "[I] GPU Compute Time: min = 9.7e-05 ms, max = inf ms, mean = 1e-04 ms, median = 9.9e-05 ms, percentile(99%) = 0.0001 ms"
    gpu = parse_console(line).gpu_compute
    assert gpu.min == 9.7e-05 and gpu.max == float("inf") and gpu.median == 9.9e-05


def test_export_times_current_and_old_formats():
    current = parse_times(read("times_format_current.json"), warmup_ms=500)
    assert len(current) == 101
    old_all = parse_times(read("times_format_old_with_warmups.json"))
    old = parse_times(read("times_format_old_with_warmups.json"), warmup_ms=500)
    assert len(old_all) == 113 and len(old) == 101  # older 8.x wrote the 12 warm-up queries too
    assert old == old_all[12:]
    with pytest.raises(InputError):
        parse_times('{"computeMs": 1}')
    with pytest.raises(InputError):
        parse_times('[{"latencyMs": 1}]')


def test_result_cross_checks_the_console_median():
    times = parse_times(read("times_format_current.json"))
    from gpunet_hub.measure.stats import summarize

    s = summarize(times)
    header = "&&&& RUNNING TensorRT.trtexec [TensorRT v100200] # trtexec --onnx=m.onnx\n"
    agree = header + f"[I] GPU Compute Time: min = {s.min:.6g} ms, max = {s.max:.6g} ms, mean = {s.mean:.6g} ms, median = {s.median:.6g} ms, percentile(99%) = {s.p99:.6g} ms\n"
    result = trtexec.result_from_outputs(agree, read("times_format_current.json"))
    assert result.backend == "trtexec" and result.backend_version == "10.2.0"
    assert result.summary.median == pytest.approx(s.median)
    assert result.notes == ()
    assert result.settings["console_median_ms"] == pytest.approx(s.median, rel=1e-5)
    disagree = agree.replace(f"median = {s.median:.6g}", "median = 0.9") + (
        "[W] * GPU compute time is unstable, with coefficient of variance = 3.2%.\n"
    )
    result = trtexec.result_from_outputs(disagree, read("times_format_current.json"))
    assert any("differs from the console" in n for n in result.notes)
    assert any("unstable (CV 3.2%)" in n for n in result.notes)
    with pytest.raises(InputError):
        trtexec.result_from_outputs("no tag", read("times_format_current.json"))


def _flags(version: TrtVersion, **options) -> list[str]:
    argv, _ = build_command("trtexec", version, "m.onnx", "t.json", TrtexecOptions(**options))
    return argv[1:]


def test_command_8x():
    argv = _flags(TrtVersion(8, 2, 1))
    assert "--fp16" in argv and "--workspace=4096" in argv
    assert "--useCudaGraph" in argv and "--noDataTransfers" in argv and "--useSpinWait" in argv
    assert {"--iterations=1000", "--duration=0", "--warmUp=500", "--exportTimes=t.json"} <= set(argv)
    assert "--memPoolSize=workspace:4096" in _flags(TrtVersion(8, 6, 1))


def test_command_10x_has_no_workspace_flag():
    argv, settings = build_command("trtexec", TrtVersion(10, 2, 0), "m.onnx", "t.json", TrtexecOptions(timing_cache="tc.bin"))
    assert "--fp16" in argv and "--memPoolSize=workspace:4096" in argv and "--timingCacheFile=tc.bin" in argv
    assert not any(a.startswith("--workspace") for a in argv)
    assert settings["typing"] == "weak" and settings["cuda_graph"] is True and settings["data_transfers"] is False
    assert "--fp16" not in _flags(TrtVersion(10, 2, 0), precision="fp32")


def test_command_11x_has_no_precision_flags_and_inverted_defaults():
    argv, settings = build_command("trtexec", TrtVersion(11, 1, 0), "m.onnx", "t.json", TrtexecOptions())
    for removed in ("--fp16", "--workspace", "--useCudaGraph", "--noDataTransfers", "--useSpinWait", "--stronglyTyped"):
        assert not any(a.startswith(removed) for a in argv), removed
    assert settings["typing"] == "strong"
    opted_out = _flags(TrtVersion(11, 0, 0), cuda_graph=False, data_transfers=True, spin_wait=False)
    assert {"--noCudaGraph", "--includeDataTransfers", "--noSpinWait"} <= set(opted_out)
    with pytest.raises(InputError):
        _flags(TrtVersion(10, 0, 0), precision="int8")


def test_trtexec_11_refuses_fp32_onnx_for_fp16(tmp_path):
    import torch

    from gpunet_hub.export import export_onnx

    path = export_onnx(torch.nn.Conv2d(3, 4, 1), tmp_path / "c.onnx", input_size=(3, 8, 8), check=False)
    with pytest.raises(InputError, match="FP16 ONNX"):
        trtexec.run(path, TrtexecOptions(precision="fp16"), binary="/nonexistent/trtexec", version=TrtVersion(11, 1, 0))


@pytest.mark.skipif(sys.platform == "win32", reason="uses a POSIX shell script")
def test_run_plumbing_with_a_replay_binary(tmp_path):
    """Subprocess plumbing only: a script that replays a recorded log and writes an exportTimes file."""
    script = tmp_path / "trtexec"
    log = FIXTURES / "trt8.4_meta-tegra-952.log"
    times = FIXTURES / "times_format_current.json"
    script.write_text(
        "#!/bin/sh\n"
        'for a in "$@"; do case "$a" in --exportTimes=*) cp "%s" "${a#--exportTimes=}";; esac; done\n'
        'echo "$@" > "%s"\ncat "%s"\n' % (times, tmp_path / "argv.txt", log)
    )
    script.chmod(script.stat().st_mode | stat.S_IEXEC)
    result = trtexec.run("m.onnx", TrtexecOptions(iterations=1000), binary=str(script), version=TrtVersion(8, 4, 0))
    argv = (tmp_path / "argv.txt").read_text()
    assert "--fp16" in argv and "--memPoolSize=workspace:4096" in argv
    assert len(result.times_ms) == 101 and result.backend_version == "8.4.0"
    # the recorded log belongs to another run, so the cross-check must flag the mismatch
    assert any("differs from the console" in n for n in result.notes)


def test_failed_run_raises(tmp_path):
    script = tmp_path / "trtexec"
    script.write_text("#!/bin/sh\necho '[E] Unknown option: --fp16' >&2\necho '&&&& FAILED TensorRT.trtexec [TensorRT v110100] # trtexec'\nexit 1\n")
    script.chmod(0o755)
    with pytest.raises(trtexec.TrtexecError, match="Unknown option"):
        trtexec.run("m.onnx", TrtexecOptions(precision="fp32"), binary=str(script), version=TrtVersion(11, 1, 0))


def test_availability_without_binary(monkeypatch, tmp_path):
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.delenv(trtexec.TRTEXEC_ENV, raising=False)
    ok, reason = trtexec.available()
    assert not ok and "trtexec" in reason


@pytest.mark.skipif(trtexec.find_trtexec() is None or not __import__("torch").cuda.is_available(), reason="needs trtexec and a CUDA GPU")
def test_real_trtexec_run(tmp_path):  # pragma: no cover - no GPU on this project's machines
    from conftest import TINY_STANDARD

    import gpunet_hub
    from gpunet_hub.export import export_onnx

    path = export_onnx(gpunet_hub.build(TINY_STANDARD), tmp_path / "t.onnx", check=False)
    result = trtexec.run(path, TrtexecOptions(precision="fp32", iterations=200))
    assert len(result.times_ms) >= 200 and result.summary.median > 0
    assert os.path.exists(path)
