"""`gpunet-hub ... --hub DIR`: list, card, pick, gpus, download and bench read a regenerated hub."""

# ruff: noqa: F811 - the tiny-hub fixtures are imported from tiny_hub.py and named as parameters
import json
import re
import shutil

import pytest
from tiny_hub import CPU_LABEL, tiny_hub, tiny_hub_states  # noqa: F401 - fixtures (see tiny_hub.py)

from gpunet_hub.cli import main
from gpunet_hub.hub.cards_io import HUB_INDEX_NAME, WEIGHTS_NAME

FAST = ["--min-runs", "3", "--min-seconds", "0", "--warmup", "1", "--warmup-seconds", "0"]


def run(capsys, *args):
    code = main([str(a) for a in args])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_list_card_pick_gpus_read_the_hub_and_say_the_dataset(tiny_hub, capsys):
    code, out, _ = run(capsys, "list", "--hub", tiny_hub, "--gpu", "cpu", "--format", "json")
    rows = json.loads(out)
    assert code == 0 and [r["name"] for r in rows] == ["tiny_fast", "tiny_slow"]
    assert {(r["dataset"], r["gpu"], r["precision"]) for r in rows} == {("digits", CPU_LABEL, "fp32")}
    code, out, _ = run(capsys, "list", "--hub", tiny_hub)
    assert code == 0 and re.search(r"tiny_slow +95.25 digits", out)  # a top-1 is shown with its dataset
    code, out, _ = run(capsys, "card", "tiny_slow", "--hub", tiny_hub)
    assert code == 0 and "95.25 % on scikit-learn digits" in out and "not ImageNet" in out
    assert "provenance" in out and WEIGHTS_NAME in out
    code, out, _ = run(
        capsys, "pick", "--hub", tiny_hub, "--gpu", "cpu", "--max-latency-ms", "1.0", "--format", "quiet"
    )
    assert (code, out.strip()) == (0, "tiny_fast")
    code, out, _ = run(capsys, "gpus", "--hub", tiny_hub, "--format", "json")
    assert code == 0 and [g["name"] for g in json.loads(out)] == [CPU_LABEL, "local"]
    code, out, _ = run(capsys, "list", "--format", "json")  # without --hub: the packaged hub
    assert code == 0 and {r["dataset"] for r in json.loads(out)} == {"imagenet-1k"}


def test_download_checks_a_hub_cards_weights(tiny_hub, capsys):
    code, out, err = run(capsys, "download", "tiny_fast", "--hub", tiny_hub)
    assert code == 0 and str(tiny_hub / "tiny_fast" / WEIGHTS_NAME) in " ".join((out + err).split())


def test_bench_measures_and_picks_from_a_hub(tiny_hub, capsys, monkeypatch):
    monkeypatch.delenv("GPUNET_HUB_PATH", raising=False)
    code, out, err = run(
        capsys, "bench", "--hub", tiny_hub, "--gpu", "cpu", "--max-latency-ms", "1.0", "--format", "json", *FAST
    )
    assert code == 0, err
    (record,) = json.loads(out)["records"]
    assert record["model"] == "tiny_fast" and record["input_shape"] == [1, 3, 64, 64]
    assert "the hub picks tiny_fast" in " ".join(err.split())
    assert "GPUNET_HUB_PATH" not in __import__("os").environ  # the command's scope ended with it


@pytest.mark.parametrize(
    ("args", "code", "fragment"),
    [
        (["list", "--hub", "{missing}"], 1, "does not exist"),
        (["card", "gpunet_0", "--hub", "{hub}"], 1, "unknown model 'gpunet_0'"),
        (["pick", "--hub", "{hub}", "--gpu", "GV100", "--max-latency-ms", "1"], 1, "no latency rows for 'GV100'"),
        (["pick", "--hub", "{hub}", "--gpu", "tpu", "--max-latency-ms", "1"], 1, "unknown device 'tpu'"),
        (["gpus", "--hub", "{corrupt}"], 1, "is corrupt"),
        (["bench", "tiny_fast", "--hub", "{missing}"], 1, "does not exist"),
        (["list", "--hub", "hf-hub:org/not-cached"], 2, "not in the local Hub cache"),
    ],
)
def test_bad_hubs_are_one_line_errors(args, code, fragment, tiny_hub, tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    corrupt = shutil.copytree(tiny_hub, tmp_path / "corrupt")
    (corrupt / HUB_INDEX_NAME).write_text("[")
    places = {"missing": tmp_path / "missing", "hub": tiny_hub, "corrupt": corrupt}
    got, out, err = run(capsys, *(a.format(**places) for a in args))
    assert got == code and fragment in err and "Traceback" not in err
    assert err.count("\n") == 1 and not out
