"""Reading regenerated hubs: hub=DIR, GPUNET_HUB_PATH, hf-hub: (offline), and their bad inputs."""

# ruff: noqa: F811 - the tiny-hub fixtures are imported from tiny_hub.py and named as parameters
import json
import shutil

import pytest
import torch
from tiny_hub import CPU_LABEL, TINY_ENTRIES, tiny_hub, tiny_hub_states  # noqa: F401 - fixtures (see tiny_hub.py)

import gpunet_hub
from gpunet_hub import (
    CheckpointError,
    EnvironmentProblem,
    InputError,
    NoModelWithinBudgetError,
    UnknownGPUError,
    UnknownModelError,
    WeightsUnavailableError,
)
from gpunet_hub.hub.cards_io import HUB_INDEX_NAME, WEIGHTS_NAME


def test_list_select_and_load_a_hub_folder(tiny_hub, tiny_hub_states):
    assert gpunet_hub.list_models(hub=tiny_hub) == sorted(TINY_ENTRIES)
    assert gpunet_hub.list_models(hub=str(tiny_hub), gpu=CPU_LABEL, max_latency_ms=1.0) == ["tiny_fast"]
    assert gpunet_hub.list_gpus(hub=tiny_hub) == [CPU_LABEL]
    # the device it was measured on, by its label or a unique part of it, case-insensitive
    for name in (CPU_LABEL, CPU_LABEL.upper(), "cpu", " xeon 9000 "):
        assert gpunet_hub.select(name, 2.0, hub=tiny_hub) == "tiny_slow"  # 95.25 % at 1.6 ms
    assert gpunet_hub.select("cpu", 1.0, hub=tiny_hub) == "tiny_fast"
    card = gpunet_hub.model_card("Tiny-Fast", hub=tiny_hub)
    assert (card.name, card.dataset, card.provenance["search_run"]) == ("tiny_fast", "digits", "tiny-run")
    assert (
        card.weights.url == WEIGHTS_NAME and card.weights.size == (tiny_hub / "tiny_fast" / WEIGHTS_NAME).stat().st_size
    )
    model = gpunet_hub.load(gpu="cpu", max_latency_ms=1.0, hub=tiny_hub)
    assert not model.training and model.arch == card.arch
    for key, value in tiny_hub_states[1]["tiny_fast"].items():
        assert torch.equal(model.state_dict()[key], value), key
    # the packaged hub is unchanged by reading another one
    assert "tiny_fast" not in gpunet_hub.list_models() and gpunet_hub.select("GV100", 1.0) == "gpunet_p1"


def test_a_hub_device_gets_the_same_errors_as_the_packaged_gpus(tiny_hub):
    with pytest.raises(UnknownGPUError, match=r"unknown device 'Xeom 9000'.*has latency rows for 'CPU: Example"):
        gpunet_hub.select("Xeom 9000", 1.0, hub=tiny_hub)
    with pytest.raises(UnknownGPUError, match="has no latency rows for 'GV100'"):
        gpunet_hub.select("GV100", 1.0, hub=tiny_hub)
    with pytest.raises(NoModelWithinBudgetError, match=r"smallest budget that selects a model is 0.8 ms"):
        gpunet_hub.select("cpu", 0.1, hub=tiny_hub)
    with pytest.raises(UnknownModelError, match=r"unknown model 'gpunet_0' in .*available: tiny_fast, tiny_slow"):
        gpunet_hub.model_card("gpunet_0", hub=tiny_hub)
    with pytest.raises(InputError, match="precision 'fp16' has no latency rows"):
        gpunet_hub.hub.candidates("cpu", precision="fp16", hub=tiny_hub)


def test_rows_labelled_with_a_gpu_name_answer_to_its_aliases(tiny_hub, tmp_path):
    copy = shutil.copytree(tiny_hub, tmp_path / "hub")
    index = copy / HUB_INDEX_NAME
    index.write_text(index.read_text().replace(CPU_LABEL, "GPU: NVIDIA A100-SXM4-80GB"))
    for name in ("A100", "ga100", "NVIDIA A100-SXM4-80GB", "GPU: NVIDIA A100-SXM4-80GB"):
        assert gpunet_hub.select(name, 1.0, hub=copy) == "tiny_fast"
    with pytest.raises(UnknownGPUError, match="has no latency rows for 'V100'"):
        gpunet_hub.select("V100", 1.0, hub=copy)


