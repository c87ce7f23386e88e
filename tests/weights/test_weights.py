"""Weights: NVIDIA checkpoints, archives, downloads from a local HTTP server, and hostile inputs."""

import argparse
import http.server
import io
import os
import pickle
import threading
import zipfile

import pytest
import torch
from conftest import TINY_DISTILL, TINY_STANDARD
from safetensors.torch import save_file

import gpunet_hub
from gpunet_hub import CheckpointError, InputError, WeightsUnavailableError
from gpunet_hub.arch import from_list
from gpunet_hub.builder import build_model
from gpunet_hub.hub.cards import ModelCard, WeightsSource
from gpunet_hub.pretrained import PretrainedCfg
from gpunet_hub.weights import fetch_weights, load_weights


def nvidia_names(config):
    """NVIDIA's state-dict key prefixes per layer, written from the release's model code (not from ours)."""
    distill = config[0]["distill"]
    names = []
    for i, entry in enumerate(config[1:], start=2):
        kind = entry["layer_type"]
        if distill:
            if kind == "head":
                names.append(("head:", ["net.0", "net.1"]))
            elif kind == "head_large":
                names.append(("head:", ["net.0", "net.1", "net.3", "net.4", "net.6", "net.7"]))
            elif kind == "tail":
                names.append(("tail:", ["net.0", "net.1", "net.4", "net.8"]))
            else:
                names.append((f"stage: {entry['stage']} irb{i}", ["body.0", "body.1", "body.3", "body.4", "body.6", "body.7"]))
        elif kind == "head":
            names.append((f"head: {i}", ["net.0", "net.1"]))
        elif kind == "tail":
            names.append((f" layer{i}", ["net.0", "net.1", "net.6"]))
        else:
            names.append((f"stage: {entry['stage']} layer{i}", None))
    return names


def nvidia_state_dict(model, config):
    """Our model's tensors under NVIDIA's names, pairing modules in order (the release's order is ours)."""
    ours = model.state_dict()
    groups = [model.stem] + list(model.blocks) + [None]
    out = {}
    for (child, subs), group in zip(nvidia_names(config), groups):
        if group is None:  # tail: conv_head, bn2, [head_proj conv], classifier
            prefixes = ["conv_head", "bn2"] + (["head_proj.0"] if config[0]["distill"] else []) + ["classifier"]
        elif group is model.stem:
            prefixes = [f"stem.{j}.{p}" for j in range(len(group)) for p in ("conv", "bn")]
        else:
            prefixes = None
        if subs is None:
            index = groups.index(group) - 1
            for key, value in ours.items():
                if key.startswith(f"blocks.{index}."):
                    out[f"network.{child}.{key[len(f'blocks.{index}.'):]}"] = value.clone()
            continue
        if prefixes is None:  # distill irb: conv_pw bn1 conv_dw bn2 conv_pwl bn3
            index = groups.index(group) - 1
            prefixes = [f"blocks.{index}.{p}" for p in ("conv_pw", "bn1", "conv_dw", "bn2", "conv_pwl", "bn3")]
        assert len(prefixes) == len(subs)
        for ours_prefix, nv_prefix in zip(prefixes, subs):
            for key, value in ours.items():
                if key.startswith(ours_prefix + "."):
                    out[f"network.{child}.{nv_prefix}.{key[len(ours_prefix) + 1:]}"] = value.clone()
    assert len(out) == len(ours)
    return out


def randomised(config):
    torch.manual_seed(0)
    model = build_model(from_list(config)).eval()
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, torch.nn.BatchNorm2d):
                module.running_mean.normal_()
                module.running_var.uniform_(0.5, 2.0)
                module.weight.normal_()
    return model


def card_for(config, url="http://127.0.0.1:9/none.zip", filename="tiny.pth.tar", **weights):
    spec = from_list(config)
    return ModelCard(
        name="tiny", display_name="Tiny", aliases=(), top1=1.0, top1_source="test", params=0,
        pretrained_cfg=PretrainedCfg.for_arch(spec, mean=(0, 0, 0), std=(1, 1, 1)),
        teacher=None, tier={}, latency=(), weights=WeightsSource(url=url, filename=filename, format="timm-checkpoint", **weights),
        arch=spec,
    )


def timm_checkpoint(path, nv_state):
    """A timm training checkpoint as the release saved them (EMA + args Namespace)."""
    zeros = {k: torch.zeros_like(v) for k, v in nv_state.items()}
    torch.save({"epoch": 449, "arch": "gpunet", "state_dict": zeros, "state_dict_ema": nv_state,
                "args": argparse.Namespace(lr=0.06, model_ema=True), "metric": 78.9}, path)
    return path


@pytest.mark.parametrize("config", [TINY_STANDARD, TINY_DISTILL], ids=["standard", "distill"])
def test_nvidia_checkpoint_loads_strictly_and_reproduces_outputs(config, tmp_path):
    reference = randomised(config)
    path = timm_checkpoint(tmp_path / "tiny.pth.tar", nvidia_state_dict(reference, config))
    model = build_model(from_list(config)).eval()
    load_weights(model, card_for(config), path)
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        assert torch.equal(model(x), reference(x))  # EMA weights were taken, not the zeros


