"""The smoke preset end to end: stages, resume, the hub folder it writes, and a loaded entry."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest
import torch

pytest.importorskip("ray.tune")
pytest.importorskip("botorch")

from safetensors.torch import load_file

import gpunet_hub
from gpunet_hub.cli import main
from gpunet_hub.hub.cards_io import HUB_INDEX_NAME, WEIGHTS_NAME, build_index, read_card
from gpunet_search.workflow import STAGE_NAMES, make_plan, open_context, run
from gpunet_search.workflow.fingerprints import DONE, STALE

pytestmark = pytest.mark.timeout(900)


@pytest.fixture(scope="module")
def smoke(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list, list]:
    """The smoke preset run in two goes: up to the tiers, then the rest (which resumes after them)."""
    os.environ["RAY_AUTH_MODE"] = "disabled"
    out = tmp_path_factory.mktemp("regenerated")
    first = run(open_context(make_plan("smoke"), out), until="tiers")
    second = run(open_context(make_plan("smoke"), out))
    return out, first, second


def test_a_second_run_resumes_after_the_finished_stages(smoke):
    out, first, second = smoke
    assert [r.name for r in first] == list(STAGE_NAMES[:4]) and {r.action for r in first} == {"ran"}
    assert [(r.name, r.action) for r in second] == [
        (name, "skipped" if name in STAGE_NAMES[:4] else "ran") for name in STAGE_NAMES
    ]
    again = run(open_context(make_plan("smoke"), out))
    assert {r.action for r in again} == {"skipped"}


def test_a_changed_input_makes_its_stage_and_the_later_ones_stale(smoke):
    out, _, _ = smoke
    ctx = open_context(make_plan("smoke", overrides=[{"final": {"epochs": 2}}]), out)
    status = {name: ctx.state.status(name, ctx.fingerprints[name]) for name in STAGE_NAMES}
    assert status == {name: DONE if name in STAGE_NAMES[:5] else STALE for name in STAGE_NAMES}


def test_the_hub_folder_holds_honest_cards_with_an_index(smoke):
    out, _, second = smoke
    hub = out / "hub"
    bench = {row["key"]: row for row in json.loads((out / "bench.json").read_text())}
    names = next(r.output for r in second if r.name == "cards")["entries"]
    assert len(names) == 2
    assert build_index(hub) == json.loads((hub / HUB_INDEX_NAME).read_text())
    for name in names:
        card = read_card(hub / name)
        assert card.dataset == "digits" and card.arch.num_classes == 10
        assert "ImageNet" not in card.top1_source and "digits" in card.top1_source
        row = bench[f"tier-{card.tier['latency']}"]
        (latency,) = card.latency
        assert latency.ms == pytest.approx(row["ms"], abs=1e-4) and row["ms"] == min(row["round_medians_ms"])
        assert len(row["round_medians_ms"]) == 2 and "lowest median of 2 interleaved bench runs" in latency.source
        assert (latency.runtime, latency.precision, latency.batch) == ("onnxruntime-cpu", "fp32", 1)
        assert latency.gpu == row["record"]["device"]["label"]
        provenance = card.provenance
        assert provenance["scales"]["width_mult"] == 0.125
        assert provenance["tier"]["in_tier"] == row["in_tier"] and provenance["tier"]["members_by"] == "measured"
        assert provenance["search"]["experiment"] and provenance["lut"]["fingerprint"]
        assert provenance["training"]["recipe"]["width_mult"] == 0.125
        assert card.resolution == provenance["bench"]["input_shape"][-1]
        assert "not on ImageNet" in (hub / name / "README.md").read_text()


def test_an_entry_loads_from_the_hub_with_its_trained_weights(smoke):
    out, _, second = smoke
    hub = out / "hub"
    name = next(r.output for r in second if r.name == "cards")["entries"][0]
    model = gpunet_hub.load(name, hub=hub)
    saved = load_file(str(hub / name / WEIGHTS_NAME))
    assert all(torch.equal(model.state_dict()[k], v) for k, v in saved.items())
    card = read_card(hub / name)
    with torch.no_grad():
        assert model(torch.zeros(1, *card.pretrained_cfg.input_size)).shape == (1, 10)
    # Selection on the device the hub was measured on, by its label, within a budget that admits it.
    row = card.latency[0]
    assert gpunet_hub.list_models(hub=hub, gpu=row.gpu)
    assert gpunet_hub.select(row.gpu, row.ms, hub=hub) in gpunet_hub.list_models(hub=hub)


def test_tier_members_are_measured_inside_their_tier(smoke):
    out, first, _ = smoke
    tiers = next(r.output for r in first if r.name == "tiers")
    assert tiers["membership"] == "measured" and tiers["verification"]["measured"] >= 1
    guard = tiers["verification"]["guard"]
    for row in tiers["tiers"]:
        with np.load(out / row["file"]) as data:
            measured = data["measured_ms"]
        assert len(measured) == row["count"] and np.isfinite(measured).all()
        assert (measured * (1 - guard) >= row["lo_ms"]).all() and (measured * (1 + guard) < row["hi_ms"]).all()
    assert "measured whole on this device" in (out / "report.md").read_text()


def test_the_report_states_tier_fidelity_from_the_bench(smoke):
    out, _, _ = smoke
    rows = [r for r in json.loads((out / "bench.json").read_text()) if r["kind"] == "entry"]
    inside = sum(r["in_tier"] for r in rows)
    report = (out / "report.md").read_text()
    assert f"Tier fidelity: {inside}/{len(rows)} entries" in report
    for row in rows:
        assert f"{row['lut_error']:+.1%}" in report
        assert row["tier_measured_ms"] is not None and f"| {row['tier_measured_ms']:.4g} |" in report
    assert (out / "pareto.png").read_bytes()[:4] == b"\x89PNG"


def test_dry_run_shows_done_and_stale_stages(smoke, capsys):
    out, _, _ = smoke
    assert (
        main(
            [
                "search",
                "regenerate",
                "--preset",
                "smoke",
                "--out",
                str(out),
                "--dry-run",
                "--no-probe",
                "--set",
                "final.epochs=2",
            ]
        )
        == 0
    )
    text = capsys.readouterr().out
    assert "layer keys to measure" in text and "0 of" in text
    assert text.count(" done ") >= 5 and text.count(" stale ") == 4