def test_a_hub_folder_without_index_reads_its_card_folders(tiny_hub, tmp_path):
    copy = shutil.copytree(tiny_hub, tmp_path / "hub")
    (copy / HUB_INDEX_NAME).unlink()
    assert gpunet_hub.list_models(hub=copy) == sorted(TINY_ENTRIES)
    assert gpunet_hub.model_card("tiny_slow", hub=copy) == gpunet_hub.model_card("tiny_slow", hub=tiny_hub)


def test_gpunet_hub_path_adds_folders_to_the_packaged_hub(tiny_hub, tiny_hub_states, tmp_path, monkeypatch):
    monkeypatch.setenv("GPUNET_HUB_PATH", str(tiny_hub))
    assert set(gpunet_hub.list_models()) >= {"gpunet_0", "tiny_fast", "tiny_slow"}
    assert gpunet_hub.list_gpus() == ["GV100", "GA100", CPU_LABEL]
    assert gpunet_hub.select("GV100", 1.0) == "gpunet_p1" and gpunet_hub.select("cpu", 1.0) == "tiny_fast"
    model = gpunet_hub.create_model("tiny_slow", weights="default")  # weights from its card folder
    assert torch.equal(model.classifier.weight, tiny_hub_states[1]["tiny_slow"]["classifier.weight"])
    # the same models twice: a typed error naming both sources
    twin = shutil.copytree(tiny_hub, tmp_path / "twin")
    monkeypatch.setenv("GPUNET_HUB_PATH", f"{tiny_hub}:{twin}")
    with pytest.raises(InputError) as info:
        gpunet_hub.list_models()
    message = str(info.value)
    assert str(tiny_hub) in message and str(twin) in message and "GPUNET_HUB_PATH" in message and "\n" not in message
    monkeypatch.setenv("GPUNET_HUB_PATH", str(tmp_path / "nowhere"))
    with pytest.raises(InputError, match=r"GPUNET_HUB_PATH entry .*nowhere' does not exist"):
        gpunet_hub.list_models()


def test_a_released_name_in_a_hub_folder_clashes_with_the_packaged_hub(tiny_hub, tmp_path, monkeypatch):
    copy = shutil.copytree(tiny_hub, tmp_path / "hub")
    index = json.loads((copy / HUB_INDEX_NAME).read_text())
    index["models"]["tiny_fast"]["aliases"] = ["GPUNet-0"]
    (copy / HUB_INDEX_NAME).write_text(json.dumps(index))
    monkeypatch.setenv("GPUNET_HUB_PATH", str(copy))
    with pytest.raises(
        InputError, match=r"'GPUNet-0' of tiny_fast from .* is already taken by gpunet_0 from the packaged hub"
    ):
        gpunet_hub.model_card("gpunet_0")


def _hf_cache(isolated_cache, monkeypatch, folder, repo="org/tiny-gpunets"):
    """``folder`` laid out in the huggingface_hub cache as the snapshot of ``repo`` (as after a download)."""
    import huggingface_hub.constants

    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(isolated_cache / "hf"))
    revision = "b" * 40
    entry = isolated_cache / "hf" / f"models--{repo.replace('/', '--')}"
    shutil.copytree(folder, entry / "snapshots" / revision)
    (entry / "refs").mkdir()
    (entry / "refs" / "main").write_text(revision)
    return f"hf-hub:{repo}"