def test_raw_state_dict_with_module_prefix_and_zip_and_folder(tmp_path):
    reference = randomised(TINY_STANDARD)
    nv = nvidia_state_dict(reference, TINY_STANDARD)
    raw = tmp_path / "tiny.pth.tar"
    torch.save({f"module.{k}": v for k, v in nv.items()}, raw)  # P0/P1 style, DataParallel prefix
    archive = tmp_path / "ngc.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.write(raw, arcname="tiny.pth.tar")
        zf.writestr("README.txt", "checkpoint from NGC")
    folder = tmp_path / "folder"
    folder.mkdir()
    save_file(reference.state_dict(), str(folder / "model.safetensors"))
    x = torch.randn(1, 3, 64, 64)
    for source in (raw, archive, folder):
        model = build_model(from_list(TINY_STANDARD)).eval()
        load_weights(model, card_for(TINY_STANDARD), source)
        with torch.no_grad():
            assert torch.equal(model(x), reference(x)), source
    converted = fetch_weights(card_for(TINY_STANDARD), archive)
    assert converted.suffix == ".safetensors" and converted.parent.name == "converted"
    assert fetch_weights(card_for(TINY_STANDARD), archive) == converted  # cached, not converted twice


def test_mismatched_checkpoints_are_refused_with_details(tmp_path):
    reference = randomised(TINY_STANDARD)
    state = nvidia_state_dict(reference, TINY_STANDARD)
    first = next(iter(state))
    missing = dict(state)
    del missing[first]
    torch.save(missing, tmp_path / "missing.pth")
    with pytest.raises(CheckpointError, match=r"1 missing \(e.g. \['stem.0.conv.weight'\]\)"):
        load_weights(build_model(from_list(TINY_STANDARD)), card_for(TINY_STANDARD), tmp_path / "missing.pth")
    other = randomised(TINY_DISTILL)
    save_file(other.state_dict(), str(tmp_path / "other.safetensors"))
    with pytest.raises(CheckpointError, match="do not fit GPUNet"):
        load_weights(build_model(from_list(TINY_STANDARD)), card_for(TINY_STANDARD), tmp_path / "other.safetensors")
    renamed = {k.replace("stage: 4", "stage: 9"): v for k, v in state.items()}
    torch.save(renamed, tmp_path / "renamed.pth")
    with pytest.raises(CheckpointError, match="names no layer of this architecture"):
        load_weights(build_model(from_list(TINY_STANDARD)), card_for(TINY_STANDARD), tmp_path / "renamed.pth")


class _Exploit:
    def __reduce__(self):
        return (os.system, ("touch /tmp/gpunet-hub-pwned",))


def test_malicious_corrupt_and_unknown_files_are_refused(tmp_path):
    evil = tmp_path / "evil.pth"
    evil.write_bytes(pickle.dumps({"state_dict": _Exploit()}))
    if os.path.exists("/tmp/gpunet-hub-pwned"):
        os.remove("/tmp/gpunet-hub-pwned")
    card = card_for(TINY_STANDARD)
    with pytest.raises(CheckpointError, match="weights_only=True"):
        load_weights(build_model(from_list(TINY_STANDARD)), card, evil)
    assert not os.path.exists("/tmp/gpunet-hub-pwned")
    corrupt = tmp_path / "corrupt.pth.tar"
    corrupt.write_bytes(b"\x80\x02not a checkpoint")
    with pytest.raises(CheckpointError, match="unable to read"):
        load_weights(build_model(from_list(TINY_STANDARD)), card, corrupt)
    bad_zip = tmp_path / "bad.zip"
    bad_zip.write_bytes(b"PK\x03\x04 truncated")
    with pytest.raises(CheckpointError, match="not a valid zip"):
        fetch_weights(card, bad_zip)
    (tmp_path / "weights.onnx").write_bytes(b"x")
    with pytest.raises(InputError, match="unknown weights format"):
        fetch_weights(card, tmp_path / "weights.onnx")
    with pytest.raises(InputError, match="no weights file at"):
        fetch_weights(card, tmp_path / "absent.safetensors")


def test_traversal_archive_is_refused_and_writes_nothing_outside(tmp_path):
    archive = tmp_path / "evil.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("../../escaped.pth.tar", b"x")
        zf.writestr("tiny.pth.tar", b"x")
    with pytest.raises(CheckpointError, match="would be written outside"):
        fetch_weights(card_for(TINY_STANDARD), archive)
    assert not any(p.name == "escaped.pth.tar" for p in tmp_path.parent.rglob("escaped.pth.tar"))


