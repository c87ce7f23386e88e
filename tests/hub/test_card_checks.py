"""The card schema and consistency checks, run on the released cards and on a hub folder written by
``write_hub`` alike: the same test code for both sources of cards."""

import json
import math
import re
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml
from tiny_hub import tiny_hub, tiny_hub_states  # noqa: F401 - fixtures (see tiny_hub.py)

from gpunet_hub._io import file_sha256
from gpunet_hub.builder import build_model
from gpunet_hub.hub.card_prose import dataset_name
from gpunet_hub.hub.cards_io import HUB_INDEX_NAME, PACKAGE_INDEX, REPO_CARDS, build_index, read_card
from gpunet_hub.hub.catalog import Catalog, catalog, is_relative_url, packaged
from gpunet_hub.space import decode


@dataclass(frozen=True)
class Source:
    cards_dir: Path
    index: Path
    catalog: Catalog


@pytest.fixture(params=["released", "written-hub"])
def source(request):
    if request.param == "released":
        return Source(REPO_CARDS, PACKAGE_INDEX, packaged())
    hub = request.getfixturevalue("tiny_hub")
    return Source(hub, hub / HUB_INDEX_NAME, catalog(hub))


def front_matter(folder):
    text = (folder / "README.md").read_text()
    _, meta, prose = text.split("---\n", 2)
    return yaml.safe_load(meta), prose


def test_index_is_in_sync_with_the_card_folders(source):
    assert build_index(source.cards_dir) == json.loads(source.index.read_text()), (
        f"{source.cards_dir} changed: regenerate its index (python -m gpunet_hub.hub.cards_io for model_cards/)"
    )
    folders = sorted(p.name for p in source.cards_dir.iterdir() if (p / "README.md").is_file())
    assert folders == sorted(source.catalog.cards)
    for name in folders:
        assert read_card(source.cards_dir / name) == source.catalog.cards[name]


def test_front_matter_is_a_hugging_face_model_card_that_names_its_dataset(source):
    for name, card in source.catalog.cards.items():
        meta, prose = front_matter(source.cards_dir / name)
        assert (meta["library_name"], meta["license"], meta["pipeline_tag"]) == (
            "gpunet-hub",
            "apache-2.0",
            "image-classification",
        )
        assert meta["datasets"] == [card.dataset]
        (result,) = meta["model-index"][0]["results"]
        assert result["dataset"]["type"] == card.dataset and result["dataset"]["name"] == dataset_name(card.dataset)
        assert result["metrics"][0] == {"type": "accuracy", "value": card.top1, "name": "Top-1"}
        assert meta["gpunet"]["name"] == name and re.fullmatch(r"[a-z][a-z0-9_]*", name)
        assert prose.lstrip().startswith(f"# {card.display_name}\n")
        assert f"| {dataset_name(card.dataset)} top-1 (validation) | {card.top1} % " in prose
        if card.dataset != "imagenet-1k":  # never presented as an ImageNet model
            assert "imagenet" not in json.dumps([meta["datasets"], meta["model-index"]]).lower()
            assert "not on ImageNet" in prose and "ImageNet-1k top-1" not in prose


def test_config_json_matches_the_architecture(source):
    for name, card in source.catalog.cards.items():
        config = json.loads((source.cards_dir / name / "config.json").read_text())
        assert set(config) == {"architecture", "encoding", "space", "num_classes", "preprocessing"}
        assert config["num_classes"] == card.arch.num_classes == card.pretrained_cfg.num_classes
        assert card.pretrained_cfg.input_size == (3, card.arch.resolution, card.arch.resolution)
        if card.encoding is not None:
            assert decode(list(card.encoding), card.space) == card.arch


def test_latency_rows_are_measurements_with_their_environment(source):
    for card in source.catalog.cards.values():
        assert card.latency, f"{card.name} has no measured latency"
        _, prose = front_matter(source.cards_dir / card.name)
        for row in card.latency:
            assert math.isfinite(row.ms) and row.ms > 0 and row.batch >= 1
            assert row.stat in ("median", "mean") and row.precision in ("fp16", "fp32", "int8", "bf16")
            assert row.runtime and row.runtime_version and row.source
            assert source.catalog.resolve_device(row.gpu) == row.gpu  # selectable by what it was measured on
            assert f"| {row.gpu} | {row.batch} | {row.precision} | {row.runtime} {row.runtime_version} |" in prose


def test_aliases_are_unique_and_resolve(source):
    seen = {}
    for card in source.catalog.cards.values():
        for alias in (card.name, *card.aliases):
            assert seen.setdefault(alias.lower(), card.name) == card.name, alias
            assert source.catalog.resolve_name(alias) == card.name


def test_parameter_counts_and_weights_match_the_card(source):
    for card in source.catalog.cards.values():
        assert card.params == sum(p.numel() for p in build_model(card.arch).parameters())
        if card.weights is None:
            continue
        if is_relative_url(card.weights.url):
            path = source.cards_dir / card.name / card.weights.url
            assert (path.stat().st_size, file_sha256(path)) == (card.weights.size, card.weights.sha256)
        else:
            assert card.weights.url.startswith("https://")