def test_hf_hub_reads_a_published_hub_from_the_cache_offline(tiny_hub, tiny_hub_states, isolated_cache, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(WeightsUnavailableError, match=r"cannot fetch the hub 'org/tiny-gpunets'.*offline mode is on"):
        gpunet_hub.list_models(hub="hf-hub:org/tiny-gpunets")
    hub = _hf_cache(isolated_cache, monkeypatch, tiny_hub)
    assert gpunet_hub.list_models(hub=hub) == sorted(TINY_ENTRIES)
    assert gpunet_hub.select("cpu", 5.0, hub=hub) == "tiny_slow"
    model = gpunet_hub.load("tiny_slow", hub=hub)
    assert torch.equal(model.classifier.weight, tiny_hub_states[1]["tiny_slow"]["classifier.weight"])
    with pytest.raises(InputError, match="hub='hf-hub:not an id' is not a Hugging Face Hub model id"):
        gpunet_hub.list_models(hub="hf-hub:not an id")


@pytest.mark.parametrize(
    ("damage", "error", "fragment"),
    [
        ("missing", InputError, "does not exist"),
        ("file", InputError, "is a file, not a hub folder"),
        ("empty", InputError, "holds no model cards"),
        ("index-not-json", InputError, "is corrupt"),
        ("index-no-models", InputError, "not a gpunet-hub index"),
        ("index-bad-card", InputError, "model 'tiny_fast': missing or malformed field"),
        ("index-lists-a-missing-folder", InputError, "has no such card folders"),
    ],
)
def test_a_bad_hub_folder_is_a_one_line_typed_error(damage, error, fragment, tiny_hub, tmp_path):
    target = tmp_path / "hub"
    if damage == "file":
        target.write_text("not a folder")
    elif damage == "empty":
        target.mkdir()
    elif damage != "missing":
        shutil.copytree(tiny_hub, target)
        index = target / HUB_INDEX_NAME
        data = json.loads(index.read_text())
        if damage == "index-not-json":
            index.write_text("{")
        elif damage == "index-no-models":
            index.write_text(json.dumps({"version": data["version"]}))
        elif damage == "index-bad-card":
            del data["models"]["tiny_fast"]["arch"]
            index.write_text(json.dumps(data))
        else:
            shutil.rmtree(target / "tiny_fast")
    with pytest.raises(error) as info:
        gpunet_hub.list_models(hub=target)
    assert fragment in str(info.value) and "\n" not in str(info.value)
    with pytest.raises(InputError, match="hub must be a hub folder or 'hf-hub:org/repo', got int 3"):
        gpunet_hub.list_models(hub=3)


@pytest.mark.parametrize(
    ("damage", "fragment"),
    [
        ("truncated", "bytes, the card of tiny_fast says"),
        ("swapped", "SHA-256 differs"),
        ("removed", "has no weights file"),
    ],
)
def test_card_folder_weights_are_checked_by_size_and_hash(damage, fragment, tiny_hub, tmp_path):
    copy = shutil.copytree(tiny_hub, tmp_path / "hub")
    weights = copy / "tiny_fast" / WEIGHTS_NAME
    if damage == "truncated":
        weights.write_bytes(weights.read_bytes()[:-10])
    elif damage == "swapped":  # same size, other bytes
        data = bytearray(weights.read_bytes())
        data[-1] ^= 0xFF
        weights.write_bytes(bytes(data))
    else:
        weights.unlink()
    with pytest.raises(CheckpointError, match=fragment):
        gpunet_hub.load("tiny_fast", hub=copy)
    assert gpunet_hub.load("tiny_fast", hub=copy, weights=None).num_classes == 10  # random init still works


def test_a_hub_card_outside_its_folder_has_no_default_weights(tiny_hub):
    card = gpunet_hub.model_card("tiny_fast", hub=tiny_hub)
    from gpunet_hub.weights.sources import fetch_weights

    with pytest.raises(WeightsUnavailableError, match="not read from a hub folder") as info:
        fetch_weights(card, "default")
    assert isinstance(info.value, EnvironmentProblem)


def test_reading_a_hub_folder_does_not_import_torch(tiny_hub):
    import subprocess
    import sys

    code = (
        f"import sys, gpunet_hub; hub = {str(tiny_hub)!r}; gpunet_hub.list_models(hub=hub); "
        "gpunet_hub.select('cpu', 5.0, hub=hub); gpunet_hub.model_card('tiny_fast', hub=hub); "
        "print('torch' in sys.modules)"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60)
    assert result.stdout.strip() == "False"
