import csv
import io
import json

import pytest

from gpunet_hub.cli import main


def run(capsys, *args):
    code = main(list(args))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_list_formats(capsys):
    code, out, _ = run(capsys, "list", "--format", "json")
    assert code == 0 and [r["name"] for r in json.loads(out)][0] == "gpunet_0"
    code, out, _ = run(capsys, "list", "--gpu", "V100", "--max-latency-ms", "0.9", "--format", "csv")
    rows = list(csv.DictReader(io.StringIO(out)))
    assert code == 0 and [r["name"] for r in rows] == ["gpunet_0", "gpunet_1", "gpunet_p0"]
    assert {r["gpu"] for r in rows} == {"GV100"} and rows[1]["latency_ms"] == "0.82"
    code, out, _ = run(capsys, "list", "gpunet_p*", "--format", "quiet")
    assert code == 0 and out.split() == ["gpunet_p0", "gpunet_p1"]
    code, out, _ = run(capsys, "list")
    assert code == 0 and "GPUNet-D2" in out


def test_pick_card_gpus(capsys):
    code, out, _ = run(capsys, "pick", "--gpu", "GV100", "--max-latency-ms", "1.0", "--format", "quiet")
    assert (code, out.strip()) == (0, "gpunet_p1")
    code, out, _ = run(capsys, "card", "GPUNet-0", "--format", "json")
    assert code == 0 and json.loads(out)["params"] == 11_885_432
    code, out, _ = run(capsys, "gpus", "--format", "json")
    assert code == 0 and [g["name"] for g in json.loads(out)] == ["GV100", "GA100", "local"]


@pytest.mark.parametrize(
    ("args", "code", "fragment"),
    [
        (("card", "gpunet-9"), 1, "unknown model 'gpunet-9'"),
        (("pick", "--gpu", "T4", "--max-latency-ms", "1"), 1, "unknown GPU 'T4'"),
        (("pick", "--gpu", "GV100", "--max-latency-ms", "0.5"), 1, "smallest budget that selects a model is 0.63 ms"),
        (("list", "--bogus"), 1, "No such option: --bogus"),
        (("pick", "--gpu", "GV100"), 1, "Missing option '--max-latency-ms'"),
    ],
)
def test_errors_are_one_line_on_stderr_without_traceback(capsys, args, code, fragment):
    got, out, err = run(capsys, *args)
    assert got == code
    assert fragment in " ".join(err.split())
    assert "Traceback" not in err and out == ""


def test_download_offline_is_an_environment_error(capsys, monkeypatch):
    monkeypatch.setenv("GPUNET_HUB_OFFLINE", "1")
    code, _, err = run(capsys, "download", "gpunet_0")
    assert code == 2 and "offline mode is on" in err and "Traceback" not in err