class _Server:
    """A real HTTP server on 127.0.0.1 serving bytes; counts requests; can lie about length."""

    def __init__(self, payload, *, claimed_length=None):
        outer = self
        self.hits = 0

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802 - http.server's name
                outer.hits += 1
                self.send_response(200)
                self.send_header("Content-Length", str(claimed_length or len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, *args):
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/gpunet_tiny_pyt_ckpt/zip"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.httpd.shutdown()
        self.httpd.server_close()


def _ngc_zip(reference):
    buffer = io.BytesIO()
    state = io.BytesIO()
    torch.save({"state_dict_ema": nvidia_state_dict(reference, TINY_STANDARD), "args": argparse.Namespace()}, state)
    with zipfile.ZipFile(buffer, "w") as zf:
        zf.writestr("tiny.pth.tar", state.getvalue())
    return buffer.getvalue()


def test_default_weights_download_from_a_local_server_once(tmp_path):
    reference = randomised(TINY_STANDARD)
    payload = _ngc_zip(reference)
    import hashlib

    with _Server(payload) as server:
        card = card_for(TINY_STANDARD, url=server.url, sha256=hashlib.sha256(payload).hexdigest(), size=len(payload))
        x = torch.randn(1, 3, 64, 64)
        for _ in range(2):
            model = build_model(from_list(TINY_STANDARD)).eval()
            load_weights(model, card, "default")
            with torch.no_grad():
                assert torch.equal(model(x), reference(x))
        assert server.hits == 1  # the second load came from the cache


def test_bad_downloads_leave_nothing_behind(isolated_cache):
    reference = randomised(TINY_STANDARD)
    payload = _ngc_zip(reference)
    with _Server(payload, claimed_length=len(payload) + 100) as server:
        with pytest.raises(CheckpointError, match="incomplete"):
            fetch_weights(card_for(TINY_STANDARD, url=server.url), "default")
    with _Server(payload) as server:
        with pytest.raises(CheckpointError, match="wrong SHA-256"):
            fetch_weights(card_for(TINY_STANDARD, url=server.url, sha256="0" * 64), "default")
    leftovers = [p for p in (isolated_cache / "downloads").iterdir()]
    assert leftovers == []


def test_offline_and_unreachable_name_the_three_ways_out(monkeypatch):
    # Nothing listens on port 9 (discard) of the loopback interface here.
    card = card_for(TINY_STANDARD, url="http://127.0.0.1:9/gpunet.zip")
    with pytest.raises(WeightsUnavailableError) as info:
        fetch_weights(card, "default", progress=False)
    message = str(info.value)
    assert "cannot download http://127.0.0.1:9/gpunet.zip" in message
    assert "weights=None" in message and "gpunet-hub download tiny" in message and "local file" in message
    monkeypatch.setenv("GPUNET_HUB_OFFLINE", "1")
    with pytest.raises(WeightsUnavailableError, match="offline mode is on"):
        gpunet_hub.load("gpunet_0")


def test_hf_hub_source_uses_the_hub_cache_offline(isolated_cache, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(WeightsUnavailableError, match="Hugging Face Hub"):
        fetch_weights(card_for(TINY_STANDARD), "hf-hub:someone/gpunet-tiny")
    # A repo already in the huggingface_hub cache loads without a network. (huggingface_hub reads
    # its cache location once at import, so point the constant at this test's cache.)
    import huggingface_hub.constants

    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(isolated_cache / "hf"))
    reference = randomised(TINY_STANDARD)
    repo = isolated_cache / "hf" / "models--someone--gpunet-tiny"
    snapshot = repo / "snapshots" / ("a" * 40)
    snapshot.mkdir(parents=True)
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text("a" * 40)
    save_file(reference.state_dict(), str(snapshot / "model.safetensors"))
    model = build_model(from_list(TINY_STANDARD)).eval()
    load_weights(model, card_for(TINY_STANDARD), "hf-hub:someone/gpunet-tiny")
    x = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        assert torch.equal(model(x), reference(x))


def test_a_local_copy_becomes_the_default_weights_offline(isolated_cache, tmp_path, monkeypatch):
    from gpunet_hub.weights.sources import install_local_weights

    reference = randomised(TINY_STANDARD)
    archive = tmp_path / "ngc.zip"
    archive.write_bytes(_ngc_zip(reference))
    card = card_for(TINY_STANDARD, url="http://127.0.0.1:9/never-fetched.zip")
    monkeypatch.setenv("GPUNET_HUB_OFFLINE", "1")
    with pytest.raises(WeightsUnavailableError, match="offline mode is on"):
        fetch_weights(card, "default")
    cached = install_local_weights(card, archive)
    assert fetch_weights(card, "default") == cached
    model = build_model(from_list(TINY_STANDARD)).eval()
    load_weights(model, card, "default")
    x = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        assert torch.equal(model(x), reference(x))


def test_a_local_copy_of_another_model_is_not_cached(isolated_cache, tmp_path):
    from gpunet_hub.weights.sources import install_local_weights

    checkpoint = tmp_path / "tiny.pth.tar"
    torch.save({"state_dict_ema": nvidia_state_dict(randomised(TINY_STANDARD), TINY_STANDARD)}, checkpoint)
    card = gpunet_hub.model_card("gpunet_0")
    with pytest.raises(CheckpointError, match="another model|do not fit"):
        install_local_weights(card, checkpoint)
    from gpunet_hub.weights.sources import _default_source

    assert not (isolated_cache / "converted" / f"{_default_source(card)[1]}.safetensors").exists()
